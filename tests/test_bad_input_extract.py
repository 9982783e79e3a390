"""Bad input and interrupted runs for extraction (issue 9, items 3, 5, 7, 10, 11), on real videos.

Each run is a real Beam pipeline (in memory) or the real FaceExampleGen executor over symlinks to the
shared media; the failure cases must stop with one clear line before Beam starts where they can.
"""
from __future__ import annotations

import glob
import json
from pathlib import Path

import pytest
import tensorflow as tf
from media import FACE_VIDEOS, IN_MEMORY

from components import extract
from components.example_gen import Executor, FaceExampleGen
from pipelines.main import main
from skyhawk import features
from skyhawk.config import ExtractConfig

CFG = ExtractConfig(frames_per_video=2, image_size=64, eval_fraction=0.5)


def link(root: Path, shared_media: Path, rels: list[str]) -> Path:
    """Symlinks root/<rel> to the shared face videos (round robin); never copies media."""
    for i, rel in enumerate(rels):
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.symlink_to(shared_media / "real_videos" / FACE_VIDEOS[i % len(FACE_VIDEOS)])
    return root


def blank_video(path: Path) -> None:
    import cv2
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (160, 120))
    for _ in range(6):
        w.write(np.full((120, 160, 3), 90, np.uint8))
    w.release()


def video_ids(pattern: str) -> set[str]:
    out = set()
    for path in glob.glob(pattern):
        for raw in tf.data.TFRecordDataset(path, compression_type="GZIP"):
            out.add(tf.io.parse_single_example(raw, features.parse_spec())[features.VIDEO_ID].numpy().decode())
    return out


def cli(capsys, *argv: str) -> tuple[int, str]:
    rc = main(["extract", *argv, "--frames", "2", "--image-size", "64", "--workers", "1"])
    return rc, capsys.readouterr().err


# ---------------------------------------------------------------- checked before Beam starts

def test_output_that_is_a_file_is_refused(tmp_path: Path, shared_media: Path, capsys):
    videos = link(tmp_path / "v", shared_media, ["real/a.mp4", "fake/b.mp4"])
    (tmp_path / "out.txt").write_text("keep me")
    rc, err = cli(capsys, "--input", str(videos), "--output", str(tmp_path / "out.txt"))
    assert rc == 1 and err == f"skyhawk extract: error: output is a file, not a folder: {tmp_path / 'out.txt'}\n"
    rc, err = cli(capsys, "--input", str(videos), "--output", str(tmp_path / "out.txt" / "sub"))
    assert rc == 1 and "is a file" in err and err.count("\n") == 1
    assert (tmp_path / "out.txt").read_text() == "keep me"
    rc, err = cli(capsys, "--input", str(videos), "--output", str(tmp_path), "--overwrite")
    assert rc == 1 and "holds the input" in err  # an output folder holding the input is never wiped
    assert (videos / "real" / "a.mp4").exists()


def test_bad_manifests_fail_before_beam(tmp_path: Path, shared_media: Path, capsys):
    videos = link(tmp_path / "v", shared_media, ["a.mp4", "b.mp4"])
    (videos / "m.csv").write_text("path,label\n")  # header only
    rc, err = cli(capsys, "--input", str(videos), "--output", str(tmp_path / "o"), "--labels", f"csv:{videos}/m.csv")
    assert rc == 1 and "none of the 2 videos" in err and "not listed in the manifest" in err
    (videos / "m.csv").write_text("path,label\na.mp4,real\n../../etc/hostname,fake\n")
    rc, err = cli(capsys, "--input", str(videos), "--output", str(tmp_path / "o"), "--labels", f"csv:{videos}/m.csv")
    assert rc == 1 and "line 3: ../../etc/hostname is outside the input root" in err and err.count("\n") == 1
    (videos / "m.csv").write_text("path,label,split\na.mp4,real,train\nb.mp4,fake,train\n")
    rc, err = cli(capsys, "--input", str(videos), "--output", str(tmp_path / "o"), "--labels", f"csv:{videos}/m.csv")
    assert rc == 1 and "no usable video for the eval split" in err
    assert not (tmp_path / "o").exists()  # nothing was started


# ---------------------------------------------------------------- checked after decoding

def test_empty_eval_or_no_face_fails_the_run(tmp_path: Path, shared_media: Path):
    videos = link(tmp_path / "v", shared_media, ["a.mp4", "b.mp4"])
    blank_video(videos / "blank.mp4")
    (videos / "m.csv").write_text("path,label,split\na.mp4,real,train\nb.mp4,fake,train\nblank.mp4,real,eval\n")
    cfg = ExtractConfig(frames_per_video=2, image_size=64, labels=f"csv:{videos}/m.csv")
    with pytest.raises(extract.ExtractionError, match=r"no face for the eval split \(faces per split: \{'train': 4"):
        extract.run_extraction(str(videos), str(tmp_path / "o1"), cfg, IN_MEMORY)
    assert json.loads((tmp_path / "o1" / "summary.json").read_text())["videos_no_face"] == 1  # kept for reading

    only_blank = tmp_path / "w"
    blank_video(only_blank / "real" / "x.mp4")
    blank_video(only_blank / "fake" / "y.mp4")
    with pytest.raises(extract.ExtractionError, match="no face found in any of the 2 videos"):
        extract.run_extraction(str(only_blank), str(tmp_path / "o2"), CFG, IN_MEMORY)


def test_reused_output_folder_is_refused_or_replaced(tmp_path: Path, shared_media: Path):
    videos = link(tmp_path / "v", shared_media, ["real/a.mp4", "fake/b.mp4", "real/c.mp4", "fake/d.mp4"])
    out = tmp_path / "out"
    first = extract.run_extraction(str(videos), str(out), CFG, IN_MEMORY)
    with pytest.raises(extract.ExtractionError, match="output folder is not empty.*--overwrite"):
        extract.run_extraction(str(videos), str(out), CFG, IN_MEMORY)
    # leftovers of other runs: an old test split, a killed run's beam-temp folder, an extra shard
    for junk in ("Split-test/data_tfrecord-00000-of-00001.gz", "Split-train/beam-temp-data-1234/part",
                 "Split-train/data_tfrecord-00001-of-00002.gz"):
        (out / junk).parent.mkdir(parents=True, exist_ok=True)
        (out / junk).write_bytes(b"old")
    second = extract.run_extraction(str(videos), str(out), CFG, IN_MEMORY, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == ["Split-eval", "Split-train", "extraction_report.jsonl",
                                                     "summary.json"]
    assert not list(out.rglob("beam-temp-*")) and not (out / "Split-test").exists()
    on_disk = sum(len(video_ids(str(out / f"Split-{s}" / "*.gz"))) for s in ("train", "eval"))
    assert on_disk == 4 and second["faces_written"] == first["faces_written"]


# ---------------------------------------------------------------- the test split through FaceExampleGen

def _layouts(shared_media: Path, root: Path) -> dict[str, tuple[Path, str, set[str]]]:
    """adapter -> (video root, labels spec, the video ids the dataset puts in its test split)."""
    out = {}
    ffpp = link(root / "ffpp", shared_media, [
        *(f"original_sequences/youtube/c23/videos/00{i}.mp4" for i in range(4)),
        *(f"manipulated_sequences/Deepfakes/c23/videos/00{i}_00{(i + 1) % 4}.mp4" for i in range(4))])
    (ffpp / "splits").mkdir()
    (ffpp / "splits" / "test.json").write_text(json.dumps([["000", "001"]]))
    out["ffpp"] = (ffpp, "ffpp", {"original_sequences/youtube/c23/videos/000",
                                  "original_sequences/youtube/c23/videos/001",
                                  "manipulated_sequences/Deepfakes/c23/videos/000_001",
                                  "manipulated_sequences/Deepfakes/c23/videos/001_002"})
    dfdc = link(root / "dfdc", shared_media, [f"part/{n}.mp4" for n in "abcdef"])
    (dfdc / "part" / "metadata.json").write_text(json.dumps({
        "a.mp4": {"label": "REAL", "split": "test"}, "b.mp4": {"label": "FAKE", "split": "test", "original": "a.mp4"},
        "c.mp4": {"label": "REAL", "split": "train"}, "d.mp4": {"label": "FAKE", "split": "train", "original": "c.mp4"},
        "e.mp4": {"label": "REAL", "split": "train"}, "f.mp4": {"label": "FAKE", "split": "train", "original": "e.mp4"},
    }))
    out["dfdc"] = (dfdc, "dfdc", {"part/a", "part/b"})
    celeb = link(root / "celebdf", shared_media, [
        "Celeb-real/id0_0000.mp4", "Celeb-real/id1_0001.mp4", "Celeb-real/id2_0002.mp4",
        "Celeb-synthesis/id0_id1_0000.mp4", "Celeb-synthesis/id1_id0_0001.mp4", "Celeb-synthesis/id2_id0_0002.mp4"])
    (celeb / "List_of_testing_videos.txt").write_text("1 Celeb-real/id0_0000.mp4\n")
    out["celebdf"] = (celeb, "celebdf", {"Celeb-real/id0_0000", "Celeb-synthesis/id0_id1_0000"})
    csvroot = link(root / "csv", shared_media, [f"{n}.mp4" for n in "abcdef"])
    (csvroot / "m.csv").write_text("path,label,split\na.mp4,real,TEST\nb.mp4,fake,test\nc.mp4,real,\n"
                                   "d.mp4,fake,\ne.mp4,real,\nf.mp4,fake,\n")
    out["csv"] = (csvroot, f"csv:{csvroot / 'm.csv'}", {"a", "b"})
    return out


def _run_executor(gen, out: Path, tmp: Path) -> None:
    from tfx.dsl.components.base.base_beam_executor import BaseBeamExecutor
    from tfx.types import standard_artifacts

    examples = standard_artifacts.Examples()
    examples.uri = str(out)
    executor = Executor(BaseBeamExecutor.Context(beam_pipeline_args=IN_MEMORY, tmp_dir=str(tmp), unique_id="t"))
    executor.Do({}, {"examples": [examples]}, dict(gen.exec_properties))


@pytest.mark.parametrize("adapter", ["ffpp", "dfdc", "celebdf", "csv"])
def test_test_split_never_leaks_into_eval(adapter: str, tmp_path: Path, shared_media: Path):
    root, spec, test_ids = _layouts(shared_media, tmp_path / "data")[adapter]
    cfg = ExtractConfig(frames_per_video=1, image_size=64, eval_fraction=0.5, labels=spec)
    gen = FaceExampleGen(str(root), cfg)
    declared = [s["name"] for s in json.loads(gen.exec_properties["output_config"])["split_config"]["splits"]]
    assert declared == ["train", "eval", "test"]
    _run_executor(gen, tmp_path / "examples", tmp_path / "tmp")
    got = {s: video_ids(str(tmp_path / "examples" / f"Split-{s}" / "*.gz")) for s in declared}
    assert got["test"] == test_ids
    assert got["eval"] and got["train"] and not (got["eval"] | got["train"]) & test_ids

    # A component declared before the data had a test split refuses instead of moving it to eval.
    stale = FaceExampleGen(str(root), cfg, split_names=["train", "eval"])
    with pytest.raises(extract.ExtractionError, match="videos for the test split.*rebuild the pipeline"):
        _run_executor(stale, tmp_path / "stale", tmp_path / "tmp2")
