"""Landmark face swap (the FaceForensics++ "FaceSwap" kind) with numpy/OpenCV only.

The donor face is warped onto the target by a piecewise-affine map over a Delaunay triangulation of
the 68 landmarks, colour-corrected to the target (LAB mean/std inside the mask), Poisson-blended
with ``cv2.seamlessClone`` and finally composited through a feathered mask that lies inside the
target's landmark convex hull, so every pixel outside that mask is bit-identical to the target.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.spatial import Delaunay

from skyhawk.synth.sbi import crop_landmarks, face_geometry, face_roi, hull_mask, odd, seeded_rng


@dataclass(frozen=True)
class SwapParams:
    """One video's swap parameters (drawn once so its frames are temporally consistent)."""

    erode: float  # mask erosion inside the hull, fraction of the face size
    feather: float  # final composite feather, fraction of the face size
    colour: float  # strength of the colour correction, 0..1


def draw_params(rng: np.random.Generator) -> SwapParams:
    return SwapParams(
        erode=float(rng.uniform(0.02, 0.05)),
        feather=float(rng.uniform(0.03, 0.08)),
        colour=float(rng.uniform(0.8, 1.0)),
    )


def triangulate(points: np.ndarray) -> np.ndarray:
    """(T, 3) vertex indices of the Delaunay triangulation of the points."""
    return Delaunay(points.astype(np.float64)).simplices.astype(np.int32)


def _area2(t: np.ndarray) -> np.ndarray:
    """Twice the areas of (T, 3, 2) triangles."""
    u, v = t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]
    return np.abs(u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0])


def warp_piecewise(donor_bgr: np.ndarray, donor_pts: np.ndarray, dst_pts: np.ndarray,
                   triangles: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(warped image, coverage uint8 {0, 255}): each donor triangle affinely mapped onto dst_pts.

    Every output pixel is labelled with the triangle that covers it; one ``cv2.remap`` then samples
    the donor through that triangle's (dst -> donor) affine map.
    """
    h, w = shape
    ids = np.full((h, w), -1, np.int32)
    affines = []
    src_t, dst_t = donor_pts[triangles].astype(np.float32), dst_pts[triangles].astype(np.float32)
    keep = (_area2(src_t) >= 1.0) & (_area2(dst_t) >= 1.0)  # skip degenerate triangles
    for src, dst in zip(src_t[keep], dst_t[keep], strict=True):
        cv2.fillConvexPoly(ids, np.round(dst).astype(np.int32), len(affines))
        affines.append(cv2.getAffineTransform(dst, src))
    cover = ids >= 0
    if not affines or not cover.any():
        return np.zeros((h, w, 3), np.uint8), np.zeros((h, w), np.uint8)
    a = np.asarray(affines, np.float32)[np.maximum(ids, 0)]  # (h, w, 2, 3)
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    map_x = a[..., 0, 0] * gx + a[..., 0, 1] * gy + a[..., 0, 2]
    map_y = a[..., 1, 0] * gx + a[..., 1, 1] * gy + a[..., 1, 2]
    warped = cv2.remap(donor_bgr, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    warped[~cover] = 0
    return warped, cover.astype(np.uint8) * 255


def colour_correct(src: np.ndarray, dst: np.ndarray, mask: np.ndarray, strength: float) -> np.ndarray:
    """src's LAB mean/std inside mask moved towards dst's (by strength)."""
    sel = mask > 0
    s_lab = cv2.cvtColor(src, cv2.COLOR_BGR2LAB).astype(np.float32)
    d_lab = cv2.cvtColor(dst, cv2.COLOR_BGR2LAB).astype(np.float32)
    s_mean, s_std = s_lab[sel].mean(axis=0), s_lab[sel].std(axis=0) + 1e-3
    d_mean, d_std = d_lab[sel].mean(axis=0), d_lab[sel].std(axis=0) + 1e-3
    gain = np.clip(d_std / s_std, 0.5, 2.0)
    fixed = (s_lab - s_mean) * gain + d_mean
    lab = strength * fixed + (1.0 - strength) * s_lab
    return cv2.cvtColor(np.clip(np.round(lab), 0, 255).astype(np.uint8), cv2.COLOR_LAB2BGR)


def face_swap(frame_bgr: np.ndarray, landmarks: np.ndarray, donor_bgr: np.ndarray, donor_landmarks: np.ndarray,
              p: SwapParams, triangles: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(fake frame, mask): the donor's face in place of the target's; outside the mask it is unchanged."""
    h, w = frame_bgr.shape[:2]
    x0, y0, x1, y1 = face_roi(landmarks, 0.15, w, h)
    roi = frame_bgr[y0:y1, x0:x1]
    rh, rw = roi.shape[:2]
    local = landmarks - np.array([x0, y0], np.float32)
    if triangles is None:
        triangles = triangulate(donor_landmarks)
    warped, cover = warp_piecewise(donor_bgr, donor_landmarks, local, triangles, (rh, rw))

    _, _, size = face_geometry(local)
    mask = ((hull_mask(local, (rh, rw)) > 0) & (cover > 0)).astype(np.uint8) * 255
    mask[:2, :], mask[-2:, :], mask[:, :2], mask[:, -2:] = 0, 0, 0, 0  # seamlessClone needs a free border
    k = odd(p.erode * size)
    mask = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    if cv2.countNonZero(mask) < 64:
        raise ValueError("face too small or too far outside the frame to swap")

    warped = colour_correct(warped, roi, mask, p.colour)
    bx, by, bw, bh = cv2.boundingRect(mask)
    cloned = cv2.seamlessClone(warped, roi, mask, (bx + bw // 2, by + bh // 2), cv2.NORMAL_CLONE)

    # feathered alpha that is zero outside the (eroded) mask: erode by the feather radius, then blur
    kf = odd(p.feather * size)
    inner = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (kf, kf)))
    if not inner.any():
        inner = mask
    alpha = cv2.GaussianBlur(inner.astype(np.float32) / 255.0, (kf, kf), 0, borderType=cv2.BORDER_CONSTANT)
    alpha = np.where(mask > 0, alpha, 0.0).astype(np.float32)
    alpha /= max(float(alpha.max()), 1e-6)
    a = alpha[..., None]
    blended = np.clip(np.round(a * cloned.astype(np.float32) + (1.0 - a) * roi.astype(np.float32)), 0, 255)
    blended = np.where(a > 0, blended.astype(np.uint8), roi)

    out = frame_bgr.copy()
    out[y0:y1, x0:x1] = blended
    full = np.zeros((h, w), np.float32)
    full[y0:y1, x0:x1] = alpha
    return out, full


def swap_crop(crop_bgr: np.ndarray, landmarks: np.ndarray, donor_bgr: np.ndarray, donor_landmarks: np.ndarray,
              seed: int) -> np.ndarray:
    """A fresh landmark swap on one face crop (uint8 BGR, same shape): the donor crop's face in its place.

    Both landmark sets are 68 points in their own crop's pixels (clipped into the crop); the parameters
    are drawn from seed. Online swaps in the Trainer call this with a new donor and seed per draw.
    Raises ValueError (or cv2.error) when the face is too small or degenerate to swap.
    """
    target, donor = crop_landmarks(landmarks, crop_bgr), crop_landmarks(donor_landmarks, donor_bgr)
    return face_swap(crop_bgr, target, donor_bgr, donor, draw_params(seeded_rng(seed)))[0]
