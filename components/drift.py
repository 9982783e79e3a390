"""DriftValidator: TFDV drift check of the newest span's statistics against the previous span's.

TFX's ExampleValidator checks one span against the schema; it has no input for the previous span. This
component adds drift comparators to a copy of the schema and runs ``tfdv.validate_statistics`` with
``previous_statistics``, per split (train, eval):

- L-infinity distance of the shares of ``method`` (real / sbi / swap / dataset, so also the real share)
  (``gate.drift_linf``);
- Jensen-Shannon divergence of ``detector_score``, ``box`` (face position and size in frame pixels, i.e.
  the video resolution and framing) and ``face_index`` (faces per frame) (``gate.drift_jsd``).

The previous span's statistics are picked from ``statistics_history`` (the pipeline's
``span_statistics_resolver``: the latest StatisticsGen output of every span; StatisticsGen copies ``span``
from the Examples): the one of the largest span below the current span.
The result, ``drift.json``, appears in the run report; with ``gate.block_on_drift`` an anomaly keeps the
candidate from being blessed (``components.golden``).
"""
# NOTE: no ``from __future__ import annotations``: TFX's function-component parser needs real annotations.

from typing import Any, Dict, List

from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import standard_artifacts
from tfx.types.artifact import Artifact

DRIFT_FILE = "drift.json"
LINF_FEATURES = ("method",)  # categorical (real | sbi | swap | dataset): L-infinity distance of the shares
JSD_FEATURES = ("detector_score", "box", "face_index")  # numeric: Jensen-Shannon divergence
SPLITS = ("train", "eval")


class SkyhawkDrift(Artifact):
    """A directory holding drift.json: the drift anomalies of a span against the previous span."""

    TYPE_NAME = "skyhawk.Drift"  # KFP v2 wants <namespace>.<Title>


def drift_schema(schema: Any, linf: float, jsd: float) -> Any:
    """A copy of the schema with the Skyhawk drift comparators (features the schema lacks are skipped)."""
    from tensorflow_metadata.proto.v0 import schema_pb2

    out = schema_pb2.Schema()
    out.CopyFrom(schema)
    for feature in out.feature:
        if feature.name in LINF_FEATURES:
            feature.drift_comparator.infinity_norm.threshold = float(linf)
        elif feature.name in JSD_FEATURES:
            feature.drift_comparator.jensen_shannon_divergence.threshold = float(jsd)
    return out


def drift_anomalies(current: Any, previous: Any, schema: Any, linf: float, jsd: float) -> List[Dict[str, Any]]:
    """[{feature, short, description}] for each feature whose distribution drifted between two
    DatasetFeatureStatisticsList protos (``tfdv.validate_statistics`` with ``previous_statistics``)."""
    import tensorflow_data_validation as tfdv

    anomalies = tfdv.validate_statistics(current, drift_schema(schema, linf, jsd), previous_statistics=previous)
    out = []
    for name, info in sorted(anomalies.anomaly_info.items()):
        drift = [r for r in info.reason if "COMPARATOR" in _reason_type(r)]
        for r in drift:
            out.append({"feature": name, "short": r.short_description, "description": r.description})
    return out


def _reason_type(reason: Any) -> str:
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    return anomalies_pb2.AnomalyInfo.Type.Name(reason.type)


def _stats(artifact: Any, split: str) -> Any | None:
    from tfx.components.statistics_gen import stats_artifact_utils

    try:
        return stats_artifact_utils.load_statistics(artifact, split).proto()
    except Exception:  # noqa: BLE001 - the split is absent from this artifact
        return None


@component
def DriftValidator(
    statistics: InputArtifact[standard_artifacts.ExampleStatistics],
    schema: InputArtifact[standard_artifacts.Schema],
    drift: OutputArtifact[SkyhawkDrift],
    statistics_history: InputArtifact[List[standard_artifacts.ExampleStatistics]] = None,
    linf_threshold: Parameter[float] = 0.1,
    jsd_threshold: Parameter[float] = 0.3,
) -> None:
    """Writes <drift.uri>/drift.json; records ``anomalies`` (count), ``span`` and ``previous_span``."""
    import tensorflow_data_validation as tfdv
    from tfx.utils import io_utils

    from skyhawk import fileio

    span = int(statistics.span or 0)
    previous_statistics = previous_span_statistics(span, statistics_history or [])
    result: Dict[str, Any] = {"span": span, "previous_span": None, "anomalies": [], "compared": False,
                              "thresholds": {"linf": linf_threshold, "jsd": jsd_threshold,
                                             "linf_features": list(LINF_FEATURES),
                                             "jsd_features": list(JSD_FEATURES)}}
    if previous_statistics is not None:
        result["previous_span"] = int(previous_statistics.span or 0)
        schema_proto = tfdv.load_schema_text(io_utils.get_only_uri_in_dir(schema.uri))
        for split in SPLITS:
            current, previous = _stats(statistics, split), _stats(previous_statistics, split)
            if current is None or previous is None:
                continue
            result["compared"] = True
            for a in drift_anomalies(current, previous, schema_proto, linf_threshold, jsd_threshold):
                result["anomalies"].append({"split": split, **a})
    drift.set_int_custom_property("anomalies", len(result["anomalies"]))
    drift.set_int_custom_property("span", span)
    if result["previous_span"] is not None:
        drift.set_int_custom_property("previous_span", result["previous_span"])
    fileio.write_json(fileio.join(drift.uri, DRIFT_FILE), result)


def previous_span_statistics(span: int, history: List[Any]) -> Any | None:
    """The newest statistics artifact of the largest span below span (None: there is no earlier span)."""
    earlier = [a for a in history if int(a.span or 0) < span]
    return max(earlier, key=lambda a: (int(a.span or 0), a.id)) if earlier else None


def load_drift(uri: str) -> Dict[str, Any]:
    """drift.json of a SkyhawkDrift artifact ({} when absent)."""
    from skyhawk import fileio

    try:
        return fileio.read_json(fileio.join(uri, DRIFT_FILE))
    except FileNotFoundError:
        return {}


def drift_text(drift: Dict[str, Any]) -> str:
    """One line: the anomalies, 'no drift vs span N', or why nothing was compared."""
    if not drift:
        return "drift not checked"
    if drift.get("previous_span") is None:
        return f"no previous span to compare span {drift.get('span')} with"
    anomalies = drift.get("anomalies") or []
    if not anomalies:
        return f"no drift between span {drift['previous_span']} and span {drift['span']}"
    parts = [f"{a['split']}/{a['feature']}: {a['description']}" for a in anomalies]
    return f"drift between span {drift['previous_span']} and span {drift['span']}: " + "; ".join(parts)
