"""Local-engine entry point for the TFX CLI.

    tfx pipeline create --pipeline_path=pipelines/local_runner.py --engine=local
    tfx run create --pipeline_name=skyhawk-demo --engine=local

Reads the config named by $SKYHAWK_CONFIG (default: the packaged demo config, whose videos are
generated on first use); relative paths are taken from the working directory. Its inputs are checked first
(``config.check_inputs``), as ``skyhawk run`` checks them.
"""
import os

from skyhawk import env

env.quiet()  # before TFX loads TensorFlow and Google's client libraries

from tfx import v1 as tfx  # noqa: E402

from pipelines.progress import silence_noise  # noqa: E402
from pipelines.run import build, ensure_demo_data, load_config  # noqa: E402
from skyhawk.config import check_inputs  # noqa: E402

silence_noise()
config = load_config(os.environ.get("SKYHAWK_CONFIG"))
if not os.environ.get("SKYHAWK_CONFIG"):
    ensure_demo_data(config)

check_inputs(config)  # a missing (local or gs://) input is one ConfigError before any component runs
tfx.orchestration.LocalDagRunner().run(build(config))
