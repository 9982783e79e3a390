"""The pixel-level confound audit of the training input: how well capture-following image measures separate the
labels in the crops as extracted and in the input as the model sees it.

The capture facts ``skyhawk.confound`` audits (frame size, bitrate, face size in source pixels, ...) reach the
model only through the pixels, above all as the blur of upscaling a small face to the input size (the issue's
frequency-spectrum model: its high-frequency bins correlated 0.63-0.72 with face size). This module measures
that on the dataset's own videos (reals and dataset fakes of a train split): per face two measures,
``sharpness`` (mean absolute Laplacian of the grey image over its standard deviation) and ``hf_share`` (the
share of spectral energy above half the Nyquist frequency); per video their mean; then each measure's video
label AUC and its Spearman correlation with the face side in source pixels, once on the **raw** crops
(decoded at the input size) and once on the **model input** (the training augmentation with
``train.nuisance_augment`` as configured, then the model's canonical face resolution, ``train.face_pixels``).
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from skyhawk import features
from skyhawk.config import TrainConfig

MEASURES = ("sharpness", "hf_share")
FACES_PER_VIDEO = 4


def measures(image: np.ndarray) -> dict[str, float]:
    """The two capture-following measures of one [S, S, 3] image in [0, 255]."""
    import cv2

    grey = cv2.cvtColor(np.clip(image, 0, 255).astype(np.float32), cv2.COLOR_RGB2GRAY)
    sharpness = float(np.abs(cv2.Laplacian(grey, cv2.CV_32F)).mean() / (grey.std() + 1.0))
    power = np.abs(np.fft.fftshift(np.fft.fft2(grey - grey.mean()))) ** 2
    h, w = grey.shape
    yy, xx = np.mgrid[-(h // 2):h - h // 2, -(w // 2):w - w // 2]
    radius = np.sqrt((yy / (h / 2)) ** 2 + (xx / (w / 2)) ** 2)
    hf_share = float(power[radius > 0.5].sum() / max(power.sum(), 1e-9))
    return {"sharpness": sharpness, "hf_share": hf_share}


def _spearman(a: Sequence[float], b: Sequence[float]) -> float | None:
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if not (math.isnan(x) or math.isnan(y))]
    if len(pairs) < 3:
        return None
    from scipy.stats import spearmanr

    rho = spearmanr([p[0] for p in pairs], [p[1] for p in pairs]).statistic
    return None if math.isnan(rho) else float(rho)


def input_audit(file_patterns: Sequence[str] | str, cfg: TrainConfig, margin: float,
                faces_per_video: int = FACES_PER_VIDEO) -> dict[str, Any]:
    """The audit of a train split (TFRecord patterns) under ``cfg``: per view (``raw``, ``model_input``) and
    measure, the video label AUC and the Spearman correlation with the source face side (None when unknown)."""
    import tensorflow as tf

    from skyhawk.aggregate import auc
    from skyhawk_model.inputs import PREMADE, read_records, resolve
    from skyhawk_model.model import canonical_model
    from skyhawk_model.preprocess import augment, decode_image

    split = resolve(file_patterns)
    spec = features.parse_spec()
    keys = (features.IMAGE, features.LABEL, features.VIDEO_ID, features.METHOD, "face_side_px")
    seen: dict[str, int] = {}
    faces: list[dict[str, Any]] = []
    for raw in read_records(split):
        ex = tf.io.parse_single_example(raw, {k: spec[k] for k in keys if k in spec})
        vid = ex[features.VIDEO_ID].numpy().decode()
        if ex[features.METHOD].numpy() in PREMADE or seen.get(vid, 0) >= faces_per_video:
            continue  # the dataset's own videos: synthetic fakes share their real's capture by construction
        seen[vid] = seen.get(vid, 0) + 1
        side = float(ex["face_side_px"].numpy()) if "face_side_px" in ex else -1.0
        faces.append({"video": vid, "label": int(ex[features.LABEL].numpy()), "image": ex[features.IMAGE],
                      "face_side": side if side > 0 else math.nan})
    canon = canonical_model(cfg, margin)
    views: dict[str, dict[str, list[float]]] = {"raw": {}, "model_input": {}}
    for i, face in enumerate(faces):
        image = decode_image(face["image"], cfg.image_size)
        seen_input = augment(image, tf.constant([cfg.seed, i], tf.int64), cfg.nuisance_augment) if cfg.augment \
            else image
        seen_input = canon(seen_input[tf.newaxis], training=False)[0]
        for view, img in (("raw", image), ("model_input", seen_input)):
            for name, value in measures(img.numpy()).items():
                views[view].setdefault(name, []).append(value)
    videos = sorted({f["video"] for f in faces})
    index = {v: [i for i, f in enumerate(faces) if f["video"] == v] for v in videos}
    labels = [faces[index[v][0]]["label"] for v in videos]
    sides = [float(np.nanmedian([faces[i]["face_side"] for i in index[v]])) if any(
        not math.isnan(faces[i]["face_side"]) for i in index[v]) else math.nan for v in videos]
    out: dict[str, Any] = {"videos": len(videos), "faces": len(faces), "real": labels.count(0),
                           "fake": labels.count(1), "face_pixels": cfg.face_pixels,
                           "nuisance_augment": cfg.nuisance_augment, "views": {}}
    for view, by_measure in views.items():
        out["views"][view] = {}
        for name in MEASURES:
            per_video = [float(np.mean([by_measure[name][i] for i in index[v]])) for v in videos]
            out["views"][view][name] = {"auc": auc(labels, per_video),
                                        "face_side_spearman": _spearman(per_video, sides)}
    return out


def audit_table(result: dict[str, Any]) -> str:
    """The audit as text: one line per view and measure."""
    lines = [f"pixel audit of {result['videos']} videos ({result['real']} real, {result['fake']} fake), "
             f"face_pixels {result['face_pixels']}, nuisance_augment {result['nuisance_augment']}:"]
    for view, by_measure in result["views"].items():
        for name, m in by_measure.items():
            rho = m["face_side_spearman"]
            lines.append(f"  {view:11s} {name:9s} label AUC {m['auc']:.3f}  "
                         f"Spearman with face side {'n/a' if rho is None else format(rho, '+.2f')}")
    return "\n".join(lines)


__all__ = ["MEASURES", "audit_table", "input_audit", "measures"]
