"""A full disk (issue 17.7): the real ``skyhawk`` commands onto a real 2 MB tmpfs that is nearly full.

The command must say so in one line naming the output and exit non-zero, leave nothing partial as output
and remove Beam's temp files. ``extract`` leaves nothing; ``score`` leaves only whole committed part files
(a rerun resumes from them); ``run`` names its pipeline root, with no ERROR log line. Mounting needs root:
elsewhere the module is skipped, under CI=true it fails (tests/needs.py).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest
from media import FACE_VIDEOS, TINY_PIPELINE
from needs import require

pytestmark = pytest.mark.e2e
pytest_plugins = ["score_model"]  # test_model: a tiny random-weight model

SKYHAWK = str(Path(sys.executable).with_name("skyhawk"))
FREE_KB = 16  # left free on the 2 MB disk: less than the face crops of the run below (about 80 KB)


def _why_no_mount() -> str | None:
    if os.geteuid() != 0:
        return "mounting a tmpfs needs root"
    if shutil.which("mount") is None or shutil.which("umount") is None:
        return "mount/umount are not installed"
    return None


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs with FREE_KB left (the rest is taken by one filler file); unmounted afterwards."""
    require(_why_no_mount(), "needs a small tmpfs")
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], check=True)
    try:
        free = shutil.disk_usage(disk).free
        (disk / "filler").write_bytes(b"\0" * (free - FREE_KB * 1024))
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def _videos(root: Path, shared_media: Path) -> Path:
    for label in ("real", "fake"):
        for i, name in enumerate(FACE_VIDEOS[:2]):
            p = root / label / f"{label}{i}.mp4"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.symlink_to(shared_media / "real_videos" / name)
    return root


def _files(disk: Path) -> list[str]:
    return sorted(str(p.relative_to(disk)) for p in disk.rglob("*") if not p.is_dir())


def test_extract_onto_a_full_disk_says_so_in_one_line_and_leaves_nothing(full_disk: Path, tmp_path: Path,
                                                                          shared_media: Path):
    out = full_disk / "faces"
    videos = _videos(tmp_path / "videos", shared_media)
    done = subprocess.run([SKYHAWK, "extract", "--input", str(videos), "--output", str(out), "--frames", "2",
                           "--image-size", "200", "--eval-fraction", "0.5", "--workers", "2"],  # Beam's workers
                          capture_output=True, text=True, timeout=900)
    assert done.returncode != 0
    assert done.stderr.splitlines() == [f"skyhawk extract: error: no space left on device writing {out}"], \
        done.stderr[-3000:]
    assert done.stdout == ""
    assert _files(full_disk) == ["filler"]  # no shard, report, summary or beam-temp file left


def test_score_onto_a_full_disk_names_the_output_in_one_line(full_disk: Path, tmp_path: Path, shared_media: Path,
                                                             test_model):
    """One part file per row (4 KB each on tmpfs): the rows outgrow the free space inside Beam's Commit step."""
    out = full_disk / "scores"
    videos = tmp_path / "videos"
    videos.mkdir()
    for i, name in enumerate(FACE_VIDEOS):
        (videos / f"v{i}.mp4").symlink_to(shared_media / "real_videos" / name)
        (videos / f"bad{i}.mp4").write_text("not a video\n")  # a failed row each, quickly
    done = subprocess.run([SKYHAWK, "score", "--input", str(videos), "--output", str(out), "--model",
                           test_model.saved_model, "--frames", "2", "--flush-every", "1"],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode != 0
    *progress, last = done.stderr.splitlines()
    assert last == f"skyhawk score: error: no space left on device writing {out}", done.stderr[-3000:]
    assert all(line.startswith("skyhawk score: ") and " videos" in line for line in progress), progress
    files = _files(full_disk)
    assert not any(f.endswith(".tmp") or "beam-temp" in f for f in files), files
    parts = [f for f in files if f.startswith("scores/_parts/")]
    # no results, frames or summary; the output's lock file stays (free: the kernel released it with the process)
    assert set(files) == {"filler", "scores/settings.json", "scores/.score.lock", *parts}
    assert len(parts) < 8  # the disk filled before every row was committed
    for part in parts:  # each committed part is whole
        assert all(json.loads(line)["row"]["uri"] for line in (full_disk / part).read_text().splitlines())


def test_run_onto_a_full_disk_names_the_pipeline_root_in_one_line(full_disk: Path, tmp_path: Path):
    """The pipeline root on the full disk (MLMD and the registry elsewhere): the failing component's progress
    line, then the one error line; no 'ERROR absl: Execution N failed.' nor traceback."""
    from pipelines.run import demo_config
    from skyhawk.config import to_dict
    from skyhawk.demo import make_demo_data

    make_demo_data(str(tmp_path / "videos"), seed=0, clips=1, frames=8)
    root = full_disk / "pipeline"
    cfg = demo_config(str(tmp_path), {**TINY_PIPELINE, "pipeline_name": "skyhawk-full-disk",
                                      "pipeline_root": str(root)})
    (tmp_path / "config.json").write_text(json.dumps(to_dict(cfg)))
    done = subprocess.run([SKYHAWK, "run", "--config", str(tmp_path / "config.json")], capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 1, done.stderr[-3000:]
    lines = done.stderr.splitlines()
    assert lines[-1] == f"skyhawk run: error: no space left on device writing {root}", done.stderr[-3000:]
    assert any(line.endswith("started") for line in lines) and " failed after " in lines[-2], lines
    assert not [line for line in lines if line.startswith("ERROR") or "Traceback" in line], lines
