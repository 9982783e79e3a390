"""Extraction on real videos: faces, labels, group-disjoint splits, bad inputs, the TFX component."""
from __future__ import annotations

import glob
import json
import os
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import tensorflow as tf
from media import FACE_VIDEOS, IN_MEMORY

from components import extract
from skyhawk import features
from skyhawk.config import ExtractConfig
from skyhawk.detectors import HAAR_MIN_HOG, TRACK_TIGHT, Face, model_path
from skyhawk.faces import FaceDetector, FaceTracker, LandmarkPredictor, crop_face, sample_faces, square_box
from skyhawk.video import VideoError, iter_sampled_frames, read_frames, sample_indices


def read_examples(pattern: str) -> list[dict]:
    out = []
    for path in sorted(glob.glob(pattern)):
        for raw in tf.data.TFRecordDataset(path, compression_type="GZIP"):
            out.append(tf.io.parse_single_example(raw, features.parse_spec()))
    return out


@pytest.fixture(scope="module")
def video_tree(tmp_path_factory, shared_media: Path) -> Path:
    """real/ + fake/ folders of symlinks to shared videos, plus broken inputs."""
    root = tmp_path_factory.mktemp("videos")
    src = shared_media / "real_videos"
    for i, name in enumerate(FACE_VIDEOS):
        folder = root / ("real" if i % 2 == 0 else "fake")
        folder.mkdir(exist_ok=True)
        (folder / name).symlink_to(src / name)
    (root / "real" / "zero.mp4").write_bytes(b"")
    (root / "real" / "notes.mp4").write_text("this is a text file, not a video\n")
    with open(src / FACE_VIDEOS[2], "rb") as f:  # a video cut short: header without its moov atom
        (root / "fake" / "truncated.mp4").write_bytes(f.read(20000))
    blank = [np.full((120, 160, 3), 90, np.uint8) for _ in range(10)]
    writer = cv2.VideoWriter(str(root / "real" / "blank.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, (160, 120))
    for f in blank:
        writer.write(f)
    writer.release()
    return root


@pytest.fixture(scope="module")
def extracted(video_tree: Path, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("extracted")
    cfg = ExtractConfig(frames_per_video=6, image_size=96, eval_fraction=0.5)
    summary = extract.run_extraction(str(video_tree), str(out), cfg, IN_MEMORY)
    return out, summary


def test_sample_indices():
    assert sample_indices(100, 5) == [0, 25, 50, 74, 99]
    assert sample_indices(3, 32) == [0, 1, 2]
    assert sample_indices(0, 5) == []


def test_sampled_frames_match_random_access(shared_media: Path):
    path = str(shared_media / "real_videos" / FACE_VIDEOS[0])
    got = dict(iter_sampled_frames(path, 5))
    frames, _ = read_frames(path)
    assert sorted(got) == sample_indices(len(frames), 5)
    for idx, frame in got.items():
        assert np.array_equal(frame, frames[idx])


def test_bad_videos_raise_one_line_errors(video_tree: Path):
    for name, reason in (("real/zero.mp4", "empty file"), ("real/notes.mp4", "not a readable video")):
        with pytest.raises(VideoError, match=reason) as e:
            list(iter_sampled_frames(str(video_tree / name), 4))
        assert "\n" not in str(e.value)


def test_square_box_stays_inside_frame():
    assert square_box((10, 10, 50, 90), 1.3, 640, 480) == (0, 0, 104, 104)  # shifted into the frame
    x0, y0, x1, y1 = square_box((600, 400, 640, 480), 1.3, 640, 480)
    assert x1 - x0 == y1 - y0 and x1 <= 640 and y1 <= 480
    assert square_box((0, 0, 600, 470), 2.0, 640, 480) == (60, 0, 540, 480)  # clipped to the short side


def test_tracker_finds_faces_on_real_video(shared_media: Path):
    det = FaceDetector("hog", 640)
    path = str(shared_media / "real_videos" / "ageitgey__face_recognition__examples__short_hamilton_clip.mp4")
    tracker, full, tracked = FaceTracker(det), 0, 0
    for _, frame in iter_sampled_frames(path, 12):
        full += bool(det.detect(frame))
        faces = tracker.find(frame)
        tracked += bool(faces)
        if faces:
            crop = crop_face(frame, faces[0].box(), 1.3, 96)
            assert crop.shape == (96, 96, 3)
    assert full >= 6 and tracked >= full


def test_third_chance_finds_the_faces_hog_misses(shared_media: Path):
    """Dim, turned faces in a dark audience (640x360): HOG at 640 px and 2x miss them, the Haar cascade
    finds them, framed like a HOG box, the face HOG's window scores highest first."""
    det = FaceDetector("hog", 640)
    path = str(shared_media / "real_videos" / "ageitgey__face_recognition__examples__short_hamilton_clip.mp4")
    known = [(189, 138), (70, 104)]  # the two audience faces of frames 256-274 (centres, frame pixels)
    frames = {i: f for i, f in iter_sampled_frames(path, 32) if i in (256, 265, 274)}
    assert sorted(frames) == [256, 265, 274]
    for frame in frames.values():
        assert det.detect(frame) == [] and det.detect(frame, upsample=1) == []
        faces = det.detect_cascade(frame)
        assert faces and [f.score for f in faces] == sorted((f.score for f in faces), reverse=True)
        for f in faces:
            cx, cy = (f.x0 + f.x1) / 2, (f.y0 + f.y1) / 2
            assert min(abs(cx - kx) + abs(cy - ky) for kx, ky in known) < 15, (cx, cy)
            assert 45 < f.width < 65 and f.y1 - f.y0 == pytest.approx(f.width)
        assert FaceTracker(det).find(frame) == faces[:1]


def test_the_tracker_widens_its_window_when_the_tight_one_misses(shared_media: Path):
    """A face that moved out of the tight window (TRACK_TIGHT widths, searched first) is found in the
    TRACK_WINDOW one."""
    det = FaceDetector("hog", 640)
    frame = next(iter(iter_sampled_frames(str(shared_media / "real_videos" / FACE_VIDEOS[0]), 1)))[1]
    face = det.detect(frame)[0]
    shift = 0.3 * face.width
    moved = Face(face.x0 + shift, face.y0 + shift, face.x1 + shift, face.y1 + shift, face.score)
    tight = det._window(frame, moved, "hog", TRACK_TIGHT)
    assert tight is not None and det._run(tight[0]) == []  # the tight window alone misses it
    found = det.detect_near(frame, moved)
    assert found
    overlap = Face(max(found[0].x0, face.x0), max(found[0].y0, face.y0), min(found[0].x1, face.x1),
                   min(found[0].y1, face.y1), 0.0).area
    assert overlap / face.area > 0.7


def test_the_cascade_follows_the_faces_it_found(shared_media: Path):
    """A face only the Haar chance found is searched for in the next frame by the cascade in its tracking
    window (HOG's window misses it there too), not by the whole chain of full-frame chances again."""
    det = FaceDetector("hog", 640)
    path = str(shared_media / "real_videos" / "ageitgey__face_recognition__examples__short_hamilton_clip.mp4")
    frames = {i: f for i, f in iter_sampled_frames(path, 32) if i in (256, 265)}
    first = FaceTracker(det).find(frames[256])[0]
    assert first.chance == "haar" and abs((first.x0 + first.x1) / 2 - 189) < 15
    assert det.detect_near(frames[265], replace(first, chance="")) == []  # HOG's window alone misses it
    faces = det.detect_near(frames[265], first)
    assert faces and faces[0].chance == "haar" and faces[0].score >= HAAR_MIN_HOG
    overlap = Face(max(faces[0].x0, first.x0), max(faces[0].y0, first.y0), min(faces[0].x1, first.x1),
                   min(faces[0].y1, first.y1), 0.0).area
    assert overlap / first.area > 0.7  # the same face, framed like a HOG box


def test_landmarks_come_for_a_batch_of_frames_after_their_detection(shared_media: Path):
    """sample_faces landmarks every frame's faces once the batch's frames are detected (all 6 frames before
    the first is yielded; one by one with batch_bytes=0), the same points either way, and the same as dlib's
    predictor on the RGB frame (the BGR frame goes to dlib unconverted)."""
    import dlib

    cfg = ExtractConfig(frames_per_video=6, image_size=64)
    det, predictor = FaceDetector.from_config(cfg), LandmarkPredictor()
    calls = []

    def counted(frame, face):
        calls.append(face)
        return predictor(frame, face)

    path = str(shared_media / "real_videos" / FACE_VIDEOS[0])
    for batch_bytes, before_first in ((128 * 2**20, 6), (0, 1)):
        calls.clear()
        frames = sample_faces(path, cfg, det, counted, batch_bytes)
        got = [next(frames)]
        assert len(calls) == before_first
        got += list(frames)
        assert len(got) == 6 and all(len(f.landmarks) == len(f.faces) == 1 for f in got)
        if batch_bytes:
            batched = got
    rgb = dlib.shape_predictor(model_path("landmarks68"))
    for a, b in zip(batched, got, strict=True):
        np.testing.assert_array_equal(a.landmarks[0], b.landmarks[0])
        face = a.faces[0]
        shape = rgb(cv2.cvtColor(a.frame, cv2.COLOR_BGR2RGB), dlib.rectangle(*(int(v) for v in face.box())))
        np.testing.assert_array_equal(a.landmarks[0], np.array([(p.x, p.y) for p in shape.parts()], np.float32))


def test_every_video_is_accounted_for(extracted, video_tree: Path):
    out, summary = extracted
    report = extract.read_report(str(out / extract.REPORT_FILE))
    n_inputs = sum(1 for p in video_tree.rglob("*.mp4"))
    assert len(report) == summary["videos"] == n_inputs == 8
    status = {r["video_id"].split("/")[-1]: r for r in report}
    assert status["zero"]["status"] == "failed" and "empty file" in status["zero"]["reason"]
    assert status["notes"]["status"] == "failed" and "not a readable video" in status["notes"]["reason"]
    assert status["truncated"]["status"] == "failed"
    assert status["blank"]["status"] == "no_face" and "no face found" in status["blank"]["reason"]
    for name in FACE_VIDEOS:
        r = status[name[:-4]]
        assert r["status"] == "ok" and r["frames_sampled"] == 6 and r["faces_written"] >= 5, r
    assert summary["videos_ok"] == 4 and summary["videos_failed"] == 3 and summary["videos_no_face"] == 1


def test_examples_carry_labels_groups_and_are_split_disjoint(extracted):
    out, summary = extracted
    per_split = {s: read_examples(str(out / f"Split-{s}" / "*.gz")) for s in ("train", "eval")}
    assert per_split["train"] and per_split["eval"]
    assert sum(map(len, per_split.values())) == summary["faces_written"]
    groups = {s: {e[features.GROUP_ID].numpy() for e in exs} for s, exs in per_split.items()}
    assert not groups["train"] & groups["eval"]
    for ex in per_split["train"] + per_split["eval"]:
        vid = ex[features.VIDEO_ID].numpy().decode()
        assert ex[features.LABEL].numpy() == (1 if vid.startswith("fake/") else 0)
        img = tf.io.decode_jpeg(ex[features.IMAGE]).numpy()
        assert img.shape == (96, 96, 3)
        x0, y0, x1, y1 = ex[features.BOX].numpy()
        assert x1 > x0 and y1 > y0
        assert ex[features.SOURCE_URI].numpy().decode().endswith(".mp4")


def test_cli_extract_prints_summary(video_tree: Path, tmp_path: Path, capsys):
    from pipelines.main import main

    rc = main(["extract", "--input", str(video_tree), "--output", str(tmp_path / "o"), "--frames", "2",
               "--image-size", "64", "--workers", "1", "--labels", "folders", "--json"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["videos"] == 8 and summary["videos_ok"] == 4 and summary["faces_written"] >= 7
    assert main(["extract", "--input", str(tmp_path / "missing"), "--output", str(tmp_path / "o2")]) == 1
    assert "input is not a directory" in capsys.readouterr().err


@pytest.mark.e2e
def test_tfx_component_then_statisticsgen(video_tree: Path, tmp_path: Path):
    """One real LocalDagRunner run: FaceExampleGen -> StatisticsGen."""
    from tfx import v1 as tfx
    from tfx.orchestration import metadata
    from tfx.orchestration import pipeline as tfx_pipeline

    from components.example_gen import FaceExampleGen

    cfg = ExtractConfig(frames_per_video=3, image_size=64, eval_fraction=0.5)
    gen = FaceExampleGen(str(video_tree), cfg)
    stats = tfx.components.StatisticsGen(examples=gen.outputs["examples"])
    p = tfx_pipeline.Pipeline(
        pipeline_name="extract-test", pipeline_root=str(tmp_path / "root"), components=[gen, stats],
        metadata_connection_config=metadata.sqlite_metadata_connection_config(str(tmp_path / "mlmd.sqlite")),
        beam_pipeline_args=IN_MEMORY)
    tfx.orchestration.LocalDagRunner().run(p)
    examples_dir = next((tmp_path / "root" / "FileBasedExampleGen" / "examples").iterdir())
    summary = json.loads((examples_dir / "summary.json").read_text())
    assert summary["videos"] == 8 and summary["videos_ok"] == 4
    assert (examples_dir / "Split-train").is_dir() and (examples_dir / "Split-eval").is_dir()
    stats_dir = next((tmp_path / "root" / "StatisticsGen" / "statistics").iterdir())
    import tensorflow_data_validation as tfdv

    train_stats = tfdv.load_stats_binary(str(stats_dir / "Split-train" / "FeatureStats.pb"))
    n = train_stats.datasets[0].num_examples
    assert n == len(read_examples(str(examples_dir / "Split-train" / "*.gz"))) and n > 0
    names = {f.path.step[0] for f in train_stats.datasets[0].features}
    assert {features.LABEL, features.GROUP_ID, features.IMAGE} <= names
    assert os.path.exists(examples_dir / extract.REPORT_FILE)
