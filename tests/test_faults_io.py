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


# --- 14: full disks ----------------------------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path: Path):
    """A real 2 MB tmpfs, filled by the test to the free space it wants; unmounted afterwards."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root and mount")
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], check=True)
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def fill(disk: Path, free_kb: int) -> None:
    (disk / "filler").write_bytes(b"\0" * (shutil.disk_usage(disk).free - free_kb * 1024))


def readable_videos(root: Path) -> list[Path]:
    """Every video under root, after checking that each is whole (its header frame count decodes)."""
    import cv2

    videos = sorted(root.rglob("*.mp4"))
    for v in videos:
        cap = cv2.VideoCapture(str(v))
        assert cap.isOpened() and cap.get(cv2.CAP_PROP_FRAME_COUNT) > 0, f"half-written video left: {v}"
        cap.release()
    return videos


def test_demo_data_onto_a_full_disk_names_the_disk_and_leaves_only_whole_videos(small_disk: Path):
    fill(small_disk, 150)
    out = small_disk / "demo"
    done = skyhawk("demo-data", "--output", str(out), "--clips", "2", "--frames", "12", "--size", "128")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"skyhawk demo-data: error: no space left on device writing {out}/")
    readable_videos(out)
    assert not [p for p in out.rglob("*") if ".partial" in p.name or p.name.startswith(".skyhawk-space")]
    assert not (out / "manifest.csv").exists()  # written last: no manifest of a half-made dataset


def test_synth_onto_a_full_disk_names_the_disk_and_leaves_only_whole_videos(small_disk: Path, shared_media: Path):
    videos = small_disk.parent / "in"
    videos.mkdir()
    for name in ("AliaksandrSiarohin__first-order-model__demo_old__00.mp4",
                 "KwaiVGI__LivePortrait__assets__examples__driving__d5.mp4"):
        (videos / name).symlink_to(shared_media / "real_videos" / name)
    fill(small_disk, 40)
    out = small_disk / "synth"
    done = skyhawk("synth", "--input", str(videos), "--output", str(out), "--method", "sbi", "--frames", "12")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"skyhawk synth: error: no space left on device writing {out}/")
    readable_videos(out)
    assert not [p for p in out.rglob("*") if ".partial" in p.name]


def test_import_model_onto_a_full_disk_names_the_registry_and_leaves_no_staging(small_disk: Path):
    from test_faults import WEIGHTS

    fill(small_disk, 100)  # the model's files are about 300 KB
    reg = small_disk / "reg"
    done = skyhawk("import-model", "--backbone", "meso4", "--weights", str(WEIGHTS), "--registry", str(reg),
                   "--name", "meso4")
    assert done.returncode == 1
    assert done.stderr.strip() == f"skyhawk import-model: error: no space left on device writing {reg / 'meso4'}"
    assert not (reg / "meso4" / ".staging").exists() and not list((reg / "meso4").glob("[0-9]*"))


# --- 9: a truncated TFRecord in a span's examples -------------------------------------------------------------

def test_a_truncated_examples_file_is_one_line_naming_it_and_the_span(tmp_path: Path):
    """A span's Examples artifact registered in a real MLMD store, its GZIP TFRecord truncated; TensorFlow's
    own reader fails on it (as the Trainer does), and the run's error becomes one line naming the file."""
    import tensorflow as tf
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    from pipelines.examples_check import ExamplesDamaged, damaged_examples_named
    from skyhawk.config import load

    uri = tmp_path / "pipeline" / "FileBasedExampleGen" / "examples" / "7"
    data = uri / "Split-train" / "data_tfrecord-00000-of-00001.gz"
    data.parent.mkdir(parents=True)
    with tf.io.TFRecordWriter(str(data), options="GZIP") as w:
        for i in range(200):
            w.write(os.urandom(64) + bytes([i]))
    data.write_bytes(data.read_bytes()[:-200])
    cfg = load(None, {"pipeline_root": str(tmp_path / "pipeline"), "metadata_path": str(tmp_path / "m.sqlite")})
    conn = metadata_store_pb2.ConnectionConfig()
    conn.sqlite.filename_uri = cfg.metadata_path
    store = metadata_store.MetadataStore(conn)
    examples = metadata_store_pb2.ArtifactType(name="Examples")
    examples.properties["span"] = metadata_store_pb2.INT
    artifact = metadata_store_pb2.Artifact(type_id=store.put_artifact_type(examples), uri=str(uri))
    artifact.custom_properties["span"].int_value = 3
    store.put_artifacts([artifact])

    with pytest.raises(ExamplesDamaged) as caught, damaged_examples_named(cfg):
        for _ in tf.data.TFRecordDataset([str(data)], compression_type="GZIP"):
            pass
    assert str(caught.value) == (f"damaged examples file {data}: truncated GZIP stream (the file ends before its end "
                                 "marker); re-extract span-3 (see docs/retraining.md, 'Damaged examples')")
    with pytest.raises(ValueError, match="^unrelated$"), damaged_examples_named(cfg):  # other errors pass through
        raise ValueError("unrelated")


# --- 17: Ctrl-C during extract ---------------------------------------------------------------------------------

def test_ctrl_c_during_extract_prints_one_line_and_no_thread_tracebacks(tmp_path: Path, shared_media: Path):
    """SIGINT to the whole process group (a terminal's Ctrl-C) while two Beam worker processes extract."""
    import signal
    import time

    videos = tmp_path / "videos"
    for label, names in (("real", sorted((shared_media / "real_videos").glob("*.mp4"))[:3]),
                         ("fake", sorted((shared_media / "real_videos").glob("*.mp4"))[-3:])):
        (videos / label).mkdir(parents=True)
        for src in names:
            (videos / label / src.name).symlink_to(src)
    out = tmp_path / "out"
    proc = subprocess.Popen([SKYHAWK, "extract", "--input", str(videos), "--output", str(out), "--frames", "32",
                             "--workers", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 600
        while not (out / ".partial").exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)  # the Beam job writes into OUTPUT/.partial/ once it runs
        assert proc.poll() is None, proc.communicate()
        time.sleep(5)  # the workers are extracting
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130
    assert err.strip() == "skyhawk: interrupted", err[-3000:]
