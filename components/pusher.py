"""RegistryPusher: publishes a blessed model as the next version in the Skyhawk model registry.

Like TFX's Pusher it always runs and records ``pushed`` (1/0) on its PushedModel output, but it only
publishes when the Evaluator blessed the model; the version goes to ``REGISTRY/<model_name>/<N>/``
(TF Serving layout) with ``metadata.json`` (metrics, blessing, threshold, data spans and fingerprints,
pipeline run, config), published atomically by ``skyhawk.registry.Registry``.

A trained model is published at most once: when the registry already holds a version made from the
same Trainer output (e.g. a re-run whose Evaluator re-ran only because the latest blessed baseline
changed), that version is recorded instead of adding a copy.
"""

import json
import os
from typing import Any, Dict

from tfx import v1 as tfx
from tfx.types import standard_artifacts
from tfx.utils import path_utils

PUSHED_FILE, NOT_PUSHED_FILE = "PUSHED.json", "NOT_PUSHED.json"


@tfx.dsl.components.component
def RegistryPusher(
    model: tfx.dsl.components.InputArtifact[standard_artifacts.Model],
    model_blessing: tfx.dsl.components.InputArtifact[standard_artifacts.ModelBlessing],
    evaluation: tfx.dsl.components.InputArtifact[standard_artifacts.ModelEvaluation],
    examples: tfx.dsl.components.InputArtifact[standard_artifacts.Examples],
    pushed_model: tfx.dsl.components.OutputArtifact[standard_artifacts.PushedModel],
    registry: tfx.dsl.components.Parameter[str],
    model_name: tfx.dsl.components.Parameter[str],
    pipeline_config: tfx.dsl.components.Parameter[str] = "{}",
) -> None:
    """Publishes the model to the registry iff it is blessed; records the decision either way."""
    from tfx.components.util import model_utils

    from skyhawk.registry import Registry, RegistryError
    from skyhawk_model.evaluation import BASELINE, CANDIDATE, failure_text, load_evaluation
    from skyhawk_model.export import read_metadata

    blessed = model_utils.is_model_blessed(model_blessing)
    ev = load_evaluation(evaluation.uri)
    serving_dir = path_utils.serving_model_path(model.uri)
    decision = {
        "blessed": blessed,
        "gate_failures": [failure_text(f) for f in ev["failures"]],
        "model_uri": model.uri,
        "evaluation_uri": evaluation.uri,
    }
    if not blessed:
        pushed_model.set_int_custom_property("pushed", 0)
        _write_json(os.path.join(pushed_model.uri, NOT_PUSHED_FILE), decision)
        return
    reg = Registry(registry)
    try:
        same = [v for v in reg.versions(model_name) if v.get("model_uri") == model.uri]
    except RegistryError:  # no version of this model yet
        same = []
    if same:
        _record_push(pushed_model, same[0], already_published=True)
        return
    model_meta = read_metadata(serving_dir)
    metadata: Dict[str, Any] = {
        **decision,
        "metrics": ev["models"][CANDIDATE],
        "baseline_metrics": ev["models"].get(BASELINE),
        "threshold": model_meta.get("threshold"),
        "image_size": model_meta.get("image_size"),
        "backbone": model_meta.get("backbone"),
        "data": {
            "examples_uri": examples.uri,
            "span": examples.get_int_custom_property("span"),
            "version": examples.get_int_custom_property("version"),
            "input_fingerprint": examples.get_string_custom_property("input_fingerprint"),
        },
        "pipeline_run": {
            "model_artifact_id": model.id,
            "model_uri": model.uri,
        },
        "config": json.loads(pipeline_config),
    }
    _record_push(pushed_model, reg.publish(model_name, serving_dir, metadata), already_published=False)


def _record_push(pushed_model: Any, info: Dict[str, Any], already_published: bool) -> None:
    pushed_model.set_int_custom_property("pushed", 1)
    pushed_model.set_string_custom_property("pushed_destination", info["uri"])
    pushed_model.set_int_custom_property("pushed_version", int(info["version"]))
    pushed_model.set_int_custom_property("already_published", int(already_published))
    _write_json(os.path.join(pushed_model.uri, PUSHED_FILE),
                {"version": info["version"], "uri": info["uri"], "already_published": already_published})


def _write_json(path: str, data: Dict[str, Any]) -> None:
    from skyhawk import fileio

    fileio.write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str))
