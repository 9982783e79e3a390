"""Sampling long videos: seek to sparse samples (container key-frame index), stream dense ones; same frames."""
from __future__ import annotations

import threading
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from skyhawk.container import keyframe_indices
from skyhawk.sampled_decode import PyAvSampler, RateMismatch
from skyhawk.video import SEEK_BACKOFF_FRAMES, SEEK_OVERHEAD_FRAMES, SampledFrames, read_plan, sample_indices

SOURCE = "real_videos/KwaiVGI__LivePortrait__assets__examples__driving__d0.mp4"


def test_read_plan_seeks_only_when_cheaper():
    # dense samples: always forward
    assert read_plan([0, 5, 10, 15], keyframes=[0, 12]) == [False] * 4
    # sparse samples, key frames every 12: seek past the gap, decode 1-12 frames after the key frame
    plan = read_plan([0, 500, 1000], keyframes=list(range(0, 1200, 12)))
    assert plan == [False, True, True]
    # a key frame right before the sample but the current position is already closer: no seek
    assert read_plan([10, 14], keyframes=[0, 12]) == [False, False]
    # OpenCV seeks to the key frame before w - 16: a sample just after a key frame is reached from the
    # key frame before that one (here frame 0), so streaming is never worse
    assert read_plan([0, 252], keyframes=[0, 250]) == [False, False]
    assert read_plan([0, 300], keyframes=[0, 250]) == [False, True]
    # no index: assume a 250-frame GOP, so seek only when the gap exceeds it plus the seek cost
    assert read_plan([0, 200, 1000], keyframes=None) == [False, False, True]
    assert read_plan([0, 250 + SEEK_BACKOFF_FRAMES + SEEK_OVERHEAD_FRAMES + 2], keyframes=None) == [False, True]


@pytest.fixture(scope="module")
def long_video(tmp_path_factory, shared_media: Path) -> Path:
    """~1,500 frames (60 s at 25 fps) made by looping a shared clip; OpenCV's mp4v writer puts a key frame every 12."""
    cap = cv2.VideoCapture(str(shared_media / SOURCE))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(cv2.resize(f, (256, 256)))
    cap.release()
    path = tmp_path_factory.mktemp("long") / "long.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (256, 256))
    for i in range(1500):
        f = frames[i % len(frames)].copy()
        cv2.putText(f, str(i), (10, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (255, 255, 255), 2)  # every frame unique
        writer.write(f)
    writer.release()
    return path


def test_long_video_seeks_and_returns_the_streamed_frames(long_video: Path):
    keys = keyframe_indices(str(long_video))
    assert keys is not None and keys[0] == 0 and len(keys) > 100 and max(np.diff(keys)) <= 12
    sampled = SampledFrames(str(long_video), 16)
    assert sampled.frame_count == 1500 and sampled.seeks == 15  # all but the first sample
    got = dict(sampled)
    assert sorted(got) == sample_indices(1500, 16)
    cap = cv2.VideoCapture(str(long_video))
    for i in range(1500):  # reference: decode every frame
        ok, f = cap.read()
        assert ok
        if i in got:
            assert np.array_equal(got[i], f), i
    cap.release()


def test_keyframes_unknown_for_other_containers_and_garbage(tmp_path: Path):
    junk = tmp_path / "x.mp4"
    junk.write_bytes(b"\x00\x00\x00\x08free" + b"\xff" * 64)
    assert keyframe_indices(str(junk)) is None
    assert keyframe_indices(str(tmp_path / "missing.mp4")) is None
    assert keyframe_indices(str(tmp_path / "a.webm")) is None


def _every_frame(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    cap.release()
    return frames


@pytest.mark.parametrize("name", ["KwaiVGI__LivePortrait__assets__examples__driving__d10.mp4",  # B-frames, BT.709 tag
                                  "YuvalNirkin__fsgan__docs__examples__shinzo_abe.mp4"])  # 1280x720, 3 key frames
def test_sampled_frames_are_opencvs_frames_with_non_reference_frames_skipped(name: str, shared_media: Path):
    """PyAV skips the non-reference frames no sample needs; the samples are OpenCV's decoded frames, bit for bit
    (OpenCV's BT.601 conversion: the file's BT.709 tag is ignored, as OpenCV ignores it)."""
    path = shared_media / "real_videos" / name
    every = _every_frame(path)
    sampled = SampledFrames(str(path), 32)
    got = dict(sampled)
    assert sorted(got) == sample_indices(len(every), 32)
    for i, f in got.items():
        assert np.array_equal(f, every[i]), i
    sampler = PyAvSampler(str(path), sampled.fps, 1)
    try:
        assert len(list(sampler.frames(sampled.wanted, sampled.plan, SEEK_BACKOFF_FRAMES, threading.Event()))) == 32
        assert 32 <= sampler.decoded < 0.75 * len(every)  # less than every frame was decoded
    finally:
        sampler.close()


def test_frames_not_numbered_one_by_one_are_read_with_opencv(tmp_path: Path, shared_media: Path):
    """A variable frame rate (a jump in the timestamps): the pts rule would number frames with a gap, so the
    reader reads with OpenCV, which counts frames as it streams: the same frames as decoding every one."""
    src = _every_frame(shared_media / SOURCE)[:40]
    path = tmp_path / "vfr.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 256, 256, "yuv420p"
        for i, f in enumerate(src):
            frame = av.VideoFrame.from_ndarray(cv2.resize(f, (256, 256)), format="bgr24")
            frame.pts = i if i < 20 else 2 * i  # frames 20.. are 2 frame periods apart
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    every = _every_frame(path)
    sampled = SampledFrames(str(path), 8)
    sampler = PyAvSampler(str(path), sampled.fps, 1)
    with pytest.raises(RateMismatch):
        try:
            list(sampler.frames(sampled.wanted, sampled.plan, SEEK_BACKOFF_FRAMES, threading.Event()))
        finally:
            sampler.close()
    got = dict(sampled)
    assert sorted(got) == sample_indices(sampled.frame_count, 8) and len(every) == 40
    for i, f in got.items():
        assert np.array_equal(f, every[i]), i
