"""Pytest plugin: a real exported Skyhawk model (Xception, 75 px, random weights) in a real registry.

Random weights give P(fake) close to 0.5; the head's kernel is scaled up so that scores differ between
videos (in the 3rd-4th decimal), which is all the scoring tests need: they check plumbing, rows,
thresholds and agreement between paths, not detection quality. Load with ``pytest_plugins = ["score_model"]``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

SIZE = 75
MODEL_NAME = "skyhawk-test"


@dataclass(frozen=True)
class TestModel:
    saved_model: str  # the exported SavedModel folder (threshold 0.5)
    registry: str  # registry root: v1 = threshold 0.5, v2 = same weights, threshold 0.99
    name: str = MODEL_NAME

    @property
    def ref(self) -> str:
        """REG/NAME: the serving version (v2, unless a test pins another)."""
        return os.path.join(self.registry, self.name)


def export_test_model(out: Path, threshold: float) -> str:
    import tf_keras

    from skyhawk.config import ExtractConfig, TrainConfig, to_dict
    from skyhawk_model.export import export_model
    from skyhawk_model.model import build_model

    tf_keras.utils.set_random_seed(1)
    cfg = TrainConfig(backbone="xception", weights="none", image_size=SIZE, threshold=threshold)
    model = build_model(cfg)
    head = model.layers[-1]
    kernel, bias = head.get_weights()
    head.set_weights([kernel * 3000.0, bias])
    return export_model(model, str(out), cfg, {}, crop=to_dict(ExtractConfig(image_size=SIZE)))


@pytest.fixture(scope="session")
def test_model(tmp_path_factory) -> TestModel:
    from skyhawk.registry import Registry

    root = tmp_path_factory.mktemp("score-model")
    reg = Registry(str(root / "registry"))
    low = export_test_model(root / "t050", 0.5)
    high = export_test_model(root / "t099", 0.99)
    reg.publish(MODEL_NAME, low, {"threshold": 0.5})
    reg.publish(MODEL_NAME, high, {"threshold": 0.99})
    return TestModel(saved_model=low, registry=str(root / "registry"))
