"""The whole TFX pipeline with the real LocalDagRunner: the README's main command, then reruns of it.

The runs share one pipeline (one MLMD store and registry) to save minutes, but no test depends on which
other tests ran before it: each compares the store and registry before and after its own run.
- the first run, made by the fixture through the README's command exactly (`skyhawk demo --output HOME`,
  the installed console script, the packaged demo config and seeds): everything executes, and the model
  **learns**: held-out video AUC >= 0.9 and frame accuracy clearly above the 2/3 of a model that calls
  every face fake (each demo clip has one real and two fakes; a constant model has video AUC 0.5, and
  ``tests/test_demo_gate.py`` shows the gate refusing one); it is blessed and pushed as version 1;
- the same pipeline again: TFX's cache serves extraction to training, no registry version is added;
- a candidate that is worse than the blessed model is not pushed: one epoch with the decision threshold
  pinned at 0.999 (every frame "real": right on ~1/3 of the frames, whatever the epoch learned);
- a candidate under the accuracy floor is not pushed (floor 0.99; the demo model's frame accuracy is ~0.8);
- the TFX CLI (`tfx pipeline create` + `tfx run create`) runs the same pipeline from a clean directory.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.run import demo_config, latest_outputs, run_local
from skyhawk.registry import Registry

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("pipeline")


def cfg_for(home: Path, **changes):
    return demo_config(str(home), changes)


def gate_metrics(version_meta: dict) -> dict[str, float]:
    """The Evaluator's metrics of a registry version, flattened over the model's outputs."""
    return {k: v for per_output in version_meta["metrics"].values() for k, v in per_output.items()}


def store_counts(cfg) -> dict[str, int]:
    """How many Model and Examples artifacts and pipeline runs the MLMD store holds."""
    from tfx.orchestration import metadata

    with metadata.Metadata(metadata.sqlite_metadata_connection_config(cfg.metadata_path)) as m:
        return {"Model": len(m.store.get_artifacts_by_type("Model")),
                "Examples": len(m.store.get_artifacts_by_type("Examples")),
                "runs": len(m.store.get_contexts_by_type("pipeline_run"))}


def versions(cfg) -> list[int]:
    return [v["version"] for v in Registry(cfg.registry).versions(cfg.model_name)]


@pytest.fixture(scope="module")
def first_run(home: Path) -> dict:
    """`skyhawk demo --output HOME` through the installed console script, as a user runs it (with none of
    the test session's environment settings, so the command's own defaults are what is seen)."""
    cfg = cfg_for(home)
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONWARNINGS", "TF_CPP_MIN_LOG_LEVEL", "TF_USE_LEGACY_KERAS")}
    skyhawk = os.path.join(os.path.dirname(sys.executable), "skyhawk")
    done = subprocess.run([skyhawk, "demo", "--output", str(home)], env=env, capture_output=True,
                          text=True, timeout=1800)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return {"cfg": cfg, "outcome": latest_outputs(cfg), "stdout": done.stdout, "stderr": done.stderr}


def test_demo_command_shows_progress_and_outcome(first_run):
    """Per-component progress and Keras' epoch lines while it runs; the outcome at the end; no TFX noise."""
    cfg, out, err = first_run["cfg"], first_run["stdout"], first_run["stderr"]
    assert f"model pushed: {cfg.registry}/{cfg.model_name}/1" in out
    assert f"report: {first_run['outcome']['report']}" in out
    for component in ("FileBasedExampleGen", "StatisticsGen", "Trainer", "Evaluator", "RegistryPusher", "RunReport"):
        assert any(component in line and line.endswith("started") for line in err.splitlines()), (component, err)
        assert any(component in line and "finished in" in line for line in err.splitlines()), (component, err)
    assert " - loss: " in out and " - accuracy: " in out and " - val_accuracy: " in out  # the epoch line
    assert "property_predicate" not in err and "non-supported Python version" not in err
    assert "Component Trainer is running" not in err  # TFX's own log lines are not shown


def test_first_run_learns_and_pushes_a_blessed_model(first_run, home: Path):
    cfg, outcome = first_run["cfg"], first_run["outcome"]
    assert outcome["pushed"] is True and outcome["version"] == 1
    reg = Registry(cfg.registry)
    versions = reg.versions(cfg.model_name)
    assert [v["version"] for v in versions] == [1]
    meta = versions[0]
    assert meta["blessed"] is True
    assert meta["data"]["span"] == 0 and meta["data"]["input_fingerprint"]
    metrics = gate_metrics(meta)
    assert metrics["video_auc"] >= 0.9, metrics  # the held-out clips' fakes rank above their reals
    assert metrics["binary_accuracy"] > 2 / 3 + 0.05, metrics  # clearly above "every face is fake"
    assert {"video_accuracy", "video_auc", "video_log_loss"} <= set(meta["metrics"]["p_fake"])
    assert {"auc", "log_loss", "example_count"} <= set(meta["metrics"]["p_fake"])
    report = Path(outcome["report"])
    assert report.exists() and "pushed as version 1" in report.read_text()
    # ConfoundCheck ran before training: the demo's fakes are made from its own reals, so capture facts
    # do not predict the label (its train split is judged and passes); the table is on the page
    confound = json.loads((report.parent / "report.json").read_text())["data"]["confound"]
    assert confound["splits"]["train"]["judged"] and confound["splits"]["train"]["status"] == "ok", confound
    assert confound["identity"]["checked"] and "Confound audit" in report.read_text()
    assert "face_side_px" in report.read_text()
    assert (report.parent / "roc.png").stat().st_size > 5000
    version_dir = Path(cfg.registry) / cfg.model_name / "1"
    assert (version_dir / "saved_model.pb").exists() and (version_dir / "metadata.json").exists()


def test_unchanged_rerun_reuses_the_cache_and_adds_no_version(first_run):
    """Extraction to training come from TFX's cache; the Evaluator re-runs only because the latest
    blessed baseline is now run 1's model, and the Pusher records that model's existing version."""
    cfg = first_run["cfg"]
    before = store_counts(cfg)
    outcome = run_local(cfg)
    assert outcome["pushed"] is True and outcome["version"] == 1
    assert json.loads((Path(outcome["pushed_model_uri"]) / "PUSHED.json").read_text())["already_published"]
    assert versions(cfg) == [1]
    after = store_counts(cfg)
    assert after["Model"] == before["Model"]  # the Trainer did not run again
    assert after["Examples"] == before["Examples"]  # nor did the ExampleGen
    assert after["runs"] == before["runs"] + 1


def test_worse_candidate_is_not_pushed(first_run, home: Path):
    cfg = cfg_for(home, **{"train.threshold": 0.999, "train.max_epochs": 1})
    outcome = run_local(cfg)
    assert outcome["pushed"] is False
    assert versions(cfg) == [1]
    decision = json.loads((Path(outcome["pushed_model_uri"]) / "NOT_PUSHED.json").read_text())
    assert decision["blessed"] is False
    assert any("binary_accuracy" in f for f in decision["gate_failures"]), decision


def test_candidate_under_the_floor_is_not_pushed(first_run, home: Path):
    cfg = cfg_for(home, **{"gate.accuracy_floor": 0.99})  # same model as run 1 (Trainer cached)
    outcome = run_local(cfg)
    assert outcome["pushed"] is False
    assert versions(cfg) == [1]
    decision = json.loads((Path(outcome["pushed_model_uri"]) / "NOT_PUSHED.json").read_text())
    assert any("binary_accuracy" in f and "0.99" in f for f in decision["gate_failures"]), decision


def test_tfx_cli_create_and_run_from_a_clean_directory(first_run, home: Path, tmp_path: Path):
    """`tfx pipeline create` + `tfx run create` (local engine) on the same pipeline: served from cache."""
    from skyhawk.config import to_dict

    cfg = first_run["cfg"]
    before = store_counts(cfg)
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(to_dict(cfg)))
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "SKYHAWK_CONFIG": str(config_file), "LOCAL_HOME": str(tmp_path / "tfx_local"),
           "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]}
    clean = tmp_path / "cwd"
    clean.mkdir()
    tfx_cli = os.path.join(os.path.dirname(sys.executable), "tfx")
    create = subprocess.run([tfx_cli, "pipeline", "create", f"--pipeline_path={repo / 'pipelines' / 'local_runner.py'}",
                             "--engine=local"], cwd=clean, env=env, capture_output=True, text=True, timeout=600)
    assert create.returncode == 0, create.stdout[-2000:] + create.stderr[-3000:]
    run = subprocess.run([tfx_cli, "run", "create", f"--pipeline_name={cfg.pipeline_name}", "--engine=local"],
                         cwd=clean, env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    assert versions(cfg) == [1]
    after = store_counts(cfg)
    assert after["runs"] == before["runs"] + 1  # the CLI's run, in the same store
    assert after["Model"] == before["Model"]  # served from the cache
    assert "property_predicate" not in run.stdout + run.stderr
