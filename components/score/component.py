"""BatchScorer: the bulk-scoring Beam job as a TFX component, for users who run everything as pipelines.

Its input is the Model artifact it scores with (in the scoring pipeline: a registry version imported
by ``tfx.dsl.Importer``, so MLMD links every result to the exact published model); its output is a
``skyhawk.ScoringResults`` directory with the same files ``skyhawk score`` writes (results, frames,
summary, settings, committed parts). The Beam pipeline comes from TFX, configured with the pipeline's
``beam_pipeline_args``.
"""
import apache_beam as beam
from tfx import v1 as tfx
from tfx.types import standard_artifacts
from tfx.types.artifact import Artifact

from skyhawk.config import ScoreConfig


class ScoringResults(Artifact):
    """A scoring destination: results.<format>, frames.jsonl, summary.json, settings.json, _parts/."""

    TYPE_NAME = "skyhawk.ScoringResults"  # KFP v2 wants <namespace>.<Title>


@tfx.dsl.components.component(use_beam=True)
def BatchScorer(
    model: tfx.dsl.components.InputArtifact[standard_artifacts.Model],
    results: tfx.dsl.components.OutputArtifact[ScoringResults],
    input_uri: tfx.dsl.components.Parameter[str],
    frames: tfx.dsl.components.Parameter[int] = ScoreConfig.frames,
    aggregate: tfx.dsl.components.Parameter[str] = ScoreConfig.aggregate,
    threshold: tfx.dsl.components.Parameter[float] = ScoreConfig.threshold,
    output_format: tfx.dsl.components.Parameter[str] = ScoreConfig.output_format,
    beam_pipeline: tfx.dsl.components.BeamComponentParameter[beam.Pipeline] = None,
) -> None:
    """Scores every video under input_uri with the input model (at ``threshold``; 0: the model's own); one row
    per video in results.uri. The parameters are the ``score`` section's, checked here as one ScoreConfig."""
    from components.score.job import run_scoring
    from skyhawk_model.model_ref import resolve

    score = ScoreConfig(frames=frames, aggregate=aggregate, threshold=threshold, output_format=output_format)
    ref = resolve(model.uri, score.threshold)
    summary = run_scoring(input_uri, ref, results.uri, score, pipeline=beam_pipeline)
    results.set_string_custom_property("model", ref.label)
    results.set_float_custom_property("threshold", ref.threshold)
    for key in ("videos", "ok", "no_face", "failed", "predicted_fake", "predicted_real"):
        results.set_int_custom_property(key, int(summary[key]))


def registry_model_importer(model_uri: str, label: str, version: int | None = None) -> tfx.dsl.Importer:
    """Imports a published registry version (a SavedModel folder) as a Model artifact."""
    props = {"registry_model": label}
    if version is not None:
        props["registry_version"] = int(version)
    return tfx.dsl.Importer(source_uri=model_uri, artifact_type=standard_artifacts.Model, reimport=False,
                            custom_properties=props).with_id("registry_model")
