"""Fault probes of issue 25 (round 3) on files and the network: gs:// without a network or an emulator (6),
truncated videos (5), a truncated TFRecord in a span's examples (9), full disks for import-model, synth and
demo-data (14), Ctrl-C during extract (17). See tests/test_faults.py for the others. Real commands, real files.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

SKYHAWK = str(Path(sys.executable).with_name("skyhawk"))


def skyhawk(*args: str, env: dict | None = None, prefix: tuple[str, ...] = (), timeout: int = 600,
            cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*prefix, SKYHAWK, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, cwd=cwd)


# --- 6: gs:// with no network or no emulator -----------------------------------------------------------------

def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


@pytest.mark.parametrize("command", [
    ("registry", "--root", "gs://no-such-bucket/reg", "list"),
    ("run", "--set", "data_root=gs://no-such-bucket/videos"),
])
def test_gs_with_the_emulator_down_is_one_line_naming_host_and_bucket(tmp_path: Path, command):
    port = closed_port()
    done = skyhawk(*command, env={"STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{port}"}, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip() == (f"skyhawk {command[0]}: error: cannot reach 127.0.0.1:{port} "
                                   "($STORAGE_EMULATOR_HOST) for bucket no-such-bucket (Connection refused): check "
                                   "the network and that the emulator is running")


def test_gs_without_a_network_is_one_line_naming_host_and_bucket(tmp_path: Path):
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-n", "true"]).returncode != 0:
        pytest.skip("a process without a network needs unshare -n (root)")
    env = {k: v for k, v in os.environ.items() if k != "STORAGE_EMULATOR_HOST"}
    done = subprocess.run(["unshare", "-n", SKYHAWK, "registry", "--root", "gs://no-such-bucket/reg", "list"],
                          capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "skyhawk registry: error: cannot reach storage.googleapis.com:443 for bucket no-such-bucket ("), lines


# --- 5: a truncated video ------------------------------------------------------------------------------------

TRUNCATED_SOURCE = "KwaiVGI__LivePortrait__assets__examples__driving__d20.mp4"  # 175 frames in its header


def test_a_truncated_video_is_failed_with_the_frame_it_stops_at(tmp_path: Path, shared_media: Path):
    """The issue's repro (`head -c 231000`): the first 81 frames decode; extraction reports it failed, with a
    reason, and the whole video next to it is ok."""
    src = shared_media / "real_videos" / TRUNCATED_SOURCE
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "cut.mp4").write_bytes(src.read_bytes()[:231000])
    (videos / "whole.mp4").symlink_to(src)
    (videos / "eval.mp4").symlink_to(shared_media / "real_videos" / "KwaiVGI__LivePortrait__assets__examples__"
                                                                    "driving__d0.mp4")
    (videos / "labels.csv").write_text("path,label,split\ncut.mp4,real,train\nwhole.mp4,real,train\n"
                                       "eval.mp4,real,eval\n", encoding="utf-8")
    done = skyhawk("extract", "--input", str(videos), "--output", str(tmp_path / "out"), "--frames", "8",
                   "--image-size", "64", "--labels", f"csv:{videos / 'labels.csv'}", "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    report = {r["video_id"]: r for r in map(json.loads, (tmp_path / "out" / "extraction_report.jsonl").open())}
    cut, whole = (next(r for k, r in report.items() if name in k) for name in ("cut", "whole"))
    assert whole["status"] == "ok" and whole["frames_sampled"] == 8
    assert cut["status"] == "failed" and cut["faces_written"] == 0
    assert cut["reason"] == ("truncated: decoding stops at frame 81 of the 175 in its header (4 of 8 sampled frames "
                             "decoded)")
