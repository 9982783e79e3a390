"""Self-blended images (SBI; Shiohara & Yamasaki, CVPR 2022) with numpy/OpenCV only.

A frame is blended with a slightly transformed copy of itself inside a deformed, blurred face mask,
which leaves the blending-boundary and colour/sharpness-mismatch artifacts of face manipulation
without any other identity. All sizes are fractions of the face size (the landmarks' bounding-box
side), so the same ``SBIParams`` give the same look on every frame of a video.

Unlike the paper (which blends face crops), we blend whole frames and keep every pixel outside the
mask bit-identical: when the paper would transform the *target* (the background) we instead apply
the inverse transform to the *source* (the face), which gives the same source/target mismatch.

The one blend, ``self_blend``, serves both users: ``skyhawk synth`` / extraction (a whole frame, one
``SBIParams`` per video) and the Trainer's online SBI (``blend_crop``: a stored face crop with its
landmarks in crop pixels, fresh parameters on every draw).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

RATIOS = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)  # blend ratios, as in the SBI reference code
ELASTIC_GRID = 8  # coarse grid of the elastic mask warp (over the face region)


@dataclass(frozen=True)
class SBIParams:
    """One video's SBI parameters (drawn once so its frames are temporally consistent)."""

    tx: float  # mask/source translation, fraction of the face size (x: +-3 %)
    ty: float  # (y: +-1.5 %)
    scale: float  # mask/source scale about the face centre, 0.95..1.05
    elastic: np.ndarray  # (G, G, 2) coarse mask displacement field, in face sizes
    erode: float  # mask erosion kernel, fraction of the face size
    feather: float  # mask Gaussian blur kernel, fraction of the face size
    transform_source: bool  # True: transform the source; False: the target (done as inverse on source)
    rgb_shift: tuple[float, float, float]  # added to B, G, R
    hsv_shift: tuple[float, float, float]  # added to OpenCV H (0..180), S, V
    contrast: float  # multiplier
    brightness: float  # added, in 0..255 units
    degrade: str  # 'downscale' | 'sharpen'
    downscale: float  # down-scale factor (2..4)
    sharpen: float  # sharpen strength (0.2..0.5)
    ratio: float  # blend ratio: out = mask*ratio*source + (1 - mask*ratio)*target


def draw_params(rng: np.random.Generator) -> SBIParams:
    return SBIParams(
        tx=float(rng.uniform(-0.03, 0.03)),
        ty=float(rng.uniform(-0.015, 0.015)),
        scale=float(rng.uniform(0.95, 1.05)),
        elastic=(rng.normal(0.0, 0.015, size=(ELASTIC_GRID, ELASTIC_GRID, 2))).astype(np.float32),
        erode=float(rng.uniform(0.02, 0.08)),
        feather=float(rng.uniform(0.04, 0.12)),
        transform_source=bool(rng.random() < 0.5),
        rgb_shift=tuple(float(v) for v in rng.uniform(-20, 20, size=3)),
        hsv_shift=(float(rng.uniform(-3, 3)), float(rng.uniform(-12, 12)), float(rng.uniform(-12, 12))),
        contrast=float(1.0 + rng.uniform(-0.1, 0.1)),
        brightness=float(255.0 * rng.uniform(-0.1, 0.1)),
        degrade="downscale" if rng.random() < 0.5 else "sharpen",
        downscale=float(rng.uniform(2.0, 4.0)),
        sharpen=float(rng.uniform(0.2, 0.5)),
        ratio=float(rng.choice(RATIOS)),
    )


def face_geometry(landmarks: np.ndarray) -> tuple[float, float, float]:
    """(centre x, centre y, size) of the landmarks' bounding box."""
    lo, hi = landmarks.min(axis=0), landmarks.max(axis=0)
    return float(lo[0] + hi[0]) / 2, float(lo[1] + hi[1]) / 2, float((hi - lo).max())


def face_roi(landmarks: np.ndarray, pad: float, width: int, height: int) -> tuple[int, int, int, int]:
    """Landmark bounding box grown by pad face sizes on each side, clipped to the frame."""
    lo, hi = landmarks.min(axis=0), landmarks.max(axis=0)
    p = pad * float((hi - lo).max())
    x0, y0 = max(0, int(np.floor(lo[0] - p))), max(0, int(np.floor(lo[1] - p)))
    x1, y1 = min(width, int(np.ceil(hi[0] + p)) + 1), min(height, int(np.ceil(hi[1] + p)) + 1)
    if x1 - x0 < 8 or y1 - y0 < 8:
        raise ValueError("face landmarks are outside the frame")
    return x0, y0, x1, y1


def hull_mask(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """float32 {0, 1} convex hull of the landmarks."""
    mask = np.zeros(shape, np.float32)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(landmarks).astype(np.int32)), 1.0)
    return mask


def odd(n: float, lo: int = 3) -> int:
    k = max(lo, int(round(n)))
    return k if k % 2 else k + 1


# ---------------------------------------------------------------- colour / sharpness transforms

def _rgb_shift(img: np.ndarray, shift: tuple[float, float, float], sign: float) -> np.ndarray:
    return img + sign * np.asarray(shift, np.float32)


def _hsv_shift(img: np.ndarray, shift: tuple[float, float, float], sign: float) -> np.ndarray:
    hsv = cv2.cvtColor(np.clip(img, 0, 255).astype(np.uint8), cv2.COLOR_BGR2HSV).astype(np.float32)
    hsv[..., 0] = np.mod(hsv[..., 0] + sign * shift[0], 180.0)
    hsv[..., 1] = np.clip(hsv[..., 1] + sign * shift[1], 0, 255)
    hsv[..., 2] = np.clip(hsv[..., 2] + sign * shift[2], 0, 255)
    return cv2.cvtColor(np.round(hsv).astype(np.uint8), cv2.COLOR_HSV2BGR).astype(np.float32)


def _downscale(img: np.ndarray, factor: float) -> np.ndarray:
    h, w = img.shape[:2]
    small = cv2.resize(img, (max(1, int(w / factor)), max(1, int(h / factor))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _sharpen(img: np.ndarray, alpha: float) -> np.ndarray:
    """Unsharp-mask style sharpening blended with strength alpha (like albumentations' Sharpen)."""
    kernel = np.array([[-1, -1, -1], [-1, 9, -1], [-1, -1, -1]], np.float32)
    sharp = cv2.filter2D(img, -1, kernel, borderType=cv2.BORDER_REFLECT)
    return (1.0 - alpha) * img + alpha * sharp


def colour_transform(img_u8: np.ndarray, p: SBIParams, inverse: bool = False) -> np.ndarray:
    """RGB shift, hue/sat/value, brightness/contrast, then down-scale or sharpen (or their inverse)."""
    img = img_u8.astype(np.float32)
    if not inverse:
        img = _rgb_shift(img, p.rgb_shift, 1.0)
        img = _hsv_shift(img, p.hsv_shift, 1.0)
        img = img * p.contrast + p.brightness
        img = _downscale(img, p.downscale) if p.degrade == "downscale" else _sharpen(img, p.sharpen)
    else:  # the inverse steps in reverse order; down-scaling and sharpening undo each other
        img = _sharpen(img, p.sharpen) if p.degrade == "downscale" else _downscale(img, p.downscale)
        img = (img - p.brightness) / p.contrast
        img = _hsv_shift(img, p.hsv_shift, -1.0)
        img = _rgb_shift(img, p.rgb_shift, -1.0)
    return np.clip(img, 0, 255)


# ---------------------------------------------------------------- the blend

def blend_mask(landmarks_local: np.ndarray, shape: tuple[int, int], p: SBIParams) -> np.ndarray:
    """Hull mask deformed by the affine and the elastic warp, eroded and blurred: float32 in [0, 1]."""
    h, w = shape
    cx, cy, size = face_geometry(landmarks_local)
    mask = hull_mask(landmarks_local, shape)
    mask = cv2.warpAffine(mask, source_affine(cx, cy, size, p), (w, h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    # elastic: a smooth displacement field defined over the face box, in face sizes
    field = cv2.resize(p.elastic, (w, h), interpolation=cv2.INTER_CUBIC) * size
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    mask = cv2.remap(mask, gx + field[..., 0], gy + field[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    mask = (mask >= 0.5).astype(np.uint8)
    k1 = odd(p.erode * size)
    mask = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k1, k1)))
    if not mask.any():
        raise ValueError("face too small to blend")
    k2 = odd(p.feather * size)
    soft = cv2.GaussianBlur(mask.astype(np.float32), (k2, k2), k2 / 4.0, borderType=cv2.BORDER_CONSTANT)
    return soft / soft.max()


def source_affine(cx: float, cy: float, size: float, p: SBIParams) -> np.ndarray:
    m = cv2.getRotationMatrix2D((cx, cy), 0.0, p.scale)
    m[0, 2] += p.tx * size
    m[1, 2] += p.ty * size
    return m


def self_blend(frame_bgr: np.ndarray, landmarks: np.ndarray, p: SBIParams) -> tuple[np.ndarray, np.ndarray]:
    """(fake frame, mask): the frame self-blended inside its face mask; outside the mask it is unchanged."""
    h, w = frame_bgr.shape[:2]
    x0, y0, x1, y1 = face_roi(landmarks, 0.4, w, h)
    roi = frame_bgr[y0:y1, x0:x1]
    local = landmarks - np.array([x0, y0], np.float32)
    if not hull_mask(local, roi.shape[:2]).any():
        raise ValueError("face landmarks are outside the frame")
    mask = blend_mask(local, roi.shape[:2], p)

    source = colour_transform(roi, p, inverse=not p.transform_source)
    cx, cy, size = face_geometry(local)
    source = cv2.warpAffine(source, source_affine(cx, cy, size, p), (roi.shape[1], roi.shape[0]),
                            flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    alpha = (mask * p.ratio)[..., None]
    blended = np.clip(np.round(alpha * source + (1.0 - alpha) * roi.astype(np.float32)), 0, 255).astype(np.uint8)
    blended = np.where(alpha > 0, blended, roi)  # bit-identical outside the mask

    out = frame_bgr.copy()
    out[y0:y1, x0:x1] = blended
    full = np.zeros((h, w), np.float32)
    full[y0:y1, x0:x1] = mask
    return out, full


def blend_crop(crop_bgr: np.ndarray, landmarks: np.ndarray, seed: int) -> np.ndarray:
    """A fresh self-blended fake of one face crop (uint8 BGR, same shape), parameters drawn from seed.

    ``landmarks`` are the face's 68 points in crop pixels (clipped into the crop). Online SBI in the
    Trainer calls this with a new seed each time a real face is drawn; it is ``self_blend`` on the crop.
    Raises ValueError when the face is too small or the landmarks do not cover any pixel.
    """
    return self_blend(crop_bgr, crop_landmarks(landmarks, crop_bgr), draw_params(seeded_rng(seed)))[0]


def crop_landmarks(landmarks: np.ndarray, crop: np.ndarray) -> np.ndarray:
    """float32 (68, 2) landmarks (flat or not) clipped into the crop's pixels."""
    h, w = crop.shape[:2]
    return np.clip(np.asarray(landmarks, np.float32).reshape(68, 2), 0.0, [w - 1.0, h - 1.0]).astype(np.float32)


def seeded_rng(seed: int) -> np.random.Generator:
    """The generator a per-draw seed (any int, e.g. from TF's int64 seeds) stands for."""
    return np.random.default_rng(int(seed) & (2**63 - 1))
