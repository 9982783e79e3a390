"""The Trainer's warm-start choice (``skyhawk_model.checkpoints.warm_start_base``); the fine-tuning itself runs in
test_retrain.py (a version warm-started from the previous one, with its parent recorded)."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from skyhawk.artifact import ModelMetadata, write_metadata
from skyhawk.config import TrainConfig
from skyhawk_model.checkpoints import warm_start_base

CFG = TrainConfig(backbone="xception", weights="none", image_size=75, warm_start=True, warm_start_epochs=3)


def _export(tmp_path: Path, backbone: str, image_size: int) -> str:
    """A folder with the metadata an exported model carries (what the choice reads)."""
    d = str(tmp_path / f"{backbone}-{image_size}" / "Format-Serving")
    write_metadata(d, ModelMetadata(threshold=0.5, image_size=image_size, backbone=backbone))
    return d


def test_a_matching_blessed_model_is_fine_tuned(tmp_path):
    base = _export(tmp_path, "xception", 75)
    chosen, record = warm_start_base(SimpleNamespace(base_model=base), CFG)
    assert chosen == base and record["base_model"] == base and record["epochs"] == 3
    assert record["reason"] == "fine-tuned from the latest blessed model for <= 3 epoch(s)"


def test_without_a_blessed_model_or_with_another_architecture_it_trains_from_scratch(tmp_path):
    chosen, record = warm_start_base(SimpleNamespace(base_model=None), CFG)
    assert chosen is None and record["enabled"] and "no blessed model yet" in record["reason"]
    chosen, record = warm_start_base(SimpleNamespace(base_model=_export(tmp_path, "xception", 96)), CFG)
    assert chosen is None and "xception/96 px, the config xception/75 px: trained from scratch" in record["reason"]


def test_warm_start_off_ignores_a_base_model(tmp_path):
    off = TrainConfig(backbone="xception", weights="none", image_size=75)
    chosen, record = warm_start_base(SimpleNamespace(base_model=_export(tmp_path, "xception", 75)), off)
    assert chosen is None and record == {"enabled": False, "base_model": None, "reason": "train.warm_start is off"}
