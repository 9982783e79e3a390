"""The run report as one dict (``report.json``) and as a page (``report.html``) rendered from that dict.

    report = build_report(history, evaluation, curves, decision, extraction, data)
    write_report(out_dir, report)   # PNGs + report.json + report.html (jinja2 template, autoescaped)

All file I/O goes through ``skyhawk.fileio``, so the report can be written to a gs:// pipeline root.
"""
from __future__ import annotations

import datetime
import json
from typing import Any, Dict, List, Tuple

from components import report_plots
from skyhawk import fileio
from skyhawk_model.evaluation import (
    AUC,
    BASELINE,
    CANDIDATE,
    COUNT_METRICS,
    DECISION_OUTPUT,
    EXAMPLE_COUNT,
    FRAME_ACCURACY,
    LOG_LOSS,
    PRECISION,
    RECALL,
    SCORE_OUTPUT,
    VIDEO_ACCURACY,
    VIDEO_AUC,
    VIDEO_COUNT,
    VIDEO_LOG_LOSS,
    threshold_text,
)
from skyhawk_model.gate import threshold_for

HTML_FILE = "report.html"
JSON_FILE = "report.json"
TEMPLATE = "report.html.j2"
HISTORY_COLUMNS = ("loss", "accuracy", "val_loss", "val_accuracy", "epoch_seconds")
HISTORY_FACTS = ("epochs", "max_epochs", "stop_reason", "target_accuracy")

# (group, output, metric, label) rows of the metric table, in order; other scalar metrics follow them.
METRIC_ROWS: Tuple[Tuple[str, str, str, str], ...] = (
    ("frame", DECISION_OUTPUT, FRAME_ACCURACY, "accuracy (at the model's threshold) - gated"),
    ("frame", SCORE_OUTPUT, AUC, "AUC"),
    ("frame", SCORE_OUTPUT, LOG_LOSS, "log loss"),
    ("frame", SCORE_OUTPUT, PRECISION, "precision"),
    ("frame", SCORE_OUTPUT, RECALL, "recall"),
    ("frame", SCORE_OUTPUT, EXAMPLE_COUNT, "eval faces"),
    ("video", SCORE_OUTPUT, VIDEO_ACCURACY, "accuracy"),
    ("video", SCORE_OUTPUT, VIDEO_AUC, "AUC"),
    ("video", SCORE_OUTPUT, VIDEO_LOG_LOSS, "log loss"),
    ("video", SCORE_OUTPUT, VIDEO_COUNT, "eval videos"),
)


def build_report(history: Dict[str, Any], evaluation: Dict[str, Any], curves: Dict[str, Any],
                 decision: Dict[str, Any], extraction: Dict[str, Any],
                 data: Dict[str, Any] | None = None) -> Dict[str, Any]:
    """Everything the page shows, as one JSON-ready dict (``plots`` is filled in by ``write_report``)."""
    return {
        "generated": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "decision": decision,
        "evaluation": evaluation,
        "metrics": metric_table(evaluation),
        "curves": curves,
        "history": history,
        "training": training_table(history),
        "extraction": extraction,
        "data": dict(data or {}),
        "plots": [],
    }


def metric_table(evaluation: Dict[str, Any]) -> Dict[str, Any]:
    """{"has_baseline", "rows": [{group, label, output, metric, candidate, baseline, change, threshold,
    count}]}: the known metrics in METRIC_ROWS order, then any other scalar metric of the candidate."""
    models = evaluation.get("models", {})
    candidate, baseline = models.get(CANDIDATE, {}), models.get(BASELINE)
    diff = evaluation.get("diff", {})
    known = {(o, n) for _, o, n, _ in METRIC_ROWS}
    rows = list(METRIC_ROWS) + [("other", output, name, name) for output, values in sorted(candidate.items())
                                for name in sorted(values) if (output, name) not in known]
    out: List[Dict[str, Any]] = []
    for group, output, name, label in rows:
        if name not in candidate.get(output, {}):
            continue
        value = candidate[output][name]
        row = {"group": group, "label": label if label == name else f"{label} ({name})", "output": output,
               "metric": name, "candidate": value, "baseline": None, "change": None,
               "threshold": threshold_text(threshold_for(evaluation, output, name)), "count": name in COUNT_METRICS}
        if baseline is not None:
            row["baseline"] = baseline.get(output, {}).get(name)
            row["change"] = diff.get(output, {}).get(name)
            if row["change"] is None and row["baseline"] is not None:
                row["change"] = value - row["baseline"]
        out.append(row)
    return {"has_baseline": baseline is not None, "rows": out}


def training_table(history: Dict[str, Any]) -> Dict[str, Any]:
    """{"facts": {epochs, stop_reason, ...}, "columns": [...], "rows": [[epoch, value per column]]}."""
    columns = [k for k in HISTORY_COLUMNS if history.get(k)]
    rows = []
    for i in range(max((len(history[c]) for c in columns), default=0)):
        rows.append([i + 1] + [history[c][i] if i < len(history[c]) else None for c in columns])
    facts = {k: history[k] for k in HISTORY_FACTS if history.get(k) is not None}
    return {"facts": facts, "columns": columns, "rows": rows}


def write_report(out_dir: str, report: Dict[str, Any]) -> str:
    """Draws the PNGs, then writes report.json and report.html (links relative) from the same dict; returns
    the HTML's path. A section without data is left out (or says so), never an error."""
    report["plots"] = []
    for name, png in report_plots.draw(report).items():
        fileio.write_bytes(fileio.join(out_dir, name), png)
        report["plots"].append({"file": name, "caption": report_plots.CAPTIONS[name]})
    fileio.write_text(fileio.join(out_dir, JSON_FILE), json.dumps(report, indent=2, sort_keys=True, default=str))
    path = fileio.join(out_dir, HTML_FILE)
    fileio.write_text(path, render_html(report))
    return path


def render_html(report: Dict[str, Any]) -> str:
    """The page for a report dict (``components/templates/report.html.j2``, autoescaped)."""
    return environment().get_template(TEMPLATE).render(**report)


def environment():
    """The jinja2 environment of every page template in ``components/templates`` (autoescaped)."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("components", "templates"),
                             autoescape=jinja2.select_autoescape(default=True),
                             trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = number
    return env


def number(value: Any, count: bool = False, signed: bool = False) -> str:
    """A table cell's number: counts as integers ('%g'), metrics with 4 decimals; '–' for None."""
    if value is None:
        return "\u2013"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if count:
        return f"{value:+g}" if signed else f"{value:g}"
    return f"{value:+.4f}" if signed else f"{value:.4f}"
