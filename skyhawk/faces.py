"""Face finding and cropping: the one place extraction, synthesis and scoring get faces from.

Detection (``skyhawk.detectors``: the ``FaceDetector`` and its table of chances) finds faces in a frame;
``FaceTracker`` speeds up videos: once a face is known, the next sampled frame is searched only in a window
around it (a small face missed there: in a wider window at detect_size, up-sampled, as the 2x chance would
search it), and only when that misses does the detector's chain of full-frame chances run. Crops are the
detector box enlarged by a margin and squared; 68-point landmarks come from dlib's shape predictor.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterator, Sequence

import cv2
import numpy as np

from skyhawk.detectors import Face, FaceDetector, model_path  # noqa: F401  (FaceDetector: re-exported)

if TYPE_CHECKING:
    from skyhawk.config import ExtractConfig


class FaceTracker:
    """Finds faces in the successive sampled frames of one video."""

    def __init__(self, detector: FaceDetector, all_faces: bool = False):
        self.detector = detector
        self.all_faces = all_faces
        self._prev: Face | None = None

    def find(self, frame_bgr: np.ndarray) -> list[Face]:
        """Faces in this frame, largest first (only the largest unless all_faces): the tracking window around
        the previous frame's face (then, for a small face, the wider retry window), else the detector's chances
        in order."""
        faces: list[Face] = []
        if self._prev is not None and not self.all_faces:
            faces = (self.detector.detect_near(frame_bgr, self._prev)
                     or self.detector.detect_around(frame_bgr, self._prev))
        if not faces:
            faces = self.detector.search(frame_bgr)
        self._prev = faces[0] if faces else None
        return faces if self.all_faces else faces[:1]


def square_box(box: Sequence[float], margin: float, width: int, height: int) -> tuple[int, int, int, int]:
    """The box enlarged by margin and squared about its centre, shifted (then clipped) into the frame."""
    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0) * margin
    side = min(side, width, height)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    sx = min(max(cx - side / 2, 0.0), width - side)
    sy = min(max(cy - side / 2, 0.0), height - side)
    s = int(round(side))
    ix, iy = int(round(sx)), int(round(sy))
    return ix, iy, min(ix + s, width), min(iy + s, height)


def crop_face(frame_bgr: np.ndarray, box: Sequence[float], margin: float, size: int) -> np.ndarray:
    """Square face crop: box enlarged by margin, squared, kept inside the frame, resized to size x size."""
    h, w = frame_bgr.shape[:2]
    x0, y0, x1, y1 = square_box(box, margin, w, h)
    crop = frame_bgr[y0:y1, x0:x1]
    # Bilinear already reads every source pixel when shrinking by less than 2x; INTER_AREA is ~10x
    # slower at non-integer ratios, so it is kept for the larger reductions where bilinear would alias.
    interp = cv2.INTER_AREA if crop.shape[0] >= 2 * size else cv2.INTER_LINEAR
    return cv2.resize(crop, (size, size), interpolation=interp)


def landmarks_in_crop(landmarks: np.ndarray, box: Sequence[float], margin: float, width: int, height: int,
                      size: int) -> np.ndarray:
    """(68, 2) frame-pixel landmarks -> pixels of the ``crop_face(frame, box, margin, size)`` crop.

    Points outside the crop (a chin cut by the frame edge) are clipped onto its border, so every point
    lies in [0, size - 1]; the crop itself (``margin`` around the detector box) is the context online
    SBI blends in.
    """
    x0, y0, x1, y1 = square_box(box, margin, width, height)
    scale = np.array([size / max(x1 - x0, 1), size / max(y1 - y0, 1)], np.float32)
    pts = (np.asarray(landmarks, np.float32) - np.array([x0, y0], np.float32)) * scale
    return np.clip(pts, 0.0, size - 1.0).astype(np.float32)


# Frames (bytes of pixels) that ``sample_faces`` holds to landmark their faces together, after their
# detection: the 68-point predictor reads a 99 MB model, and the detection run between two of its calls
# evicts what it had cached. On the 34 shared real videos at 32 samples (1,049 faces, decoding beside it as
# in extraction), landmarking per video after detection took 1.3 to 1.9 CPU-s against 2.3 to 2.6 frame by
# frame, the same points (docs/extraction.md, issue 27). 128 MiB: every frame of a 32-sample video up to
# about 1080p, 20 frames of 1080p, 5 of 4K.
LANDMARK_BATCH_BYTES = 128 * 2**20


@dataclass
class FrameFaces:
    """One sampled frame with its faces (largest first), their square crops and, when asked, their 68
    landmarks ((68, 2) frame pixels each)."""

    index: int
    seconds: float
    frame: np.ndarray
    faces: list[Face] = field(default_factory=list)
    crops: list[np.ndarray] = field(default_factory=list)
    landmarks: list[np.ndarray] = field(default_factory=list)


def sample_faces(path: str, cfg: ExtractConfig, detector: FaceDetector, landmarks: LandmarkPredictor | None = None,
                 batch_bytes: int = LANDMARK_BATCH_BYTES) -> Iterator[FrameFaces]:
    """The sampled frames of a local video with their tracked faces and crops (and the faces' landmarks when
    a predictor is given: computed for up to ``batch_bytes`` of frames at a time, after their detection).

    The one sampling -> tracking -> margin -> crop path: extraction (training data) and scoring both use
    it, so a model is scored on crops made exactly as its training crops were. Raises VideoError.
    """
    from skyhawk.video import SampledFrames

    frames = SampledFrames(path, cfg.frames_per_video)
    tracker = FaceTracker(detector, all_faces=cfg.faces == "all")
    held: list[FrameFaces] = []
    for index, frame in frames:
        faces = tracker.find(frame)
        crops = [crop_face(frame, f.box(), cfg.margin, cfg.image_size) for f in faces]
        held.append(FrameFaces(index, frames.seconds(index), frame, faces, crops))
        if landmarks is None or sum(f.frame.nbytes for f in held) >= batch_bytes:
            yield from _landmarked(held, landmarks)
            held = []
    yield from _landmarked(held, landmarks)


def _landmarked(held: list[FrameFaces], landmarks: LandmarkPredictor | None) -> list[FrameFaces]:
    """The held frames with their faces' landmarks filled in (as they are when no predictor is given)."""
    if landmarks is not None:
        for f in held:
            f.landmarks = [landmarks(f.frame, face) for face in f.faces]
    return held


def encode_jpeg(image_bgr: np.ndarray, quality: int = 95) -> bytes:
    ok, buf = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


class LandmarkPredictor:
    """dlib 68-point facial landmarks for a face box (from ``face-recognition-models``)."""

    def __init__(self) -> None:
        import dlib

        self._dlib = dlib
        self._predictor = dlib.shape_predictor(model_path("landmarks68"))

    def __call__(self, frame_bgr: np.ndarray, face: Face) -> np.ndarray:
        """(68, 2) float32 landmark coordinates in frame pixels.

        The BGR frame goes to dlib as it is, with no RGB conversion: the predictor reads only pixel
        intensities, and dlib's intensity of a colour pixel is the mean of its three channels, the same in
        either order (the same 68 points on all 1,049 faces of the shared real videos at 32 samples).
        """
        rect = self._dlib.rectangle(int(face.x0), int(face.y0), int(face.x1), int(face.y1))
        shape = self._predictor(np.ascontiguousarray(frame_bgr), rect)
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
