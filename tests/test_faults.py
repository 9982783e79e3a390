"""Fault probes of issue 25 (round 3), one test per item, each the issue's repro run as a user or operator would.

This module: concurrent retrains (7), the registry (4, 8, 17), config values (15), compile (13). The rest:
tests/test_faults_io.py (videos, TFRecords, gs://, full disks, Ctrl-C); the Airflow DAG file's imports (16)
are checked in tests/test_airflow.py. Every command is the real ``skyhawk`` in a subprocess or ``main``.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.main import main

SKYHAWK = str(Path(sys.executable).with_name("skyhawk"))


def skyhawk(*args: str, cwd: Path | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([SKYHAWK, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd)


# --- 7: two retrains of one config ---------------------------------------------------------------------------

HOLD = """
import sys
from pipelines.retrain import retrain_lock
from skyhawk.config import load
with retrain_lock(load(sys.argv[1])) as path:
    print(path, flush=True)
    sys.stdin.read()  # held until the test closes stdin
"""


def test_a_second_retrain_of_one_pipeline_root_exits_5_while_the_first_holds_its_lock(tmp_path: Path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"use_spans": True, "data_root": str(tmp_path / "videos"),
                                  "pipeline_root": str(tmp_path / "pipeline")}), encoding="utf-8")
    first = subprocess.Popen([sys.executable, "-c", HOLD, str(config)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        lock = first.stdout.readline().strip()
        assert lock == str(tmp_path / "pipeline" / ".retrain.lock")
        second = skyhawk("retrain", "--config", str(config))
        assert second.returncode == 5, second.stderr
        assert f"another retrain holds {lock} (pid {first.pid}" in second.stderr
        assert len(second.stderr.strip().splitlines()) == 1
    finally:
        first.stdin.close()
        first.wait(timeout=60)
    after = skyhawk("retrain", "--config", str(config))  # the lock is free again: on to the (missing) spans
    assert after.returncode == 1 and "no span-N/ folder under" in after.stderr, after.stderr


# --- 4, 8, 17: the registry ---------------------------------------------------------------------------------

WEIGHTS = Path(__file__).resolve().parents[2] / "shared" / "weights" / "mesonet" / "Meso4_DF.h5"


@pytest.fixture(scope="module")
def meso4_registry(tmp_path_factory) -> Path:
    """`import-model` of the released Meso4_DF weights twice: reg/meso4 versions 1 and 2 (copied per test)."""
    from skyhawk_model.importer import import_model

    if not WEIGHTS.is_file():
        pytest.fail(f"released weights not found at {WEIGHTS}")
    reg = tmp_path_factory.mktemp("faults-registry") / "reg"
    for _ in range(2):
        import_model("meso4", str(WEIGHTS), str(reg), "meso4")
    return reg


@pytest.fixture
def reg(meso4_registry: Path, tmp_path: Path) -> Path:
    shutil.copytree(meso4_registry, tmp_path / "reg")
    return tmp_path / "reg"


def data_file(reg: Path, version: int) -> Path:
    return reg / "meso4" / str(version) / "variables" / "variables.data-00000-of-00001"


def test_a_version_with_missing_or_truncated_variables_is_unusable_and_named(reg: Path, capsys):
    from skyhawk.registry import Registry, RegistryError
    from skyhawk_model.model_ref import ModelRefError, resolve

    registry = Registry(str(reg))
    assert [v["usable"] for v in registry.versions("meso4")] == [True, True]
    data = data_file(reg, 2)
    size = data.stat().st_size
    data.write_bytes(data.read_bytes()[: size // 2])  # truncated
    v2 = registry.show("meso4", 2)
    assert not v2["usable"] and v2["problem"] == f"{data} is truncated ({size // 2} bytes; the index needs {size})"
    with pytest.raises(ModelRefError, match=f"cannot score with .*meso4.*: unusable model .*{data.name} is truncated"):
        resolve(str(reg / "meso4"))  # what score, predict and evaluate resolve --model with
    data.unlink()  # no data file at all
    assert registry.show("meso4", 2)["problem"] == f"{data} is missing"
    with pytest.raises(RegistryError, match="cannot pin meso4@2: unusable version"):
        registry.pin("meso4", 2)
    for f in (reg / "meso4" / "2" / "variables").iterdir():  # no variables/ folder content at all
        f.unlink()
    assert "no variables/variables.index in" in registry.show("meso4", 2)["problem"]
    assert main(["registry", "--root", str(reg), "list", "meso4"]) == 0
    assert "! version 2 is unusable: no variables/variables.index" in capsys.readouterr().out


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_failed_unpin_leaves_every_file_as_it_was(reg: Path, capsys):
    assert main(["registry", "--root", str(reg), "pin", "meso4@1"]) == 0
    data_file(reg, 2).unlink()  # version 2 (the latest) becomes unusable
    before = tree(reg)
    assert main(["registry", "--root", str(reg), "unpin", "meso4"]) == 1
    assert "cannot serve meso4@2: unusable version" in capsys.readouterr().err
    assert tree(reg) == before  # serving.json still there, models.config still says 1


def test_list_shows_a_pin_to_a_missing_version_as_missing(reg: Path, capsys):
    (reg / "meso4" / "serving.json").write_text(json.dumps({"model_name": "meso4", "version": 99}), encoding="utf-8")
    assert main(["registry", "--root", str(reg), "list"]) == 0
    out = capsys.readouterr().out
    assert "99 (missing!)" in out
    assert "! meso4 is pinned to version 99, which is not published (published: 1, 2)" in out
    assert main(["registry", "--root", str(reg), "--json", "list"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["pin_missing"] is True


def test_publish_refuses_nan_and_infinity_in_metadata(reg: Path):
    from skyhawk.registry import Registry, RegistryError

    registry = Registry(str(reg))
    for bad, where in (({"metrics": {"auc": float("nan")}}, "metrics.auc = nan"),
                       ({"scores": [1.0, float("inf")]}, "scores.1 = inf")):
        with pytest.raises(RegistryError, match=f"a non-finite number at {re.escape(where)}"):
            registry.publish("meso4", str(reg / "meso4" / "1"), bad)
    assert [v["version"] for v in registry.versions("meso4")] == [1, 2]
    assert not (reg / "meso4" / ".staging").exists()


# --- 15: config values -------------------------------------------------------------------------------------

@pytest.mark.parametrize("config, sets, message", [
    ({"extract": {"frames_per_video": 99999999999999999999999}}, [],
     "extract.frames_per_video must be an integer from -2147483648 to 2147483647, got 99999999999999999999999"),
    ([1, 2], ["extract.frames_per_video=3"], "a config must be a JSON object, got a JSON list"),
    ({"extract": 3}, ["extract.frames_per_video=3"],
     "cannot set extract.frames_per_video: extract is not an object in the config (it is 3)"),
])
def test_config_values_that_leaked_internals_get_one_line_naming_the_key(tmp_path: Path, capsys, config, sets,
                                                                          message):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    args = [a for s in sets for a in ("--set", s)]
    assert main(["compile", "--config", str(path), *args, "--image", "gcr.io/p/img:1",
                 "--output", str(tmp_path / "spec.json")]) == 1
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "spec.json").exists()


# --- 13: compile -------------------------------------------------------------------------------------------

CLUSTER = {"data_root": "gs://b/videos", "pipeline_root": "gs://b/pipeline", "registry": "gs://b/registry"}


@pytest.mark.parametrize("image", ["not a valid image", "gcr.io/p/img:", "UPPER/Case:tag", "img:tag;rm -rf /",
                                   "@sha256:zz", "img@sha256:zz"])
def test_compile_refuses_an_invalid_image_reference(tmp_path: Path, capsys, image):
    path = tmp_path / "cluster.json"
    path.write_text(json.dumps(CLUSTER), encoding="utf-8")
    assert main(["compile", "--config", str(path), "--image", image, "--output", str(tmp_path / "spec.json")]) == 1
    assert f"not a valid image reference: {image!r}" in capsys.readouterr().err
    assert not (tmp_path / "spec.json").exists()


def test_compile_refuses_local_paths_unless_allowed(tmp_path: Path, capsys):
    path = tmp_path / "local.json"
    path.write_text(json.dumps({**CLUSTER, "data_root": "videos", "registry": "/srv/reg"}), encoding="utf-8")
    out = tmp_path / "spec.json"
    assert main(["compile", "--config", str(path), "--image", "gcr.io/p/img:1", "--output", str(out)]) == 1
    err = capsys.readouterr().err
    assert (f"local paths the cluster cannot reach: data_root={Path.cwd() / 'videos'}, registry=/srv/reg (use gs:// "
            "paths, see docs/cluster.md; --allow-local to compile anyway)") in err and not out.exists()
    assert main(["compile", "--config", str(path), "--image", "gcr.io/p/img:1", "--output", str(out),
                 "--allow-local"]) == 0
    assert json.loads(out.read_text(encoding="utf-8"))["runtimeConfig"]["gcsOutputDirectory"] == "gs://b/pipeline"
