"""The demo's gate is above chance: a model that calls every face real, or every face fake, is not blessed."""
from __future__ import annotations

import csv
from collections import Counter, defaultdict

from pipelines.run import demo_config
from skyhawk.demo import make_demo_data


def test_demo_gate_blocks_a_one_class_model(tmp_path):
    cfg = demo_config(str(tmp_path))
    manifest = make_demo_data(str(tmp_path / "videos"), seed=0, clips=1, frames=2, size=128)
    with open(manifest, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    per_group: dict[str, Counter] = defaultdict(Counter)
    for r in rows:
        per_group[r["group"]][r["label"]] += 1
    # Splits are by group and every group has the same real/fake make-up, so any eval split has this
    # fake share (every video gives the same number of frames).
    shares = {c["fake"] / (c["fake"] + c["real"]) for c in per_group.values()}
    assert len(shares) == 1
    (fake_share,) = shares
    best_constant_accuracy = max(fake_share, 1.0 - fake_share)  # "all fake" or "all real"
    assert best_constant_accuracy == 2 / 3
    assert cfg.gate.accuracy_floor > best_constant_accuracy
