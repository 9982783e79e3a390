"""The gate's outcome in words: the blessing/push decision with its one-line reason, each failed threshold's line."""
from __future__ import annotations

from typing import Any, Dict, Sequence

from skyhawk_model.evaluation import CANDIDATE, DECISION_OUTPUT, FRAME_ACCURACY, SCORE_OUTPUT, VIDEO_ACCURACY, fmt


def gate_decision(
    blessed: bool,
    evaluation: Dict[str, Any],
    pushed: bool = False,
    version: int | None = None,
    destination: str | None = None,
    pusher_failures: Sequence[str] | None = None,
) -> Dict[str, Any]:
    """The blessing/push outcome with a one-line reason: the failing thresholds, or why it passed."""
    failures = [failure_text(f) for f in evaluation.get("failures", [])]
    if not failures and pusher_failures:
        failures = [str(f) for f in pusher_failures]
    candidate = evaluation.get("models", {}).get(CANDIDATE, {})
    if blessed:
        parts = []
        for output, metric, label in ((DECISION_OUTPUT, FRAME_ACCURACY, "accuracy"),
                                      (SCORE_OUTPUT, VIDEO_ACCURACY, "video accuracy")):
            bound = threshold_for(evaluation, output, metric)
            if bound is None or bound.get("lower_bound") is None:
                continue
            value = candidate.get(output, {}).get(metric)
            parts.append(f"{label} {fmt(value)} >= floor {fmt(bound['lower_bound'])}")
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


def failure_text(f: Dict[str, Any] | str) -> str:
    """One line per failed gate threshold, e.g. 'binary_accuracy (is_fake, candidate) = 0.7083 violates >= 0.9000'."""
    if isinstance(f, str):
        return f
    return (f"{f['metric']} ({f.get('output') or 'model'}, {f.get('model') or CANDIDATE}) = {fmt(f.get('value'))} "
            f"violates {f.get('threshold') or 'its threshold'}")


def threshold_for(evaluation: Dict[str, Any], output: str, metric: str) -> Dict[str, Any] | None:
    """The gate threshold configured for (output, metric), if any."""
    for t in evaluation.get("thresholds", []):
        if t["output"] == output and t["metric"] == metric:
            return t
    return None
