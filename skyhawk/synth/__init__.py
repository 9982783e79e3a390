"""Synthetic fakes from real faces: self-blended images (SBI) and landmark face swaps.

``make_synthesizer(method, seed, key)`` gives a per-video ``Synthesizer`` whose random parameters are
drawn once (deterministically from seed and key), so every frame of a video is faked the same way::

    synth = make_synthesizer("sbi", seed=0, key=video_id)
    fake, mask = synth(frame_bgr, landmarks)          # swap: synth(frame, landmarks, donor)

Pixels where ``mask == 0`` are bit-identical to the input frame.
"""
from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import numpy as np

from skyhawk.synth import sbi, swap

if TYPE_CHECKING:
    from skyhawk.faces import FaceDetector, LandmarkPredictor

METHODS = ("sbi", "swap")

Donor = tuple[np.ndarray, np.ndarray]  # (image_bgr, landmarks (68, 2)) of the source identity for swap


class SynthError(Exception):
    """A fake cannot be made (a one-line reason)."""


def _check_landmarks(landmarks: np.ndarray, what: str) -> np.ndarray:
    lms = np.asarray(landmarks, dtype=np.float32)
    if lms.shape != (68, 2) or not np.isfinite(lms).all():
        raise SynthError(f"{what} landmarks must be a finite (68, 2) array, got shape {lms.shape}")
    return lms


def _check_frame(frame: np.ndarray, what: str) -> None:
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        desc = f"{frame.dtype} {frame.shape}" if isinstance(frame, np.ndarray) else type(frame).__name__
        raise SynthError(f"{what} must be a uint8 BGR HxWx3 image, got {desc}")


class Synthesizer:
    """Fakes the frames of one video; its random parameters were drawn once at creation."""

    def __init__(self, method: str, rng: np.random.Generator):
        if method not in METHODS:
            raise SynthError(f"unknown synthesis method {method!r} (sbi|swap)")
        self.method = method
        self.params = sbi.draw_params(rng) if method == "sbi" else swap.draw_params(rng)
        self._triangles: dict[bytes, np.ndarray] = {}  # donor landmarks -> Delaunay triangles

    def __call__(self, frame_bgr: np.ndarray, landmarks: np.ndarray,
                 donor: Donor | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(fake full frame, same shape/dtype as input; float32 mask in [0, 1], HxW). Raises SynthError."""
        _check_frame(frame_bgr, "frame")
        lms = _check_landmarks(landmarks, "face")
        if self.method == "swap":
            if donor is None:
                raise SynthError("swap needs a donor face (image, landmarks)")
            _check_frame(donor[0], "donor image")
            donor_lms = _check_landmarks(donor[1], "donor")
        try:
            if self.method == "sbi":
                return sbi.self_blend(frame_bgr, lms, self.params)
            key = donor_lms.tobytes()
            if key not in self._triangles:
                self._triangles = {key: swap.triangulate(donor_lms)}  # one donor per video: keep one
            return swap.face_swap(frame_bgr, lms, donor[0], donor_lms, self.params, self._triangles[key])
        except Exception as e:  # ValueError, cv2.error, ...: one line
            lines = str(e).strip().splitlines()
            raise SynthError(f"{self.method} failed: {lines[-1] if lines else type(e).__name__}") from e


def make_synthesizer(method: str, seed: int, key: str) -> Synthesizer:
    """A Synthesizer whose parameters depend only on (method, seed, key), e.g. key = the video id."""
    digest = hashlib.sha256(f"skyhawk-synth:{method}:{int(seed)}:{key}".encode()).digest()
    return Synthesizer(method, np.random.default_rng(int.from_bytes(digest[:8], "big")))


def donor_from_image(image_bgr: np.ndarray, detector: FaceDetector, predictor: LandmarkPredictor) -> Donor:
    """(image, landmarks of its largest face); raises SynthError('no face found')."""
    _check_frame(image_bgr, "donor image")
    faces = detector.detect(image_bgr)
    if not faces and max(image_bgr.shape[:2]) * 2 <= detector.detect_size:
        faces = detector.detect(image_bgr, upsample=1)
    if not faces:
        raise SynthError("no face found")
    return image_bgr, _check_landmarks(predictor(image_bgr, faces[0]), "donor")


__all__ = ["METHODS", "Donor", "SynthError", "Synthesizer", "donor_from_image", "make_synthesizer"]
