"""The product learns: the README's main command (`skyhawk demo`, the packaged demo config, fixed seeds) pushes
a model whose held-out video AUC is >= 0.9 and whose frame accuracy beats a model that calls every face fake.

It fails when the Trainer learns nothing: a constant model has video AUC 0.5 and frame accuracy 2/3 at best
(every demo clip has one real and two fakes; ``tests/test_demo_gate.py``), and the gate then refuses it.
"""
from __future__ import annotations

import subprocess
import sys

import pytest

from skyhawk.registry import Registry

pytestmark = pytest.mark.e2e


def test_the_demo_model_learns(tmp_path):
    out = tmp_path / "demo"
    proc = subprocess.run([sys.executable, "-m", "pipelines.main", "demo", "--output", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "model pushed:" in proc.stdout
    meta = Registry(str(out / "registry")).show("skyhawk-demo", 1)
    metrics = {k: v for per_output in meta["metrics"].values() for k, v in per_output.items()}
    assert metrics["video_auc"] >= 0.9, metrics
    assert metrics["binary_accuracy"] > 2 / 3 + 0.05, metrics  # clearly above "every face is fake"
