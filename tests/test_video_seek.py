"""Sampling long videos: seek to sparse samples (container key-frame index), stream dense ones; same frames."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from skyhawk.container import keyframe_indices
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
