"""Extraction reading videos from gs:// (a real fake-gcs-server process).

The examples are written locally: Beam's file sinks finalise with GCS batch requests, whose parts a
plain fake-gcs-server skips (no Content-ID). gs:// output is covered by tests/test_gcs_run.py.
"""
from __future__ import annotations

from pathlib import Path

from components import extract
from skyhawk import datasets, fileio, splits
from skyhawk.config import ExtractConfig

pytest_plugins = ["gcs"]  # tests/gcs.py: gcs_emulator, gcs_prefix

VIDEOS = {
    "real/a.mp4": "AliaksandrSiarohin__first-order-model__demo_old__08.mp4",
    "fake/b.mp4": "KwaiVGI__LivePortrait__assets__examples__driving__d0.mp4",
}


def test_extract_from_gcs(gcs_prefix: str, shared_media: Path, tmp_path: Path):
    for rel, name in VIDEOS.items():
        fileio.copy_file(str(shared_media / "real_videos" / name), f"{gcs_prefix}/videos/{rel}")
    fileio.write_bytes(f"{gcs_prefix}/videos/real/broken.mp4", b"not a video")
    out = str(tmp_path / "examples")
    # Listing and labelling read gs:// too; pick a split salt that leaves a readable video in eval
    # (with the broken one alone in eval the run fails by design: see test_bad_input_extract.py).
    found = datasets.discover(f"{gcs_prefix}/videos", "folders")
    assert sorted(it.video_id for it in found) == ["fake/b", "real/a", "real/broken"]
    seed = next(s for s in map(str, range(50)) if any(
        it.split == "eval" and it.video_id != "real/broken" for it in splits.assign_splits(found, 0.5, s)))
    cfg = ExtractConfig(frames_per_video=3, image_size=64, eval_fraction=0.5, split_seed=seed)
    summary = extract.run_extraction(f"{gcs_prefix}/videos", out, cfg,
                                     ["--direct_running_mode=in_memory", "--direct_num_workers=1"])
    assert summary["videos"] == 3 and summary["videos_ok"] == 2 and summary["videos_failed"] == 1
    assert summary["faces_written"] >= 5
    report = {r["video_id"]: r for r in extract.read_report(f"{out}/{extract.REPORT_FILE}")}
    assert report["real/a"]["uri"] == f"{gcs_prefix}/videos/real/a.mp4" and report["real/a"]["status"] == "ok"
    assert report["real/broken"]["status"] == "failed"
    written = list((tmp_path / "examples").glob("Split-*/*.gz"))
    assert written and sum(p.stat().st_size for p in written) > 1000
