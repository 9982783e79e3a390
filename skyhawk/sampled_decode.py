"""Decoding a video's sampled frames with PyAV, never decoding the non-reference frames no sample needs.

A non-reference frame (most B-frames of an H.264/HEVC stream) is never used to predict another frame, so
decoding the stream with FFmpeg's ``skip_frame = NONREF`` yields every reference frame bit-identical, and
the sampled frames are decoded in full: before each packet is sent to the decoder its frame number is
known from its presentation timestamp, and the decoder skips the packet only when that frame is not a
sample. On the 34 shared real videos at 32 samples this decodes 5,403 of the 9,101 frames and returns
the same 1,056 frames, pixel for pixel, as OpenCV's reader (docs/extraction.md, "CPU-seconds").

The frame number is OpenCV's own rule after a seek (``cap_ffmpeg_impl.hpp``, ``dts_to_frame_number``):
``int((pts - start_time) * time_base * fps + 0.5)`` minus that of the first frame, at the stream's
``r_frame_rate`` (OpenCV's fps is the average rate, off when the last frame lasts longer); a run of
numbers must have no gap and no repeat up to each sample, so they are the frames' positions. The
BGR conversion is OpenCV's: swscale, bicubic flags, BT.601 coefficients and limited range for ``yuv``
formats (the file's colour tags are ignored, as OpenCV ignores them). When the rule does not number the
frames one by one (a variable frame rate: ``RateMismatch``), or PyAV cannot open the file or finds no
timestamps (``Unavailable``), the caller reads the video with OpenCV, giving only the samples not yet given.
"""
from __future__ import annotations

import itertools
import threading
from typing import Iterator, Sequence

import av
import numpy as np
from av.video.reformatter import VideoReformatter


class Unavailable(Exception):
    """PyAV cannot number this file's frames (cannot open it, no video stream, no timestamps)."""


class RateMismatch(Exception):
    """The pts frame-number rule skipped a sampled frame or repeated one (a variable frame rate)."""


class PyAvSampler:
    """One open video: ``frames(...)`` yields the sampled (index, BGR frame) pairs; ``ended`` is the frame
    where decoding ran out (a truncated or damaged file), None while it has not."""

    def __init__(self, path: str, fps: float, threads: int):
        if fps <= 0:
            raise Unavailable("no frame rate")
        try:
            self._c = av.open(path)
        except (av.FFmpegError, OSError, UnicodeDecodeError) as e:
            raise Unavailable(str(e)) from e
        if not self._c.streams.video:
            self._c.close()
            raise Unavailable("no video stream")
        self._s = self._c.streams.video[0]
        self._cc = self._s.codec_context
        self._cc.thread_count = threads
        tb = self._s.time_base
        self._sec = float(tb.numerator) / float(tb.denominator) if tb else 0.0
        self._start = self._s.start_time or 0
        rate = self._s.base_rate  # r_frame_rate: the rate that numbers a constant-rate stream's frames one by one
        self._fps = float(rate) if rate else fps  # (OpenCV's fps is the average, off when the last frame is long)
        self._first: int | None = None  # the rule's number of the first frame (OpenCV's first_frame_number)
        self._conv = VideoReformatter()
        self.ended: int | None = None
        self.decoded = 0  # frames the decoder returned (the sampled ones and the reference frames before them)

    def close(self) -> None:
        self._c.close()

    def _number(self, pts: int) -> int:
        return int(self._fps * ((pts - self._start) * self._sec) + 0.5) - (self._first or 0)

    def _bgr(self, frame: av.VideoFrame) -> np.ndarray:
        """OpenCV's conversion (see the module docstring): bit-identical on every frame measured."""
        full = frame.format.name.startswith("yuvj")
        out = self._conv.reformat(frame, format="bgr24", src_colorspace="ITU601", dst_colorspace="ITU601",
                                  interpolation="BICUBIC", src_color_range=None if full else "MPEG", threads=1)
        return np.ascontiguousarray(out.to_ndarray())

    def _decoded(self, wanted: set[int]) -> Iterator[tuple[int, av.VideoFrame]]:
        """(frame number, frame) in display order from the current position, non-sampled non-reference frames
        skipped; sets ``ended`` when the file runs out or cannot be read further."""
        cc = self._cc
        self._seen, self._checked = set(), None  # this run's packet numbers; numbered one by one up to _checked
        try:
            for pkt in self._c.demux(self._s):
                if pkt.pts is None and pkt.size:
                    raise Unavailable("a packet without a timestamp")
                if pkt.size:
                    n = self._number(pkt.pts)
                    if n in self._seen:
                        raise RateMismatch(f"two frames numbered {n}")
                    self._seen.add(n)
                    cc.skip_frame = "DEFAULT" if self._first is None or n in wanted else "NONREF"
                for frame in cc.decode(pkt):
                    if frame.pts is None:
                        raise Unavailable("a frame without a timestamp")
                    if self._first is None:
                        self._first = self._number(frame.pts)
                        self._seen = {k - self._first for k in self._seen}
                    n = self._number(frame.pts)
                    self.decoded += 1
                    if self._checked is None:
                        self._checked = n - 1
                    yield n, frame
        except av.FFmpegError:
            pass  # damaged data: decoding stops here, as OpenCV's grab() returns False
        self.ended = self._decodable()

    def _decodable(self) -> int:
        """How many frames decode from the start before the file ends or fails (OpenCV's count: every frame
        decoded, the first error stops it). Run only when the samples ran out: a truncated or damaged file."""
        n = 0
        with av.open(self._c.name) as c:
            s = c.streams.video[0]
            s.codec_context.thread_count = self._cc.thread_count
            try:
                for pkt in c.demux(s):
                    n += len(s.codec_context.decode(pkt))
            except av.FFmpegError:
                pass
        return n

    def _seek(self, target: int, backoff: int) -> None:
        """OpenCV's seek: to the key frame at or before frame ``target - backoff`` (then decode forward)."""
        t = max(0, target - backoff)
        ts = self._start + int(t / self._fps / self._sec + 0.5) if self._sec else 0
        self._c.seek(ts, stream=self._s, backward=True)

    def frames(self, wanted: Sequence[int], plan: Sequence[bool], backoff: int,
               stop: threading.Event) -> Iterator[tuple[int, np.ndarray]]:
        """Yields (w, BGR frame) for each wanted frame w (ascending), seeking where ``plan`` says. Raises
        RateMismatch when the frame numbers have a gap or repeat (the caller then reads with OpenCV)."""
        want = set(wanted)
        stream = self._decoded(want)
        last = -1
        for w, seek in zip(wanted, plan, strict=True):
            if stop.is_set():
                return
            back = backoff
            while seek:  # like OpenCV, seek further back while the seek lands after the sample
                self._seek(w, back)
                stream = self._decoded(want)
                head = next(stream, None)
                if head is None or head[0] <= w or back >= w:
                    stream = itertools.chain([head] if head is not None else [], stream)
                    break
                back = back * 2
            for n, frame in stream:
                if n == w:
                    self._check(w)
                    yield w, self._bgr(frame)
                    last = w
                    break
                if n > w or (not seek and n <= last):
                    raise RateMismatch(f"frame number {n} where {w} was expected")
            else:
                return  # ran out: ``ended`` says where

    def _check(self, w: int) -> None:
        """RateMismatch unless every frame number of this run up to w was a packet's (no gap: the numbers are
        the frames' positions, as OpenCV counts them while it streams)."""
        start = (self._checked or 0) + 1
        missing = next((k for k in range(start, w + 1) if k not in self._seen), None)
        if missing is not None:
            raise RateMismatch(f"no frame numbered {missing}")
        self._checked = w
