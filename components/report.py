"""RunReport: one static HTML page per pipeline run (training curves, eval metrics, gate decision, data).

The component only gathers its inputs (the trained model's history, the Evaluator's TFMA output and
blessing, the pusher's decision, the ExampleGen summary and the ConfoundCheck audit) into the report dict
(``components.report_page.build_report``) and writes it as ``report.json`` + ``report.html`` + PNGs.
Outside TFX the same pieces are plain functions:

    evaluation = skyhawk_model.evaluation.load_evaluation(evaluation_uri)
    curves = skyhawk_model.evaluation.load_plot_data(evaluation_uri, threshold)
    decision = skyhawk_model.gate.gate_decision(blessed, evaluation, pushed=..., version=...)
    report = report_page.build_report(load_history(serving_dir), evaluation, curves, decision,
                                      load_extraction(examples_uri), data)
    report_page.write_report(out_dir, report)
"""
# NOTE: no ``from __future__ import annotations`` here: TFX's function-component parser needs the real
# annotation objects of RunReport's signature.

from typing import Any, Dict, List

# The same objects as tfx.v1.dsl.components.* / tfx.v1.dsl.Artifact, imported from their modules because
# ``from tfx import v1`` also imports every standard component (and the Vertex client): ~2x slower.
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact
from tfx.dsl.component.experimental.decorators import component
from tfx.types import standard_artifacts
from tfx.types.artifact import Artifact

from components.confound import SkyhawkConfound
from components.drift import SkyhawkDrift
from skyhawk import artifact, fileio


class SkyhawkReport(Artifact):
    """A directory holding report.html, report.json and the report's PNG plots."""

    TYPE_NAME = "skyhawk.Report"  # KFP v2 wants <namespace>.<Title>


@component
def RunReport(
    model: InputArtifact[standard_artifacts.Model],
    evaluation: InputArtifact[standard_artifacts.ModelEvaluation],
    model_blessing: InputArtifact[standard_artifacts.ModelBlessing],
    pushed_model: InputArtifact[standard_artifacts.PushedModel],
    examples: InputArtifact[standard_artifacts.Examples],
    report: OutputArtifact[SkyhawkReport],
    training_examples: InputArtifact[List[standard_artifacts.Examples]] = None,
    drift: InputArtifact[SkyhawkDrift] = None,
    confound: InputArtifact[SkyhawkConfound] = None,
) -> None:
    """Writes <report.uri>/report.html (+ report.json and PNGs) for this run's model and gate decision."""
    from tfx.components.util import model_utils
    from tfx.utils import path_utils

    from components import report_page
    from components.confound import load_confound
    from components.drift import drift_text, load_drift
    from components.golden import load_golden
    from components.pusher import NOT_PUSHED_FILE, data_lineage
    from skyhawk_model.evaluation import load_evaluation, load_plot_data
    from skyhawk_model.gate import gate_decision

    serving_dir = path_utils.serving_model_path(model.uri)
    try:
        model_meta: artifact.ModelMetadata | None = artifact.read_metadata(serving_dir)
    except FileNotFoundError:
        model_meta = None
    evaluation_summary = load_evaluation(evaluation.uri)
    threshold = float(model_meta.threshold if model_meta else evaluation_summary.get("threshold", 0.5))
    decision = gate_decision(
        blessed=model_utils.is_model_blessed(model_blessing),
        evaluation=evaluation_summary,
        pushed=_int_property(pushed_model, "pushed") == 1,
        version=_int_property(pushed_model, "pushed_version"),
        destination=_str_property(pushed_model, "pushed_destination"),
        pusher_failures=(_read_json(fileio.join(pushed_model.uri, NOT_PUSHED_FILE)) or {}).get("gate_failures"),
    )
    golden = load_golden(model_blessing.uri)
    extra = [f for f in golden.get("failures") or [] if f not in decision["failures"]]
    if extra:  # the golden set / drift also failed: the Evaluator's failures alone would hide them
        decision["failures"] += extra
        decision["reason"] = ("failed: " if decision["reason"].startswith("passed") else decision["reason"] + "; ") \
            + "; ".join(extra)
    history = load_history(serving_dir)
    lineage = data_lineage(examples, [*(training_examples or []), examples])
    drift_result = load_drift(drift.uri) if drift is not None else {}
    data = {
        "examples_uri": examples.uri,
        "span": _int_property(examples, "span"),
        "version": _int_property(examples, "version"),
        "input_fingerprint": _str_property(examples, "input_fingerprint"),
        "model_uri": model.uri,
        "evaluation_uri": evaluation.uri,
        "pushed_model_uri": pushed_model.uri,
        "threshold": threshold,
        "backbone": model_meta.backbone if model_meta else None,
        "image_size": model_meta.image_size if model_meta else None,
        "baseline_model": _str_property(model_blessing, "baseline_model"),
        "eval_span": lineage["eval_span"],
        "spans": lineage["spans"],
        "training_data": lineage["training_data"],
        "warm_start": history.get("warm_start"),
        "golden": golden or None,
        "drift": {**drift_result, "summary": drift_text(drift_result)} if drift is not None else None,
        "confound": (load_confound(confound.uri) or None) if confound is not None else None,
    }
    report_page.write_report(report.uri, report_page.build_report(
        history=history,
        evaluation=evaluation_summary,
        curves=load_plot_data(evaluation.uri, threshold),
        decision=decision,
        extraction=load_extraction(examples.uri),
        data=data,
    ))


def load_history(serving_dir: str) -> Dict[str, Any]:
    """The training history of an exported model ({} when it has none)."""
    try:
        return artifact.read_history(serving_dir)
    except FileNotFoundError:
        return {}


def load_extraction(examples_uri: str) -> Dict[str, Any]:
    """The ExampleGen artifact's summary.json (or a summary of its extraction_report.jsonl)."""
    from components import extract

    summary = _read_json(fileio.join(examples_uri, extract.SUMMARY_FILE))
    if summary is not None:
        return summary
    records = fileio.join(examples_uri, extract.REPORT_FILE)
    if not _exists(records):
        return {}
    return extract.summarize(extract.read_report(records))


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


def _exists(path: str) -> bool:
    return fileio.exists(path)


def _read_json(path: str) -> Any | None:
    try:
        return fileio.read_json(path)
    except FileNotFoundError:
        return None
