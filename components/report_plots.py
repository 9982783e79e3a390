"""The run report's PNG plots (matplotlib, Agg, no pyplot state), drawn from the report dict.

    pngs = draw(report)   # {file name: PNG bytes}; a plot without data is left out
"""
from __future__ import annotations

import io
from typing import Any, Callable, Dict, Sequence

from skyhawk_model.evaluation import SCORE_OUTPUT

ACCURACY_PNG = "accuracy.png"
LOSS_PNG = "loss.png"
CONFUSION_PNG = "confusion_matrix.png"
ROC_PNG = "roc.png"
CALIBRATION_PNG = "calibration.png"

CAPTIONS = {ACCURACY_PNG: "Training and eval accuracy per epoch", LOSS_PNG: "Training and eval loss per epoch",
            CONFUSION_PNG: "Confusion matrix at the model's threshold", ROC_PNG: "ROC curve",
            CALIBRATION_PNG: "Calibration"}


def draw(report: Dict[str, Any]) -> Dict[str, bytes]:
    """{file name: PNG bytes} for every plot the report has data for, in page order."""
    history, curves = report.get("history") or {}, report.get("curves") or {}
    makers: Dict[str, Callable[[], bytes | None]] = {
        ACCURACY_PNG: lambda: _history(history, "accuracy", "val_accuracy", "accuracy"),
        LOSS_PNG: lambda: _history(history, "loss", "val_loss", "loss"),
        CONFUSION_PNG: lambda: _confusion(curves.get("confusion")),
        ROC_PNG: lambda: roc_png(curves.get("roc")),
        CALIBRATION_PNG: lambda: calibration_png(curves.get("calibration")),
    }
    out = {}
    for name, make in makers.items():
        png = make()
        if png is not None:
            out[name] = png
    return out


def figure(width: float = 5.0, height: float = 3.6):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)  # Agg, without touching pyplot's global backend
    return fig


def png(fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _history(history: Dict[str, Any], train_key: str, eval_key: str, what: str) -> bytes | None:
    from matplotlib.ticker import MaxNLocator

    train, evals = list(history.get(train_key) or []), list(history.get(eval_key) or [])
    if not train and not evals:
        return None
    fig = figure()
    ax = fig.add_subplot(1, 1, 1)
    if train:
        ax.plot(range(1, len(train) + 1), train, "o-", label=f"training {what}")
    if evals:
        ax.plot(range(1, len(evals) + 1), evals, "s--", label=f"eval {what}")
    ax.set_title(f"Training and eval {what} per epoch")
    ax.set_xlabel("epoch")
    ax.set_ylabel(what)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend()
    return png(fig)


def _confusion(confusion: Dict[str, float] | None) -> bytes | None:
    if not confusion:
        return None
    cells = [[confusion["tn"], confusion["fp"]], [confusion["fn"], confusion["tp"]]]
    fig = figure(4.4, 3.8)
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(cells, cmap="Blues", vmin=0)
    top = max(max(row) for row in cells) or 1.0
    for i in range(2):
        for j in range(2):
            ax.text(j, i, f"{cells[i][j]:g}", ha="center", va="center", fontsize=14,
                    color="white" if cells[i][j] > top / 2 else "black")
    ax.set_xticks([0, 1], ["real", "fake"])
    ax.set_yticks([0, 1], ["real", "fake"])
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title(f"Confusion matrix (faces), threshold {confusion['threshold']:g}")
    return png(fig)


def roc_png(roc: Dict[str, Any] | None, title: str = f"ROC curve (faces, {SCORE_OUTPUT})") -> bytes | None:
    """ROC plot of {fpr, tpr[, auc]}; None without at least two points."""
    return rocs_png([("ROC", roc)], title)


def rocs_png(curves: Sequence[tuple[str, Dict[str, Any] | None]], title: str) -> bytes | None:
    """ROC curves {fpr, tpr[, auc]} overlaid, one per (name, curve); None when none has two points."""
    curves = [(name, roc) for name, roc in curves if roc and len(roc.get("fpr") or []) >= 2]
    if not curves:
        return None
    fig = figure(4.4, 4.0)
    ax = fig.add_subplot(1, 1, 1)
    for name, roc in curves:
        auc = roc.get("auc")
        ax.plot(roc["fpr"], roc["tpr"], "-", lw=2, label=f"{name} (AUC = " + (f"{auc:.4f})" if auc is not None
                                                                                 else "n/a)"))
    ax.plot([0, 1], [0, 1], ":", color="grey", label="chance")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return png(fig)


def calibration_png(calibration: Sequence[Dict[str, float]] | None,
                    title: str = f"Calibration (faces, 10 bins of {SCORE_OUTPUT})",
                    unit: str = "faces") -> bytes | None:
    """Reliability plot of bins {mean_prediction, mean_label, count} of ``unit`` (as the title says); None
    without bins."""
    if not calibration:
        return None
    fig = figure(4.4, 4.0)
    ax = fig.add_subplot(1, 1, 1)
    total = sum(b["count"] for b in calibration) or 1.0
    ax.plot([0, 1], [0, 1], ":", color="grey", label="perfectly calibrated")
    xs, ys = [b["mean_prediction"] for b in calibration], [b["mean_label"] for b in calibration]
    ax.plot(xs, ys, "o-", color="C0", markersize=4, label=f"model (marker area ~ {unit} in bin)")
    ax.scatter(xs, ys, s=[20 + 300 * b["count"] / total for b in calibration], color="C0", alpha=0.5, zorder=3)
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("mean predicted P(fake)")
    ax.set_ylabel("fraction fake")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    return png(fig)
