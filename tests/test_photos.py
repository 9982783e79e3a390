"""Photos are one-frame items: the same crop and label rules as videos, in extraction and in scoring."""
from __future__ import annotations

from pathlib import Path

import pytest
from media import IN_MEMORY

from components import extract
from skyhawk.config import ExtractConfig
from skyhawk.video import SampledFrames, VideoError


def test_a_photo_is_one_frame(real_faces: list[Path], tmp_path: Path):
    frames = SampledFrames(str(real_faces[0]), 32)
    got = list(frames)
    assert frames.frame_count == 1 and [i for i, _ in got] == [0] and got[0][1].ndim == 3
    bad = tmp_path / "notes.jpg"
    bad.write_text("not an image")
    with pytest.raises(VideoError, match="not a readable image"):
        list(SampledFrames(str(bad), 4))


def test_extraction_mixes_photos_and_videos(real_faces: list[Path], real_videos: list[Path], tmp_path: Path):
    root = tmp_path / "data"
    for label in ("real", "fake"):
        (root / label).mkdir(parents=True)
    for i, photo in enumerate(real_faces[:6]):
        (root / ("real" if i % 2 else "fake") / photo.name).symlink_to(photo)
    for i, video in enumerate(real_videos[:2]):
        (root / ("real" if i % 2 else "fake") / video.name).symlink_to(video)
    (root / "real" / "broken.png").write_bytes(b"\x89PNG not really")
    out = tmp_path / "out"
    cfg = ExtractConfig(frames_per_video=3, image_size=64, eval_fraction=0.4)
    summary = extract.run_extraction(str(root), str(out), cfg, IN_MEMORY)
    report = {Path(r["uri"]).name: r for r in extract.read_report(str(out / extract.REPORT_FILE))}
    assert summary["videos"] == len(report) == 9
    assert report["broken.png"]["status"] == "failed" and "not a readable image" in report["broken.png"]["reason"]
    photos = [report[p.name] for p in real_faces[:6]]
    assert sum(r["status"] == "ok" for r in photos) >= 5
    for r in photos:
        assert r["frames_sampled"] == 1 and r["faces_written"] <= 1
    for v in real_videos[:2]:
        assert report[v.name]["frames_sampled"] == 3
