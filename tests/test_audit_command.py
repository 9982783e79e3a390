"""`skyhawk audit` on labelled folders made from the shared real videos: a confounded set is flagged, a matched
one is not, several folders audit as one set, every input is accounted for, bad input is one error line."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from confound_sets import make_set

from pipelines.main import main


@pytest.fixture(scope="module")
def sets(shared_media: Path, tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    root = tmp_path_factory.mktemp("audit_sets")
    return {name: (root / name, make_set(shared_media, root / name, real, fake))
            for name, real, fake in (("confounded", 192, 384), ("matched", 256, 256))}


def _audit(capsys, *argv: str) -> tuple[int, dict]:
    rc = main(["audit", "--frames", "3", *argv, "--json"])
    return rc, json.loads(capsys.readouterr().out)


def test_confounded_set_fails_and_matched_set_passes(sets, capsys):
    root, manifest = sets["confounded"]
    assert main(["audit", "--input", str(root), "--labels", f"csv:{manifest}", "--frames", "3"]) == 0
    text = capsys.readouterr().out
    assert "16 videos (8 real, 8 fake) in 9 groups" in text  # the leaked fake is its own group
    assert "verdict (fail; warn at 0.65, fail at 0.8)" in text
    for name in ("frame_width", "frame_height", "face_side_px"):  # named in the verdict, and in the table
        assert f"{name} 1.00 (higher in fakes)" in text and f"{name:24s}  1.000    1.000  higher in fakes" in text
    rc, out = _audit(capsys, "--input", str(root), "--labels", f"csv:{manifest}")
    assert rc == 0 and out["verdict"]["status"] == "fail" and out["audit"]["combined_auc"] >= 0.8
    assert len(out["videos"]) == 16 and not out["left_out"]

    root, manifest = sets["matched"]
    rc, out = _audit(capsys, "--input", str(root), "--labels", f"csv:{manifest}")
    assert rc == 0 and out["verdict"]["status"] == "ok" and out["audit"]["combined_auc"] < 0.65
    dropped = {d["feature"]: d["reason"] for d in out["audit"]["dropped"]}
    assert dropped["frame_width"] == "constant: 256" and dropped["codec"] == "constant: fmp4"
    assert all(v["frame_width"] == 256 and v["faces"] >= 1 for v in out["videos"])


def test_folders_audit_as_one_set_and_every_input_is_accounted_for(sets, capsys, tmp_path: Path):
    """Reals of the matched set (256 px) with fakes of the confounded set (384 px): flagged; a broken file
    is left out with its reason."""
    good, bad = sets["matched"][0], sets["confounded"][0]
    rc, out = _audit(capsys, "--input", str(good), "--labels", "folders:real=real",
                     "--input", str(bad), "--labels", "folders:fake=fake")
    assert rc == 0 and out["verdict"]["status"] == "fail"
    ids = {v["video_id"] for v in out["videos"]}
    assert "matched:real/fom00" in ids and "confounded:fake/fom00_sbi" in ids and len(ids) == 16

    (tmp_path / "real").mkdir()
    (tmp_path / "fake").mkdir()
    for clip in ("fom00", "lp_d0"):
        (tmp_path / "real" / f"{clip}.mp4").symlink_to(good / "real" / f"{clip}.mp4")
        (tmp_path / "fake" / f"{clip}_sbi.mp4").symlink_to(good / "fake" / f"{clip}_sbi.mp4")
    (tmp_path / "real" / "zero.mp4").write_bytes(b"")
    rc, out = _audit(capsys, "--input", str(tmp_path))
    assert rc == 0 and len(out["videos"]) == 4
    assert out["left_out"] == [{"video_id": "real/zero", "reason": "empty file (0 bytes)"}]
    assert out["verdict"]["status"] == "not judged"  # 2 + 2 videos: reported, never gated


def test_bad_input_is_one_error_line(tmp_path: Path, capsys):
    assert main(["audit", "--input", str(tmp_path / "missing")]) == 1
    assert capsys.readouterr().err.strip().startswith("skyhawk audit: error: input is not a directory")
    assert main(["audit", "--input", str(tmp_path), "--input", str(tmp_path), "--labels", "a", "--labels", "b",
                 "--labels", "c"]) == 1
    assert "give one --labels per --input" in capsys.readouterr().err
    assert main(["audit", "--input", str(tmp_path)]) == 1
    assert "no video or photo files under" in capsys.readouterr().err
