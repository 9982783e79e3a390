"""``create_pipeline``'s splits (no run): with a test split declared, the Trainer fits on train and selects on
eval, the Evaluator gates on eval only; the test split is produced but reaches neither."""
from __future__ import annotations

import json
from pathlib import Path

from pipelines.pipeline import create_pipeline
from pipelines.run import demo_config


def test_the_test_split_is_kept_out_of_the_trainer_and_the_gate(tmp_path: Path):
    pipeline = create_pipeline(demo_config(str(tmp_path), {}), split_names=["train", "eval", "test"])
    node = {c.id: c for c in pipeline.components}
    output = json.loads(node["FileBasedExampleGen"].exec_properties["output_config"])
    assert [s["name"] for s in output["split_config"]["splits"]] == ["train", "eval", "test"]
    trainer = node["Trainer"].exec_properties
    assert json.loads(trainer["train_args"])["splits"] == ["train"]
    assert json.loads(trainer["eval_args"])["splits"] == ["eval"]
    assert json.loads(node["Evaluator"].exec_properties["example_splits"]) == ["eval"]


def test_confound_check_audits_the_training_window_before_the_trainer_runs(tmp_path: Path):
    """ConfoundCheck reads this span's examples and the window's earlier spans (what the Trainer trains on),
    and the Trainer waits for it: a set that fails the audit is never trained on."""
    cfg = demo_config(str(tmp_path), {"use_spans": True, "train.span_window": 3})
    node = {c.id: c for c in create_pipeline(cfg, split_names=["train", "eval"]).components}
    check = node["ConfoundCheck"]
    assert check in node["Trainer"].upstream_nodes
    sources = {key: check.inputs[key].producer_component_id for key in ("examples", "training_examples")}
    assert sources == {"examples": "FileBasedExampleGen", "training_examples": "earlier_spans_resolver"}
