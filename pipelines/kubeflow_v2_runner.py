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
from typing import Sequence

from skyhawk.config import PipelineConfig

DEFAULT_OUTPUT = "skyhawk_pipeline.json"


def compile_pipeline(cfg: PipelineConfig, image: str, output: str, scoring_input: str | None = None,
                     split_names: Sequence[str] = ("train", "eval")) -> str:
    """Writes the PipelineJob JSON for cfg's training pipeline (or, with scoring_input, its scoring
    pipeline over that source); returns the output path.

    The data is not read here (it lives where the cluster runs): ``split_names`` declares the example
    splits (add ``test`` for datasets with a test list, e.g. FF++ splits/test.json or Celeb-DF)."""
    from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner

    from pipelines.pipeline import create_pipeline
    from pipelines.scoring_pipeline import create_scoring_pipeline

    if not image:
        raise ValueError("a pipeline image is needed (--image or $SKYHAWK_IMAGE; build it from infra/Dockerfile)")
    if scoring_input:
        pipeline = create_scoring_pipeline(
            pipeline_name=f"{cfg.pipeline_name}-scoring", pipeline_root=cfg.pipeline_root,
            model_ref=f"{cfg.registry.rstrip('/')}/{cfg.model_name}", input_uri=scoring_input,
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
