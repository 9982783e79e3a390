"""The Skyhawk scoring pipeline: a published model + a video source -> one result row per video.

    Importer (registry version as a Model artifact) -> BatchScorer (the ``skyhawk score`` Beam job)

One ``create_scoring_pipeline``; ``pipelines/scoring_runner.py`` runs it under the TFX CLI's local engine.
"""
from __future__ import annotations

from typing import Sequence

from tfx.orchestration import pipeline as tfx_pipeline

from components.score.component import BatchScorer, registry_model_importer
from skyhawk.config import ScoreConfig


def create_scoring_pipeline(
    pipeline_name: str,
    pipeline_root: str,
    model_ref: str,
    input_uri: str,
    score: ScoreConfig | None = None,
    metadata_connection_config: object | None = None,
    beam_pipeline_args: Sequence[str] | None = None,
) -> tfx_pipeline.Pipeline:
    """Importer(model_ref, resolved now to its SavedModel folder) -> BatchScorer(input_uri) with the ``score``
    settings (a pipeline config's ``score`` section; None: its defaults)."""
    from skyhawk_model.model_ref import resolve

    score = score or ScoreConfig()
    ref = resolve(model_ref)
    version = ref.registry_version.get("version")
    importer = registry_model_importer(ref.uri, ref.label, version)
    scorer = BatchScorer(model=importer.outputs["result"], input_uri=input_uri, frames=score.frames,
                         aggregate=score.aggregate, threshold=score.threshold, output_format=score.output_format)
    return tfx_pipeline.Pipeline(
        pipeline_name=pipeline_name,
        pipeline_root=pipeline_root,
        components=[importer, scorer],
        enable_cache=False,  # the source folder's contents change between runs; the job itself skips done inputs
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(beam_pipeline_args or []),
    )
