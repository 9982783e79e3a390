"""Extraction reading videos from gs:// (a real fake-gcs-server process).

The examples are written locally: Beam's file sinks finalise with GCS batch requests, which
fake-gcs-server does not implement (on real GCS, gs:// output is Beam's ordinary WriteToTFRecord).
"""
from __future__ import annotations

from pathlib import Path

from apache_beam.io.filesystems import FileSystems

from components import extract
from skyhawk.config import ExtractConfig

pytest_plugins = ["gcs"]  # tests/gcs.py: gcs_emulator, gcs_prefix

VIDEOS = {
    "real/a.mp4": "AliaksandrSiarohin__first-order-model__demo_old__08.mp4",
    "fake/b.mp4": "KwaiVGI__LivePortrait__assets__examples__driving__d0.mp4",
}


def upload(local: Path, uri: str) -> None:
    with open(local, "rb") as src, FileSystems.create(uri) as dst:
        dst.write(src.read())


def test_extract_from_gcs(gcs_prefix: str, shared_media: Path, tmp_path: Path):
    for rel, name in VIDEOS.items():
        upload(shared_media / "real_videos" / name, f"{gcs_prefix}/videos/{rel}")
    with FileSystems.create(f"{gcs_prefix}/videos/real/broken.mp4") as f:
        f.write(b"not a video")
    out = str(tmp_path / "examples")
    summary = extract.run_extraction(
        f"{gcs_prefix}/videos", out, ExtractConfig(frames_per_video=3, image_size=64, eval_fraction=0.5),
        ["--direct_running_mode=in_memory", "--direct_num_workers=1"])
    assert summary["videos"] == 3 and summary["videos_ok"] == 2 and summary["videos_failed"] == 1
    assert summary["faces_written"] >= 5
    report = {r["video_id"]: r for r in extract.read_report(f"{out}/{extract.REPORT_FILE}")}
    assert report["real/a"]["uri"] == f"{gcs_prefix}/videos/real/a.mp4" and report["real/a"]["status"] == "ok"
    assert report["real/broken"]["status"] == "failed"
    written = list((tmp_path / "examples").glob("Split-*/*.gz"))
    assert written and sum(p.stat().st_size for p in written) > 1000
