"""The Skyhawk scoring pipeline: a published model + a video source -> one result row per video.

    Importer (registry version as a Model artifact) -> BatchScorer (the ``skyhawk score`` Beam job)

One ``create_scoring_pipeline``; ``pipelines/scoring_runner.py`` runs it under the TFX CLI's local engine.
"""
from __future__ import annotations

from typing import Sequence

from tfx.orchestration import pipeline as tfx_pipeline

from components.score.component import BatchScorer, registry_model_importer


def create_scoring_pipeline(
    pipeline_name: str,
    pipeline_root: str,
    model_ref: str,
    input_uri: str,
    frames: int = 32,
    aggregate: str = "mean",
    output_format: str = "jsonl",
    metadata_connection_config: object | None = None,
    beam_pipeline_args: Sequence[str] | None = None,
) -> tfx_pipeline.Pipeline:
    """Importer(model_ref, resolved now to its SavedModel folder) -> BatchScorer(input_uri)."""
    from skyhawk_model.model_ref import resolve

    ref = resolve(model_ref)
    version = ref.registry_version.get("version")
    importer = registry_model_importer(ref.uri, ref.label, version)
    scorer = BatchScorer(model=importer.outputs["result"], input_uri=input_uri, frames=frames, aggregate=aggregate,
                         output_format=output_format)
    return tfx_pipeline.Pipeline(
        pipeline_name=pipeline_name,
        pipeline_root=pipeline_root,
        components=[importer, scorer],
        enable_cache=False,  # the source folder's contents change between runs; the job itself skips done inputs
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(beam_pipeline_args or []),
    )
