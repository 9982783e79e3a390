"""Pages a reviewer opens after scoring: ``--explain N`` (the N most likely fakes) and ``skyhawk evaluate``.

Both are jinja2 templates shipped in ``components/templates`` (autoescaped), rendered from plain dicts;
plots are matplotlib PNGs (``components.report_plots``' figure helpers, ROC and calibration plots)
inlined as data URIs, so a page is one self-contained file.
"""
from __future__ import annotations

import base64
from typing import Any, Sequence

import numpy as np

from components import report_plots
from components import score_output as out
from skyhawk.aggregate import LOG_LOSS_CLIP

EXPLAIN_DIR = "explain"


def render(template: str, **context: Any) -> str:
    from components.report_page import environment

    return environment().get_template(template).render(**context)


# ----------------------------------------------------------------- plots

def _b64(png: bytes) -> str:
    return base64.b64encode(png).decode()


def plot_timeline(frames: Sequence[dict[str, Any]], threshold: float) -> bytes:
    fig = report_plots.figure(8.0, 2.8)
    ax = fig.add_subplot(1, 1, 1)
    xs = [f["seconds"] for f in frames]
    ax.plot(xs, [f["p_fake"] for f in frames], marker="o", color="#b3261e")
    ax.axhline(threshold, ls="--", color="#667085", lw=1, label=f"threshold {threshold:.2f}")
    ax.set_ylim(0, 1)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("P(fake)")
    ax.legend(loc="upper right")
    return report_plots.png(fig)


def plot_histograms(labels: Sequence[int], scores: Sequence[float], threshold: float) -> bytes:
    fig = report_plots.figure(4.6, 4.0)
    ax = fig.add_subplot(1, 1, 1)
    y, s = np.asarray(labels), np.asarray(scores)
    bins = np.linspace(0, 1, 21)
    ax.hist(s[y == 0], bins=bins, alpha=0.6, color="#1b6e3a", label="real")
    ax.hist(s[y == 1], bins=bins, alpha=0.6, color="#b3261e", label="fake")
    ax.axvline(threshold, ls="--", color="#667085", lw=1)
    ax.set_xlabel("video P(fake)")
    ax.set_ylabel("videos")
    ax.set_title("Video scores per class")
    ax.legend()
    return report_plots.png(fig)


def calibration_bins(labels: Sequence[int], scores: Sequence[float], bins: int = 10) -> list[dict[str, float]]:
    """Per score bin: mean predicted P(fake), observed fake share, count (empty bins left out)."""
    y, s = np.asarray(labels, dtype=float), np.asarray(scores, dtype=float)
    idx = np.minimum((s * bins).astype(int), bins - 1)
    return [{"mean_prediction": float(s[idx == b].mean()), "mean_label": float(y[idx == b].mean()),
             "count": int((idx == b).sum())} for b in range(bins) if (idx == b).any()]


# ----------------------------------------------------------------- explain

def write_explain(dest: str, n: int, model: Any, aggregate: str, frames_per_video: int) -> str | None:
    """Pages for the n highest-scoring ok videos of DEST (DEST/explain/); returns the index path."""
    records = [r for r in out.latest_records(dest) if r["row"]["status"] == out.OK and r["model"] == model.label]
    top = sorted(records, key=lambda r: (-r["row"]["p_fake"], r["row"]["uri"]))[:n]
    return write_explain_pages(out.join(dest, EXPLAIN_DIR), top, model, aggregate, frames_per_video, len(records))


def write_explain_pages(out_dir: str, records: Sequence[dict[str, Any]], model: Any, aggregate: str,
                        frames_per_video: int, total: int | None = None) -> str | None:
    """A page per record ({row, frames}; ok rows only) plus index.html in out_dir; returns the index path.

    The crops are made again by the scoring path (same frames, same crops), so the page shows exactly
    what the model scored.
    """
    from skyhawk.faces import FaceDetector, encode_jpeg, sample_faces
    from skyhawk.video import local_copy

    records = [r for r in records if r["row"]["status"] == out.OK]
    if not records:
        return None
    cfg = model.extract_config(frames_per_video)
    detector = FaceDetector(cfg.detector, cfg.detect_size)
    pages = []
    for i, rec in enumerate(records, 1):
        row, frames = rec["row"], rec["frames"]
        score = {f["frame"]: f for f in frames}
        hot = {t["frame"] for t in row["top_frames"]}
        crops = []
        with local_copy(row["uri"]) as path:
            for sampled in sample_faces(path, cfg, detector):
                if sampled.index in score and sampled.crops:
                    crops.append({"frame": sampled.index, "seconds": sampled.seconds,
                                  "p_fake": score[sampled.index]["p_fake"], "top": sampled.index in hot,
                                  "jpeg": base64.b64encode(encode_jpeg(sampled.crops[0], 90)).decode()})
        href = f"{i:04d}.html"
        html = render("explain_video.html.j2", row=row, threshold=model.threshold, aggregate=aggregate,
                      timeline=_b64(plot_timeline(frames, model.threshold)), crops=crops)
        out.write_whole(out.join(out_dir, href), html.encode())
        pages.append({"href": href, "row": row})
    index = out.join(out_dir, "index.html")
    out.write_whole(index, render("explain_index.html.j2", pages=pages, total=total or len(records),
                                  model=model.label, threshold=model.threshold).encode())
    return index


# ----------------------------------------------------------------- evaluation

def _table(name: str, labels: Sequence[int], scores: Sequence[float], threshold: float) -> dict[str, Any]:
    from skyhawk.aggregate import accuracy, auc

    y, s = np.asarray(labels), np.asarray(scores, dtype=float)
    a = auc(y, s)
    return {"name": name, "videos": int(y.size), "real": int((y == 0).sum()), "fake": int((y == 1).sum()),
            "auc": None if np.isnan(a) else a, "accuracy": accuracy(y, s, threshold),
            "mean_p_real": float(s[y == 0].mean()) if (y == 0).any() else None,
            "mean_p_fake": float(s[y == 1].mean()) if (y == 1).any() else None}


def evaluation_metrics(videos: Sequence[dict[str, Any]], frames: Sequence[tuple[int, float]],
                       threshold: float) -> dict[str, Any]:
    """Video-level AUC, accuracy at threshold, clipped log loss; frame-level AUC; counts.

    ``videos``: dicts with label, p_fake, status; ``frames``: (label, p_fake) per scored frame.
    """
    from skyhawk.aggregate import accuracy, auc, log_loss

    y = [v["label"] for v in videos]
    p = [v["p_fake"] for v in videos]
    fy = [f[0] for f in frames]
    fp = [f[1] for f in frames]
    return {
        "video_auc": auc(y, p),
        "video_accuracy": accuracy(y, p, threshold),
        "video_log_loss": log_loss(y, p),
        "frame_auc": auc(fy, fp),
        "videos": len(videos),
        "videos_real": sum(1 for v in y if v == 0),
        "videos_fake": sum(1 for v in y if v == 1),
        "videos_scored": sum(1 for v in videos if v["status"] == out.OK),
        "videos_no_face": sum(1 for v in videos if v["status"] == out.NO_FACE),
        "videos_failed": sum(1 for v in videos if v["status"] == out.FAILED),
        "frames_scored": len(frames),
        "log_loss_clip": list(LOG_LOSS_CLIP),
    }


def evaluation_report(videos: Sequence[dict[str, Any]], frames: Sequence[tuple[int, float]], threshold: float,
                      **context: Any) -> dict[str, Any]:
    """The evaluation dict: metrics plus per-source and per-group tables (written as evaluation.json)."""

    def tables(key: str) -> list[dict[str, Any]]:
        groups: dict[str, list[dict[str, Any]]] = {}
        for v in videos:
            groups.setdefault(v[key], []).append(v)
        return [_table(name, [v["label"] for v in vs], [v["p_fake"] for v in vs], threshold)
                for name, vs in sorted(groups.items())]

    return {
        **context,
        "threshold": threshold,
        "metrics": evaluation_metrics(videos, frames, threshold),
        "per_source": tables("source"),
        "per_group": tables("group"),
        "problems": [{"uri": v["uri"], "status": v["status"], "reason": v["reason"]}
                     for v in videos if v["status"] != out.OK],
        "videos": list(videos),
    }


def evaluation_html(ev: dict[str, Any]) -> str:
    y = [v["label"] for v in ev["videos"]]
    p = [v["p_fake"] for v in ev["videos"]]
    from skyhawk.aggregate import roc

    curve = {**roc(y, p), "auc": ev["metrics"]["video_auc"]}
    pngs = {"ROC": report_plots.roc_png(curve, "Video ROC"),
            "scores per class": plot_histograms(y, p, ev["threshold"]),
            "calibration": report_plots.calibration_png(calibration_bins(y, p), "Calibration (videos, 10 bins)")}
    plots = {k: _b64(v) for k, v in pngs.items() if v is not None}
    return render("evaluation.html.j2", ev=ev, plots=plots)
