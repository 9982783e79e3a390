"""Labelled evaluation metrics of one model: video AUC with a bootstrap 95 % CI, accuracy, log loss, tables.

A metric that is undefined (AUC over one class) is ``None`` with its reason in ``undefined``, never a bare
NaN, so evaluation.json is strict JSON.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from components.score.rows import FAILED, NO_FACE, OK
from skyhawk.aggregate import (
    BOOTSTRAP_RESAMPLES,
    BOOTSTRAP_SEED,
    LOG_LOSS_CLIP,
    accuracy,
    auc,
    bootstrap_auc_ci,
    log_loss,
)


def _defined(value: float) -> float | None:
    return None if value is None or math.isnan(value) else value


def _one_class(labels: Sequence[int], what: str) -> str:
    real = sum(1 for v in labels if v == 0)
    return f"{what} needs both classes ({real} real, {len(labels) - real} fake)"


def table(name: str, labels: Sequence[int], scores: Sequence[float], threshold: float) -> dict[str, Any]:
    """One row of a per-source / per-group table."""
    y, s = np.asarray(labels), np.asarray(scores, dtype=float)
    return {"name": name, "videos": int(y.size), "real": int((y == 0).sum()), "fake": int((y == 1).sum()),
            "auc": _defined(auc(y, s)), "accuracy": _defined(accuracy(y, s, threshold)),
            "mean_p_real": float(s[y == 0].mean()) if (y == 0).any() else None,
            "mean_p_fake": float(s[y == 1].mean()) if (y == 1).any() else None}


def evaluation_metrics(videos: Sequence[dict[str, Any]], frames: Sequence[tuple[int, float]],
                       threshold: float) -> dict[str, Any]:
    """Video-level AUC (with its bootstrap 95 % CI over videos), accuracy at threshold, clipped log loss;
    frame-level AUC; counts.

    ``videos``: dicts with label, p_fake, status; ``frames``: (label, p_fake) per scored frame.
    """
    y = [v["label"] for v in videos]
    p = [v["p_fake"] for v in videos]
    fy = [f[0] for f in frames]
    fp = [f[1] for f in frames]
    ci = bootstrap_auc_ci(y, p)
    metrics: dict[str, Any] = {
        "video_auc": _defined(auc(y, p)),
        "video_auc_ci95": list(ci) if ci else None,
        "bootstrap": {"resamples": BOOTSTRAP_RESAMPLES, "seed": BOOTSTRAP_SEED, "unit": "video"},
        "video_accuracy": _defined(accuracy(y, p, threshold)),
        "video_log_loss": _defined(log_loss(y, p)),
        "frame_auc": _defined(auc(fy, fp)),
        "videos": len(videos),
        "videos_real": sum(1 for v in y if v == 0),
        "videos_fake": sum(1 for v in y if v == 1),
        "videos_scored": sum(1 for v in videos if v["status"] == OK),
        "videos_no_face": sum(1 for v in videos if v["status"] == NO_FACE),
        "videos_failed": sum(1 for v in videos if v["status"] == FAILED),
        "frames_scored": len(frames),
        "log_loss_clip": list(LOG_LOSS_CLIP),
    }
    undefined = {}
    for key, labels, what in (("video_auc", y, "AUC"), ("video_auc_ci95", y, "AUC"), ("frame_auc", fy, "AUC"),
                              ("video_accuracy", y, "accuracy"), ("video_log_loss", y, "log loss")):
        if metrics[key] is None:
            undefined[key] = _one_class(labels, what) if labels else f"{what} needs at least one video"
    metrics["undefined"] = undefined
    return metrics


def model_report(videos: Sequence[dict[str, Any]], frames: Sequence[tuple[int, float]], threshold: float,
                 **context: Any) -> dict[str, Any]:
    """One model's evaluation: metrics plus per-source and per-group tables and the videos not scored."""

    def tables(key: str) -> list[dict[str, Any]]:
        groups: dict[str, list[dict[str, Any]]] = {}
        for v in videos:
            groups.setdefault(v[key], []).append(v)
        return [table(name, [v["label"] for v in vs], [v["p_fake"] for v in vs], threshold)
                for name, vs in sorted(groups.items())]

    return {
        **context,
        "threshold": threshold,
        "metrics": evaluation_metrics(videos, frames, threshold),
        "per_source": tables("source"),
        "per_group": tables("group"),
        "problems": [{"uri": v["uri"], "status": v["status"], "reason": v["reason"]}
                     for v in videos if v["status"] != OK],
        "videos": list(videos),
    }


def calibration_bins(labels: Sequence[int], scores: Sequence[float], bins: int = 10) -> list[dict[str, float]]:
    """Per score bin: mean predicted P(fake), observed fake share, count (empty bins left out)."""
    y, s = np.asarray(labels, dtype=float), np.asarray(scores, dtype=float)
    idx = np.minimum((s * bins).astype(int), bins - 1)
    return [{"mean_prediction": float(s[idx == b].mean()), "mean_label": float(y[idx == b].mean()),
             "count": int((idx == b).sum())} for b in range(bins) if (idx == b).any()]
