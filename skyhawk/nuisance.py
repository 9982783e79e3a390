"""Nuisance facts: how a video or photo was captured and encoded, per file and per face, for the confound audit.

These facts say nothing about whether a face is fake, so a label that they predict is a confound of the
data set (``skyhawk.confound``). ``media_facts`` reads them from a file's header (OpenCV/PIL, no full
decode); extraction stores them, with the face's own size, in every face's tf.Example
(``skyhawk.features``); ``video_rows`` turns per-face facts into the per-video rows the audit reads.
"""
from __future__ import annotations

import math
import os
from statistics import median
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

# Numeric nuisance features, in the order tables list them.
NUISANCE_FEATURES: tuple[str, ...] = (
    "frame_width",  # source frame width, px
    "frame_height",  # source frame height, px
    "fps",  # frames per second from the header (0: a photo)
    "bytes_per_pixel_second",  # file bytes / (w * h * duration s); a photo: bytes / (w * h)
    "face_side_px",  # the detector's face box side in source pixels
    "frame_gap",  # source frames between two sampled frames (0: a photo)
    "jpeg_quality",  # estimated JPEG quality of a JPEG photo (0: a video or another format)
)
CODEC = "codec"  # categorical: the video's fourcc, or a photo's image format
UNKNOWN = -1.0  # a fact not recorded (examples extracted before these features existed)

# The IJG (libjpeg) luminance quantisation table at quality 50, in natural (row-major) order.
_IJG_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], dtype=np.float64)


def _ijg_table(quality: int) -> np.ndarray:
    """libjpeg's luminance table at a quality in [1, 100]."""
    scale = 5000 / quality if quality < 50 else 200 - 2 * quality
    return np.clip(np.floor((_IJG_LUMA * scale + 50) / 100), 1, 255)


def jpeg_quality(path: str) -> int:
    """Estimated quality (1-100) of a JPEG file, from its luminance quantisation table; 0 if not a JPEG.

    The table is matched against libjpeg's tables at every quality (the closest mean absolute
    difference wins); encoders with their own tables get the nearest libjpeg quality.
    """
    from PIL import Image

    try:
        with Image.open(path) as img:
            if img.format != "JPEG" or not getattr(img, "quantization", None):
                return 0
            table = np.asarray(img.quantization[0], dtype=np.float64)
    except OSError:
        return 0
    if table.size != 64:
        return 0
    # PIL lists the table in natural order (row-major), as libjpeg's tables above.
    errors = [float(np.abs(_ijg_table(q) - table).mean()) for q in range(1, 101)]
    return int(np.argmin(errors)) + 1


def _fourcc(value: float) -> str:
    code = int(value)
    text = "".join(chr((code >> (8 * i)) & 0xFF) for i in range(4))
    return text.strip("\x00 ").lower() if text.isprintable() and code else "unknown"


def media_facts(path: str, frames_per_video: int = 0) -> dict[str, Any]:
    """Header facts of one local video or photo: frame_width, frame_height, fps, bytes_per_pixel_second,
    codec, jpeg_quality, frame_count and (given the sampling's ``frames_per_video``) frame_gap.

    Cheap: a video's header through OpenCV, a photo's through PIL; nothing is decoded. A fact the header
    lacks (no frame rate or frame count) is ``UNKNOWN``. Raises ``skyhawk.video.VideoError`` for a file
    that cannot be opened.
    """
    from skyhawk.video import VideoError, _check_nonempty, is_image, open_capture, sample_indices

    _check_nonempty(path)  # the reader's own one-line reasons for a missing or empty file
    size = os.path.getsize(path)
    if is_image(path):
        from PIL import Image

        try:
            with Image.open(path) as img:
                w, h, fmt = img.width, img.height, (img.format or "unknown").lower()
        except OSError as e:
            raise VideoError(f"not a readable image: {e}") from None
        return {"frame_width": float(w), "frame_height": float(h), "fps": 0.0,
                "bytes_per_pixel_second": size / max(w * h, 1), CODEC: fmt, "jpeg_quality": float(jpeg_quality(path)),
                "frame_count": 1, "frame_gap": 0.0}
    import cv2

    cap, count, fps = open_capture(path)
    try:
        w, h = cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)
        codec = _fourcc(cap.get(cv2.CAP_PROP_FOURCC))
    finally:
        cap.release()
    seconds = count / fps if count > 0 and fps > 0 else 0.0
    bpps = size / (w * h * seconds) if w > 0 and h > 0 and seconds > 0 else UNKNOWN
    gap = UNKNOWN
    if count > 0 and frames_per_video > 0:
        wanted = sample_indices(count, frames_per_video)
        gap = float(median(np.diff(wanted))) if len(wanted) > 1 else 0.0
    return {"frame_width": float(w), "frame_height": float(h), "fps": fps if fps > 0 else UNKNOWN,
            "bytes_per_pixel_second": bpps, CODEC: codec, "jpeg_quality": 0.0, "frame_count": count,
            "frame_gap": gap}


def face_side(box: Sequence[float]) -> float:
    """A face box's side in source pixels: the mean of its width and height."""
    x0, y0, x1, y1 = box
    return ((x1 - x0) + (y1 - y0)) / 2


def face_facts(facts: Mapping[str, Any], box: Sequence[float]) -> dict[str, float]:
    """The ``NUISANCE_FEATURES`` of one face: its source's ``media_facts`` plus the face box's side."""
    side = face_side(box)
    return {name: float(side if name == "face_side_px" else facts[name]) for name in NUISANCE_FEATURES}


def _known(value: Any) -> float:
    """A fact as a float, NaN when it is missing, negative (``UNKNOWN``) or not finite."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return math.nan
    return v if math.isfinite(v) and v >= 0 else math.nan


def video_facts(facts: Mapping[str, Any], face_sides: Sequence[float]) -> dict[str, Any]:
    """A scored video's nuisance facts: its ``media_facts`` with the median face side over its scored faces,
    rounded, an unknown one (the ``_known`` rule) None; the codec as a string."""
    sides = [v for v in map(_known, face_sides) if not math.isnan(v)]
    out: dict[str, Any] = {}
    for name in NUISANCE_FEATURES:
        value = (float(median(sides)) if sides else math.nan) if name == "face_side_px" else _known(facts.get(name))
        out[name] = None if math.isnan(value) else round(value, 4)
    out[CODEC] = str(facts.get(CODEC) or "")
    return out


def video_rows(faces: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per-face facts -> one row per ``video_id``: the median of each numeric nuisance feature over the
    video's faces (unknown values left out; NaN when none is known), the most common codec, the label,
    the group, the method and the number of faces. Each face mapping carries video_id, label, group_id
    and the ``NUISANCE_FEATURES`` keys (and optionally codec, method)."""
    by_video: dict[str, list[Mapping[str, Any]]] = {}
    for face in faces:
        by_video.setdefault(str(face["video_id"]), []).append(face)
    rows: dict[str, dict[str, Any]] = {}
    for vid, fs in sorted(by_video.items()):
        row: dict[str, Any] = {"video_id": vid, "label": int(fs[0]["label"]), "group_id": str(fs[0]["group_id"]),
                               "method": str(fs[0].get("method", "")), "faces": len(fs)}
        for name in NUISANCE_FEATURES:
            known = [v for v in (_known(f.get(name)) for f in fs) if not math.isnan(v)]
            row[name] = float(median(known)) if known else math.nan
        codecs = [str(f.get(CODEC, "")) for f in fs if f.get(CODEC)]
        row[CODEC] = max(sorted(set(codecs)), key=codecs.count) if codecs else ""
        rows[vid] = row
    return rows
