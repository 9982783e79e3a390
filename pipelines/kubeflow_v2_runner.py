"""Kubeflow Pipelines v2 / Vertex AI Pipelines: compile the same ``create_pipeline(config)`` to a PipelineJob JSON.

    skyhawk compile --config cluster.json --image REGION-docker.pkg.dev/P/skyhawk/pipeline:TAG \\
        --output skyhawk.json
    # or, the TFX template way:
    SKYHAWK_CONFIG=cluster.json SKYHAWK_IMAGE=... python pipelines/kubeflow_v2_runner.py

Every component runs in the pipeline image (``infra/Dockerfile``); the pipeline root (``pipeline_root``
in the config) must be a ``gs://`` path the cluster can write; MLMD is the cluster's, so the config's
``metadata_path`` is not used. The config's runner profile and ``beam_args`` become every Beam-powered component's
``beam_pipeline_args`` (e.g. ``--runner=DataflowRunner --project=... --region=... --temp_location=gs://...
--sdk_container_image=<the same image>``). See docs/cluster.md for submitting and scheduling it.
"""
from __future__ import annotations

import json
import os
import re
from typing import Sequence

from skyhawk import fileio
from skyhawk.config import PipelineConfig
from skyhawk.labels import LabelSpec

DEFAULT_OUTPUT = "skyhawk_pipeline.json"
# The OCI / Docker image reference grammar (github.com/distribution/reference, regexp.go):
# [domain[:port]/]path-component[/path-component...][:tag][@digest], names lower case.
_ALNUM = r"[a-z0-9]+"
_PATH_COMPONENT = rf"{_ALNUM}(?:(?:[._]|__|-+){_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
IMAGE_RE = re.compile(rf"(?P<name>{_NAME})(?::{_TAG})?(?:@{_DIGEST})?", re.ASCII)


def check_image(image: str) -> str:
    """image if it is a valid OCI image reference (e.g. REGION-docker.pkg.dev/P/skyhawk/pipeline:TAG), else
    ValueError naming it and the form."""
    if not image:
        raise ValueError("a pipeline image is needed (--image or $SKYHAWK_IMAGE; build it from infra/Dockerfile)")
    m = IMAGE_RE.fullmatch(image)
    if not m or len(m["name"]) > 255:
        raise ValueError(f"not a valid image reference: {image!r} (expected [REGISTRY/]PATH[:TAG][@sha256:HEX], "
                         "lower-case path, e.g. europe-docker.pkg.dev/my-project/skyhawk/pipeline:1)")
    return image


def local_paths(cfg: PipelineConfig, scoring_input: str | None = None) -> dict[str, str]:
    """{config key: path} of every path the cluster would have to read or write that is on this machine
    (metadata_path is not used on a cluster; a relative csv manifest with use_spans is inside each span)."""
    found = {"data_root": cfg.data_root, "pipeline_root": cfg.pipeline_root, "registry": cfg.registry,
             "gate.golden_root": cfg.gate.golden_root, "--scoring-input": scoring_input or ""}
    if cfg.train.weights not in ("imagenet", "none"):
        found["train.weights"] = cfg.train.weights
    if cfg.train.checkpoint_dir not in ("auto", "none"):
        found["train.checkpoint_dir"] = cfg.train.checkpoint_dir
    labels = LabelSpec.parse(cfg.extract.labels)  # the manifests, by the one rule of skyhawk.labels
    manifests = {"extract.labels": labels.absolute_manifests if cfg.use_spans else labels.resolve(cfg.data_root)
                 .manifests, "gate.golden_labels": LabelSpec.parse(cfg.gate.golden_labels).resolve(
                     cfg.gate.golden_root or cfg.data_root).manifests}
    found.update({k: ", ".join(m for m in ms if not fileio.is_remote(m)) for k, ms in manifests.items()})
    return {k: v for k, v in found.items() if v and not fileio.is_remote(v)}


def compile_pipeline(cfg: PipelineConfig, image: str, output: str, scoring_input: str | None = None,
                     split_names: Sequence[str] = ("train", "eval"), allow_local: bool = False) -> str:
    """Writes the PipelineJob JSON for cfg's training pipeline (or, with scoring_input, its scoring
    pipeline over that source); returns the output path.

    The data is not read here (it lives where the cluster runs): ``split_names`` declares the example
    splits (add ``test`` for datasets with a test list, e.g. FF++ splits/test.json or Celeb-DF). The image
    must be a valid image reference, and the config's paths remote (gs://...) unless ``allow_local``."""
    check_image(image)
    local = local_paths(cfg, scoring_input)
    if local and not allow_local:
        raise ValueError("local paths the cluster cannot reach: " + ", ".join(f"{k}={v}" for k, v in local.items())
                         + " (use gs:// paths, see docs/cluster.md; --allow-local to compile anyway)")
    from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner

    from pipelines.pipeline import create_pipeline
    from pipelines.scoring_pipeline import create_scoring_pipeline

    if scoring_input:
        pipeline = create_scoring_pipeline(
            pipeline_name=f"{cfg.pipeline_name}-scoring", pipeline_root=cfg.pipeline_root,
            model_ref=f"{cfg.registry.rstrip('/')}/{cfg.model_name}", input_uri=scoring_input, score=cfg.score,
            beam_pipeline_args=cfg.beam_pipeline_args())
    else:
        pipeline = create_pipeline(cfg, split_names=list(split_names), span_resolvers=False)  # see create_pipeline
    out_dir = os.path.dirname(os.path.abspath(output))
    os.makedirs(out_dir, exist_ok=True)
    runner = kubeflow_v2_dag_runner.KubeflowV2DagRunner(
        config=kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(default_image=image),
        output_dir=out_dir, output_filename=os.path.basename(output))
    runner.run(pipeline, write_out=True)
    with open(output, encoding="utf-8") as f:
        json.load(f)  # written whole and valid
    return output


if __name__ == "__main__":
    from pipelines.run import load_config

    compile_pipeline(load_config(os.environ.get("SKYHAWK_CONFIG")), os.environ.get("SKYHAWK_IMAGE", ""),
                     os.environ.get("SKYHAWK_PIPELINE_JSON", DEFAULT_OUTPUT))
