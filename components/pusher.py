"""RegistryPusher: publishes a blessed model as the next version in the Skyhawk model registry.

Like TFX's Pusher it always runs and records ``pushed`` (1/0) on its PushedModel output, but it only
publishes when the Evaluator blessed the model; the version goes to ``REGISTRY/<model_name>/<N>/``
(TF Serving layout) with its ``VersionRecord`` (metrics, blessing, threshold, the lineage: the spans it trained
on, the eval span, data fingerprints, the parent version it was warm-started from, the TFX pipeline run id,
golden-set metrics; and the config), published atomically by ``skyhawk.registry.Registry``.

``model_blessing`` is GoldenGate's (``components.golden``): the Evaluator's gate, the golden set and drift.
The pipeline run id comes from the executor's context (``PusherExecutor``, the run's MLMD context name).

A trained model is published at most once: when the registry already holds a version made from the
same Trainer output (e.g. a re-run whose Evaluator re-ran only because the latest blessed baseline
changed), that version is recorded instead of adding a copy.
"""

import json
from typing import Any, Dict, List

from tfx import v1 as tfx
from tfx.dsl.components.base import executor_spec
from tfx.types import standard_artifacts
from tfx.utils import path_utils

from components.spans import span_of
from skyhawk import fileio

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
    training_examples: tfx.dsl.components.InputArtifact[List[standard_artifacts.Examples]] = None,
    pipeline_config: tfx.dsl.components.Parameter[str] = "{}",
    pipeline_run_id: tfx.dsl.components.Parameter[str] = "",
) -> None:
    """Publishes the model to the registry iff it is blessed; records the decision either way."""
    from tfx.components.util import model_utils

    from components.golden import load_golden
    from skyhawk import artifact
    from skyhawk.registry import Registry, RegistryError, VersionRecord, finite_or_none
    from skyhawk_model.evaluation import BASELINE, CANDIDATE, load_evaluation
    from skyhawk_model.gate import failure_text

    blessed = model_utils.is_model_blessed(model_blessing)
    ev = load_evaluation(evaluation.uri)
    golden = load_golden(model_blessing.uri)
    serving_dir = path_utils.serving_model_path(model.uri)
    data = data_lineage(examples, [*(training_examples or []), examples])
    decision = {
        "blessed": blessed,
        "gate_failures": [failure_text(f) for f in ev["failures"]] + list(golden.get("failures") or []),
        "model_uri": model.uri,
        "evaluation_uri": evaluation.uri,
        "spans": data["spans"],
        "eval_span": data["eval_span"],
    }
    pushed_model.set_int_custom_property("eval_span", data["eval_span"])
    pushed_model.set_string_custom_property("spans", ",".join(str(s) for s in data["spans"]))
    pushed_model.set_string_custom_property("pipeline_run_id", pipeline_run_id)
    if not blessed:
        pushed_model.set_int_custom_property("pushed", 0)
        fileio.write_json(fileio.join(pushed_model.uri, NOT_PUSHED_FILE), decision, default=str)
        return
    reg = Registry(registry)
    try:
        published = reg.versions(model_name)
    except RegistryError:  # no version of this model yet
        published = []
    same = [v for v in published if v.extra.get("model_uri") == model.uri]
    if same:
        _record_push(pushed_model, same[0], already_published=True)
        return
    model_meta = artifact.read_metadata(serving_dir)
    warm_start = dict(artifact.read_history(serving_dir).get("warm_start") or {})
    # NaN metrics (e.g. a golden set with one class has no AUC) are stored as null: publish refuses NaN
    lineage = finite_or_none({
        **decision,
        "metrics": ev["models"][CANDIDATE],
        "baseline_metrics": ev["models"].get(BASELINE),
        "data": data,
        "parent_version": parent_version(published, warm_start.get("base_model")),
        "warm_start": warm_start,
        "golden": {k: golden.get(k) for k in ("golden_root", "labels", "metric", "candidate", "baseline",
                                              "passed", "summary")} if golden else None,
        "drift": golden.get("drift"),
        "pipeline_run_id": pipeline_run_id or None,
        "pipeline_run": {
            "run_id": pipeline_run_id or None,
            "model_artifact_id": model.id,
            "model_uri": model.uri,
        },
    })
    del lineage["blessed"]  # a typed field of the record
    record = VersionRecord(threshold=model_meta.threshold, image_size=model_meta.image_size,
                           backbone=model_meta.backbone, blessed=blessed,
                           config=json.loads(pipeline_config), extra=lineage)
    _record_push(pushed_model, reg.publish(model_name, serving_dir, record), already_published=False)


def data_lineage(eval_examples: Any, training: List[Any]) -> Dict[str, Any]:
    """The spans trained on, the eval span and each span's examples and input fingerprint (``training``: the
    window's Examples, the eval span's included; an artifact listed twice counts once)."""
    training = list({a.id or id(a): a for a in training}.values())
    rows = sorted(({"span": span_of(a), "version": a.get_int_custom_property("version"),
                    "input_fingerprint": a.get_string_custom_property("input_fingerprint"),
                    "examples_uri": a.uri} for a in training), key=lambda r: r["span"])
    return {
        "examples_uri": eval_examples.uri,
        "span": span_of(eval_examples),
        "version": eval_examples.get_int_custom_property("version"),
        "input_fingerprint": eval_examples.get_string_custom_property("input_fingerprint"),
        "eval_span": span_of(eval_examples),
        "spans": [r["span"] for r in rows],
        "training_data": rows,
    }


def parent_version(published: List[Any], base_model: str | None) -> int | None:
    """The registry version (of ``published``, ``VersionRecord``s) whose Trainer output is base_model (a
    ``.../Format-Serving`` folder)."""
    if not base_model:
        return None
    base = base_model.rstrip("/")
    for v in published:
        uri = str(v.extra.get("model_uri") or "").rstrip("/")
        if uri and (base == uri or base.startswith(uri + "/")):
            return v.version
    return None


def _record_push(pushed_model: Any, info: Any, already_published: bool) -> None:
    """Records the registry version (a ``VersionRecord``) the model is published as."""
    pushed_model.set_int_custom_property("pushed", 1)
    pushed_model.set_string_custom_property("pushed_destination", info.uri)
    pushed_model.set_int_custom_property("pushed_version", int(info.version))
    pushed_model.set_int_custom_property("already_published", int(already_published))
    fileio.write_json(fileio.join(pushed_model.uri, PUSHED_FILE),
                      {"version": info.version, "uri": info.uri, "already_published": already_published})


class PusherExecutor(RegistryPusher.EXECUTOR_SPEC.executor_class):
    """RegistryPusher's function executor, given the pipeline run id of its execution context."""

    def Do(self, input_dict, output_dict, exec_properties) -> None:
        run_id = getattr(self._context, "pipeline_run_id", None) if self._context else None
        super().Do(input_dict, output_dict, {**exec_properties, "pipeline_run_id": run_id or ""})


RegistryPusher.EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(PusherExecutor)
