"""DriftValidator's TFDV comparison and GoldenGate's decision rules, on real TFDV statistics and real artifacts.

The whole pipeline (spans, warm start, golden set scoring, drift in the report) runs in test_retrain.py.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from components.drift import SkyhawkDrift, drift_anomalies, drift_text
from components.golden import GOLDEN_FILE, GoldenGate, golden_check
from skyhawk import features


def _examples(path: Path, methods: list[str], seed: int, box_scale: float = 1.0) -> str:
    """A TFRecord of face-crop tf.Examples (the pipeline's features) with the given method per face."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    with tf.io.TFRecordWriter(str(path)) as w:
        for i, method in enumerate(methods):
            x, y = rng.uniform(50, 80, 2) * box_scale
            rec = features.FaceRecord(jpeg=b"jpeg", label=int(method != "real"), video_id=f"v{i % 7}",
                                      group_id=f"g{i % 7}", frame_index=i, face_index=0,
                                      box=[x, y, x + 90 * box_scale, y + 90 * box_scale],
                                      detector_score=float(rng.normal(1.5, 0.3)), source_uri=f"v{i % 7}.mp4",
                                      method=method)
            w.write(features.to_example(rec).SerializeToString())
    return str(path)


@pytest.fixture(scope="module")
def stats(tmp_path_factory) -> dict:
    """TFDV statistics of three spans: two alike (real/sbi/swap in thirds), one without sbi and larger faces."""
    import tensorflow_data_validation as tfdv

    d = tmp_path_factory.mktemp("drift")
    even = ["real", "sbi", "swap"] * 60
    out = {}
    for name, methods, seed, scale in (("span1", even, 1, 1.0), ("span2", even, 2, 1.0),
                                       ("drifted", ["real", "swap"] * 90, 3, 3.0)):
        out[name] = tfdv.generate_statistics_from_tfrecord(_examples(d / f"{name}.tfrecord", methods, seed, scale),
                                                           output_path=str(d / f"{name}.stats"))
    out["schema"] = tfdv.infer_schema(out["span1"])
    return out


def test_alike_spans_show_no_drift(stats):
    assert drift_anomalies(stats["span2"], stats["span1"], stats["schema"], linf=0.1, jsd=0.3) == []


def test_a_drifted_span_is_flagged_per_feature(stats):
    found = drift_anomalies(stats["drifted"], stats["span1"], stats["schema"], linf=0.1, jsd=0.3)
    by_feature = {a["feature"]: a["description"] for a in found}
    assert "Linfty distance" in by_feature["method"]  # sbi went from 1/3 of the faces to none
    assert "Jensen-Shannon" in by_feature["box"]  # faces three times larger
    assert "detector_score" not in by_feature  # same distribution
    text = drift_text({"span": 3, "previous_span": 2, "anomalies": [{"split": "train", **a} for a in found]})
    assert text.startswith("drift between span 2 and span 3: ") and "train/method" in text


def test_golden_check_allows_at_most_max_regression():
    assert golden_check({"video_accuracy": 0.8}, {"video_accuracy": 0.85}, 0.1)[0] is True
    passed, line = golden_check({"video_accuracy": 0.5}, {"video_accuracy": 0.9}, 0.1)
    assert passed is False and "regression 0.4000 > gate.max_regression 0.1" in line
    assert golden_check({"video_accuracy": 0.1}, None, 0.0)[0] is True  # no baseline yet


def _gate(tmp_path: Path, evaluator_blessed: int, anomalies: list, block: int) -> tuple[int, dict]:
    """Runs GoldenGate's executor function on real artifacts (no golden set) and returns its verdict."""
    from tfx.types import standard_artifacts

    model, evaluator_blessing, blessing = (standard_artifacts.Model(), standard_artifacts.ModelBlessing(),
                                           standard_artifacts.ModelBlessing())
    model.uri, evaluator_blessing.uri = str(tmp_path / "model"), str(tmp_path / "eval_blessing")
    blessing.uri = str(tmp_path / f"blessing-{evaluator_blessed}-{block}-{len(anomalies)}")
    evaluator_blessing.set_int_custom_property("blessed", evaluator_blessed)
    evaluator_blessing.set_string_custom_property("baseline_model", "/p/Trainer/model/1")
    drift = SkyhawkDrift()
    drift.uri = str(tmp_path / "drift")
    Path(drift.uri).mkdir(exist_ok=True)
    (Path(drift.uri) / "drift.json").write_text(json.dumps({"span": 2, "previous_span": 1, "anomalies": anomalies}))
    GoldenGate.EXECUTOR_SPEC.executor_class._FUNCTION(
        model=model, evaluator_blessing=evaluator_blessing, final_blessing=blessing, baseline_model=None, drift=drift,
        golden_root="", golden_labels="folders", max_regression=0.0, block_on_drift=block, frames=4,
        beam_args="[]")
    assert blessing.get_string_custom_property("baseline_model") == "/p/Trainer/model/1"
    verdict = json.loads((Path(blessing.uri) / GOLDEN_FILE).read_text())
    assert (Path(blessing.uri) / ("BLESSED" if verdict["blessed"] else "NOT_BLESSED")).exists()
    return blessing.get_int_custom_property("blessed"), verdict


def test_golden_gate_passes_the_evaluators_verdict_without_golden_set(tmp_path):
    blessed, verdict = _gate(tmp_path, 1, [], block=1)
    assert blessed == 1 and verdict["summary"] == "no golden set configured (gate.golden_root)"
    assert _gate(tmp_path, 0, [], block=0)[0] == 0


def test_drift_blocks_only_when_configured(tmp_path):
    anomaly = [{"split": "train", "feature": "method", "short": "High Linfty distance",
                "description": "The Linfty distance between current and previous is 0.33"}]
    blessed, verdict = _gate(tmp_path, 1, anomaly, block=0)
    assert blessed == 1 and verdict["drift"]["anomalies"] == 1 and not verdict["failures"]
    blessed, verdict = _gate(tmp_path, 1, anomaly, block=1)
    assert blessed == 0 and "train/method" in verdict["failures"][0]
    assert verdict["failures"][0].endswith("(gate.block_on_drift)")


def test_the_previous_span_is_the_newest_statistics_of_the_largest_earlier_span():
    from tfx.types import standard_artifacts

    from components.drift import previous_span_statistics

    def stats(span: int, artifact_id: int):
        a = standard_artifacts.ExampleStatistics()
        a.span = span
        a.mlmd_artifact.id = artifact_id
        return a

    history = [stats(1, 1), stats(2, 2), stats(2, 5), stats(3, 6), stats(1, 7)]
    assert previous_span_statistics(3, history).id == 5  # span 2, re-computed later
    assert previous_span_statistics(2, history).id == 7
    assert previous_span_statistics(1, history) is None
    assert previous_span_statistics(0, []) is None
