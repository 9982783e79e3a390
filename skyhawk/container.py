"""Key frames from the container's own index, so frame sampling can choose between seeking and streaming.

MP4/MOV (ISO BMFF) files list their video track's sync samples (key frames) in the ``stss`` box; a track
without ``stss`` has only key frames. Reading that table costs a few small reads, no decoding. Other
containers (WebM/MKV/AVI) return ``None``: the reader then assumes ``ASSUMED_GOP``.
"""
from __future__ import annotations

import os
import struct
from typing import BinaryIO, Iterator

MP4_EXTENSIONS = (".mp4", ".mov", ".m4v", ".3gp")
_MAX_TABLE = 1 << 24  # entries; a larger stss is not a real file's


def _boxes(f: BinaryIO, start: int, end: int) -> Iterator[tuple[str, int, int]]:
    """(type, payload start, box end) of the boxes between start and end."""
    pos = start
    while pos + 8 <= end:
        f.seek(pos)
        header = f.read(8)
        if len(header) < 8:
            return
        size, kind = struct.unpack(">I4s", header)
        head = 8
        if size == 1:
            large = f.read(8)
            if len(large) < 8:
                return
            size, head = struct.unpack(">Q", large)[0], 16
        elif size == 0:
            size = end - pos
        if size < head or pos + size > end:
            return
        yield kind.decode("latin-1"), pos + head, pos + size
        pos += size


def _find(f: BinaryIO, start: int, end: int, path: tuple[str, ...]) -> Iterator[tuple[int, int]]:
    for kind, s, e in _boxes(f, start, end):
        if kind == path[0]:
            if len(path) == 1:
                yield s, e
            else:
                yield from _find(f, s, e, path[1:])


def _u32(f: BinaryIO, at: int) -> int:
    f.seek(at)
    data = f.read(4)
    if len(data) < 4:
        raise ValueError("truncated box")
    return struct.unpack(">I", data)[0]


def _video_track_keyframes(f: BinaryIO, start: int, end: int) -> list[int] | None:
    for trak_s, trak_e in _find(f, start, end, ("trak",)):
        handlers = [s for s, _ in _find(f, trak_s, trak_e, ("mdia", "hdlr"))]
        if not handlers:
            continue
        f.seek(handlers[0] + 8)  # version/flags (4) + pre_defined (4), then handler_type
        if f.read(4) != b"vide":
            continue
        stbl = ("mdia", "minf", "stbl")
        sizes = list(_find(f, trak_s, trak_e, (*stbl, "stsz")))
        if not sizes:
            return None
        samples = _u32(f, sizes[0][0] + 8)  # version/flags, sample_size, then sample_count
        stss = list(_find(f, trak_s, trak_e, (*stbl, "stss")))
        if not stss:
            return list(range(samples))  # every sample is a sync sample
        count = _u32(f, stss[0][0] + 4)
        if count > _MAX_TABLE:
            return None
        data = f.read(4 * count)
        if len(data) < 4 * count:
            return None
        return [n - 1 for n in struct.unpack(f">{count}I", data)]  # stss is 1-based
    return None


def keyframe_indices(path: str) -> list[int] | None:
    """0-based key-frame indices of the first video track of an MP4/MOV file, else None (unknown)."""
    if os.path.splitext(path)[1].lower() not in MP4_EXTENSIONS:
        return None
    try:
        with open(path, "rb") as f:
            end = os.fstat(f.fileno()).st_size
            for moov_s, moov_e in _find(f, 0, end, ("moov",)):
                return _video_track_keyframes(f, moov_s, moov_e)
    except (OSError, ValueError, struct.error):
        return None
    return None
