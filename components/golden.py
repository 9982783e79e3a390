"""GoldenGate: the final blessing of a candidate: the Evaluator's gate, the golden set and (optionally) drift.

The Evaluator compares candidate and baseline on the newest span's eval split. This component then

- scores the candidate (and the baseline, the latest blessed model) on the fixed labelled folder
  ``gate.golden_root`` with the same scoring and metrics as ``skyhawk evaluate``
  (``components.score.evaluate.run_evaluation``); the candidate fails when its video accuracy there is lower
  than the baseline's by more than ``gate.max_regression``;
- with ``gate.block_on_drift``, fails a candidate whose span drifted from the previous one
  (``components.drift``).

Its ModelBlessing ``final_blessing`` (not ``blessing``: AirflowDagRunner's launchers name artifacts
``<output key>:<run id>``, unique per type, so it must differ from the Evaluator's; custom properties
``blessed``, ``current_model_id``, ... as the Evaluator writes them) is the one the RegistryPusher
publishes on and the one the latest-blessed-model resolver reads, so a model rejected here is never a
baseline nor a warm-start parent. ``golden.json`` in its folder holds the golden-set metrics of both
models, the drift verdict and the failures.
"""
# NOTE: no ``from __future__ import annotations``: TFX's function-component parser needs real annotations.

import json
from typing import Any, Dict, List

from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import standard_artifacts

from components.drift import SkyhawkDrift
from skyhawk.config import GateConfig, ScoreConfig

GOLDEN_FILE = "golden.json"
GOLDEN_METRIC = "video_accuracy"  # of ``skyhawk evaluate`` (components/score/metrics.py)
COPIED_PROPERTIES = ("current_model", "current_model_id", "baseline_model", "baseline_model_id")


def golden_check(candidate: Dict[str, Any], baseline: Dict[str, Any] | None, max_regression: float
                 ) -> tuple[bool, str]:
    """(passed, one line) for candidate vs baseline golden-set metrics (no baseline: passes)."""
    value = candidate.get(GOLDEN_METRIC)
    if baseline is None:
        return True, f"golden set {GOLDEN_METRIC} {_fmt(value)} (no blessed baseline to compare with)"
    base = baseline.get(GOLDEN_METRIC)
    if value is None or base is None:
        return False, f"golden set: {GOLDEN_METRIC} missing (candidate {_fmt(value)}, baseline {_fmt(base)})"
    regression = base - value
    if regression > max_regression:
        return False, (f"golden set {GOLDEN_METRIC} {value:.4f} vs baseline {base:.4f}: regression "
                       f"{regression:.4f} > gate.max_regression {max_regression:g}")
    return True, f"golden set {GOLDEN_METRIC} {value:.4f} vs baseline {base:.4f} (change {value - base:+.4f})"


def _fmt(v: Any) -> str:
    return "n/a" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)


def score_golden(model_uri: str, golden_root: str, labels: str, output: str, score: ScoreConfig,
                 beam_args: List[str]) -> Dict[str, Any]:
    """``skyhawk evaluate`` of one Trainer model artifact on the golden set with the ``score`` settings; its
    metrics dict."""
    from tfx.utils import path_utils

    from components.score.evaluate import run_evaluation
    from skyhawk_model.model_ref import resolve

    ref = resolve(path_utils.serving_model_path(model_uri), score.threshold)
    ev = run_evaluation(golden_root, labels, ref, output, score, beam_args=beam_args, force=True)
    return dict(ev["metrics"])


@component
def GoldenGate(
    model: InputArtifact[standard_artifacts.Model],
    evaluator_blessing: InputArtifact[standard_artifacts.ModelBlessing],
    final_blessing: OutputArtifact[standard_artifacts.ModelBlessing],
    baseline_model: InputArtifact[standard_artifacts.Model] = None,
    drift: InputArtifact[SkyhawkDrift] = None,
    golden_root: Parameter[str] = GateConfig.golden_root,
    golden_labels: Parameter[str] = GateConfig.golden_labels,
    max_regression: Parameter[float] = GateConfig.max_regression,
    block_on_drift: Parameter[int] = int(GateConfig.block_on_drift),
    frames: Parameter[int] = ScoreConfig.frames,
    aggregate: Parameter[str] = ScoreConfig.aggregate,
    threshold: Parameter[float] = ScoreConfig.threshold,
    beam_args: Parameter[str] = "[]",
) -> None:
    """Blesses the model iff the Evaluator did, it holds up on the golden set and (if asked) did not drift.
    ``frames``, ``aggregate``, ``threshold``: the pipeline config's ``score`` section."""
    from tfx.components.util import model_utils

    from components.drift import drift_text, load_drift
    from skyhawk import fileio

    evaluator_blessed = model_utils.is_model_blessed(evaluator_blessing)
    failures: List[str] = []
    result: Dict[str, Any] = {"evaluator_blessed": evaluator_blessed, "golden_root": golden_root or None,
                              "metric": GOLDEN_METRIC, "max_regression": max_regression}
    if golden_root:
        args = json.loads(beam_args)
        score = ScoreConfig(frames=frames, aggregate=aggregate, threshold=threshold)
        result["labels"] = golden_labels
        result["candidate"] = score_golden(model.uri, golden_root, golden_labels,
                                           fileio.join(final_blessing.uri, "golden", "candidate"), score, args)
        result["baseline"] = None
        if baseline_model is not None:
            result["baseline_model"] = baseline_model.uri
            result["baseline"] = score_golden(baseline_model.uri, golden_root, golden_labels,
                                              fileio.join(final_blessing.uri, "golden", "baseline"), score, args)
        passed, line = golden_check(result["candidate"], result["baseline"], max_regression)
        result.update(passed=passed, summary=line)
        if not passed:
            failures.append(line)
    else:
        result.update(passed=True, summary="no golden set configured (gate.golden_root)")
    drift_result = load_drift(drift.uri) if drift is not None else {}
    result["drift"] = {"anomalies": len(drift_result.get("anomalies") or []), "summary": drift_text(drift_result),
                       "blocking": bool(block_on_drift)}
    if block_on_drift and drift_result.get("anomalies"):
        failures.append(f"{drift_text(drift_result)} (gate.block_on_drift)")
    blessed = evaluator_blessed and not failures
    result.update(blessed=blessed, failures=failures)

    for name in COPIED_PROPERTIES:
        if evaluator_blessing.has_custom_property(name):
            value = evaluator_blessing.get_custom_property(name)
            if isinstance(value, int):
                final_blessing.set_int_custom_property(name, value)
            else:
                final_blessing.set_string_custom_property(name, str(value))
    final_blessing.set_int_custom_property("current_model_id", model.id)
    final_blessing.set_int_custom_property("blessed", 1 if blessed else 0)
    final_blessing.set_int_custom_property("evaluator_blessed", 1 if evaluator_blessed else 0)
    fileio.write_text(fileio.join(final_blessing.uri, "BLESSED" if blessed else "NOT_BLESSED"), "")
    fileio.write_json(fileio.join(final_blessing.uri, GOLDEN_FILE), result, default=str)


def load_golden(blessing_uri: str) -> Dict[str, Any]:
    """golden.json of a GoldenGate blessing ({} for another blessing, e.g. the Evaluator's)."""
    from skyhawk import fileio

    try:
        return fileio.read_json(fileio.join(blessing_uri, GOLDEN_FILE))
    except FileNotFoundError:
        return {}
