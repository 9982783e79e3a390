"""pipelines/progress.py: the progress lines from LocalDagRunner's own absl log records, and the noise filter."""
from __future__ import annotations

import io
import logging

from absl import logging as absl_logging

from pipelines.progress import component_progress


def _run_like_local_dag_runner() -> None:
    """The records TFX 1.16's LocalDagRunner and Launcher log for one executed and one cached component."""
    absl_logging.info("Using deployment config:\n %s", "...")
    absl_logging.info("Component %s is running.", "Trainer")
    absl_logging.warning("ArtifactQuery.property_predicate is not supported.")
    absl_logging.info("Going to run a new execution %d", 7)
    absl_logging.info("Component %s is finished.", "Trainer")
    absl_logging.info("Component %s is running.", "Evaluator")
    absl_logging.info("A cached execution %d is used.", 8)
    absl_logging.info("Component %s is finished.", "Evaluator")
    absl_logging.error("executor failed: %s", "boom")


def test_progress_lines_replace_tfx_log(caplog):
    out = io.StringIO()
    with caplog.at_level(logging.DEBUG), component_progress(stream=out) as progress:
        _run_like_local_dag_runner()
    lines = out.getvalue().splitlines()
    assert [line.split("] ", 1)[1].split()[0] for line in lines[:4]] == ["Trainer", "Trainer", "Evaluator",
                                                                           "Evaluator"]
    assert lines[0].endswith("started") and "finished in" in lines[1] and "(cached)" not in lines[1]
    assert lines[3].endswith("(cached)")
    assert lines[4] == "ERROR absl: executor failed: boom"
    assert len(lines) == 5  # nothing else of TFX's log
    assert progress.events == [("Trainer", "started"), ("Trainer", "finished"), ("Evaluator", "started"),
                               ("Evaluator", "cached")]
    assert not [r for r in caplog.records if r.name == "absl"]  # nothing propagated to the root log
    assert logging.getLogger("absl").propagate  # restored


def test_a_failed_execution_is_the_running_components_line():
    """The launcher's 'Execution N failed.' (ERROR) names no component: it becomes that component's line."""
    out = io.StringIO()
    with component_progress(stream=out) as progress:
        absl_logging.info("Component %s is running.", "FileBasedExampleGen")
        absl_logging.error("Execution %d failed.", 1)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and "FileBasedExampleGen" in lines[1] and "failed after " in lines[1], lines
    assert not any(line.startswith("ERROR") for line in lines)
    assert progress.events[-1] == ("FileBasedExampleGen", "failed")


def test_progress_survives_tensorflow_resetting_absl_verbosity():
    """TensorFlow's SavedModel export does set_verbosity(FATAL) ... set_verbosity(saved) around each save;
    the components after the Trainer must still be reported."""
    out = io.StringIO()
    with component_progress(stream=out):
        saved = absl_logging.get_verbosity()
        absl_logging.set_verbosity(absl_logging.FATAL)
        absl_logging.set_verbosity(saved)
        absl_logging.info("Component %s is running.", "Evaluator")
    assert out.getvalue().rstrip().endswith("Evaluator                        started")


def test_verbose_keeps_tfx_log_without_the_noise(caplog):
    with caplog.at_level(logging.INFO, logger="absl"), component_progress(verbose=True) as progress:
        _run_like_local_dag_runner()
    messages = [r.getMessage() for r in caplog.records if r.name == "absl"]
    assert progress is None
    assert "Component Trainer is running." in messages
    assert not [m for m in messages if "property_predicate" in m]
