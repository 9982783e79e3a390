"""Labelled evaluation metrics of one model: video AUC with a bootstrap 95 % CI, accuracy, log loss, tables,
and the matched-pair accuracy over groups that hold both a real and a fake.

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
    frame-level AUC; counts. When no video was scored (all failed or without a face) these metrics are
    undefined, with that reason, never the 0.5 of the placeholder scores.

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
    if videos and not metrics["videos_scored"]:  # every score is the 0.5 of an unscored video: no measurement
        why = (f"no video was scored ({metrics['videos_failed']} failed, {metrics['videos_no_face']} without a "
               f"face): see the videos not scored")
        for key in ("video_auc", "video_auc_ci95", "video_accuracy", "video_log_loss", "frame_auc"):
            metrics[key], undefined[key] = None, why
    for key, labels, what in (("video_auc", y, "AUC"), ("video_auc_ci95", y, "AUC"), ("frame_auc", fy, "AUC"),
                              ("video_accuracy", y, "accuracy"), ("video_log_loss", y, "log loss")):
        if metrics[key] is None and key not in undefined:
            undefined[key] = _one_class(labels, what) if labels else f"{what} needs at least one video"
    metrics["undefined"] = undefined
    return metrics


def _pair_summary(groups: Sequence[tuple[float, int]], resamples: int, seed: int) -> dict[str, Any]:
    """Accuracy (fake-higher share) of (wins, pairs) per group, with a percentile bootstrap CI over groups."""
    wins = np.asarray([g[0] for g in groups], dtype=float)
    n = np.asarray([g[1] for g in groups], dtype=float)
    out: dict[str, Any] = {"groups": len(groups), "pairs": int(n.sum()), "fake_higher": float(wins.sum()),
                           "accuracy": float(wins.sum() / n.sum()) if n.sum() else None, "ci95": None}
    if len(groups) >= 2:
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, len(groups), (resamples, len(groups)))
        lo, hi = np.percentile(wins[idx].sum(axis=1) / n[idx].sum(axis=1), [2.5, 97.5])
        out["ci95"] = [float(lo), float(hi)]
    return out


def matched_pairs(videos: Sequence[dict[str, Any]], resamples: int = BOOTSTRAP_RESAMPLES,
                  seed: int = BOOTSTRAP_SEED) -> dict[str, Any]:
    """Matched-pair accuracy: over groups holding both a real and a fake video, the share of (real, fake)
    pairs of one group in which the fake scores higher (a tie counts 0.5), with a 95 % CI (percentile
    bootstrap over groups, so a group's pairs stay together), in all and per source (the group's real's).

    ``videos``: dicts with uri, label, group, source, p_fake, status. A video that was not scored counts
    with its p_fake (0.5), as in the AUC; ``unscored_pairs`` says how many pairs hold one.
    """
    by_group: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {}
    for v in videos:
        if v["label"] in (0, 1):
            by_group.setdefault(v["group"], ([], []))[v["label"]].append(v)
    pairs, per_group, per_source = [], [], {}
    for group, (reals, fakes) in sorted(by_group.items()):
        if not reals or not fakes:
            continue
        mine = [{"group": group, "real": r["uri"], "fake": f["uri"], "p_real": r["p_fake"], "p_fake": f["p_fake"],
                 "fake_higher": 1.0 if f["p_fake"] > r["p_fake"] else 0.5 if f["p_fake"] == r["p_fake"] else 0.0,
                 "unscored": r["status"] != OK or f["status"] != OK} for r in reals for f in fakes]
        pairs += mine
        score = (sum(p["fake_higher"] for p in mine), len(mine))
        per_group.append(score)
        per_source.setdefault(reals[0]["source"], []).append(score)
    summary = _pair_summary(per_group, resamples, seed)
    if pairs and all(p["unscored"] for p in pairs):  # only placeholder scores: no measurement
        summary.update(accuracy=None, ci95=None, undefined="no pair holds two scored videos")
    return {**summary,
            "ci_method": f"percentile bootstrap over groups ({resamples} resamples, seed {seed})",
            "unscored_pairs": sum(p["unscored"] for p in pairs),
            "per_source": [{"name": name, **_pair_summary(groups, resamples, seed)}
                           for name, groups in sorted(per_source.items())],
            "pairs_detail": pairs}


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
        "matched_pairs": matched_pairs(videos),
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
