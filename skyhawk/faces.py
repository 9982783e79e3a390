"""Face finding and cropping: the one place extraction, synthesis and scoring get faces from.

Detection is dlib's HOG frontal detector (default) or its CNN (MMOD) detector from
``face-recognition-models``. Full-frame detection runs on a frame downscaled to ``detect_size``; the
box is mapped back to full resolution. ``FaceTracker`` speeds up videos: once a face is known, the
next sampled frame is searched only in a window around it, scaled so the face is about
``TRACK_FACE_PX`` pixels wide (which also finds faces too small for the full-frame pass); when that
misses, it falls back to the full frame, and when that misses too, to a second chance on the full frame
up-sampled 2x (HOG; faces of 40 to 80 px at ``detect_size``, e.g. a small face in a 1080p frame), and
then to a third chance, OpenCV's frontal Haar cascade (dim, turned or ~25-px faces HOG misses).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Iterator, Sequence

import cv2
import numpy as np

if TYPE_CHECKING:
    from skyhawk.config import ExtractConfig

TRACK_FACE_PX = 90  # face width the tracking window is scaled to (HOG's window is 80 px)
TRACK_WINDOW = 1.6  # tracking window side, in previous face widths
# The third chance: OpenCV's frontal Haar cascade (ships with opencv-python), at detect_size on grey.
HAAR_CASCADE = "haarcascade_frontalface_default.xml"
HAAR_MIN_FACE = 24  # px at detect_size (~72 px in a 1080p frame)
# A Haar box is taller and wider than dlib's (it includes the forehead): on 248 faces of the shared real
# videos found by both, dlib's side was 0.86 x Haar's (median; 10-90 %: 0.77-0.99) and its centre
# 0.08 Haar widths lower. Haar boxes are mapped so, giving crops framed like the HOG ones.
HAAR_TO_DLIB_SIDE = 0.86
HAAR_TO_DLIB_SHIFT = 0.08
HAAR_HOG_FLOOR = -2.0  # HOG's adjust_threshold when scoring a Haar box (every window gets a score above it)
# A Haar box is kept only when HOG's window score reaches this. Thin evidence (8 boxes): the true faces the
# cascade found on the shared real videos scored -1.04 and up, its one box on train_fakes (text beside a
# nose) -1.21.
HAAR_MIN_HOG = -1.1


@dataclass(frozen=True)
class Face:
    """A detected face in full-resolution frame coordinates."""

    x0: float
    y0: float
    x1: float
    y1: float
    score: float

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def area(self) -> float:
        return max(0.0, self.x1 - self.x0) * max(0.0, self.y1 - self.y0)

    def box(self) -> tuple[float, float, float, float]:
        return (self.x0, self.y0, self.x1, self.y1)


def _model_path(name: str) -> str:
    import face_recognition_models as frm

    return {
        "cnn": frm.cnn_face_detector_model_location,
        "landmarks68": frm.pose_predictor_model_location,
        "landmarks5": frm.pose_predictor_five_point_model_location,
    }[name]()


class FaceDetector:
    """dlib face detector over BGR frames; boxes come back in full-resolution coordinates."""

    def __init__(self, kind: str = "hog", detect_size: int = 640):
        import dlib

        self.kind = kind
        self.detect_size = detect_size
        if kind == "hog":
            self._hog = dlib.get_frontal_face_detector()
            self._haar = cv2.CascadeClassifier(cv2.data.haarcascades + HAAR_CASCADE)
            if self._haar.empty():
                raise RuntimeError(f"cannot load OpenCV's {HAAR_CASCADE}")
        elif kind == "cnn":
            self._cnn = dlib.cnn_face_detection_model_v1(_model_path("cnn"))
        else:
            raise ValueError(f"unknown detector {kind!r} (hog|cnn)")

    def _prepare(self, bgr: np.ndarray) -> np.ndarray:
        """HOG runs on grey (a third of the gradient work, same faces); the CNN wants RGB."""
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY if self.kind == "hog" else cv2.COLOR_BGR2RGB)

    def _run(self, img: np.ndarray, upsample: int = 0,
             hog_threshold: float = 0.0) -> list[tuple[float, float, float, float, float]]:
        """Raw detections (left, top, right, bottom, score) on an image from ``_prepare`` (HOG keeps those
        scoring at least ``hog_threshold``, dlib's ``adjust_threshold``)."""
        if self.kind == "hog":
            dets, scores, _ = self._hog.run(img, upsample, hog_threshold)
            return [(d.left(), d.top(), d.right(), d.bottom(), float(s)) for d, s in zip(dets, scores, strict=True)]
        return [
            (m.rect.left(), m.rect.top(), m.rect.right(), m.rect.bottom(), float(m.confidence))
            for m in self._cnn(img, upsample)
        ]

    def _full_frame(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, float]:
        """The frame prepared for the detector, longest side at most detect_size, and that scale."""
        h, w = frame_bgr.shape[:2]
        scale = min(1.0, self.detect_size / max(h, w))
        img = self._prepare(frame_bgr)  # grey before the resize: one channel to average, not three
        if scale < 1.0:
            img = cv2.resize(img, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        return img, scale

    def detect(self, frame_bgr: np.ndarray, upsample: int = 0) -> list[Face]:
        """All faces in the frame, largest first (detected at detect_size on the longest side)."""
        h, w = frame_bgr.shape[:2]
        img, scale = self._full_frame(frame_bgr)
        return _sorted([_to_face(d, 1.0 / scale, 0.0, 0.0, w, h) for d in self._run(img, upsample)])

    def detect_cascade(self, frame_bgr: np.ndarray) -> list[Face]:
        """Faces from OpenCV's frontal Haar cascade at detect_size (HOG detector only), most face-like first.

        Boxes are mapped to dlib's framing. The cascade also fires on textures (ground, text), so each box
        is scored by HOG in a tracking window around it (far below HOG's own threshold: ``HAAR_MIN_HOG``)
        and the boxes come back ordered by that score, which is also their ``score``: where a frame had
        both, the real face outscored every texture box, while a strict threshold would drop dim, turned
        faces that score below the texture boxes of other frames.
        """
        if self.kind != "hog":
            return []
        h, w = frame_bgr.shape[:2]
        img, scale = self._full_frame(frame_bgr)  # grey (HOG's preparation)
        boxes = self._haar.detectMultiScale(img, scaleFactor=1.1, minNeighbors=5, minSize=(HAAR_MIN_FACE,) * 2)
        faces = []
        for x, y, bw, _ in boxes:
            side = bw * HAAR_TO_DLIB_SIDE
            cx, cy = x + bw / 2, y + bw / 2 + bw * HAAR_TO_DLIB_SHIFT
            face = _to_face((cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2, 0.0), 1.0 / scale, 0.0,
                            0.0, w, h)
            window = self._window(frame_bgr, face)
            if face.area > 0 and window is not None:
                score = max((d[4] for d in self._run(window[0], hog_threshold=HAAR_HOG_FLOOR)), default=HAAR_HOG_FLOOR)
                if score >= HAAR_MIN_HOG:
                    faces.append(replace(face, score=score))
        return sorted(faces, key=lambda f: f.score, reverse=True)

    def _window(self, frame_bgr: np.ndarray, prev: Face) -> tuple[np.ndarray, float, int, int] | None:
        """The tracking window around a face, scaled so the face is ~90 px wide: (image, scale, x0, y0)."""
        h, w = frame_bgr.shape[:2]
        side = max(prev.width, 1.0) * TRACK_WINDOW
        cx, cy = (prev.x0 + prev.x1) / 2, (prev.y0 + prev.y1) / 2
        x0, y0 = max(0, int(cx - side / 2)), max(0, int(cy - side / 2))
        x1, y1 = min(w, int(cx + side / 2)), min(h, int(cy + side / 2))
        if x1 - x0 < 16 or y1 - y0 < 16:
            return None
        scale = TRACK_FACE_PX / max(prev.width, 1.0)
        rw, rh = max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale))
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        return self._prepare(cv2.resize(frame_bgr[y0:y1, x0:x1], (rw, rh), interpolation=interp)), scale, x0, y0

    def detect_near(self, frame_bgr: np.ndarray, prev: Face) -> list[Face]:
        """Faces inside a window around a previous face, the window scaled so the face is ~90 px wide."""
        window = self._window(frame_bgr, prev)
        if window is None:
            return []
        img, scale, x0, y0 = window
        h, w = frame_bgr.shape[:2]
        return _sorted([_to_face(d, 1.0 / scale, x0, y0, w, h) for d in self._run(img)])


class FaceTracker:
    """Finds faces in the successive sampled frames of one video."""

    def __init__(self, detector: FaceDetector, all_faces: bool = False):
        self.detector = detector
        self.all_faces = all_faces
        self._prev: Face | None = None

    def find(self, frame_bgr: np.ndarray) -> list[Face]:
        """Faces in this frame, largest first (only the largest unless all_faces)."""
        faces: list[Face] = []
        if self._prev is not None and not self.all_faces:
            faces = self.detector.detect_near(frame_bgr, self._prev)
        if not faces:
            faces = self.detector.detect(frame_bgr)
        small = max(frame_bgr.shape[:2]) * 2 <= self.detector.detect_size
        if not faces and (self.detector.kind == "hog" or small):  # the CNN up-sampled costs seconds a frame
            faces = self.detector.detect(frame_bgr, upsample=1)  # second chance: faces too small for detect_size
        if not faces:
            faces = self.detector.detect_cascade(frame_bgr)  # third chance (HOG): dim, turned or tiny faces
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


@dataclass
class FrameFaces:
    """One sampled frame with its faces (largest first) and their square crops."""

    index: int
    seconds: float
    frame: np.ndarray
    faces: list[Face] = field(default_factory=list)
    crops: list[np.ndarray] = field(default_factory=list)


def sample_faces(path: str, cfg: ExtractConfig, detector: FaceDetector) -> Iterator[FrameFaces]:
    """The sampled frames of a local video with their tracked faces and crops.

    The one sampling -> tracking -> margin -> crop path: extraction (training data) and scoring both use
    it, so a model is scored on crops made exactly as its training crops were. Raises VideoError.
    """
    from skyhawk.video import SampledFrames

    frames = SampledFrames(path, cfg.frames_per_video)
    tracker = FaceTracker(detector, all_faces=cfg.faces == "all")
    for index, frame in frames:
        faces = tracker.find(frame)
        crops = [crop_face(frame, f.box(), cfg.margin, cfg.image_size) for f in faces]
        yield FrameFaces(index, frames.seconds(index), frame, faces, crops)


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
        self._predictor = dlib.shape_predictor(_model_path("landmarks68"))

    def __call__(self, frame_bgr: np.ndarray, face: Face) -> np.ndarray:
        """(68, 2) float32 landmark coordinates in frame pixels.

        Only the face's region (the box plus one box size on every side, which holds every pixel the
        predictor samples) is converted to RGB, not the whole frame: the same points, a fraction of the cost.
        """
        h, w = frame_bgr.shape[:2]
        bw, bh = face.x1 - face.x0, face.y1 - face.y0
        ox, oy = max(0, int(face.x0 - bw)), max(0, int(face.y0 - bh))
        ex, ey = min(w, int(face.x1 + bw) + 1), min(h, int(face.y1 + bh) + 1)
        rgb = cv2.cvtColor(frame_bgr[oy:ey, ox:ex], cv2.COLOR_BGR2RGB)
        rect = self._dlib.rectangle(int(face.x0) - ox, int(face.y0) - oy, int(face.x1) - ox, int(face.y1) - oy)
        shape = self._predictor(rgb, rect)
        return np.array([(p.x + ox, p.y + oy) for p in shape.parts()], dtype=np.float32)


def _to_face(d: tuple[float, float, float, float, float], s: float, ox: float, oy: float, w: int, h: int) -> Face:
    l, t, r, b, score = d
    return Face(
        x0=max(0.0, l * s + ox), y0=max(0.0, t * s + oy),
        x1=min(float(w), r * s + ox), y1=min(float(h), b * s + oy), score=score,
    )


def _sorted(faces: list[Face]) -> list[Face]:
    return sorted((f for f in faces if f.area > 0), key=lambda f: f.area, reverse=True)
