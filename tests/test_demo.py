"""`skyhawk demo-data`: the offline dataset made from packaged photos."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from pipelines import main as cli
from skyhawk import datasets, splits
from skyhawk.demo import make_demo_data
from skyhawk.faces import FaceDetector, FaceTracker
from skyhawk.features import FAKE, REAL
from skyhawk.video import read_frames

CLIPS, FRAMES, SIZE = 2, 6, 256


def decode(path: Path) -> list[np.ndarray]:
    return read_frames(str(path))[0]


def rows_of(manifest: Path) -> list[dict]:
    with open(manifest, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "seed0"
    manifest = make_demo_data(str(out), seed=0, clips=CLIPS, frames=FRAMES, size=SIZE)
    assert Path(manifest) == out / "manifest.csv"
    return out


def test_manifest_groups_and_videos(demo):
    rows = rows_of(demo / "manifest.csv")
    assert list(rows[0]) == ["path", "label", "group", "method", "source"]
    reals = {r["path"]: r for r in rows if r["label"] == "real"}
    fakes = [r for r in rows if r["label"] == "fake"]
    assert len(reals) == 2 * CLIPS and len(fakes) == 4 * CLIPS
    assert {r["group"] for r in reals.values()} == {f"{n}_clip{c:02d}" for n in ("grace", "astronaut")
                                                    for c in range(CLIPS)}
    for r in reals.values():
        assert r["method"] == "real" and r["path"] == f"real/{r['group']}.mp4"
    for r in fakes:
        assert r["method"] in ("sbi", "swap")
        assert r["group"] == reals[r["source"]]["group"]  # a fake's group is its real source clip's
    assert sum(r["method"] == "swap" for r in fakes) == 2 * CLIPS

    for r in rows:
        frames = decode(demo / r["path"])
        assert len(frames) == FRAMES and frames[0].shape == (SIZE, SIZE, 3)
    assert "mechanics" in (demo / "README.txt").read_text()

    items = splits.assign_splits(datasets.discover(str(demo), f"csv:{demo / 'manifest.csv'}"), 0.5)
    assert all(not it.error for it in items) and len(items) == len(rows)
    assert sorted(it.label for it in items) == sorted([REAL] * 2 * CLIPS + [FAKE] * 4 * CLIPS)
    split_of: dict[str, set] = {}
    for it in items:
        split_of.setdefault(it.group_id, set()).add(it.split)
    assert all(len(s) == 1 for s in split_of.values())  # real and fakes of a clip stay in one split


def test_faces_found_and_fakes_differ_from_reals(demo):
    detector = FaceDetector()
    rows = rows_of(demo / "manifest.csv")
    for r in rows:
        tracker = FaceTracker(detector)
        frames = decode(demo / r["path"])
        assert all(tracker.find(f) for f in frames), f"a frame of {r['path']} has no face"
        if r["label"] == "fake":
            real = decode(demo / r["source"])
            diff = np.abs(frames[0].astype(np.int16) - real[0].astype(np.int16)).max(axis=2)
            # changed in the middle (the face), not along the frame border (background)
            border = np.concatenate([diff[:8].ravel(), diff[-8:].ravel(), diff[:, :8].ravel(), diff[:, -8:].ravel()])
            centre = diff[SIZE // 3: 2 * SIZE // 3, SIZE // 3: 2 * SIZE // 3]
            assert centre.mean() > 3 * max(border.mean(), 0.5), r["path"]


def test_deterministic_for_a_seed(demo, tmp_path, capsys):
    same = tmp_path / "again"
    code = cli.main(["demo-data", "--output", str(same), "--seed", "0", "--clips", str(CLIPS),
                     "--frames", str(FRAMES), "--size", str(SIZE)])
    assert code == 0 and "nothing about detection quality on real deepfakes" in capsys.readouterr().out
    assert (same / "manifest.csv").read_text() == (demo / "manifest.csv").read_text()
    for r in rows_of(demo / "manifest.csv"):
        a, b = decode(demo / r["path"]), decode(same / r["path"])
        assert len(a) == len(b) == FRAMES
        assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True)), f"{r['path']} differs between runs"

    other = tmp_path / "seed1"
    make_demo_data(str(other), seed=1, clips=1, frames=2, size=SIZE)
    for name in ("real/grace_clip00.mp4", "fake/astronaut_clip00_sbi.mp4"):
        assert not np.array_equal(decode(demo / name)[0], decode(other / name)[0])


def test_bad_arguments(tmp_path, capsys):
    with pytest.raises(ValueError, match="clips"):
        make_demo_data(str(tmp_path), clips=0)
    capsys.readouterr()
    assert cli.main(["demo-data", "--output", str(tmp_path / "small"), "--size", "64"]) == 1
    err = capsys.readouterr().err
    # One line naming the command and the reason (not a traceback, not some other crash).
    assert err == "skyhawk demo-data: error: size must be >= 128 (faces must stay detectable), got 64\n"
    assert not (tmp_path / "small").exists()  # refused before writing anything
