"""Config values are checked against the dataclass field types and ranges at load time (issue 9, item 9)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from skyhawk.config import ConfigError, ExtractConfig, PipelineConfig, TrainConfig, from_dict, load, replace


@pytest.mark.parametrize("data, message", [
    ({"train": {"batch_size": "80"}}, "train.batch_size must be an integer, got '80' (str)"),
    ({"train": {"augment": "false"}}, "train.augment must be true or false, got 'false' (str)"),
    ({"train": {"max_epochs": 2.5}}, "train.max_epochs must be an integer, got 2.5 (float)"),
    ({"train": {"learning_rate": -0.001}}, "train.learning_rate must be > 0, got -0.001"),
    ({"train": {"decay_rate": 0}}, "train.decay_rate must be in (0, 1], got 0.0"),
    ({"train": {"steps_per_epoch": -1}}, "train.steps_per_epoch must be >= 0, got -1"),
    ({"train": {"weights": "/nowhere/w.h5"}}, "train.weights must be imagenet|none|<existing weights file>"),
    ({"train": {"dropout": None}}, "train.dropout must be a number, got None (NoneType)"),
    ({"extract": {"eval_fraction": "0.2"}}, "extract.eval_fraction must be a number, got '0.2' (str)"),
    ({"extract": {"frames_per_video": True}}, "extract.frames_per_video must be an integer, got True (bool)"),
    ({"extract": {"allow_outside_root": 1}}, "extract.allow_outside_root must be true or false, got 1 (int)"),
    ({"gate": {"max_regression": -1}}, "gate.max_regression must be >= 0, got -1.0"),
    ({"gate": {"video_level": "yes"}}, "gate.video_level must be true or false"),
    ({"beam_args": "--direct_num_workers=1"}, "beam_args must be a list of strings, got '--direct_num_workers=1'"),
    ({"beam_args": ["direct_num_workers=1"]}, "beam_args must be flags like --runner=..., got 'direct_num_workers=1'"),
    ({"model_name": "../evil"}, "model_name must be letters, digits, '.', '_', '-' (no path), got '../evil'"),
    ({"model_name": "m\n"}, "model_name must be letters"),
    ({"pipeline_name": "a/b"}, "pipeline_name must be letters"),
    ({"registry": 3}, "registry must be a string, got 3 (int)"),
    ({"train": []}, "train must be an object, got list"),
])
def test_bad_values_name_their_key(data: dict, message: str):
    with pytest.raises(ConfigError) as e:
        from_dict(PipelineConfig, data)
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


def test_good_values_load_and_coerce(tmp_path: Path):
    weights = tmp_path / "w.h5"
    weights.write_bytes(b"x")
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"beam_args": ["--runner=DirectRunner"], "model_name": "m-1.v2",
                                "train": {"learning_rate": 1, "weights": str(weights), "augment": False}}))
    cfg = load(str(path))
    assert cfg.train.learning_rate == 1.0 and isinstance(cfg.train.learning_rate, float)
    assert cfg.beam_args == ("--runner=DirectRunner",) and cfg.train.augment is False
    ckpt = tmp_path / "ckpt"
    (tmp_path / "ckpt.index").write_bytes(b"x")  # a TF checkpoint prefix counts as a weights file
    assert TrainConfig(weights=str(ckpt)).validate().weights == str(ckpt)
    with pytest.raises(ConfigError, match="config file not found"):
        load(str(tmp_path / "missing.json"))


def test_programmatic_configs_are_checked_too():
    with pytest.raises(ConfigError, match="margin must be a number"):
        replace(ExtractConfig(), margin="1.3")
    with pytest.raises(ConfigError, match="beam_args must be a list of strings"):
        PipelineConfig(beam_args="--x").validate()
