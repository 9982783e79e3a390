"""Face detectors: the table of full-frame detection passes ("chances") and the ``FaceDetector`` that runs them.

Full-frame detection runs on a frame downscaled to ``detect_size``; boxes are mapped back to full
resolution. The default HOG chain: dlib's HOG at detect_size, then HOG on the frame up-sampled 2x (faces of
40 to 80 px at ``detect_size``, e.g. a small face in a 1080p frame), then OpenCV's frontal Haar cascade (dim,
turned or ~25-px faces HOG misses). ``FaceDetector.detect_near`` searches a window around a previous face,
scaled so the face is about ``TRACK_FACE_PX`` pixels wide (``skyhawk.faces.FaceTracker`` uses it); when that
misses a small face, ``detect_around`` searches a wider window as the 2x chance would, at detect_size. A new
detector is one ``Chance`` subclass registered in ``CHANCES`` (see docs/architecture.md).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Sequence

import cv2
import numpy as np

if TYPE_CHECKING:
    from skyhawk.config import ExtractConfig

TRACK_FACE_PX = 90  # face width the tracking window is scaled to (HOG's window is 80 px)
TRACK_WINDOW = 1.6  # tracking window side, in previous face widths
# HOG first searches a tighter window (this many face widths: most faces barely move between two samples),
# and the TRACK_WINDOW one only when that misses. HOG's cost goes with the pixels searched (dlib, measured:
# 1.16 ms at 144 px, 0.55 ms at 100 px). At 32 samples, detection CPU: 4.02 -> 3.42 s on the 34 shared real
# videos (1,049 frames with a face both), 12.06 -> 9.20 s on the 135 train_fakes (4,235 -> 4,238); 1.1
# cost more (more misses fall through) and 1.3 saved less (issue 27, docs/extraction.md).
TRACK_TIGHT = 1.2
HOG_WINDOW_PX = 80  # dlib's frontal HOG finds faces of about this width and up (its detection window)
# The retry when the tracking window misses a face under HOG_WINDOW_PX at detect_size (only the 2x chance
# finds those): the 2x pass in a window of this many previous face widths around it, not over the whole
# frame. On the shared real videos the window at full resolution misses every frame of a small, soft 1080p
# face that detect_size then 2x finds (facenet-pytorch's example: 108 px; widening or rescaling the window
# did not help), so each of its frames cost the window, the 1x and the 2x full-frame passes (~70 ms CPU). 4
# widths: 8 of its 9 tracked frames found (2.5: 3 of 9), detection CPU 4.8 -> 4.5 s on the 34 videos, same faces.
RETRY_WINDOW = 4.0
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
# A face the cascade found is followed by the cascade in its tracking window when HOG's window misses it
# (``HaarChance.near``), looking for faces of at least this share of its width. HOG missed the face in
# the full frame, so it usually misses it in the window too, and the whole chain (hog, hog_2x, Haar: ~140
# ms a frame at 640 px) ran for every frame of such a face; the window costs a few ms (issue 27).
HAAR_TRACK_MIN = 0.5
HAAR_TRACK_WINDOW = 3.0  # its window, in face widths: the cascade, fickle in a tight window, needs context
# OpenCV's own thread pool (cv2.setNumThreads), set when a FaceDetector is made: one thread. The per-frame
# calls here (grey conversion, INTER_AREA resize, the Haar cascade, crop resize) are a few ms each, and
# OpenCV's pthreads pool keeps its worker spinning after each: on the 34 shared real videos at 32 samples
# the worker thread burned 0.85 to 1.2 CPU-s beside the main thread's 7.8 to 8.9, and with one thread the
# main thread took on 0.2 to 0.5 CPU-s of it (the extraction: 0.6 and 1.0 CPU-s less in whole passes, 0.2 in
# an A/B alternating per video). The same frames,
# boxes, crops and examples bit for bit (docs/extraction.md, issue 27). FFmpeg's decoding threads are not
# OpenCV's pool (unchanged); parallelism comes from the decode thread and the workers, as for DECODE_THREADS
# (skyhawk.video).
OPENCV_THREADS = 1


@dataclass(frozen=True)
class Face:
    """A detected face in full-resolution frame coordinates."""

    x0: float
    y0: float
    x1: float
    y1: float
    score: float
    # the chance that found it, when that chance follows its faces itself (``Chance.near``); not compared
    chance: str = field(default="", compare=False)

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def area(self) -> float:
        return max(0.0, self.x1 - self.x0) * max(0.0, self.y1 - self.y0)

    def box(self) -> tuple[float, float, float, float]:
        return (self.x0, self.y0, self.x1, self.y1)


def model_path(name: str) -> str:
    import face_recognition_models as frm

    return {
        "cnn": frm.cnn_face_detector_model_location,
        "landmarks68": frm.pose_predictor_model_location,
        "landmarks5": frm.pose_predictor_five_point_model_location,
    }[name]()


class FaceDetector:
    """dlib (and OpenCV) face detection over BGR frames; boxes come back in full-resolution coordinates.

    ``chances``: the ordered full-frame passes (names in ``CHANCES``) a ``FaceTracker`` tries, each only when
    the ones before it found nothing; default: ``DEFAULT_CHANCES[kind]``. The first chance's model (``kind``)
    also searches the tracking window (the config's ``detector`` when that chance has no model, e.g. Haar or a
    registered one). The CNN is loaded only when it is that model or a chance's; HOG and the cascade always
    (HOG also scores the cascade's boxes; both load in milliseconds). Making one sets OpenCV's thread pool of
    the process to ``OPENCV_THREADS``.
    """

    def __init__(self, kind: str = "hog", detect_size: int = 640, chances: Sequence[str] = ()):
        import dlib

        cv2.setNumThreads(OPENCV_THREADS)  # process-wide: see OPENCV_THREADS
        names = tuple(chances) or DEFAULT_CHANCES.get(kind, ())
        unknown = [n for n in names if n not in CHANCES]
        if not names or unknown:
            raise ValueError(f"unknown face detector {unknown[0] if unknown else kind!r} "
                             f"(one of {', '.join(CHANCES)})")
        self.detect_size = detect_size
        self.chances: list[Chance] = [CHANCES[n](self) for n in names]
        self.kind = self.chances[0].model or kind
        self._hog = dlib.get_frontal_face_detector()  # also scores the Haar boxes
        self._cnn = dlib.cnn_face_detection_model_v1(model_path("cnn")) if "cnn" in (
            self.kind, *(c.model for c in self.chances)) else None
        self._haar = cv2.CascadeClassifier(cv2.data.haarcascades + HAAR_CASCADE)
        if self._haar.empty():
            raise RuntimeError(f"cannot load OpenCV's {HAAR_CASCADE}")

    @classmethod
    def from_config(cls, cfg: ExtractConfig) -> FaceDetector:
        """The detector an ExtractConfig describes (``detector``, ``detect_size``, ``chances``)."""
        return cls(cfg.detector, cfg.detect_size, cfg.chances)

    def search(self, frame_bgr: np.ndarray) -> list[Face]:
        """The first chance's faces that found any (largest / most face-like first); [] when none did. Faces
        of a chance with its own tracking window (``Chance.near``) carry its name."""
        for chance in self.chances:
            faces = chance.find(frame_bgr)
            if faces:
                return faces
        return []

    def _prepare(self, bgr: np.ndarray, model: str = "hog") -> np.ndarray:
        """HOG runs on grey (a third of the gradient work, same faces); the CNN wants RGB."""
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY if model == "hog" else cv2.COLOR_BGR2RGB)

    def _run(self, img: np.ndarray, upsample: int = 0, hog_threshold: float = 0.0,
             model: str = "hog") -> list[tuple[float, float, float, float, float]]:
        """Raw detections (left, top, right, bottom, score) on an image from ``_prepare`` (HOG keeps those
        scoring at least ``hog_threshold``, dlib's ``adjust_threshold``)."""
        if model == "hog":
            dets, scores, _ = self._hog.run(img, upsample, hog_threshold)
            return [(d.left(), d.top(), d.right(), d.bottom(), float(s)) for d, s in zip(dets, scores, strict=True)]
        return [
            (m.rect.left(), m.rect.top(), m.rect.right(), m.rect.bottom(), float(m.confidence))
            for m in self._cnn(img, upsample)
        ]

    def _full_frame(self, frame_bgr: np.ndarray, model: str = "hog") -> tuple[np.ndarray, float]:
        """The frame prepared for the detector, longest side at most detect_size, and that scale."""
        h, w = frame_bgr.shape[:2]
        scale = min(1.0, self.detect_size / max(h, w))
        img = self._prepare(frame_bgr, model)  # grey before the resize: one channel to average, not three
        if scale < 1.0:
            img = cv2.resize(img, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        return img, scale

    def detect(self, frame_bgr: np.ndarray, upsample: int = 0, model: str | None = None) -> list[Face]:
        """All faces in the frame, largest first (detected at detect_size on the longest side; ``model``:
        hog | cnn, default the first chance's)."""
        model = model or self.kind
        h, w = frame_bgr.shape[:2]
        img, scale = self._full_frame(frame_bgr, model)
        return _sorted([_to_face(d, 1.0 / scale, 0.0, 0.0, w, h) for d in self._run(img, upsample, model=model)])

    def detect_cascade(self, frame_bgr: np.ndarray, prev: Face | None = None) -> list[Face]:
        """Faces from OpenCV's frontal Haar cascade at detect_size (``prev``: in its tracking window, faces of
        ``HAAR_TRACK_MIN`` of its width and up), most face-like first.

        Boxes are mapped to dlib's framing. The cascade also fires on textures (ground, text), so each box
        is scored by HOG in a tracking window around it (far below HOG's own threshold: ``HAAR_MIN_HOG``)
        and the boxes come back ordered by that score, which is also their ``score``: where a frame had
        both, the real face outscored every texture box, while a strict threshold would drop dim, turned
        faces that score below the texture boxes of other frames.
        """
        h, w = frame_bgr.shape[:2]
        if prev is None:
            (img, scale), x0, y0, least = self._full_frame(frame_bgr), 0, 0, HAAR_MIN_FACE  # grey (HOG's preparation)
        else:
            window = self._window(frame_bgr, prev, "hog", HAAR_TRACK_WINDOW)
            if window is None:
                return []
            img, scale, x0, y0 = window
            least = max(HAAR_MIN_FACE, round(TRACK_FACE_PX * HAAR_TRACK_MIN / HAAR_TO_DLIB_SIDE))
        boxes = self._haar.detectMultiScale(img, scaleFactor=1.1, minNeighbors=5, minSize=(least,) * 2)
        faces = []
        for x, y, bw, _ in boxes:
            side = bw * HAAR_TO_DLIB_SIDE
            cx, cy = x + bw / 2, y + bw / 2 + bw * HAAR_TO_DLIB_SHIFT
            face = _to_face((cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2, 0.0), 1.0 / scale, x0,
                            y0, w, h)
            window = self._window(frame_bgr, face, "hog")
            if face.area > 0 and window is not None:
                score = max((d[4] for d in self._run(window[0], hog_threshold=HAAR_HOG_FLOOR)), default=HAAR_HOG_FLOOR)
                if score >= HAAR_MIN_HOG:
                    faces.append(replace(face, score=score))
        return sorted(faces, key=lambda f: f.score, reverse=True)

    def _window(self, frame_bgr: np.ndarray, prev: Face, model: str,
                widths: float = TRACK_WINDOW) -> tuple[np.ndarray, float, int, int] | None:
        """The tracking window (``widths`` face widths wide) around a face, scaled so the face is ~90 px wide:
        (image, scale, x0, y0)."""
        h, w = frame_bgr.shape[:2]
        side = max(prev.width, 1.0) * widths
        cx, cy = (prev.x0 + prev.x1) / 2, (prev.y0 + prev.y1) / 2
        x0, y0 = max(0, int(cx - side / 2)), max(0, int(cy - side / 2))
        x1, y1 = min(w, int(cx + side / 2)), min(h, int(cy + side / 2))
        if x1 - x0 < 16 or y1 - y0 < 16:
            return None
        scale = TRACK_FACE_PX / max(prev.width, 1.0)
        rw, rh = max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale))
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        # prepared (grey for HOG) before the resize, as the full-frame passes do: one channel to resample
        return cv2.resize(self._prepare(frame_bgr[y0:y1, x0:x1], model), (rw, rh), interpolation=interp), scale, x0, y0

    def detect_around(self, frame_bgr: np.ndarray, prev: Face) -> list[Face]:
        """The 2x chance's search in a window ``RETRY_WINDOW`` face widths wide around a previous face under
        ``HOG_WINDOW_PX`` at detect_size (the same pixels: grey, scaled to detect_size, HOG up-sampled 2x);
        [] for a larger face or when the first chance is not HOG (a miss then goes to the full-frame chances)."""
        h, w = frame_bgr.shape[:2]
        scale = min(1.0, self.detect_size / max(h, w))
        if self.kind != "hog" or prev.width * scale >= HOG_WINDOW_PX:
            return []
        side = max(prev.width, 1.0) * RETRY_WINDOW
        cx, cy = (prev.x0 + prev.x1) / 2, (prev.y0 + prev.y1) / 2
        grid = max(1, round(8 / scale))  # the window starts on the full-frame pass's 8-px grid at detect_size
        x0, y0 = max(0, int(cx - side / 2)) // grid * grid, max(0, int(cy - side / 2)) // grid * grid
        x1, y1 = min(w, int(cx + side / 2)), min(h, int(cy + side / 2))
        if min(x1 - x0, y1 - y0) * scale < HOG_WINDOW_PX / 2:  # smaller than HOG's window even up-sampled
            return []
        img = self._prepare(frame_bgr[y0:y1, x0:x1])
        if scale < 1.0:
            img = cv2.resize(img, (round((x1 - x0) * scale), round((y1 - y0) * scale)), interpolation=cv2.INTER_AREA)
        return _sorted([_to_face(d, 1.0 / scale, x0, y0, w, h) for d in self._run(img, upsample=1)])

    def detect_near(self, frame_bgr: np.ndarray, prev: Face) -> list[Face]:
        """Faces inside a window around a previous face, the window scaled so the face is ~90 px wide, searched by
        ``kind``'s model (hog: a ``TRACK_TIGHT`` window first, then the ``TRACK_WINDOW`` one; cnn: that one);
        when that finds none and a chance with its own window found ``prev``, by that chance (``Chance.near``)."""
        faces: list[Face] = []
        tries = {"hog": (TRACK_TIGHT, TRACK_WINDOW), "cnn": (TRACK_WINDOW,)}.get(self.kind, ())
        for widths in tries:
            window = self._window(frame_bgr, prev, self.kind, widths)
            if window is not None:
                img, scale, x0, y0 = window
                h, w = frame_bgr.shape[:2]
                faces = _sorted([_to_face(d, 1.0 / scale, x0, y0, w, h) for d in self._run(img, model=self.kind)])
            if faces:
                break
        chance = next((c for c in self.chances if c.name == prev.chance and c.tracks), None)
        if not faces and chance is not None:
            faces = [replace(f, chance=chance.name) for f in chance.near(frame_bgr, prev)]
        return faces


class Chance:
    """One full-frame face-detection pass (an entry of ``CHANCES``): ``detect(frame) -> faces``, best first.

    ``model``: the dlib model whose tracking window follows the faces this chance found (hog | cnn), or None.
    A new detector is one subclass registered with ``@register_chance("name")`` and named in
    ``extract.chances``; it gets the ``FaceDetector`` it belongs to (detect_size, the loaded models)."""

    name = ""
    model: str | None = None
    tracks = False  # True: ``near`` searches a tracking window for the faces this chance found

    def __init__(self, detector: FaceDetector):
        self.detector = detector

    def detect(self, frame_bgr: np.ndarray) -> list[Face]:
        raise NotImplementedError

    def find(self, frame_bgr: np.ndarray) -> list[Face]:
        """``detect``'s faces, carrying this chance's name when it follows them itself (``tracks``)."""
        faces = self.detect(frame_bgr)
        return [replace(f, chance=self.name) for f in faces] if self.tracks else faces

    def near(self, frame_bgr: np.ndarray, prev: Face) -> list[Face]:
        """Faces in the tracking window around ``prev`` (a face this chance found), when ``tracks``."""
        return []


CHANCES: dict[str, type[Chance]] = {}


def register_chance(name: str):
    """Class decorator: adds a Chance to ``CHANCES`` under ``name``."""
    def add(cls: type[Chance]) -> type[Chance]:
        cls.name = name
        CHANCES[name] = cls
        return cls
    return add


@register_chance("hog")
class HogChance(Chance):
    """dlib's HOG frontal detector (Dalal & Triggs 2005; King 2015) on the grey frame at detect_size."""

    model, upsample = "hog", 0

    def detect(self, frame_bgr: np.ndarray) -> list[Face]:
        return self.detector.detect(frame_bgr, self.upsample, model=self.model)


@register_chance("hog_2x")
class Hog2xChance(HogChance):
    """HOG on the frame up-sampled 2x: faces of 40 to 80 px at detect_size (a small face in a 1080p frame)."""

    upsample = 1


@register_chance("haar")
class HaarChance(Chance):
    """OpenCV's frontal Haar cascade (Viola & Jones 2001), boxes scored and ordered by HOG (dim, turned faces).
    It follows its own faces: HOG missed them, so the cascade searches their tracking window too."""

    tracks = True

    def detect(self, frame_bgr: np.ndarray) -> list[Face]:
        return self.detector.detect_cascade(frame_bgr)

    def near(self, frame_bgr: np.ndarray, prev: Face) -> list[Face]:
        return self.detector.detect_cascade(frame_bgr, prev)


@register_chance("cnn")
class CnnChance(HogChance):
    """dlib's CNN (MMOD, King 2015) from ``face-recognition-models``: profile views; ~1 s a frame on CPU."""

    model = "cnn"


@register_chance("cnn_2x")
class Cnn2xChance(CnnChance):
    """The CNN up-sampled 2x, only on frames at most half detect_size (it costs seconds a frame)."""

    upsample = 1

    def detect(self, frame_bgr: np.ndarray) -> list[Face]:
        small = max(frame_bgr.shape[:2]) * 2 <= self.detector.detect_size
        return super().detect(frame_bgr) if small else []


# The chances of each ExtractConfig.detector when extract.chances is empty.
DEFAULT_CHANCES: dict[str, tuple[str, ...]] = {"hog": ("hog", "hog_2x", "haar"), "cnn": ("cnn", "cnn_2x")}


def _to_face(d: tuple[float, float, float, float, float], s: float, ox: float, oy: float, w: int, h: int) -> Face:
    l, t, r, b, score = d
    return Face(
        x0=max(0.0, l * s + ox), y0=max(0.0, t * s + oy),
        x1=min(float(w), r * s + ox), y1=min(float(h), b * s + oy), score=score,
    )


def _sorted(faces: list[Face]) -> list[Face]:
    return sorted((f for f in faces if f.area > 0), key=lambda f: f.area, reverse=True)
