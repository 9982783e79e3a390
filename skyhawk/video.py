"""Video reading: evenly spaced frame sampling, streaming through dense samples and seeking to sparse ones."""
from __future__ import annotations

import bisect
import contextlib
import errno
import os
import queue
import threading
import uuid
from typing import Callable, Iterator, Sequence

import cv2
import numpy as np

from skyhawk.config import IMAGE_EXTENSIONS
from skyhawk.container import keyframe_indices
from skyhawk.sampled_decode import PyAvSampler, RateMismatch, Unavailable


class VideoError(Exception):
    """A video cannot be read; the message is a one-line reason."""


def sample_indices(frame_count: int, n: int) -> list[int]:
    """n evenly spaced frame indices in [0, frame_count), first and last included; all frames if fewer."""
    if frame_count <= 0 or n <= 0:
        return []
    if frame_count <= n:
        return list(range(frame_count))
    return sorted({int(round(i)) for i in np.linspace(0, frame_count - 1, n)})


def local_copy(uri: str) -> contextlib.AbstractContextManager[str]:
    """A local path for uri: the path itself when local, else a temporary copy (``skyhawk.fileio.local_copy``)."""
    from skyhawk import fileio

    return fileio.local_copy(uri)


def _check_nonempty(path: str) -> None:
    """Raises VideoError (one line) for a file that cannot be stat-ed or has no bytes."""
    try:
        size = os.path.getsize(path)
    except OSError as e:
        raise VideoError(f"cannot stat file: {e.strerror}") from e
    if size == 0:
        raise VideoError("empty file (0 bytes)")


def open_capture(path: str, threads: int = 0) -> tuple[cv2.VideoCapture, int, float]:
    """Opens a video; returns the capture, its header frame count and fps. ``threads``: FFmpeg's decoding
    threads (0: OpenCV's default, one per core). Raises VideoError."""
    _check_nonempty(path)
    cap = cv2.VideoCapture(path, cv2.CAP_ANY, [cv2.CAP_PROP_N_THREADS, threads]) if threads else cv2.VideoCapture(path)
    if not cap.isOpened():
        cap.release()
        raise VideoError("not a readable video (OpenCV/FFmpeg could not open it)")
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    return cap, count, fps


def is_image(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in IMAGE_EXTENSIONS


def read_image(path: str) -> np.ndarray:
    """A photo as a BGR frame. Raises VideoError (one line)."""
    _check_nonempty(path)
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise VideoError("not a readable image (OpenCV could not decode it)")
    return img


def count_frames(path: str, threads: int = 0) -> int:
    """Frame count by decoding every frame (for containers whose header has none); ``threads`` as open_capture's."""
    cap, _, _ = open_capture(path, threads)
    n = 0
    try:
        while cap.grab():
            n += 1
    finally:
        cap.release()
    return n


def read_frames(path: str, limit: int | None = None) -> tuple[list[np.ndarray], float]:
    """(the first `limit` frames, all when None; fps) in order. Raises VideoError (also for no frame)."""
    cap, _, fps = open_capture(path)
    frames: list[np.ndarray] = []
    try:
        while limit is None or len(frames) < limit:
            ok, frame = cap.read()
            if not ok or frame is None:
                break
            frames.append(frame)
    finally:
        cap.release()
    if not frames:
        raise VideoError("no frame could be decoded")
    return frames, fps


# Seek or stream, decided per sample from the container's key-frame index (skyhawk.container):
# streaming to sample w from the current position p decodes w - p + 1 frames. OpenCV's FFmpeg seek
# (cap_ffmpeg_impl.hpp, CvCapture_FFMPEG::seek) does not seek to w: it seeks to the key frame at or
# before w - SEEK_BACKOFF_FRAMES and decodes forward from there, so a sample just after a key frame is
# reached from the key frame before it (measured: seeking to frame 252 with key frames 0 and 250 cost as
# much as streaming 252 frames). Seeking therefore decodes w - k + 1 frames from that key frame k, plus
# a fixed cost for the demuxer seek and decoder flush.
SEEK_BACKOFF_FRAMES = 16
SEEK_OVERHEAD_FRAMES = 4
# Key-frame interval assumed when the container does not say (x264's default keyint is 250).
ASSUMED_GOP = 250
# A video whose frames run out before this share of its header's frame count is truncated (a failed video):
# header counts are estimates in some containers, so the last frame or two may legitimately be missing.
TRUNCATED_BELOW = 0.98
# FFmpeg decoding threads of the sampled-frame reader (PyAV's; OpenCV's in the fallback). One: the same
# frames for less CPU (decoding every frame of the 34 shared real videos: 6.9 to 7.8 CPU-s with 1 thread,
# 8.6 to 8.8 with 2, the default here), and the reader already decodes in its own thread beside detection;
# parallelism comes from workers.
DECODE_THREADS = 1


def read_plan(wanted: Sequence[int], keyframes: Sequence[int] | None, gop: int = ASSUMED_GOP) -> list[bool]:
    """For each wanted frame index (ascending), True if it is cheaper to seek to it than to decode forward.

    ``keyframes``: ascending key-frame indices from the container, or None (then every frame is assumed
    to be ``gop`` frames after its key frame, the worst case).
    """
    plan, pos = [], 0
    for w in wanted:
        target = max(0, w - SEEK_BACKOFF_FRAMES)  # where OpenCV's seek actually aims
        if keyframes:
            k = keyframes[max(0, bisect.bisect_right(keyframes, target) - 1)]
        else:
            k = max(0, target - gop)
        forward = w - pos + 1
        seek = w - k + 1 + SEEK_OVERHEAD_FRAMES
        do_seek = k > pos and seek < forward
        plan.append(do_seek)
        pos = w + 1
    return plan


class SampledFrames:
    """n evenly spaced frames of a video: iterate for (frame_index, BGR frame).

    Opening reads the header (frame count, fps) and the container's key-frame index and plans, per
    sample, whether to seek to it or keep decoding forward (``read_plan``): dense samples stream, sparse
    ones in long videos seek, so 32 samples of a 10-minute video decode a few hundred frames, not 18,000.
    Decoding (``skyhawk.sampled_decode``: PyAV, the non-reference frames no sample needs skipped, the same
    frames as OpenCV's bit for bit; OpenCV's own loop, ``_read_opencv``, is the fallback for a file PyAV
    cannot number frame by frame) runs in a background thread that overlaps with what the consumer does per
    frame (face detection): both release the GIL while they decode. Raises VideoError when the file cannot be
    opened, yields no frame at all, or (after the frames it has) ends well before its header's frame count:
    a truncated video is a failed one, with the frame it stops at.
    """

    def __init__(self, path: str, n: int, prefetch: int = 4):
        self.path = path
        self._prefetch = prefetch
        self.image = is_image(path)
        if self.image:  # a photo is a one-frame item
            self.frame_count, self.fps, self.wanted, self.keyframes, self.plan, self.seeks = 1, 0.0, [0], None, [], 0
            return
        cap, count, fps = open_capture(path)
        cap.release()
        if count <= 0:
            count = count_frames(path)
        self.frame_count = count
        self.fps = fps
        self.wanted = sample_indices(count, n)
        if not self.wanted:
            raise VideoError("no frames in video")
        self.keyframes = keyframe_indices(path)
        self.plan = read_plan(self.wanted, self.keyframes)
        self.seeks = sum(self.plan)

    def seconds(self, frame_index: int) -> float:
        """Timestamp of a frame in seconds (0 when the header has no frame rate)."""
        return round(frame_index / self.fps, 3) if self.fps > 0 else 0.0

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        if self.image:
            yield 0, read_image(self.path)
            return
        wanted, plan = self.wanted, self.plan
        q: queue.Queue = queue.Queue(maxsize=max(1, self._prefetch))
        stop = threading.Event()
        done = object()
        ended: list[int] = []  # the frame where decoding ran out, when it did before the last sample

        def produce() -> None:
            put: set[int] = set()
            try:
                try:
                    sampler = PyAvSampler(self.path, self.fps, DECODE_THREADS)
                except Unavailable:
                    sampler = None
                if sampler is not None:
                    try:
                        for item in sampler.frames(wanted, plan, SEEK_BACKOFF_FRAMES, stop):
                            q.put(item)
                            put.add(item[0])
                        if sampler.ended is not None and len(put) < len(wanted):
                            ended.append(sampler.ended)
                        return
                    except (Unavailable, RateMismatch):
                        pass  # read again with OpenCV, which puts only the samples not yet put
                    finally:
                        sampler.close()
                _read_opencv(self.path, wanted, plan, lambda item: item[0] in put or q.put(item), stop, ended)
            except Exception as e:  # surfaced to the consumer
                q.put(e)
            finally:
                q.put(done)

        t = threading.Thread(target=produce, name="skyhawk-decode", daemon=True)
        t.start()
        got = 0
        try:
            while True:
                item = q.get()
                if item is done:
                    break
                if isinstance(item, Exception):
                    raise VideoError(f"decode failed: {item}") from item
                got += 1
                yield item
        finally:
            stop.set()
            while t.is_alive():  # unblock a producer waiting on a full queue
                try:
                    q.get_nowait()
                except queue.Empty:
                    pass
                t.join(timeout=0.05)
        if got == 0:
            raise VideoError("no frame could be decoded")
        if ended and ended[0] < self.frame_count * TRUNCATED_BELOW - 1:
            raise VideoError(f"truncated: decoding stops at frame {ended[0]} of the {self.frame_count} in its header "
                             f"({got} of {len(wanted)} sampled frames decoded)")


def _read_opencv(path: str, wanted: Sequence[int], plan: Sequence[bool], put: Callable[[tuple[int, np.ndarray]], None],
                 stop: threading.Event, ended: list[int]) -> None:
    """The fallback reader (OpenCV decodes every frame up to each sample): ``put(w, frame)`` per sample from
    the start, or from a seek to ``wanted[0]`` when ``plan[0]``; appends to ``ended`` where decoding ran out."""
    cap, _, _ = open_capture(path, DECODE_THREADS)
    try:
        idx = 0
        for w, seek in zip(wanted, plan, strict=True):
            if stop.is_set():
                break
            if seek:
                cap.set(cv2.CAP_PROP_POS_FRAMES, w)
                idx = w
            while idx < w and cap.grab():
                idx += 1
            if idx < w or not cap.grab():
                ended.append(idx)
                break
            idx += 1
            ok, frame = cap.retrieve()
            if ok and frame is not None:
                put((w, frame))
    finally:
        cap.release()


def iter_sampled_frames(path: str, n: int, prefetch: int = 4) -> Iterator[tuple[int, np.ndarray]]:
    """Yields (frame_index, BGR frame) for n evenly spaced frames (see ``SampledFrames``)."""
    yield from SampledFrames(path, n, prefetch)


def write_video(path: str, frames: list[np.ndarray], fps: float = 25.0) -> None:
    """Writes BGR frames as an MP4 (mp4v) video, whole or not at all: into a temp file next to path, checked
    (its header holds every frame), then renamed. A full disk is ``OSError`` ENOSPC naming path; another
    failure a VideoError."""
    if not frames:
        raise VideoError("no frames to write")
    h, w = frames[0].shape[:2]

    def write(tmp: str) -> bool:
        writer = cv2.VideoWriter(tmp, cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
        if not writer.isOpened():
            return False
        try:
            for f in frames:
                writer.write(f)
        finally:
            writer.release()
        cap = cv2.VideoCapture(tmp)
        try:
            return cap.isOpened() and int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) == len(frames)
        finally:
            cap.release()

    _write_whole(path, write, "video")


def write_image(path: str, image: np.ndarray) -> None:
    """Writes a photo (format from path's extension) whole or not at all, like ``write_video``."""
    _write_whole(path, lambda tmp: bool(cv2.imwrite(tmp, image)), "image")


def _write_whole(path: str, write: Callable[[str], bool], what: str) -> None:
    """write(tmp) into a temp file in path's folder (same extension: OpenCV picks the format by it), then
    rename it to path. write returning False: ENOSPC naming path if the folder's disk is full, else VideoError."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    base, ext = os.path.splitext(os.path.basename(path))
    tmp = os.path.join(folder, f".{base}.{uuid.uuid4().hex[:8]}.partial{ext}")
    try:
        if not write(tmp):
            if _disk_full(folder):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
            raise VideoError(f"OpenCV could not write the {what} {path}")
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _disk_full(folder: str) -> bool:
    """Whether 64 KB more cannot be written in folder (the write fails with ENOSPC or EDQUOT)."""
    probe = os.path.join(folder, f".skyhawk-space-{uuid.uuid4().hex[:8]}")
    try:
        with open(probe, "wb") as f:
            f.write(b"\0" * (64 << 10))
            f.flush()
            os.fsync(f.fileno())
        return False
    except OSError as e:
        return e.errno in (errno.ENOSPC, errno.EDQUOT)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(probe)
