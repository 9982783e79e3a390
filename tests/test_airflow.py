"""The Airflow DAG (pipelines/airflow_dag.py) as Airflow itself loads and runs it, in subprocesses with their own
AIRFLOW_HOME (SQLite metadata from ``airflow db migrate``, no web server, no scheduler).

- Airflow's DagBag loads the DAG file from a dags folder: the DAG id, schedule and task graph come from the
  config named by $SKYHAWK_CONFIG; a missing variable or a bad schedule is an import error naming it. Parsing
  the DAG file (in a fresh interpreter) loads no ``tfx`` or ``tensorflow`` module.
- e2e: ``airflow dags test`` runs the whole pipeline on tiny span data (2 identities x 2 clips, 4 frames of
  75 px, one epoch): span-1 -> version 1 pushed; span-2 added -> the next DAG run ingests span-2, evaluates
  against version 1 and pushes version 2; span-3 added with a config whose gate rejects (decision threshold
  pinned at 0.999999, every frame "real": frame accuracy about 1/3 under an accuracy floor of 0.5) -> the DAG
  run succeeds, records the candidate as not pushed and the registry keeps versions 1 and 2. Each DAG run is one
  TFX pipeline run in MLMD; the task log shows every component.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from skyhawk.config import ConfigError, load

REPO = Path(__file__).resolve().parents[1]
DAG_FILE = REPO / "pipelines" / "airflow_dag.py"
TASKS = {"new_span", "retrain"}
COMPONENTS = ("FileBasedExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "DriftValidator", "Trainer",
              "Evaluator", "GoldenGate", "RegistryPusher", "RunReport")
# Tiny and fast: folder labels (span-N/real, span-N/fake), paths relative to the config file.
CONFIG = {
    "pipeline_name": "skyhawk-airflow-test",
    "data_root": "videos",
    "use_spans": True,
    "pipeline_root": "pipeline",
    "metadata_path": "metadata.sqlite",
    "registry": "registry",
    "model_name": "skyhawk-airflow",
    "schedule": "0 3 * * 1",
    "beam_args": ["--direct_running_mode=in_memory", "--direct_num_workers=1"],
    "extract": {"frames_per_video": 4, "image_size": 75, "labels": "folders", "eval_fraction": 0.3},
    "train": {"weights": "none", "image_size": 75, "batch_size": 16, "max_epochs": 1, "run_eagerly": True},
    # Floor 0 and any regression allowed: each run's candidate is pushed, whatever one epoch learned.
    "gate": {"accuracy_floor": 0.0, "max_regression": 1.0},
}
# The third run's config: every frame "real" (the demo data has two fakes per real clip) under a floor of 0.5.
REJECTING = {**CONFIG, "train": {**CONFIG["train"], "threshold": 0.999999, "span_window": 1},
             "gate": {**CONFIG["gate"], "accuracy_floor": 0.5}}
DATES = ("2026-11-23", "2026-11-30", "2026-12-07")
# Loads a dags folder the way the scheduler does, once per config path argument ("": $SKYHAWK_CONFIG unset),
# and prints what it found each time.
DAGBAG_PROBE = """
import json, os, sys
from airflow.models import DagBag
found = []
for config in sys.argv[2:]:
    os.environ.pop("SKYHAWK_CONFIG", None)
    if config:
        os.environ["SKYHAWK_CONFIG"] = config
    bag = DagBag(dag_folder=sys.argv[1], include_examples=False)
    found.append({
        "errors": {k: str(v) for k, v in bag.import_errors.items()},
        "dags": {i: {"schedule": d.schedule_interval if isinstance(d.schedule_interval, (str, type(None))) else "?",
                     "catchup": d.catchup, "max_active_runs": d.max_active_runs,
                     "upstream": {t.task_id: sorted(t.upstream_task_ids) for t in d.tasks}}
                 for i, d in bag.dags.items()},
    })
print(json.dumps(found))
"""


def make_home(root: Path, config: dict | None = None) -> tuple[Path, dict[str, str]]:
    """An AIRFLOW_HOME with a dags folder holding (a link to) the DAG file, a config, and the environment."""
    (root / "dags").mkdir(parents=True)
    os.symlink(DAG_FILE, root / "dags" / "skyhawk_dag.py")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update({
        "AIRFLOW_HOME": str(root / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(root / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "600",  # TFX and TensorFlow imports on a busy 2-core machine
        "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
    })
    if config is not None:
        (root / "config.json").write_text(json.dumps(config), encoding="utf-8")
        env["SKYHAWK_CONFIG"] = str(root / "config.json")
    return root, env


def airflow(env: dict[str, str], *args: str, log: Path | None = None) -> subprocess.CompletedProcess:
    """The `airflow` command of this environment (output also kept in log)."""
    done = subprocess.run([os.path.join(os.path.dirname(sys.executable), "airflow"), *args], env=env,
                          capture_output=True, text=True, timeout=1800)
    if log:
        log.write_text(done.stdout + done.stderr, encoding="utf-8")
    return done


def dagbags(env: dict[str, str], *configs: str) -> list[dict]:
    """What Airflow's DagBag finds in env's dags folder with each config ("": no $SKYHAWK_CONFIG)."""
    done = subprocess.run([sys.executable, "-c", DAGBAG_PROBE, env["AIRFLOW__CORE__DAGS_FOLDER"], *configs],
                          env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_schedule_is_checked_when_the_config_loads():
    for ok in ("", "@weekly", "@daily", "0 3 * * 1", "*/30 6-18 * * MON-FRI"):
        assert load(None, {"schedule": ok}).schedule == ok
    for bad in ("weekly", "0 3 * *", "61 * * * *", "0 3 * * 1 2026", "@continuous"):
        with pytest.raises(ConfigError, match="^schedule must be a cron line"):
            load(None, {"schedule": bad})


def test_airflow_loads_the_dag_the_config_describes(tmp_path: Path):
    _, env = make_home(tmp_path, CONFIG)
    configs = {"manual": {**CONFIG, "schedule": ""}, "bad": {**CONFIG, "schedule": "every monday"}}
    for name, config in configs.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(config), encoding="utf-8")
    found, manual, bad, unset = dagbags(env, env["SKYHAWK_CONFIG"], str(tmp_path / "manual.json"),
                                        str(tmp_path / "bad.json"), "")
    assert found["errors"] == {}
    assert list(found["dags"]) == [CONFIG["pipeline_name"]]
    dag = found["dags"][CONFIG["pipeline_name"]]
    assert (dag["schedule"], dag["catchup"], dag["max_active_runs"]) == ("0 3 * * 1", False, 1)
    up = {task: set(before) for task, before in dag["upstream"].items()}
    assert up == {"new_span": set(), "retrain": {"new_span"}}  # light tasks: TFX runs inside `retrain`

    # "" schedules nothing (triggered runs only); no $SKYHAWK_CONFIG or a bad schedule: an import error naming it.
    assert manual["errors"] == {} and manual["dags"][CONFIG["pipeline_name"]]["schedule"] is None
    errors = list(bad["errors"].values())
    assert not bad["dags"] and len(errors) == 1
    assert "schedule must be a cron line" in errors[0] and "'every monday'" in errors[0]
    errors = list(unset["errors"].values())
    assert not unset["dags"] and len(errors) == 1 and "SKYHAWK_CONFIG is not set" in errors[0]


def test_parsing_the_dag_file_imports_no_tfx_or_tensorflow(tmp_path: Path):
    """The scheduler re-parses DAG files under an import timeout: the DAG file keeps TFX and TensorFlow out."""
    _, env = make_home(tmp_path, CONFIG)
    probe = ("import importlib.util, json, sys\n"
             "spec = importlib.util.spec_from_file_location('skyhawk_dag', sys.argv[1])\n"
             "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
             "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tfx', 'tensorflow'))\n"
             "print(json.dumps({'dag': module.DAG.dag_id, 'tasks': sorted(module.DAG.task_ids), 'heavy': heavy}))")
    done = subprocess.run([sys.executable, "-c", probe, str(DAG_FILE)], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found == {"dag": CONFIG["pipeline_name"], "tasks": sorted(TASKS), "heavy": []}


# --- e2e: `airflow dags test` over three spans --------------------------------------------------------------

def add_span(home: Path, span: int) -> None:
    from skyhawk.demo import make_demo_data

    make_demo_data(str(home / "videos" / f"span-{span}"), seed=span, clips=2, frames=12)


def dag_test(home: Path, env: dict[str, str], date: str) -> str:
    """`airflow dags test DAG DATE`; returns its log after checking it ran every task."""
    done = airflow(env, "dags", "test", CONFIG["pipeline_name"], date, log=home / f"dags-test-{date}.log")
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-5000:]
    for task in TASKS:
        done_line = f"Marking task as SUCCESS. dag_id={CONFIG['pipeline_name']}, task_id={task}, run_id=manual__{date}"
        assert done_line in out, f"{task} did not succeed:\n{out[-3000:]}"
    for component in COMPONENTS:  # per-component progress stays in the retrain task's log
        assert component in out, f"{component} not in the task log:\n{out[-3000:]}"
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    """One AIRFLOW_HOME; `dags test` with span-1, again after span-2 arrives, and after span-3 arrives with the
    rejecting config (what the registry and MLMD held after each run)."""
    home, env = make_home(tmp_path_factory.mktemp("airflow"), CONFIG)
    migrated = airflow(env, "db", "migrate", log=home / "db-migrate.log")
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    after = []
    for span, date in enumerate(DATES, start=1):
        if span == 3:
            (home / "config.json").write_text(json.dumps(REJECTING), encoding="utf-8")
        add_span(home, span)
        dag_test(home, env, date)
        after.append({"meta": registry_meta(home), "mlmd": mlmd(home)})
    return {"home": home, "after": after}




def registry_meta(home: Path) -> dict[int, dict]:
    root = home / "registry" / CONFIG["model_name"]
    return {int(p.name): json.loads((p / "metadata.json").read_text(encoding="utf-8"))
            for p in root.iterdir() if p.name.isdigit()}


def mlmd(home: Path) -> dict:
    """The Examples artifacts' spans, the run contexts and the run reports the DAG runs left in MLMD."""
    from tfx.orchestration import metadata

    from components.report import SkyhawkReport

    with metadata.Metadata(metadata.sqlite_metadata_connection_config(str(home / "metadata.sqlite"))) as m:
        examples = m.store.get_artifacts_by_type("Examples")
        pushed = sorted(m.store.get_artifacts_by_type("PushedModel"), key=lambda a: a.id)
        return {"spans": sorted(a.custom_properties["span"].int_value for a in examples),
                "runs": len(m.store.get_contexts_by_type("pipeline_run")),
                "pushed": [(a.uri, a.custom_properties["pushed"].int_value) for a in pushed],
                "reports": [a.uri for a in sorted(m.store.get_artifacts_by_type(SkyhawkReport.TYPE_NAME),
                                                  key=lambda a: a.id)]}


@pytest.mark.e2e
def test_first_span_is_trained_and_pushed_by_the_dag_run(runs):
    meta = runs["after"][0]["meta"]
    assert set(meta) == {1}
    v1 = meta[1]
    assert v1["blessed"] and v1["data"]["span"] == 1 and v1["baseline_metrics"] is None
    assert v1["config"]["schedule"] == "0 3 * * 1"
    assert v1["data"]["examples_uri"].startswith(str(runs["home"] / "pipeline"))


@pytest.mark.e2e
def test_the_next_dag_run_ingests_the_new_span_and_gates_against_the_first(runs):
    meta, found = runs["after"][1]["meta"], runs["after"][1]["mlmd"]
    assert set(meta) == {1, 2}
    v1, v2 = meta[1], meta[2]
    assert v2["data"]["span"] == 2 and v2["data"]["examples_uri"] != v1["data"]["examples_uri"]
    assert v2["baseline_metrics"] is not None  # the Evaluator compared it with version 1
    assert v2["model_uri"] != v1["model_uri"]
    assert found["spans"] == [1, 2]
    assert found["runs"] == 2  # one TFX pipeline run per DAG run
    assert len(found["reports"]) == 2 and all(os.path.isfile(os.path.join(u, "report.html")) for u in found["reports"])
    data = [json.loads(Path(u, "report.json").read_text(encoding="utf-8"))["data"] for u in found["reports"]]
    assert [d["span"] for d in data] == [1, 2]
    assert data[1]["baseline_model"] == v1["model_uri"] and data[1]["model_uri"] == v2["model_uri"]


@pytest.mark.e2e
def test_a_dag_run_whose_gate_rejects_records_the_candidate_as_not_pushed(runs):
    """Span 3 under the rejecting config: every task succeeds (dag_test), the RegistryPusher records 'not
    pushed' with the floor it failed, and the registry gets no version."""
    meta, found = runs["after"][2]["meta"], runs["after"][2]["mlmd"]
    assert set(meta) == {1, 2}
    assert found["spans"] == [1, 2, 3] and found["runs"] == 3
    assert [flag for _, flag in found["pushed"]] == [1, 1, 0]
    decision = json.loads(Path(found["pushed"][-1][0], "NOT_PUSHED.json").read_text(encoding="utf-8"))
    assert decision["blessed"] is False and decision["eval_span"] == 3 and decision["spans"] == [3]
    assert any("binary_accuracy" in f and "0.5" in f for f in decision["gate_failures"]), decision
    assert len(found["reports"]) == 3
