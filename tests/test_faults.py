"""Fault probes of issue 25 (round 3), one test per item, each the issue's repro run as a user or operator would.

This module: concurrent retrains (7), the registry (4, 8, 17), config values (15), compile (13). The rest:
tests/test_faults_io.py (videos, TFRecords, gs://, full disks, Ctrl-C); the Airflow DAG file's imports (16)
are checked in tests/test_airflow.py. Every command is the real ``skyhawk`` in a subprocess or ``main``.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
