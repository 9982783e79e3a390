"""``skyhawk ensemble`` on the two released MesoNets: the one SavedModel's P(fake) is the (weighted) mean of its
members' on real face crops, members that crop differently are refused with one line, and ``predict`` and
``score`` use the published version unchanged."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED_MEDIA
from media import FACE_VIDEOS

from pipelines.main import main

MESONET = SHARED_MEDIA.parent / "weights" / "mesonet"
FRAMES = 4


@pytest.fixture(scope="module")
def reg(tmp_path_factory) -> Path:
    """A registry with meso4/1 and mesoinc/1 (imported) and ens/1 = their plain mean (made by the command)."""
    from skyhawk_model.importer import import_model

    if not (MESONET / "Meso4_DF.h5").is_file():
        pytest.fail(f"MesoNet's released weights not found at {MESONET}")
    root = tmp_path_factory.mktemp("ensemble") / "reg"
    import_model("meso4", str(MESONET / "Meso4_DF.h5"), str(root), "meso4")
    import_model("mesoinception4", str(MESONET / "MesoInception_DF.h5"), str(root), "mesoinc")
    assert main(["ensemble", "--registry", str(root), "--name", "ens",
                 "--model", str(root / "meso4"), "--model", str(root / "mesoinc")]) == 0
    return root


@pytest.fixture(scope="module")
def crops(reg: Path) -> list[bytes]:
    """JPEG face crops of real videos, made as scoring makes them for these models."""
    from components.score.discover import stat_input
    from components.score.sample import sample_video
    from skyhawk.faces import FaceDetector
    from skyhawk_model.model_ref import resolve

    cfg = resolve(str(reg / "ens")).extract_config(FRAMES)
    detector = FaceDetector(cfg.detector, cfg.detect_size)
    out = []
    for name in FACE_VIDEOS[:2]:
        _, found = sample_video(stat_input(str(SHARED_MEDIA / "real_videos" / name)), cfg, detector)
        out += [jpeg for _, jpeg in found]
    assert len(out) >= 4
    return out


def _p_fake(model_dir: Path, jpegs: list[bytes]) -> np.ndarray:
    from skyhawk_model.export import load_scorer

    return load_scorer(str(model_dir))(jpegs)


def test_p_fake_is_the_mean_of_the_members_on_real_crops(reg, crops):
    a, b = _p_fake(reg / "meso4" / "1", crops), _p_fake(reg / "mesoinc" / "1", crops)
    assert np.abs(a - b).max() > 0.01  # the members disagree, so the mean is a real check
    np.testing.assert_allclose(_p_fake(reg / "ens" / "1", crops), (a + b) / 2, atol=1e-5)

    assert main(["ensemble", "--registry", str(reg), "--name", "ens-w", "--weights", "3,1",
                 "--model", str(reg / "meso4" / "1"), "--model", str(reg / "mesoinc")]) == 0
    np.testing.assert_allclose(_p_fake(reg / "ens-w" / "1", crops), 0.75 * a + 0.25 * b, atol=1e-5)


def test_metadata_names_the_members(reg):
    from skyhawk import artifact

    meta = json.loads((reg / "ens" / "1" / "metadata.json").read_text())
    members = meta["ensemble"]["members"]
    assert [(m["ref"], m["model_name"], m["version"], m["weight"]) for m in members] == [
        (str(reg / "meso4"), "meso4", 1, 0.5), (str(reg / "mesoinc"), "mesoinc", 1, 0.5)]
    assert [m["imported"]["file"] for m in members] == ["Meso4_DF.h5", "MesoInception_DF.h5"]
    assert all(len(m["sha256"]) == 64 for m in members) and members[0]["sha256"] != members[1]["sha256"]
    assert meta["backbone"] == "ensemble" and meta["image_size"] == 256 and meta["threshold"] == 0.5
    model = artifact.read_metadata(str(reg / "ens" / "1"))  # what scoring reads: the members' crop settings
    assert model.crop["margin"] == 1.5 and model.image_size == 256 and model.backbone == "ensemble"


def test_members_that_crop_differently_are_refused_in_one_line(reg, capsys):
    from skyhawk.config import ExtractConfig
    from skyhawk_model.importer import import_model

    import_model("meso4", str(MESONET / "Meso4_DF.h5"), str(reg), "meso4-m13",
                 crop=ExtractConfig(image_size=256, margin=1.3))
    capsys.readouterr()
    assert main(["ensemble", "--registry", str(reg), "--name", "bad",
                 "--model", str(reg / "meso4"), "--model", str(reg / "meso4-m13")]) == 1
    err = capsys.readouterr().err.strip()
    assert err == ("skyhawk ensemble: error: members differ in crop setting margin: meso4/1=1.5, meso4-m13/1=1.3 "
                   "(members must make identical crops)")
    assert main(["ensemble", "--registry", str(reg), "--name", "bad", "--model", str(reg / "meso4")]) == 1
    assert "at least 2 members" in capsys.readouterr().err
    assert main(["ensemble", "--registry", str(reg), "--name", "bad", "--weights", "1",
                 "--model", str(reg / "meso4"), "--model", str(reg / "mesoinc")]) == 1
    assert "1 weights for 2 members" in capsys.readouterr().err
    assert main(["ensemble", "--registry", str(reg), "--name", "bad", "--threshold", "1.5",
                 "--model", str(reg / "meso4"), "--model", str(reg / "mesoinc")]) == 1
    assert capsys.readouterr().err.strip() == "skyhawk ensemble: error: threshold must be in (0, 1), got 1.5"
    assert not (reg / "bad").exists()


def test_predict_and_score_use_the_version_unchanged(reg, tmp_path, capsys):
    videos = [str(SHARED_MEDIA / "real_videos" / n) for n in FACE_VIDEOS[:2]]
    rows = {}
    for name in ("ens", "meso4", "mesoinc"):
        capsys.readouterr()
        assert main(["predict", "--json", "--frames", str(FRAMES), "--model", str(reg / name), *videos]) == 0
        rows[name] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["model"] for r in rows["ens"]] == ["ens/1", "ens/1"]
    for ens, a, b in zip(rows["ens"], rows["meso4"], rows["mesoinc"], strict=True):
        assert ens["status"] == "ok" and ens["faces_scored"] == a["faces_scored"] > 0
        assert ens["p_fake"] == pytest.approx((a["p_fake"] + b["p_fake"]) / 2, abs=1e-5)  # mean of frame means

    folder = tmp_path / "videos"
    folder.mkdir()
    for v in videos:
        (folder / Path(v).name).symlink_to(v)
    out = tmp_path / "scores"
    assert main(["score", "--input", str(folder), "--model", str(reg / "ens"), "--output", str(out),
                 "--frames", str(FRAMES)]) == 0
    scored = {Path(r["uri"]).name: r for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())}
    assert set(scored) == {Path(v).name for v in videos}
    for row in rows["ens"]:
        assert scored[Path(row["uri"]).name]["p_fake"] == pytest.approx(row["p_fake"], abs=1e-5)
