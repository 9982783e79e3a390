"""Local-engine entry point of the scoring pipeline for the TFX CLI.

    SKYHAWK_SCORE_INPUT=videos/ tfx pipeline create --pipeline_path=pipelines/scoring_runner.py --engine=local
    SKYHAWK_SCORE_INPUT=videos/ tfx run create --pipeline_name=skyhawk-demo-scoring --engine=local

$SKYHAWK_CONFIG names the pipeline config (default: the packaged demo config): its registry and
model_name give the default model (the serving version), its pipeline root and MLMD database are
shared with the training pipeline, so MLMD holds the lineage from training data to scores; its ``score``
section sets frames, aggregate, threshold and output format.
$SKYHAWK_SCORE_MODEL overrides the model (REGISTRY/NAME[/VERSION] or a SavedModel folder);
$SKYHAWK_SCORE_INPUT (required) is the folder, glob or listing of videos to score.
"""
import os

from skyhawk import env

env.quiet()  # before TFX loads TensorFlow and Google's client libraries

from tfx import v1 as tfx  # noqa: E402

from pipelines.progress import silence_noise  # noqa: E402
from pipelines.run import load_config, scoring_pipeline  # noqa: E402

silence_noise()
tfx.orchestration.LocalDagRunner().run(scoring_pipeline(
    load_config(os.environ.get("SKYHAWK_CONFIG")),
    input_uri=os.environ["SKYHAWK_SCORE_INPUT"],
    model_ref=os.environ.get("SKYHAWK_SCORE_MODEL"),
))
