"""Extraction through real Beam runners on real videos: portable runner with an external worker pool,
the multi-process DirectRunner, and synthesis (sbi / swap) through ``run_extraction``.

(Labels, bad inputs, the report fields and the TFX component are covered by tests/test_extract.py.)
"""
from __future__ import annotations

import contextlib
import glob
import os
import signal
import socket
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Iterator

import pytest
import tensorflow as tf

from components import extract
from skyhawk import features
from skyhawk.config import ExtractConfig
from skyhawk.runners import beam_args_for

REPO = Path(__file__).resolve().parents[1]
REAL = ["AliaksandrSiarohin__first-order-model__demo_old__00.mp4",
        "KwaiVGI__LivePortrait__assets__examples__driving__d1.mp4"]
FAKE = ["KwaiVGI__LivePortrait__assets__examples__driving__d2.mp4"]
CFG = ExtractConfig(frames_per_video=3, image_size=64, eval_fraction=0.5)
IN_MEMORY = beam_args_for(1)


def read_split_examples(out: Path) -> list[dict]:
    """Every example under out/Split-*/, as plain values plus the split folder it was found in."""
    rows = []
    for path in sorted(glob.glob(str(out / "Split-*" / "*.gz"))):
        split = Path(path).parent.name.removeprefix("Split-")
        for raw in tf.data.TFRecordDataset(path, compression_type="GZIP"):
            ex = tf.io.parse_single_example(raw, features.parse_spec())
            rows.append({
                "split": split,
                "video_id": ex[features.VIDEO_ID].numpy().decode(),
                "group_id": ex[features.GROUP_ID].numpy().decode(),
                "frame_index": int(ex[features.FRAME_INDEX].numpy()),
                "face_index": int(ex[features.FACE_INDEX].numpy()),
                "label": int(ex[features.LABEL].numpy()),
                "method": ex[features.METHOD].numpy().decode(),
                "jpeg": ex[features.IMAGE].numpy(),
            })
    return rows


def keys(rows: list[dict]) -> set[tuple[str, int, int]]:
    return {(r["video_id"], r["frame_index"], r["face_index"]) for r in rows}


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("localhost", port)) == 0


@pytest.fixture(scope="module")
def tree(tmp_path_factory, shared_media: Path) -> Path:
    """real/ (2 videos) + fake/ (1 video): symlinks to the shared media."""
    root = tmp_path_factory.mktemp("beam-videos")
    for folder, names in (("real", REAL), ("fake", FAKE)):
        (root / folder).mkdir()
        for n in names:
            (root / folder / n).symlink_to(shared_media / "real_videos" / n)
    return root


@pytest.fixture(scope="module")
def in_memory(tree: Path, tmp_path_factory) -> tuple[dict, list[dict]]:
    """The reference: the same extraction on the single-process DirectRunner."""
    out = tmp_path_factory.mktemp("in-memory")
    summary = extract.run_extraction(str(tree), str(out), CFG, IN_MEMORY)
    rows = read_split_examples(out)
    check_tree_output(summary, rows, out)
    return summary, rows


def check_tree_output(summary: dict, rows: list[dict], out: Path) -> None:
    """The report and the examples of an extraction of `tree`."""
    report = {r["video_id"]: r for r in extract.read_report(str(out / extract.REPORT_FILE))}
    assert sorted(report) == sorted([f"real/{n[:-4]}" for n in REAL] + [f"fake/{n[:-4]}" for n in FAKE])
    for r in report.values():
        assert r["status"] == "ok" and r["frames_sampled"] == 3 and r["faces_written"] == 3, r
    assert summary["videos_ok"] == 3 and summary["faces_written"] == len(rows) == 9
    splits = {r["video_id"]: r["split"] for r in report.values()}
    for row in rows:
        assert row["label"] == (1 if row["video_id"].startswith("fake/") else 0)
        assert row["split"] == splits[row["video_id"]]
        assert tf.io.decode_jpeg(row["jpeg"]).shape == (64, 64, 3)


@contextlib.contextmanager
def portable_runner_cli(log: Path) -> Iterator[list[str]]:
    """`python -m infra.beam` (job service + worker pool via local_portable_runner), stopped by Ctrl-C.

    Its stderr goes to log (a pipe nobody reads could fill and stall it). Ctrl-C must stop it even when
    the test itself runs in a background job, whose SIGINT the shell set to "ignore" (inherited).
    """
    with open(log, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "infra.beam"], cwd=REPO, stdout=subprocess.PIPE,
                                stderr=err, text=True, start_new_session=True)
    try:
        lines = [proc.stdout.readline() for _ in range(2)]
        flags = lines[1].split()
        assert flags[:1] == ["--runner=PortableRunner"], (lines, log.read_text()[-3000:])
        ports = [int(f.rsplit(":", 1)[1]) for f in flags if f.startswith(("--job_endpoint", "--environment_config"))]
        assert len(ports) == 2 and all(port_open(p) for p in ports)
        yield flags
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=120) == 0, log.read_text()[-3000:]
        assert not any(port_open(p) for p in ports)  # both services stopped
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.mark.e2e
def test_portable_runner_with_external_worker_pool(tree: Path, in_memory, tmp_path: Path):
    """The pipeline is submitted to a job service; DoFns are unpickled and run in pool-started workers."""
    out = tmp_path / "out"
    with portable_runner_cli(tmp_path / "infra-beam.log") as beam_args:
        assert beam_args[0] == "--runner=PortableRunner" and "--environment_type=EXTERNAL" in beam_args
        summary = extract.run_extraction(str(tree), str(out), CFG, beam_args)
    rows = read_split_examples(out)
    check_tree_output(summary, rows, out)
    assert keys(rows) == keys(in_memory[1])
    by_key = {(r["video_id"], r["frame_index"]): r["jpeg"] for r in in_memory[1]}
    assert all(by_key[(r["video_id"], r["frame_index"])] == r["jpeg"] for r in rows)  # same crops, bit for bit


@pytest.mark.e2e
def test_multi_processing_matches_in_memory(tree: Path, in_memory, tmp_path: Path):
    out = tmp_path / "out"
    args = beam_args_for(2)
    assert args == ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]
    summary = extract.run_extraction(str(tree), str(out), CFG, args)
    rows = read_split_examples(out)
    check_tree_output(summary, rows, out)
    assert keys(rows) == keys(in_memory[1])
    assert {(r["video_id"], r["split"]) for r in rows} == {(r["video_id"], r["split"]) for r in in_memory[1]}


# ---------------------------------------------------------------- synthesis through run_extraction

SYNTH_GROUPS = {  # video -> group; the two first-order-model clips share one group (one identity)
    "AliaksandrSiarohin__first-order-model__demo_old__00.mp4": "fom",
    "AliaksandrSiarohin__first-order-model__demo_old__04.mp4": "fom",
    "KwaiVGI__LivePortrait__assets__examples__driving__d1.mp4": "d1",
    "KwaiVGI__LivePortrait__assets__examples__driving__d2.mp4": "d2",
}


@pytest.fixture(scope="module")
def real_only(tmp_path_factory, shared_media: Path) -> Path:
    """Real videos only, with a CSV manifest giving two of them the same group."""
    root = tmp_path_factory.mktemp("synth-videos")
    lines = ["path,label,group"]
    for n, g in SYNTH_GROUPS.items():
        (root / n).symlink_to(shared_media / "real_videos" / n)
        lines.append(f"{n},real,{g}")
    (root / "manifest.csv").write_text("\n".join(lines) + "\n")
    return root


@pytest.mark.e2e
@pytest.mark.parametrize("method", ["sbi", "swap"])
def test_synthesized_fakes_follow_their_real_video(method: str, real_only: Path, tmp_path: Path):
    cfg = ExtractConfig(frames_per_video=2, image_size=64, eval_fraction=0.5, synthesize=method,
                        labels=f"csv:{real_only / 'manifest.csv'}")
    out = tmp_path / "out"
    summary = extract.run_extraction(str(real_only), str(out), cfg, IN_MEMORY)
    assert summary["videos_ok"] == 4 and summary["problems"] == [], summary["problems"]
    assert summary["synthetic_faces_written"] == summary["faces_written"] == 8
    report = {r["video_id"]: r for r in extract.read_report(str(out / extract.REPORT_FILE))}
    rows = read_split_examples(out)
    assert len(rows) == 16
    reals = {(r["video_id"], r["frame_index"]): r for r in rows if r["label"] == 0}
    fakes = [r for r in rows if r["label"] == 1]
    assert len(reals) == len(fakes) == 8
    for f in fakes:
        real_id, _, suffix = f["video_id"].partition("#")
        assert suffix == method and f["method"] == method
        real = reals[(real_id, f["frame_index"])]
        assert real["method"] == "real"
        assert f["group_id"] == real["group_id"] == SYNTH_GROUPS[real_id + ".mp4"]
        assert f["split"] == real["split"] == report[real_id]["split"]
        assert f["jpeg"] != real["jpeg"]
    split_of_group = defaultdict(set)
    for r in rows:
        split_of_group[r["group_id"]].add(r["split"])
    assert all(len(s) == 1 for s in split_of_group.values()), dict(split_of_group)
    assert {next(iter(s)) for s in split_of_group.values()} == {"train", "eval"}
    assert summary["faces_per_split"] == {
        s: sum(r["split"] == s for r in rows) for s in ("train", "eval")}


def test_a_real_video_without_a_swap_donor_gets_sbi_fakes(shared_media: Path):
    """A lone train identity has no donor (``splits.assign_donors``): its fakes are SBI, not a failure."""
    from skyhawk.datasets import VideoItem

    cfg = ExtractConfig(frames_per_video=2, image_size=64, synthesize="swap")
    fn = extract.ExtractFacesFn(extract.to_dict(cfg))
    fn.setup()
    item = VideoItem(uri=str(shared_media / "real_videos" / REAL[0]), video_id="lone", label=features.REAL,
                     group_id="lone", split="train", donor="")
    out = list(fn.process(item))
    report = out[-1].value
    assert report["status"] == "ok" and report["synthetic_faces_written"] == 2, report
    fakes = [tf.train.Example.FromString(b) for _, b in out[:-1]]
    methods = {e.features.feature[features.METHOD].bytes_list.value[0].decode() for e in fakes}
    assert methods == {item.method, "sbi"}
