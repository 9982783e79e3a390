"""RunReport: one static HTML page per pipeline run (training curves, eval metrics, gate decision, data).

The TFX component only gathers its inputs (the trained model's history, the Evaluator's TFMA output and
blessing, the pusher's decision and the ExampleGen summary) and hands plain dicts to ``render_report``,
which draws the PNGs (matplotlib, Agg) and writes ``report.html`` beside them. Every reader and the
renderer are plain functions, usable outside TFX:

    history = load_history(serving_dir)
    evaluation = load_evaluation(evaluation_uri)
    plots = load_plot_data(evaluation_uri, threshold)
    decision = gate_decision(blessed, evaluation, pushed=..., version=...)
    render_report(out_dir, history, evaluation, plots, decision, extraction, data)

All file I/O goes through ``tf.io.gfile``, so the report can be written to a gs:// pipeline root.
"""
# NOTE: no ``from __future__ import annotations`` here: TFX's function-component parser needs the real
# annotation objects of RunReport's signature.

import datetime
import html
import io
import json
import math
import os
from typing import Any, Dict, List, Sequence, Tuple

# The same objects as tfx.v1.dsl.components.* / tfx.v1.dsl.Artifact, imported from their modules because
# ``from tfx import v1`` also imports every standard component (and the Vertex client): ~2x slower.
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact
from tfx.dsl.component.experimental.decorators import component
from tfx.types import standard_artifacts
from tfx.types.artifact import Artifact

from pipelines.evaluation import DECISION_OUTPUT, FRAME_ACCURACY, SCORE_OUTPUT, VIDEO_ACCURACY

REPORT_FILE = "report.html"
REPORT_JSON = "report.json"
ACCURACY_PNG = "accuracy.png"
LOSS_PNG = "loss.png"
CONFUSION_PNG = "confusion_matrix.png"
ROC_PNG = "roc.png"
CALIBRATION_PNG = "calibration.png"


CANDIDATE, BASELINE = "candidate", "baseline"

# (group, output, metric, label) rows of the metric table, in order; other scalar metrics follow them.
METRIC_ROWS: Tuple[Tuple[str, str, str, str], ...] = (
    ("frame", DECISION_OUTPUT, FRAME_ACCURACY, "accuracy (at the model's threshold) - gated"),
    ("frame", SCORE_OUTPUT, "auc", "AUC"),
    ("frame", SCORE_OUTPUT, "log_loss", "log loss"),
    ("frame", SCORE_OUTPUT, "precision", "precision"),
    ("frame", SCORE_OUTPUT, "recall", "recall"),
    ("frame", SCORE_OUTPUT, "example_count", "eval faces"),
    ("video", SCORE_OUTPUT, VIDEO_ACCURACY, "accuracy"),
    ("video", SCORE_OUTPUT, "video_auc", "AUC"),
    ("video", SCORE_OUTPUT, "video_log_loss", "log loss"),
    ("video", SCORE_OUTPUT, "video_count", "eval videos"),
)
_COUNT_METRICS = ("example_count", "video_count")


class SkyhawkReport(Artifact):
    """A directory holding report.html, report.json and the report's PNG plots."""

    TYPE_NAME = "SkyhawkReport"


# ---------------------------------------------------------------------------------------------------
# The component
# ---------------------------------------------------------------------------------------------------


@component
def RunReport(
    model: InputArtifact[standard_artifacts.Model],
    evaluation: InputArtifact[standard_artifacts.ModelEvaluation],
    model_blessing: InputArtifact[standard_artifacts.ModelBlessing],
    pushed_model: InputArtifact[standard_artifacts.PushedModel],
    examples: InputArtifact[standard_artifacts.Examples],
    report: OutputArtifact[SkyhawkReport],
) -> None:
    """Writes <report.uri>/report.html (+ report.json and PNGs) for this run's model and gate decision."""
    from tfx.utils import path_utils

    serving_dir = path_utils.serving_model_path(model.uri)
    model_meta = _read_json(os.path.join(serving_dir, "assets.extra", "skyhawk_model.json")) or {}
    evaluation_summary = load_evaluation(evaluation.uri)
    threshold = model_meta.get("threshold")
    if threshold is None:
        threshold = evaluation_summary.get("threshold", 0.5)
    threshold = float(threshold)

    blessed = _int_property(model_blessing, "blessed")
    if blessed is None:
        blessed = int(_exists(os.path.join(model_blessing.uri, "BLESSED")))
    pushed_json = _read_json(os.path.join(pushed_model.uri, "PUSHED.json"))
    not_pushed_json = _read_json(os.path.join(pushed_model.uri, "NOT_PUSHED.json"))
    pushed = _int_property(pushed_model, "pushed")
    if pushed is None:
        pushed = int(pushed_json is not None)
    decision = gate_decision(
        blessed=blessed == 1,
        evaluation=evaluation_summary,
        pushed=pushed == 1,
        version=_int_property(pushed_model, "pushed_version") or (pushed_json or {}).get("version"),
        destination=_str_property(pushed_model, "pushed_destination") or (pushed_json or {}).get("uri"),
        pusher_failures=(not_pushed_json or {}).get("gate_failures"),
    )
    data = {
        "examples_uri": examples.uri,
        "span": _int_property(examples, "span"),
        "version": _int_property(examples, "version"),
        "input_fingerprint": _str_property(examples, "input_fingerprint"),
        "model_uri": model.uri,
        "evaluation_uri": evaluation.uri,
        "pushed_model_uri": pushed_model.uri,
        "threshold": threshold,
        "backbone": model_meta.get("backbone"),
        "image_size": model_meta.get("image_size"),
        "baseline_model": _str_property(model_blessing, "baseline_model"),
    }
    render_report(
        report.uri,
        history=load_history(serving_dir),
        evaluation=evaluation_summary,
        plots=load_plot_data(evaluation.uri, threshold),
        decision=decision,
        extraction=load_extraction(examples.uri),
        data=data,
    )


def _int_property(artifact: Any, name: str) -> int | None:
    if artifact.has_custom_property(name):
        return artifact.get_int_custom_property(name)
    properties = artifact.mlmd_artifact.properties  # only properties that were actually set
    if name in properties and properties[name].WhichOneof("value") == "int_value":
        return int(properties[name].int_value)
    return None


def _str_property(artifact: Any, name: str) -> str | None:
    if artifact.has_custom_property(name):
        return artifact.get_string_custom_property(name) or None
    return None


# ---------------------------------------------------------------------------------------------------
# Gathering: artifact directories -> plain dicts
# ---------------------------------------------------------------------------------------------------


def load_history(serving_dir: str) -> Dict[str, Any]:
    """assets.extra/history.json of an exported model (falls back to skyhawk_model.json's history)."""
    extra = os.path.join(serving_dir, "assets.extra")
    history = _read_json(os.path.join(extra, "history.json"))
    if history is None:
        history = (_read_json(os.path.join(extra, "skyhawk_model.json")) or {}).get("history")
    return dict(history or {})


def load_extraction(examples_uri: str) -> Dict[str, Any]:
    """The ExampleGen artifact's summary.json (or a summary of its extraction_report.jsonl)."""
    from components import extract

    summary = _read_json(os.path.join(examples_uri, extract.SUMMARY_FILE))
    if summary is not None:
        return summary
    report_path = os.path.join(examples_uri, extract.REPORT_FILE)
    if not _exists(report_path):
        return {}
    return extract.summarize(extract.read_report(report_path))


def load_evaluation(evaluation_uri: str) -> Dict[str, Any]:
    """Overall-slice scalar metrics of candidate (and baseline), the thresholds and the validation verdict.

    Returns {"models": {"candidate": {output: {metric: value}}, "baseline": {...} (only with a baseline)},
    "diff": {output: {metric: candidate - baseline}}, "has_baseline", "thresholds": [{output, metric,
    lower_bound, upper_bound, change_absolute, change_relative, direction}], "validation_ok",
    "failures": [{model, output, metric, value, threshold, message}], "threshold" (of the confusion matrix
    metric, when configured)}.
    """
    import tensorflow_model_analysis as tfma
    from tensorflow_model_analysis.writers import eval_config_writer

    eval_config, _, _, model_locations = eval_config_writer.load_eval_run(evaluation_uri)
    candidate_name, baseline_name = _model_names(eval_config, model_locations)
    per_model: Dict[str, Dict[str, Dict[str, float]]] = {}
    diff: Dict[str, Dict[str, float]] = {}
    for metrics_for_slice in tfma.load_metrics(evaluation_uri):
        if not _is_overall(metrics_for_slice):
            continue
        for kv in metrics_for_slice.metric_keys_and_values:
            key = kv.key
            if key.HasField("sub_key") or key.HasField("aggregation_type"):
                continue
            if kv.value.WhichOneof("type") != "double_value":
                continue
            value = _finite(kv.value.double_value.value)
            if value is None:
                continue
            if key.is_diff:
                diff.setdefault(key.output_name, {})[key.name] = value
            else:
                per_model.setdefault(key.model_name, {}).setdefault(key.output_name, {})[key.name] = value

    models: Dict[str, Dict[str, Dict[str, float]]] = {CANDIDATE: _merged(per_model, candidate_name)}
    has_baseline = baseline_name is not None and baseline_name in per_model
    if has_baseline:
        models[BASELINE] = _merged(per_model, baseline_name)

    validation_ok, failures = True, []
    try:
        validation = tfma.load_validation_result(evaluation_uri)
    except Exception:  # no validations file: nothing was gated
        validation = None
    if validation is not None:
        validation_ok = bool(validation.validation_ok)
        for per_slice in validation.metric_validations_per_slice:
            for f in per_slice.failures:
                failures.append({
                    "model": _role(f.metric_key.model_name, candidate_name, baseline_name),
                    "output": f.metric_key.output_name,
                    "metric": f.metric_key.name + ("_diff" if f.metric_key.is_diff else ""),
                    "value": _metric_value(f.metric_value),
                    "threshold": _describe_threshold(f.metric_threshold),
                    "message": f.message.strip(),
                })
    return {
        "models": models,
        "diff": diff,
        "has_baseline": has_baseline,
        "thresholds": _thresholds(eval_config),
        "validation_ok": validation_ok,
        "failures": failures,
        "threshold": _configured_threshold(eval_config),
        "model_locations": dict(model_locations or {}),
    }


def load_plot_data(evaluation_uri: str, threshold: float) -> Dict[str, Any]:
    """The candidate's curves from TFMA's plots and metrics, for ``render_report``.

    Returns {"roc": {"fpr": [...], "tpr": [...], "auc": float|None} (from ConfusionMatrixPlot),
    "confusion": {"threshold", "tp", "fp", "tn", "fn"} (ConfusionMatrixAtThresholds at the threshold
    closest to ``threshold``, else the plot's), "calibration": [{"lower", "upper", "count",
    "mean_prediction", "mean_label"}] (CalibrationPlot re-binned to 10 buckets)}; absent keys = no data.
    """
    import tensorflow_model_analysis as tfma
    from tensorflow_model_analysis.writers import eval_config_writer

    eval_config, _, _, model_locations = eval_config_writer.load_eval_run(evaluation_uri)
    candidate_name, _ = _model_names(eval_config, model_locations)
    out: Dict[str, Any] = {}
    plot_matrices: List[Dict[str, float]] = []
    for plots_for_slice in tfma.load_plots(evaluation_uri):
        if not _is_overall(plots_for_slice):
            continue
        for kv in plots_for_slice.plot_keys_and_values:
            if kv.key.model_name != candidate_name or kv.key.output_name not in ("", SCORE_OUTPUT):
                continue
            if kv.value.HasField("confusion_matrix_at_thresholds"):
                plot_matrices = [_matrix(m) for m in kv.value.confusion_matrix_at_thresholds.matrices]
            if kv.value.HasField("calibration_histogram_buckets"):
                out["calibration"] = _rebin_calibration(kv.value.calibration_histogram_buckets.buckets)
    auc = None
    metric_matrices: List[Dict[str, float]] = []
    for metrics_for_slice in tfma.load_metrics(evaluation_uri):
        if not _is_overall(metrics_for_slice):
            continue
        for kv in metrics_for_slice.metric_keys_and_values:
            key = kv.key
            if key.model_name != candidate_name or key.is_diff or key.output_name not in ("", SCORE_OUTPUT):
                continue
            if key.name == "auc" and kv.value.WhichOneof("type") == "double_value":
                auc = _finite(kv.value.double_value.value)
            if kv.value.WhichOneof("type") == "confusion_matrix_at_thresholds":
                metric_matrices = [_matrix(m) for m in kv.value.confusion_matrix_at_thresholds.matrices]
    if plot_matrices:
        out["roc"] = roc_points(plot_matrices)
        out["roc"]["auc"] = auc
    matrices = metric_matrices or plot_matrices
    if matrices:
        out["confusion"] = min(matrices, key=lambda m: abs(m["threshold"] - threshold))
    return out


def roc_points(matrices: Sequence[Dict[str, float]]) -> Dict[str, List[float]]:
    """(FPR, TPR) per threshold, sorted, with the (0, 0) and (1, 1) ends."""
    points = {(0.0, 0.0), (1.0, 1.0)}
    for m in matrices:
        positives, negatives = m["tp"] + m["fn"], m["fp"] + m["tn"]
        if positives > 0 and negatives > 0:
            points.add((m["fp"] / negatives, m["tp"] / positives))
    ordered = sorted(points)
    return {"fpr": [p[0] for p in ordered], "tpr": [p[1] for p in ordered]}


def gate_decision(
    blessed: bool,
    evaluation: Dict[str, Any],
    pushed: bool = False,
    version: int | None = None,
    destination: str | None = None,
    pusher_failures: Sequence[str] | None = None,
) -> Dict[str, Any]:
    """The blessing/push outcome with a one-line reason: the failing thresholds, or why it passed."""
    failures = [_failure_text(f) for f in evaluation.get("failures", [])]
    if not failures and pusher_failures:
        failures = [str(f) for f in pusher_failures]
    candidate = evaluation.get("models", {}).get(CANDIDATE, {})
    if blessed:
        parts = []
        for output, metric, label in ((DECISION_OUTPUT, FRAME_ACCURACY, "accuracy"),
                                      (SCORE_OUTPUT, VIDEO_ACCURACY, "video accuracy")):
            bound = _threshold_for(evaluation, output, metric)
            value = candidate.get(output, {}).get(metric)
            if bound is None or bound.get("lower_bound") is None:
                continue
            parts.append(f"{label} {_fmt(value)} >= floor {_fmt(bound['lower_bound'])}")
        if not parts:
            parts.append("all configured thresholds met")
        if evaluation.get("has_baseline"):
            change = evaluation.get("diff", {}).get(DECISION_OUTPUT, {}).get(FRAME_ACCURACY)
            parts[-1] += " and no regression vs baseline" + (f" (accuracy change {change:+.4f})"
                                                               if change is not None else "")
        else:
            parts[-1] += " (no blessed baseline yet, so only the floor applied)"
        reason = "passed: " + "; ".join(parts)
    elif failures:
        reason = "failed: " + "; ".join(failures)
    else:
        reason = "not blessed (no failing threshold recorded; see the Evaluator's logs)"
    if blessed and not pushed:
        reason += "; blessed but not pushed (see the RegistryPusher's logs)"
    return {
        "blessed": bool(blessed),
        "pushed": bool(pushed),
        "version": int(version) if version is not None else None,
        "destination": destination,
        "reason": reason,
        "failures": failures,
    }


def _failure_text(f: Any) -> str:
    if isinstance(f, str):
        return f
    who = f.get("model") or CANDIDATE
    return (f"{f['metric']} ({f.get('output') or 'model'}, {who}) = {_fmt(f.get('value'))} "
            f"violates {f.get('threshold') or 'its threshold'}")


def _threshold_for(evaluation: Dict[str, Any], output: str, metric: str) -> Dict[str, Any] | None:
    for t in evaluation.get("thresholds", []):
        if t["output"] == output and t["metric"] == metric:
            return t
    return None


def _model_names(eval_config: Any, model_locations: Dict[str, str] | None) -> Tuple[str, str | None]:
    """(candidate model name, baseline model name or None) as used in the metric keys."""
    baseline = None
    candidate = None
    for spec in eval_config.model_specs if eval_config is not None else []:
        if spec.is_baseline:
            baseline = spec.name
        elif candidate is None:
            candidate = spec.name
    names = list(model_locations or {})
    if candidate is None:
        candidate = CANDIDATE if CANDIDATE in names else (names[0] if len(names) == 1 else "")
    if baseline is None and BASELINE in names:
        baseline = BASELINE
    return candidate, baseline


def _role(model_name: str, candidate: str, baseline: str | None) -> str:
    if baseline is not None and model_name == baseline:
        return BASELINE
    return CANDIDATE


def _merged(per_model: Dict[str, Dict[str, Dict[str, float]]], name: str) -> Dict[str, Dict[str, float]]:
    """A model's metrics plus the model-independent ones (model name '')."""
    out: Dict[str, Dict[str, float]] = {}
    for source in ([""] if name else []) + [name]:
        for output, values in per_model.get(source, {}).items():
            out.setdefault(output, {}).update(values)
    return out


def _is_overall(for_slice: Any) -> bool:
    return not for_slice.HasField("cross_slice_key") and not for_slice.slice_key.single_slice_keys


def _finite(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _metric_value(value: Any) -> float | None:
    if value.WhichOneof("type") == "double_value":
        return _finite(value.double_value.value)
    return None


def _matrix(m: Any) -> Dict[str, float]:
    return {"threshold": float(m.threshold), "tp": float(m.true_positives), "fp": float(m.false_positives),
            "tn": float(m.true_negatives), "fn": float(m.false_negatives)}


def _rebin_calibration(buckets: Sequence[Any], bins: int = 10) -> List[Dict[str, float]]:
    """TFMA's fine calibration histogram -> ``bins`` equal-width prediction bins (non-empty only)."""
    acc = [[0.0, 0.0, 0.0] for _ in range(bins)]  # count, sum label, sum prediction
    for b in buckets:
        n = b.num_weighted_examples.value
        if n <= 0:
            continue
        lower = b.lower_threshold_inclusive
        lower = 0.0 if not math.isfinite(lower) or lower < 0 else lower
        i = min(bins - 1, int(lower * bins + 1e-9))
        acc[i][0] += n
        acc[i][1] += b.total_weighted_label.value
        acc[i][2] += b.total_weighted_refined_prediction.value
    return [{"lower": i / bins, "upper": (i + 1) / bins, "count": n, "mean_label": lab / n,
             "mean_prediction": pred / n} for i, (n, lab, pred) in enumerate(acc) if n > 0]


def _thresholds(eval_config: Any) -> List[Dict[str, Any]]:
    """The gate's thresholds per (output, metric), as TFMA resolves them from the metrics specs."""
    if eval_config is None:
        return []
    try:
        from tensorflow_model_analysis.metrics import metric_specs

        resolved = metric_specs.metric_thresholds_from_metrics_specs(eval_config.metrics_specs, eval_config)
    except Exception:  # e.g. a custom metric module that cannot be imported here
        return []
    out: Dict[Tuple[str, str], Dict[str, Any]] = {}
    for key, per_slice in resolved.items():
        entry = out.setdefault((key.output_name, key.name), {
            "output": key.output_name, "metric": key.name, "lower_bound": None, "upper_bound": None,
            "change_absolute": None, "change_relative": None, "direction": None})
        for slice_spec, threshold in per_slice:
            if slice_spec is not None and str(slice_spec).strip():
                continue
            if threshold.DESCRIPTOR.name == "GenericValueThreshold":
                if threshold.HasField("lower_bound"):
                    entry["lower_bound"] = threshold.lower_bound.value
                if threshold.HasField("upper_bound"):
                    entry["upper_bound"] = threshold.upper_bound.value
            else:
                if threshold.HasField("absolute"):
                    entry["change_absolute"] = threshold.absolute.value
                if threshold.HasField("relative"):
                    entry["change_relative"] = threshold.relative.value
                entry["direction"] = "higher is better" if threshold.direction == 1 else "lower is better"
    return list(out.values())


def _describe_threshold(threshold: Any) -> str:
    parts = []
    if threshold.HasField("value_threshold"):
        v = threshold.value_threshold
        if v.HasField("lower_bound"):
            parts.append(f">= {_fmt(v.lower_bound.value)}")
        if v.HasField("upper_bound"):
            parts.append(f"<= {_fmt(v.upper_bound.value)}")
    if threshold.HasField("change_threshold"):
        c = threshold.change_threshold
        if c.HasField("absolute"):
            parts.append(f"change vs baseline >= {c.absolute.value:g}")
        if c.HasField("relative"):
            parts.append(f"relative change vs baseline >= {c.relative.value:g}")
    return " and ".join(parts)


def _configured_threshold(eval_config: Any) -> float | None:
    """The threshold of the ConfusionMatrixAtThresholds metric (the model's), if configured."""
    if eval_config is None:
        return None
    for spec in eval_config.metrics_specs:
        for metric in spec.metrics:
            if metric.class_name == "ConfusionMatrixAtThresholds" and metric.config:
                try:
                    thresholds = json.loads(metric.config).get("thresholds")
                    return float(thresholds[0] if isinstance(thresholds, list) else thresholds)
                except (ValueError, TypeError, IndexError, AttributeError):
                    return None
    return None


# ---------------------------------------------------------------------------------------------------
# Rendering: plain dicts -> PNGs + report.html
# ---------------------------------------------------------------------------------------------------


def render_report(
    out_dir: str,
    history: Dict[str, Any],
    evaluation: Dict[str, Any],
    plots: Dict[str, Any],
    decision: Dict[str, Any],
    extraction: Dict[str, Any],
    data: Dict[str, Any] | None = None,
) -> str:
    """Draws the PNGs and writes out_dir/report.html (links are relative) and report.json; returns the
    HTML's path. Any section without data is left out (or says so), never an error."""
    import tensorflow as tf

    tf.io.gfile.makedirs(out_dir)
    data = dict(data or {})
    pngs: Dict[str, str] = {}
    for name, drawn in ((ACCURACY_PNG, _plot_history(history, "accuracy", "val_accuracy", "Accuracy")),
                        (LOSS_PNG, _plot_history(history, "loss", "val_loss", "Loss")),
                        (CONFUSION_PNG, _plot_confusion(plots.get("confusion"))),
                        (ROC_PNG, _plot_roc(plots.get("roc"))),
                        (CALIBRATION_PNG, _plot_calibration(plots.get("calibration")))):
        if drawn is not None:
            _write_bytes(os.path.join(out_dir, name), drawn)
            pngs[name] = name
    page = _html_page(history, evaluation, plots, decision, extraction, data, pngs)
    path = os.path.join(out_dir, REPORT_FILE)
    _write_bytes(path, page.encode("utf-8"))
    summary = {"decision": decision, "evaluation": evaluation, "confusion": plots.get("confusion"),
               "history": history, "extraction": extraction, "data": data, "plots": sorted(pngs)}
    _write_bytes(os.path.join(out_dir, REPORT_JSON),
                 json.dumps(summary, indent=2, sort_keys=True, default=str).encode("utf-8"))
    return path


def _figure(width: float = 5.0, height: float = 3.6):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)  # Agg, without touching pyplot's global backend
    return fig


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _plot_history(history: Dict[str, Any], train_key: str, eval_key: str, title: str) -> bytes | None:
    train, evals = list(history.get(train_key) or []), list(history.get(eval_key) or [])
    if not train and not evals:
        return None
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    if train:
        ax.plot(range(1, len(train) + 1), train, "o-", label=f"training {title.lower()}")
    if evals:
        ax.plot(range(1, len(evals) + 1), evals, "s--", label=f"eval {title.lower()}")
    ax.set_title(f"Training and eval {title.lower()} per epoch")
    ax.set_xlabel("epoch")
    ax.set_ylabel(title.lower())
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend()
    return _png(fig)


def _plot_confusion(confusion: Dict[str, float] | None) -> bytes | None:
    if not confusion:
        return None
    cells = [[confusion["tn"], confusion["fp"]], [confusion["fn"], confusion["tp"]]]
    fig = _figure(4.4, 3.8)
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
    return _png(fig)


def _plot_roc(roc: Dict[str, Any] | None) -> bytes | None:
    if not roc or len(roc.get("fpr") or []) < 2:
        return None
    fig = _figure(4.4, 4.0)
    ax = fig.add_subplot(1, 1, 1)
    auc = roc.get("auc")
    ax.plot(roc["fpr"], roc["tpr"], "-", lw=2, label="ROC (AUC = " + (f"{auc:.4f})" if auc is not None else "n/a)"))
    ax.plot([0, 1], [0, 1], ":", color="grey", label="chance")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC curve (faces, p_fake)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    return _png(fig)


def _plot_calibration(calibration: Sequence[Dict[str, float]] | None) -> bytes | None:
    if not calibration:
        return None
    fig = _figure(4.4, 4.0)
    ax = fig.add_subplot(1, 1, 1)
    total = sum(b["count"] for b in calibration) or 1.0
    ax.plot([0, 1], [0, 1], ":", color="grey", label="perfectly calibrated")
    xs, ys = [b["mean_prediction"] for b in calibration], [b["mean_label"] for b in calibration]
    ax.plot(xs, ys, "o-", color="C0", markersize=4, label="model (marker area ~ faces in bin)")
    ax.scatter(xs, ys, s=[20 + 300 * b["count"] / total for b in calibration], color="C0", alpha=0.5, zorder=3)
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("mean predicted P(fake)")
    ax.set_ylabel("fraction fake")
    ax.set_title("Calibration (faces, 10 bins of p_fake)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    return _png(fig)


_CSS = """
body { font-family: sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.6em 0; } th, td { border: 1px solid #ccc; padding: 4px 10px; }
th { background: #f3f3f3; text-align: left; } td.num { text-align: right; font-family: monospace; }
.decision { padding: 0.8em 1.2em; border-radius: 6px; font-size: 1.1em; }
.ok { background: #e5f5e5; border: 1px solid #3a3; } .bad { background: #fbe9e9; border: 1px solid #c33; }
.muted { color: #777; } figure { display: inline-block; margin: 0.5em; } img { max-width: 520px; }
code { background: #f6f6f6; padding: 0 3px; }
"""


def _html_page(history: Dict[str, Any], evaluation: Dict[str, Any], plots: Dict[str, Any],
               decision: Dict[str, Any], extraction: Dict[str, Any], data: Dict[str, Any],
               pngs: Dict[str, str]) -> str:
    e = html.escape
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    parts = [
        "<!DOCTYPE html>", "<html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<title>Skyhawk run report</title>", f"<style>{_CSS}</style></head><body>",
        "<h1>Skyhawk run report</h1>",
        f"<p class=\"muted\">Generated {e(now)}. Model: <code>{e(str(data.get('model_uri') or '-'))}</code></p>",
    ]
    parts += _decision_section(decision)
    parts += _metrics_section(evaluation, plots)
    parts += _plots_section(pngs)
    parts += _training_section(history)
    parts += _data_section(extraction, data)
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _decision_section(decision: Dict[str, Any]) -> List[str]:
    e = html.escape
    blessed, pushed = decision.get("blessed"), decision.get("pushed")
    if blessed and pushed:
        where = f" to <code>{e(str(decision['destination']))}</code>" if decision.get("destination") else ""
        headline = f"BLESSED &mdash; pushed as version {e(str(decision.get('version')))}{where}"
    elif blessed:
        headline = "BLESSED &mdash; not pushed"
    else:
        headline = "NOT BLESSED &mdash; not pushed"
    out = ["<h2>Gate decision</h2>",
           f"<div class=\"decision {'ok' if blessed and pushed else 'bad'}\"><strong>{headline}</strong>"]
    if decision.get("failures") and not blessed:
        out.append("<p>failed: the candidate did not meet these thresholds:</p><ul>")
        out += [f"<li>{e(str(f))}</li>" for f in decision["failures"]]
        out.append("</ul>")
    else:
        out.append(f"<p>{e(decision.get('reason', ''))}</p>")
    out.append("</div>")
    return out


def _metrics_section(evaluation: Dict[str, Any], plots: Dict[str, Any]) -> List[str]:
    e = html.escape
    models = evaluation.get("models", {})
    candidate, baseline = models.get(CANDIDATE, {}), models.get(BASELINE)
    diff = evaluation.get("diff", {})
    header = "<tr><th>level</th><th>metric</th><th>output</th><th>candidate</th>"
    if baseline is not None:
        header += "<th>baseline</th><th>change</th>"
    header += "<th>gate threshold</th></tr>"
    out = ["<h2>Evaluation metrics (eval split)</h2>"]
    if not candidate:
        return out + ["<p class=\"muted\">No evaluation metrics found.</p>"]
    out += ["<table>", header]
    listed = set()
    rows = list(METRIC_ROWS)
    for output, values in sorted(candidate.items()):
        for name in sorted(values):
            if (output, name) not in {(o, n) for _, o, n, _ in METRIC_ROWS}:
                rows.append(("other", output, name, name))
    for group, output, name, label in rows:
        if name not in candidate.get(output, {}) or (output, name) in listed:
            continue
        listed.add((output, name))
        cells = [e(group), e(label if label == name else f"{label} ({name})"), e(output or "-"),
                 _num(candidate[output][name], name)]
        if baseline is not None:
            base = baseline.get(output, {}).get(name)
            change = diff.get(output, {}).get(name)
            if change is None and base is not None:
                change = candidate[output][name] - base
            cells += [_num(base, name), _num(change, name, signed=True)]
        cells.append(e(_threshold_text(_threshold_for(evaluation, output, name))))
        out.append("<tr>" + "".join(c if c.startswith("<td") else f"<td>{c}</td>" for c in cells) + "</tr>")
    out.append("</table>")
    if baseline is None:
        out.append("<p class=\"muted\">No baseline model was evaluated (no previously blessed model).</p>")
    confusion = plots.get("confusion")
    if confusion:
        tp, fp, tn, fn = (confusion[k] for k in ("tp", "fp", "tn", "fn"))
        out += [f"<p>Confusion matrix (faces) at threshold {confusion['threshold']:g}:</p>", "<table>",
                "<tr><th></th><th>predicted real</th><th>predicted fake</th></tr>",
                f"<tr><th>actual real</th><td class=\"num\">{tn:g}</td><td class=\"num\">{fp:g}</td></tr>",
                f"<tr><th>actual fake</th><td class=\"num\">{fn:g}</td><td class=\"num\">{tp:g}</td></tr>",
                "</table>"]
    return out


def _threshold_text(t: Dict[str, Any] | None) -> str:
    if not t:
        return ""
    parts = []
    if t.get("lower_bound") is not None:
        parts.append(f">= {_fmt(t['lower_bound'])}")
    if t.get("upper_bound") is not None:
        parts.append(f"<= {_fmt(t['upper_bound'])}")
    if t.get("change_absolute") is not None:
        parts.append(f"change vs baseline >= {t['change_absolute']:g}")
    if t.get("change_relative") is not None:
        parts.append(f"relative change vs baseline >= {t['change_relative']:g}")
    return " and ".join(parts)


def _plots_section(pngs: Dict[str, str]) -> List[str]:
    e = html.escape
    captions = {ACCURACY_PNG: "Training and eval accuracy per epoch", LOSS_PNG: "Training and eval loss per epoch",
                CONFUSION_PNG: "Confusion matrix at the model's threshold", ROC_PNG: "ROC curve",
                CALIBRATION_PNG: "Calibration"}
    out = ["<h2>Plots</h2>"]
    if not pngs:
        return out + ["<p class=\"muted\">No plot data.</p>"]
    for name in (ACCURACY_PNG, LOSS_PNG, CONFUSION_PNG, ROC_PNG, CALIBRATION_PNG):
        if name in pngs:
            out.append(f"<figure><a href=\"{e(pngs[name])}\"><img src=\"{e(pngs[name])}\" "
                       f"alt=\"{e(captions[name])}\"></a><figcaption>{e(captions[name])}</figcaption></figure>")
    return out


def _training_section(history: Dict[str, Any]) -> List[str]:
    e = html.escape
    out = ["<h2>Training</h2>"]
    columns = [k for k in ("loss", "accuracy", "val_loss", "val_accuracy", "epoch_seconds") if history.get(k)]
    if not columns:
        return out + ["<p class=\"muted\">No training history found.</p>"]
    facts = [(k, history[k]) for k in ("epochs", "max_epochs", "stop_reason", "target_accuracy")
             if history.get(k) is not None]
    if facts:
        out.append("<p>" + ", ".join(f"{e(k)}: <code>{e(str(v))}</code>" for k, v in facts) + "</p>")
    out += ["<table>", "<tr><th>epoch</th>" + "".join(f"<th>{e(c)}</th>" for c in columns) + "</tr>"]
    for i in range(max(len(history[c]) for c in columns)):
        row = [history[c][i] if i < len(history[c]) else None for c in columns]
        out.append(f"<tr><td class=\"num\">{i + 1}</td>" + "".join(_num(v, "") for v in row) + "</tr>")
    out.append("</table>")
    return out


def _data_section(extraction: Dict[str, Any], data: Dict[str, Any]) -> List[str]:
    e = html.escape
    out = ["<h2>Data</h2>", "<table>"]
    for key, label in (("span", "span"), ("version", "version"), ("input_fingerprint", "input fingerprint"),
                       ("examples_uri", "examples"), ("threshold", "model threshold"), ("backbone", "backbone"),
                       ("image_size", "image size"), ("baseline_model", "baseline model"),
                       ("evaluation_uri", "evaluation"), ("pushed_model_uri", "pusher output")):
        if data.get(key) is not None:
            out.append(f"<tr><th>{e(label)}</th><td><code>{e(str(data[key]))}</code></td></tr>")
    out.append("</table>")
    out.append("<h2>Face extraction</h2>")
    if not extraction:
        return out + ["<p class=\"muted\">No extraction summary found.</p>"]
    out.append("<table>")
    for key, label in (("videos", "videos"), ("videos_ok", "videos ok"), ("videos_no_face", "videos with no face"),
                       ("videos_failed", "videos failed"), ("frames_sampled", "frames sampled"),
                       ("frames_with_face", "frames with a face"), ("faces_written", "faces written"),
                       ("synthetic_faces_written", "synthetic faces written"), ("seconds", "extraction seconds")):
        if key in extraction:
            out.append(f"<tr><th>{e(label)}</th>{_num(extraction[key], 'count')}</tr>")
    out.append("</table>")
    per_split = extraction.get("faces_per_split") or {}
    if per_split:
        out += ["<p>Faces per split:</p>", "<table><tr><th>split</th><th>faces</th></tr>"]
        out += [f"<tr><td>{e(str(s))}</td>{_num(n, 'count')}</tr>" for s, n in sorted(per_split.items())]
        out.append("</table>")
    problems = extraction.get("problems") or []
    if problems:
        out += [f"<p>Videos without faces or that failed ({len(problems)}):</p>",
                "<table><tr><th>video</th><th>status</th><th>reason</th></tr>"]
        out += [f"<tr><td>{e(str(p.get('video_id')))}</td><td>{e(str(p.get('status')))}</td>"
                f"<td>{e(str(p.get('reason') or ''))}</td></tr>" for p in problems]
        out.append("</table>")
    else:
        out.append("<p>Every video yielded faces.</p>")
    return out


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _num(value: Any, name: str, signed: bool = False) -> str:
    if value is None:
        return "<td class=\"num\">&ndash;</td>"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if name in _COUNT_METRICS or name == "count":
            text = f"{value:+g}" if signed else f"{value:g}"
        else:
            text = f"{value:+.4f}" if signed else f"{value:.4f}"
    else:
        text = str(value)
    return f"<td class=\"num\">{html.escape(text)}</td>"


# ---------------------------------------------------------------------------------------------------
# gfile helpers (local paths and gs:// alike)
# ---------------------------------------------------------------------------------------------------


def _exists(path: str) -> bool:
    import tensorflow as tf

    return tf.io.gfile.exists(path)


def _read_text(path: str) -> str:
    import tensorflow as tf

    with tf.io.gfile.GFile(path, "r") as f:
        return f.read()


def _read_json(path: str) -> Any | None:
    if not _exists(path):
        return None
    return json.loads(_read_text(path))


def _write_bytes(path: str, payload: bytes) -> None:
    import tensorflow as tf

    with tf.io.gfile.GFile(path, "wb") as f:
        f.write(payload)
