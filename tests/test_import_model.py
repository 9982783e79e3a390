"""MesoNet's released weights: the architectures load them as published, and an imported model scores
the authors' own test images through Skyhawk's face detection and crop (``skyhawk predict``)."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED_MEDIA

MESONET = SHARED_MEDIA.parent / "weights" / "mesonet"
RELEASED = {"meso4": "Meso4_DF.h5", "mesoinception4": "MesoInception_DF.h5"}


@pytest.fixture(scope="module")
def mesonet() -> Path:
    if not (MESONET / "Meso4_DF.h5").is_file():
        pytest.fail(f"MesoNet's released weights not found at {MESONET}")
    return MESONET


def _images(mesonet: Path) -> dict[str, np.ndarray]:
    from PIL import Image

    return {p.stem: np.asarray(Image.open(p).convert("RGB").resize((256, 256)), np.float32)
            for p in sorted(mesonet.glob("test_images/*/*.jpg"))}


@pytest.mark.parametrize("backbone", sorted(RELEASED))
def test_released_weights_load_into_the_papers_network(mesonet, backbone):
    """The authors' README: Meso4_DF gives df00204 0.048, df01254 0.026, real00240 0.990, real00772 0.997."""
    import tf_keras

    from skyhawk.config import TrainConfig
    from skyhawk_model import backbones

    net = backbones.get(backbone).build(tf_keras, TrainConfig(backbone=backbone, weights="none", image_size=256), None)
    net.load_weights(str(mesonet / RELEASED[backbone]))
    images = _images(mesonet)
    p_real = dict(zip(images, net.predict(np.stack(list(images.values())) / 255.0, verbose=0)[:, 0], strict=True))
    assert all(p_real[k] < 0.1 for k in p_real if k.startswith("df")), p_real
    assert all(p_real[k] > 0.9 for k in p_real if k.startswith("real")), p_real
    if backbone == "meso4":  # the published numbers, up to JPEG decoding and resizing differences
        assert p_real["df00204"] == pytest.approx(0.048, abs=0.02)
        assert p_real["real00772"] == pytest.approx(0.997, abs=0.01)


def _skyhawk(*args: str) -> str:
    return subprocess.run([sys.executable, "-m", "pipelines.main", *args], capture_output=True, text=True,
                          check=True).stdout


@pytest.mark.parametrize("backbone", sorted(RELEASED))
def test_imported_model_predicts_through_skyhawks_crop(mesonet, backbone, tmp_path):
    """The issue's acceptance: import-model, then predict --json on the authors' test images."""
    weights = mesonet / RELEASED[backbone]
    printed = _skyhawk("import-model", "--backbone", backbone, "--weights", str(weights),
                       "--registry", str(tmp_path / "reg"), "--name", "meso")
    assert f"{tmp_path / 'reg'}/meso/1" in printed
    published = json.loads((tmp_path / "reg" / "meso" / "1" / "metadata.json").read_text())
    assert published["imported"]["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert published["imported"]["file"] == weights.name and published["backbone"] == backbone

    out = _skyhawk("predict", "--json", "--model", str(tmp_path / "reg" / "meso"),
                   *map(str, sorted(mesonet.glob("test_images/*/*.jpg"))))
    rows = {Path(r["uri"]).stem: r for r in map(json.loads, out.splitlines())}
    assert len(rows) == 4 and all(r["status"] == "ok" and r["faces_scored"] == 1 for r in rows.values()), rows
    assert all(r["p_fake"] > 0.5 for k, r in rows.items() if k.startswith("df")), rows
    assert all(r["p_fake"] < 0.5 for k, r in rows.items() if k.startswith("real")), rows
    assert {r["model"] for r in rows.values()} == {"meso/1"}


def test_import_refuses_what_it_cannot_import(mesonet, tmp_path):
    from skyhawk_model.importer import import_model

    with pytest.raises(ValueError, match="backbone must be one of"):
        import_model("inception_resnet_v2", str(mesonet / "Meso4_DF.h5"), str(tmp_path), "x")
    with pytest.raises(ValueError, match="weights file not found"):
        import_model("meso4", str(tmp_path / "missing.h5"), str(tmp_path), "x")
    with pytest.raises(Exception, match="fits neither"):  # MesoInception's file does not fit Meso-4
        import_model("meso4", str(mesonet / "MesoInception_DF.h5"), str(tmp_path), "x")
