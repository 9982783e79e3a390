"""Pages a reviewer opens after scoring: ``--explain N`` (the N most likely fakes) and ``skyhawk evaluate``.

Both are jinja2 templates shipped in ``components/templates`` (autoescaped), rendered from plain dicts;
plots are matplotlib PNGs (``components.report_plots``' figure helpers, ROC and calibration plots)
inlined as data URIs, so a page is one self-contained file. The evaluation page shows one or several
models side by side: ROC curves overlaid, a metrics table, the matched-pair accuracy, a per-source table
per model and a per-group table of the groups that hold more than one video (none when every group is
a single video, as with ``csv:`` labels without a ``group`` column). Wide tables scroll inside their
box, so the page never runs past the right edge.
"""
from __future__ import annotations

import base64
from typing import Any, Sequence

import numpy as np

from components import report_plots
from components.score import commit as out
from components.score.metrics import calibration_bins
from components.score.rows import OK
from skyhawk.config import ScoreConfig

NAMED_UNLABELLED = 5  # files without a label named on the page (all of them in OUTPUT/unlabelled.txt)


def render(template: str, **context: Any) -> str:
    from components.report_page import environment

    return environment().get_template(template).render(**context)


def _b64(png: bytes) -> str:
    return base64.b64encode(png).decode()


# ----------------------------------------------------------------- plots

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


def plot_histograms(labels: Sequence[int], scores: Sequence[float], threshold: float, title: str) -> bytes:
    fig = report_plots.figure(4.6, 4.0)
    ax = fig.add_subplot(1, 1, 1)
    y, s = np.asarray(labels), np.asarray(scores)
    bins = np.linspace(0, 1, 21)
    ax.hist(s[y == 0], bins=bins, alpha=0.6, color="#1b6e3a", label="real")
    ax.hist(s[y == 1], bins=bins, alpha=0.6, color="#b3261e", label="fake")
    ax.axvline(threshold, ls="--", color="#667085", lw=1)
    ax.set_xlabel("video P(fake)")
    ax.set_ylabel("videos")
    ax.set_title(title)
    ax.legend()
    return report_plots.png(fig)


# ----------------------------------------------------------------- explain

def write_explain(dest: str, n: int, model: Any, score: ScoreConfig) -> str | None:
    """Pages for the n highest-scoring ok videos of DEST (DEST/explain/), scored with the ``score`` settings;
    returns the index path."""
    records = [r for r in out.latest_records(dest) if r["row"]["status"] == OK]
    top = sorted(records, key=lambda r: (-r["row"]["p_fake"], r["row"]["uri"]))[:n]
    return write_explain_pages(out.join(dest, out.EXPLAIN_DIR), top, model, score, len(records))


def write_explain_pages(out_dir: str, records: Sequence[dict[str, Any]], model: Any, score: ScoreConfig,
                        total: int | None = None) -> str | None:
    """A page per record ({row, frames}; ok rows only) plus index.html in out_dir; returns the index path.

    The crops are made again by the scoring path (same frames, same crops), so the page shows exactly
    what the model scored.
    """
    from skyhawk.faces import FaceDetector, encode_jpeg, sample_faces
    from skyhawk.video import local_copy

    records = [r for r in records if r["row"]["status"] == OK]
    if not records:
        return None
    cfg = model.extract_config(score.frames)
    detector = FaceDetector.from_config(cfg)
    pages = []
    for i, rec in enumerate(records, 1):
        row, frames = rec["row"], rec["frames"]
        by_frame = {f["frame"]: f for f in frames}
        hot = {t["frame"] for t in row["top_frames"]}
        crops = []
        with local_copy(row["uri"]) as path:
            for sampled in sample_faces(path, cfg, detector):
                if sampled.index in by_frame and sampled.crops:
                    crops.append({"frame": sampled.index, "seconds": sampled.seconds,
                                  "p_fake": by_frame[sampled.index]["p_fake"], "top": sampled.index in hot,
                                  "jpeg": base64.b64encode(encode_jpeg(sampled.crops[0], 90)).decode()})
        href = f"{i:04d}.html"
        html = render("explain_video.html.j2", row=row, threshold=model.threshold, aggregate=score.aggregate,
                      timeline=_b64(plot_timeline(frames, model.threshold)), crops=crops)
        out.write_whole(out.join(out_dir, href), html.encode())
        pages.append({"href": href, "row": row})
    index = out.join(out_dir, "index.html")
    out.write_whole(index, render("explain_index.html.j2", pages=pages, total=total or len(records),
                                  model=model.label, threshold=model.threshold).encode())
    return index


# ----------------------------------------------------------------- evaluation

def evaluation_html(ev: dict[str, Any]) -> str:
    """The evaluation page of one or several models (``evaluate.evaluate_models``' dict)."""
    from skyhawk.aggregate import roc

    curves, plots = [], {}
    for m in ev["models"]:
        y = [v["label"] for v in m["videos"]]
        p = [v["p_fake"] for v in m["videos"]]
        curves.append((m["model"], {**roc(y, p), "auc": m["metrics"]["video_auc"]}))
        name = f" ({m['model']})" if len(ev["models"]) > 1 else ""
        pngs = {f"scores per class{name}": plot_histograms(y, p, m["threshold"], f"Video scores per class{name}"),
                f"calibration{name}": report_plots.calibration_png(
                    calibration_bins(y, p), f"Calibration (videos, 10 bins){name}", unit="videos")}
        plots.update({k: _b64(v) for k, v in pngs.items() if v is not None})
    rocs = report_plots.rocs_png(curves, "Video ROC")
    plots = {**({"ROC": _b64(rocs)} if rocs else {}), **plots}
    groups = [[g for g in m["per_group"] if g["videos"] > 1] for m in ev["models"]]  # per model, in order
    return render("evaluation.html.j2", ev=ev, plots=plots, groups=groups, named=NAMED_UNLABELLED)
