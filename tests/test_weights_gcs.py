"""train.weights on gs:// (a real fake-gcs-server process): checked before a run like a local path, and loaded
by the Trainer's build_model into the same network as the local file."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skyhawk import fileio
from skyhawk.config import ConfigError, TrainConfig, check_inputs, load

pytest_plugins = ["gcs"]  # tests/gcs.py: gcs_emulator, gcs_prefix


@pytest.fixture
def released(shared_media: Path) -> Path:
    return shared_media.parent / "weights" / "mesonet" / "Meso4_DF.h5"


def test_gs_weights_are_checked_and_loaded_like_local_ones(released: Path, gcs_prefix: str, tmp_path: Path):
    from skyhawk_model.model import build_model

    remote = f"{gcs_prefix}/Meso4_DF.h5"
    fileio.copy_file(str(released), remote)
    x = np.random.default_rng(0).uniform(0, 255, (2, 256, 256, 3)).astype("float32")
    local = build_model(TrainConfig(backbone="meso4", weights=str(released), image_size=256))
    from_gcs = build_model(TrainConfig(backbone="meso4", weights=remote, image_size=256))
    np.testing.assert_array_equal(from_gcs(x).numpy(), local(x).numpy())

    (tmp_path / "videos").mkdir()
    cfg = load(None, {"data_root": str(tmp_path / "videos"), "train.backbone": "meso4", "train.image_size": 256,
                      "extract.image_size": 256, "train.weights": f"{gcs_prefix}/missing.h5"})
    with pytest.raises(ConfigError, match=rf"^config: train.weights: no such file: {gcs_prefix}/missing.h5"):
        check_inputs(cfg)
    check_inputs(load(None, {"data_root": str(tmp_path / "videos"), "train.backbone": "meso4",
                             "train.image_size": 256, "extract.image_size": 256, "train.weights": remote}))
