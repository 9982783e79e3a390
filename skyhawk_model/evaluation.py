"""Evaluation of a Skyhawk model: the Evaluator's TFMA config (metrics + the blessing gate), reading a TFMA
result back into plain dicts (the gate decision and its text: ``skyhawk_model.gate``).

The model's output names come from ``export.py``, the video metric names from ``video_metrics.py``; the
frame metric names are defined here and named explicitly in the EvalConfig, so every reader uses these.

    config = eval_config(gate, threshold)             # for tfx.components.Evaluator
    evaluation = load_evaluation(evaluation_uri)      # {"models": {"candidate": {output: {metric: v}}}, ...}
    plots = load_plot_data(evaluation_uri, threshold) # ROC points, confusion counts, calibration bins
    decision = gate.gate_decision(blessed, evaluation, pushed=True, version=3)
"""
from __future__ import annotations

import json
import math
from typing import Any, Dict, List, Sequence, Tuple

import tensorflow_model_analysis as tfma

from skyhawk import features
from skyhawk.config import GateConfig
from skyhawk_model import video_metrics
from skyhawk_model.export import OUTPUT_KEYS

# The serving signature's outputs (export.OUTPUT_KEYS = p_fake, probabilities, is_fake, threshold).
SCORE_OUTPUT, _, DECISION_OUTPUT, _ = OUTPUT_KEYS  # P(fake); the model's own 0/1 decision at its threshold

# Frame metrics (named explicitly in the EvalConfig below).
FRAME_ACCURACY = "binary_accuracy"  # of DECISION_OUTPUT: the gated metric
AUC = "auc"
LOG_LOSS = "log_loss"
PRECISION = "precision"
RECALL = "recall"
EXAMPLE_COUNT = "example_count"
# Video metrics (per video_id), computed by skyhawk_model.video_metrics.
VIDEO_ACCURACY, VIDEO_AUC = video_metrics.ACCURACY, video_metrics.AUC
VIDEO_LOG_LOSS, VIDEO_COUNT = video_metrics.LOG_LOSS, video_metrics.COUNT
COUNT_METRICS = (EXAMPLE_COUNT, VIDEO_COUNT)

CANDIDATE, BASELINE = "candidate", "baseline"


def eval_config(gate: GateConfig, threshold: float) -> tfma.EvalConfig:
    """Frame metrics on the eval split, video metrics per video_id, and the blessing thresholds.

    Frame accuracy is measured on the model's ``is_fake`` output, i.e. at the threshold that travels
    with each model, so a candidate and its baseline are each judged at their own threshold. AUC, log
    loss, precision/recall and the plots use ``p_fake``. Blessing needs accuracy >= the floor and no
    regression beyond ``max_regression`` against the latest blessed model (with no baseline, only the
    floor applies); with ``gate.video_level`` the same holds for video accuracy.
    """
    gate_threshold = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(lower_bound={"value": gate.accuracy_floor}),
        change_threshold=tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER, absolute={"value": -gate.max_regression}),
    )

    def metric(class_name: str, threshold_: tfma.MetricThreshold | None = None, **config: Any) -> tfma.MetricConfig:
        return tfma.MetricConfig(class_name=class_name, config=json.dumps(config) if config else "",
                                 threshold=threshold_)

    decision = tfma.MetricsSpec(
        output_names=[DECISION_OUTPUT],
        metrics=[metric("BinaryAccuracy", gate_threshold, name=FRAME_ACCURACY, threshold=0.5)],
    )
    score = tfma.MetricsSpec(
        output_names=[SCORE_OUTPUT],
        metrics=[
            metric("ExampleCount", name=EXAMPLE_COUNT),
            metric("AUC", name=AUC, num_thresholds=1000),
            metric("BinaryCrossentropy", name=LOG_LOSS),
            metric("Precision", name=PRECISION, thresholds=threshold),
            metric("Recall", name=RECALL, thresholds=threshold),
            metric("ConfusionMatrixAtThresholds", thresholds=[threshold]),
            metric("ConfusionMatrixPlot"),
            metric("CalibrationPlot"),
        ],
    )
    video = tfma.MetricsSpec(
        output_names=[SCORE_OUTPUT],
        query_key=features.VIDEO_ID,
        metrics=[tfma.MetricConfig(
            class_name="VideoMetrics", module=video_metrics.__name__,
            config=json.dumps({"aggregation": gate.video_aggregation, "threshold": threshold}),
            threshold=gate_threshold if gate.video_level else None)],
    )
    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(
            signature_name="serving_default",
            model_type=tfma.TF_GENERIC,  # load the signatures, not the Keras layer graph (much faster)
            label_keys={DECISION_OUTPUT: features.LABEL, SCORE_OUTPUT: features.LABEL},
        )],
        slicing_specs=[tfma.SlicingSpec()],
        metrics_specs=[decision, score, video],
    )


# ---------------------------------------------------------------------------------------------------
# Reading a TFMA result
# ---------------------------------------------------------------------------------------------------


def load_evaluation(evaluation_uri: str) -> Dict[str, Any]:
    """Overall-slice scalar metrics of candidate (and baseline), the thresholds and the validation verdict.

    Returns {"models": {"candidate": {output: {metric: value}}, "baseline": {...} (only with a baseline)},
    "diff": {output: {metric: candidate - baseline}}, "has_baseline", "thresholds": [{output, metric,
    lower_bound, upper_bound, change_absolute, change_relative, direction}], "validation_ok",
    "failures": [{model, output, metric, value, threshold, message}], "threshold" (of the confusion matrix
    metric, when configured), "model_locations"}.
    """
    from tensorflow_model_analysis.writers import eval_config_writer

    config, _, _, model_locations = eval_config_writer.load_eval_run(evaluation_uri)
    candidate_name, baseline_name = _model_names(config, model_locations)
    per_model: Dict[str, Dict[str, Dict[str, float]]] = {}
    diff: Dict[str, Dict[str, float]] = {}
    for metrics_for_slice in tfma.load_metrics(evaluation_uri):
        if not _is_overall(metrics_for_slice):
            continue
        for kv in metrics_for_slice.metric_keys_and_values:
            key = kv.key
            if key.HasField("sub_key") or key.HasField("aggregation_type"):
                continue
            value = _metric_value(kv.value)
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
                    "model": BASELINE if baseline_name is not None and f.metric_key.model_name == baseline_name
                    else CANDIDATE,
                    "output": f.metric_key.output_name,
                    "metric": f.metric_key.name + ("_diff" if f.metric_key.is_diff else ""),
                    "value": _metric_value(f.metric_value),
                    "threshold": threshold_text(_proto_threshold(f.metric_threshold)),
                    "message": f.message.strip(),
                })
    return {
        "models": models,
        "diff": diff,
        "has_baseline": has_baseline,
        "thresholds": _thresholds(config),
        "validation_ok": validation_ok,
        "failures": failures,
        "threshold": _configured_threshold(config),
        "model_locations": dict(model_locations or {}),
    }


def load_plot_data(evaluation_uri: str, threshold: float) -> Dict[str, Any]:
    """The candidate's curves from TFMA's plots and metrics.

    Returns {"roc": {"fpr": [...], "tpr": [...], "auc": float|None} (from ConfusionMatrixPlot),
    "confusion": {"threshold", "tp", "fp", "tn", "fn"} (ConfusionMatrixAtThresholds at the threshold
    closest to ``threshold``, else the plot's), "calibration": [{"lower", "upper", "count",
    "mean_prediction", "mean_label"}] (CalibrationPlot re-binned to 10 buckets)}; absent keys = no data.
    """
    from tensorflow_model_analysis.writers import eval_config_writer

    config, _, _, model_locations = eval_config_writer.load_eval_run(evaluation_uri)
    candidate_name, _ = _model_names(config, model_locations)
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
            if key.name == AUC:
                auc = _metric_value(kv.value)
            if kv.value.WhichOneof("type") == "confusion_matrix_at_thresholds":
                metric_matrices = [_matrix(m) for m in kv.value.confusion_matrix_at_thresholds.matrices]
    if plot_matrices:
        out["roc"] = {**roc_points(plot_matrices), "auc": auc}
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


def threshold_text(t: Dict[str, Any] | None) -> str:
    """'>= 0.9000 and change vs baseline >= -1e-10' for a threshold dict (see ``load_evaluation``)."""
    if not t:
        return ""
    parts = []
    if t.get("lower_bound") is not None:
        parts.append(f">= {fmt(t['lower_bound'])}")
    if t.get("upper_bound") is not None:
        parts.append(f"<= {fmt(t['upper_bound'])}")
    if t.get("change_absolute") is not None:
        parts.append(f"change vs baseline >= {t['change_absolute']:g}")
    if t.get("change_relative") is not None:
        parts.append(f"relative change vs baseline >= {t['change_relative']:g}")
    return " and ".join(parts)


def fmt(value: Any) -> str:
    """A metric value for text: 4 decimals, 'n/a' for None."""
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


# ---------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------


def _model_names(config: Any, model_locations: Dict[str, str] | None) -> Tuple[str, str | None]:
    """(candidate model name, baseline model name or None) as used in the metric keys."""
    baseline = None
    candidate = None
    for spec in config.model_specs if config is not None else []:
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


def _merged(per_model: Dict[str, Dict[str, Dict[str, float]]], name: str) -> Dict[str, Dict[str, float]]:
    """A model's metrics plus the model-independent ones (model name '')."""
    out: Dict[str, Dict[str, float]] = {}
    for source in ([""] if name else []) + [name]:
        for output, values in per_model.get(source, {}).items():
            out.setdefault(output, {}).update(values)
    return out


def _is_overall(for_slice: Any) -> bool:
    return not for_slice.HasField("cross_slice_key") and not for_slice.slice_key.single_slice_keys


def _metric_value(value: Any) -> float | None:
    """A finite double metric value, else None."""
    if value.WhichOneof("type") != "double_value":
        return None
    v = float(value.double_value.value)
    return v if math.isfinite(v) else None


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


def _empty_threshold(output: str, metric: str) -> Dict[str, Any]:
    return {"output": output, "metric": metric, "lower_bound": None, "upper_bound": None,
            "change_absolute": None, "change_relative": None, "direction": None}


def _add_bounds(entry: Dict[str, Any], threshold: Any) -> None:
    """Copies a GenericValueThreshold's or GenericChangeThreshold's bounds into a threshold dict."""
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


def _proto_threshold(threshold: Any) -> Dict[str, Any]:
    """A MetricThreshold proto (of a validation failure) as a threshold dict."""
    entry = _empty_threshold("", "")
    for field in ("value_threshold", "change_threshold"):
        if threshold.HasField(field):
            _add_bounds(entry, getattr(threshold, field))
    return entry


def _thresholds(config: Any) -> List[Dict[str, Any]]:
    """The gate's thresholds per (output, metric), as TFMA resolves them from the metrics specs."""
    if config is None:
        return []
    try:
        from tensorflow_model_analysis.metrics import metric_specs

        resolved = metric_specs.metric_thresholds_from_metrics_specs(config.metrics_specs, config)
    except Exception:  # e.g. a custom metric module that cannot be imported here
        return []
    out: Dict[Tuple[str, str], Dict[str, Any]] = {}
    for key, per_slice in resolved.items():
        entry = out.setdefault((key.output_name, key.name), _empty_threshold(key.output_name, key.name))
        for slice_spec, threshold in per_slice:
            if slice_spec is not None and str(slice_spec).strip():
                continue
            _add_bounds(entry, threshold)
    return list(out.values())


def _configured_threshold(config: Any) -> float | None:
    """The threshold of the ConfusionMatrixAtThresholds metric (the model's), if configured."""
    if config is None:
        return None
    for spec in config.metrics_specs:
        for metric in spec.metrics:
            if metric.class_name == "ConfusionMatrixAtThresholds" and metric.config:
                try:
                    thresholds = json.loads(metric.config).get("thresholds")
                    return float(thresholds[0] if isinstance(thresholds, list) else thresholds)
                except (ValueError, TypeError, IndexError, AttributeError):
                    return None
    return None
