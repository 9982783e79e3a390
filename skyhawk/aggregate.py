"""Frame scores -> one video score: the plain mean, or the DFDC winner's "confident" rule.

Used by the video-level evaluation metric and by bulk scoring, so both judge a video the same way.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

NO_FACE_SCORE = 0.5  # a video with no face scored is undecided
LOG_LOSS_CLIP = (0.01, 0.99)  # DFDC's clipping of predictions before log loss
AGGREGATIONS = ("mean", "confident")


def video_score(frame_scores: Sequence[float], method: str = "mean") -> float:
    """P(fake) of a video from its per-frame P(fake) (per frame: the max over its faces).

    confident: if more than 11 frames have p > 0.8 and they are more than n/2.5 of them, average only
    those; else if more than 90 % have p < 0.2, average only those; else the plain mean.
    """
    p = np.asarray(frame_scores, dtype=np.float64).ravel()
    if p.size == 0:
        return NO_FACE_SCORE
    if method == "mean":
        return float(p.mean())
    if method != "confident":
        raise ValueError(f"unknown aggregation {method!r} ({' | '.join(AGGREGATIONS)})")
    high, low = p[p > 0.8], p[p < 0.2]
    if high.size > 11 and high.size > p.size / 2.5:
        return float(high.mean())
    if low.size > 0.9 * p.size:
        return float(low.mean())
    return float(p.mean())


def log_loss(labels: Sequence[int], scores: Sequence[float]) -> float:
    """Mean binary log loss with DFDC's clipping to [0.01, 0.99]."""
    y = np.asarray(labels, dtype=np.float64)
    p = np.clip(np.asarray(scores, dtype=np.float64), *LOG_LOSS_CLIP)
    if y.size == 0:
        return float("nan")
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def auc(labels: Sequence[int], scores: Sequence[float]) -> float:
    """ROC AUC (scikit-learn; ties count half); NaN when only one class is present."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(labels, dtype=np.int64)
    if y.size == 0 or np.unique(y).size < 2:
        return float("nan")
    return float(roc_auc_score(y, np.asarray(scores, dtype=np.float64)))


def roc(labels: Sequence[int], scores: Sequence[float]) -> dict[str, list[float]]:
    """ROC curve points {fpr, tpr, thresholds} (scikit-learn); empty lists when only one class is present."""
    from sklearn.metrics import roc_curve

    y = np.asarray(labels, dtype=np.int64)
    if y.size == 0 or np.unique(y).size < 2:
        return {"fpr": [], "tpr": [], "thresholds": []}
    fpr, tpr, thr = roc_curve(y, np.asarray(scores, dtype=np.float64))
    return {"fpr": fpr.tolist(), "tpr": tpr.tolist(), "thresholds": np.clip(thr, 0.0, 1.0).tolist()}


def accuracy(labels: Sequence[int], scores: Sequence[float], threshold: float) -> float:
    y = np.asarray(labels, dtype=np.int64)
    if y.size == 0:
        return float("nan")
    return float(np.mean((np.asarray(scores) >= threshold).astype(np.int64) == y))


BOOTSTRAP_RESAMPLES = 1000  # resamples of the videos for the AUC confidence interval
BOOTSTRAP_SEED = 0


def bootstrap_auc_ci(labels: Sequence[int], scores: Sequence[float], resamples: int = BOOTSTRAP_RESAMPLES,
                     seed: int = BOOTSTRAP_SEED, level: float = 0.95) -> tuple[float, float] | None:
    """Percentile bootstrap interval of ROC AUC: resample the items (videos) with replacement.

    Resamples that hold one class only are drawn again. The seed is fixed, so the same labels give
    the same resamples (two models on the same videos are compared on the same draws). None when
    only one class is present.
    """
    y = np.asarray(labels, dtype=np.int64)
    s = np.asarray(scores, dtype=np.float64)
    if y.size == 0 or np.unique(y).size < 2:
        return None
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    aucs = []
    while len(aucs) < resamples:
        idx = rng.integers(0, y.size, y.size)
        if np.unique(y[idx]).size == 2:
            aucs.append(roc_auc_score(y[idx], s[idx]))
    tail = (1.0 - level) / 2 * 100
    lo, hi = np.percentile(aucs, [tail, 100 - tail])
    return float(lo), float(hi)
