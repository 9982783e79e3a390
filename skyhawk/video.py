"""Video reading: evenly spaced frame sampling by streaming decode (grab all, retrieve only sampled)."""
from __future__ import annotations

import contextlib
import os
import queue
import threading
from typing import Iterator

import cv2
import numpy as np


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


def open_capture(path: str) -> tuple[cv2.VideoCapture, int, float]:
    """Opens a video; returns the capture, its header frame count and fps. Raises VideoError."""
    try:
        size = os.path.getsize(path)
    except OSError as e:
        raise VideoError(f"cannot stat file: {e.strerror}") from e
    if size == 0:
        raise VideoError("empty file (0 bytes)")
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        cap.release()
        raise VideoError("not a readable video (OpenCV/FFmpeg could not open it)")
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    return cap, count, fps


def count_frames(path: str) -> int:
    """Frame count by decoding (for containers whose header has none)."""
    cap, _, _ = open_capture(path)
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


def iter_sampled_frames(path: str, n: int, prefetch: int = 4) -> Iterator[tuple[int, np.ndarray]]:
    """Yields (frame_index, BGR frame) for n evenly spaced frames, decoding sequentially.

    Every frame is grabbed (the decoder must decode them anyway); only sampled ones are retrieved
    (converted to BGR). Decoding runs in a background thread, which overlaps with whatever the
    consumer does per frame (face detection): OpenCV releases the GIL while it decodes.
    Raises VideoError when the file cannot be opened or yields no frame at all.
    """
    cap, count, _ = open_capture(path)
    if count <= 0:
        cap.release()
        count = count_frames(path)
        cap, _, _ = open_capture(path)
    wanted = sample_indices(count, n)
    if not wanted:
        cap.release()
        raise VideoError("no frames in video")

    q: queue.Queue = queue.Queue(maxsize=max(1, prefetch))
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            idx, pos = 0, 0
            while pos < len(wanted) and not stop.is_set():
                if not cap.grab():
                    break
                if idx == wanted[pos]:
                    ok, frame = cap.retrieve()
                    if ok and frame is not None:
                        q.put((idx, frame))
                    pos += 1
                idx += 1
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
        cap.release()
    if got == 0:
        raise VideoError("no frame could be decoded")


def write_video(path: str, frames: list[np.ndarray], fps: float = 25.0) -> None:
    """Writes BGR frames as an MP4 (mp4v) video; raises VideoError when OpenCV cannot write it."""
    if not frames:
        raise VideoError("no frames to write")
    h, w = frames[0].shape[:2]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    if not writer.isOpened():
        raise VideoError(f"cannot open a video writer for {path}")
    try:
        for f in frames:
            writer.write(f)
    finally:
        writer.release()
