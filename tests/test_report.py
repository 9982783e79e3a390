"""components/report.py: a report rendered from a real TFMA evaluation (candidate vs baseline) of tiny real
SavedModels, through the RunReport component's function; plus the decision text and degenerate inputs."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

tf = pytest.importorskip("tensorflow")
tfma = pytest.importorskip("tensorflow_model_analysis")

from components import report as rpt  # noqa: E402
from pipelines.evaluation import eval_config  # noqa: E402
from skyhawk import features  # noqa: E402
from skyhawk.config import GateConfig  # noqa: E402

THRESHOLD = 0.5
FLOOR = 0.9
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# 6 videos x 4 faces. Candidate scores get 7 of 24 faces wrong; the baseline's get 1 wrong.
VIDEOS = [("real/a", 0), ("real/b", 0), ("real/c", 0), ("fake/a", 1), ("fake/b", 1), ("fake/c", 1)]
CANDIDATE_SCORES = {
    "real/a": [0.1, 0.2, 0.6, 0.3], "real/b": [0.7, 0.8, 0.4, 0.2], "real/c": [0.1, 0.05, 0.3, 0.55],
    "fake/a": [0.9, 0.8, 0.45, 0.7], "fake/b": [0.3, 0.6, 0.95, 0.85], "fake/c": [0.2, 0.65, 0.75, 0.9],
}
BASELINE_SCORES = {
    "real/a": [0.1, 0.1, 0.2, 0.3], "real/b": [0.2, 0.3, 0.1, 0.6], "real/c": [0.1, 0.05, 0.3, 0.25],
    "fake/a": [0.9, 0.8, 0.85, 0.7], "fake/b": [0.7, 0.6, 0.95, 0.85], "fake/c": [0.8, 0.65, 0.75, 0.9],
}


def _counts(scores: dict[str, list[float]]) -> dict[str, int]:
    c = {"tp": 0, "fp": 0, "tn": 0, "fn": 0}
    for video, label in VIDEOS:
        for s in scores[video]:
            fake = s >= THRESHOLD
            c[("t" if fake == bool(label) else "f") + ("p" if fake else "n")] += 1
    return c


def _accuracy(scores: dict[str, list[float]]) -> float:
    c = _counts(scores)
    return (c["tp"] + c["tn"]) / sum(c.values())


def _save_model(path: Path, feature: str) -> None:
    """A real SavedModel with the Skyhawk serving_default contract: serialized tf.Examples -> p_fake, is_fake."""
    module = tf.Module()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve(examples):
        parsed = tf.io.parse_example(examples, {feature: tf.io.FixedLenFeature([], tf.float32)})
        p_fake = parsed[feature]
        return {"p_fake": p_fake, "is_fake": tf.cast(p_fake >= THRESHOLD, tf.int64),
                "threshold": tf.fill(tf.shape(p_fake), tf.constant(THRESHOLD))}

    module.serve = serve
    tf.saved_model.save(module, str(path), signatures={"serving_default": serve.get_concrete_function()})


def _write_examples(path: Path) -> None:
    with tf.io.TFRecordWriter(str(path)) as w:
        for video, label in VIDEOS:
            for c, b in zip(CANDIDATE_SCORES[video], BASELINE_SCORES[video], strict=True):
                ex = tf.train.Example(features=tf.train.Features(feature={
                    features.LABEL: tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
                    features.VIDEO_ID: tf.train.Feature(bytes_list=tf.train.BytesList(value=[video.encode()])),
                    "score": tf.train.Feature(float_list=tf.train.FloatList(value=[c])),
                    "baseline_score": tf.train.Feature(float_list=tf.train.FloatList(value=[b])),
                }))
                w.write(ex.SerializeToString())


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory) -> dict[str, Path]:
    """A real TFMA run of the pipeline's EvalConfig, with a baseline the way TFX's Evaluator sets it up."""
    root = tmp_path_factory.mktemp("report")
    candidate_dir = root / "model" / "Format-Serving"
    _save_model(candidate_dir, "score")
    _save_model(root / "baseline" / "Format-Serving", "baseline_score")
    _write_examples(root / "eval.tfrecord")
    config = eval_config(GateConfig(accuracy_floor=FLOOR), THRESHOLD)
    spec = config.model_specs[0]
    spec.name = "candidate"
    baseline_spec = config.model_specs.add()
    baseline_spec.CopyFrom(spec)
    baseline_spec.name, baseline_spec.is_baseline = "baseline", True
    models = [tfma.default_eval_shared_model(str(d), eval_config=config, model_name=name)
              for name, d in (("candidate", candidate_dir), ("baseline", root / "baseline" / "Format-Serving"))]
    tfma.run_model_analysis(eval_shared_model=models, eval_config=config, data_location=str(root / "eval.tfrecord"),
                            file_format="tfrecords", output_path=str(root / "evaluation"))
    return {"root": root, "model": root / "model", "serving": candidate_dir, "evaluation": root / "evaluation"}


def _assert_pngs_linked_and_valid(html_path: Path) -> list[str]:
    text = html_path.read_text()
    linked = sorted(set(_between_all(text, 'src="', '"')))
    assert linked, "no images in the report"
    for name in linked:
        assert "/" not in name and not name.startswith("http"), name  # relative, beside report.html
        data = (html_path.parent / name).read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 5000, name
        image = tf.io.decode_png(data)
        assert image.shape[0] > 200 and image.shape[1] > 200, name
    assert "<script" not in text.lower()
    return linked


def _between_all(text: str, start: str, end: str) -> list[str]:
    out, i = [], text.find(start)
    while i >= 0:
        j = text.index(end, i + len(start))
        out.append(text[i + len(start):j])
        i = text.find(start, j)
    return out


def test_load_evaluation_reads_candidate_baseline_and_failures(evaluated):
    summary = rpt.load_evaluation(str(evaluated["evaluation"]))
    assert summary["has_baseline"] is True
    cand, base = summary["models"]["candidate"], summary["models"]["baseline"]
    assert cand["is_fake"]["binary_accuracy"] == pytest.approx(_accuracy(CANDIDATE_SCORES))
    assert base["is_fake"]["binary_accuracy"] == pytest.approx(_accuracy(BASELINE_SCORES))
    assert cand["p_fake"]["example_count"] == 24 and cand["p_fake"]["video_count"] == 6
    assert summary["diff"]["is_fake"]["binary_accuracy"] == pytest.approx(
        _accuracy(CANDIDATE_SCORES) - _accuracy(BASELINE_SCORES))
    # The candidate is below the floor and worse than the baseline: both thresholds fail.
    assert summary["validation_ok"] is False
    failed = {(f["metric"], f["model"]) for f in summary["failures"]}
    assert ("binary_accuracy", "candidate") in failed and ("binary_accuracy_diff", "candidate") in failed
    gate = next(t for t in summary["thresholds"] if t["metric"] == "binary_accuracy")
    assert gate["lower_bound"] == pytest.approx(FLOOR) and gate["change_absolute"] is not None

    plots = rpt.load_plot_data(str(evaluated["evaluation"]), THRESHOLD)
    cm = plots["confusion"]
    assert cm["threshold"] == pytest.approx(THRESHOLD)
    assert {k: cm[k] for k in ("tp", "fp", "tn", "fn")} == _counts(CANDIDATE_SCORES)
    assert plots["roc"]["auc"] == pytest.approx(summary["models"]["candidate"]["p_fake"]["auc"])
    fpr, tpr = plots["roc"]["fpr"], plots["roc"]["tpr"]
    assert fpr[0] == tpr[0] == 0 and fpr[-1] == tpr[-1] == 1 and fpr == sorted(fpr)
    assert sum(b["count"] for b in plots["calibration"]) == pytest.approx(24)


def test_run_report_component_renders_real_evaluation(evaluated, tmp_path):
    from tfx.types import standard_artifacts

    serving = evaluated["serving"]
    extra = serving / "assets.extra"
    extra.mkdir(exist_ok=True)
    history = {"loss": [0.9, 0.6, 0.5], "accuracy": [0.6, 0.75, 0.8], "val_loss": [0.8, 0.7, 0.65],
               "val_accuracy": [0.55, 0.65, 0.7], "epochs": 3, "stop_reason": "max_epochs"}
    (extra / "history.json").write_text(json.dumps(history))
    (extra / "skyhawk_model.json").write_text(json.dumps({"threshold": THRESHOLD, "backbone": "tiny",
                                                          "image_size": 64, "history": history}))

    def artifact(cls, uri, **props):
        a = cls()
        a.uri = str(uri)
        os.makedirs(a.uri, exist_ok=True)
        for k, v in props.items():
            (a.set_int_custom_property if isinstance(v, int) else a.set_string_custom_property)(k, v)
        return a

    examples = artifact(standard_artifacts.Examples, tmp_path / "examples", span=3,
                        input_fingerprint="split:videos,num_files:6,total_bytes:1234")
    extraction = {"videos": 8, "videos_ok": 6, "videos_no_face": 1, "videos_failed": 1, "frames_sampled": 64,
                  "frames_with_face": 50, "faces_written": 48, "synthetic_faces_written": 0,
                  "faces_per_split": {"eval": 24, "train": 24},
                  "problems": [{"video_id": "fake/empty", "status": "no_face", "reason": "no face in 8 frames"},
                               {"video_id": "real/broken", "status": "failed", "reason": "cannot decode video"}]}
    (tmp_path / "examples" / "summary.json").write_text(json.dumps(extraction))
    blessing = artifact(standard_artifacts.ModelBlessing, tmp_path / "blessing", blessed=0)
    pushed = artifact(standard_artifacts.PushedModel, tmp_path / "pushed", pushed=0)
    (tmp_path / "pushed" / "NOT_PUSHED.json").write_text(json.dumps({"blessed": False, "gate_failures": ["x"]}))
    out = artifact(rpt.SkyhawkReport, tmp_path / "report")

    rpt.RunReport.test_call(
        model=artifact(standard_artifacts.Model, evaluated["model"]),
        evaluation=artifact(standard_artifacts.ModelEvaluation, evaluated["evaluation"]),
        model_blessing=blessing, pushed_model=pushed, examples=examples, report=out)

    html_path = tmp_path / "report" / rpt.REPORT_FILE
    text = html_path.read_text()
    linked = _assert_pngs_linked_and_valid(html_path)
    assert set(linked) == {rpt.ACCURACY_PNG, rpt.LOSS_PNG, rpt.CONFUSION_PNG, rpt.ROC_PNG, rpt.CALIBRATION_PNG}
    summary = rpt.load_evaluation(str(evaluated["evaluation"]))
    cand, base = summary["models"]["candidate"], summary["models"]["baseline"]
    # Candidate and baseline values, frame and video level.
    for values in (cand, base):
        for output, name in (("is_fake", "binary_accuracy"), ("p_fake", "auc"), ("p_fake", "video_accuracy")):
            assert f">{values[output][name]:.4f}<" in text, (output, name)
    assert "<th>baseline</th>" in text and ">24<" in text and ">6<" in text
    # The decision and its reason: the failing thresholds.
    assert "NOT BLESSED" in text and "BLESSED &mdash; pushed" not in text
    assert f"<li>binary_accuracy (is_fake, candidate) = {cand['is_fake']['binary_accuracy']:.4f} violates" in text
    assert "binary_accuracy_diff" in text and f"&gt;= {FLOOR:.4f}" in text
    # Extraction summary and data identity.
    for needle in ("fake/empty", "no face in 8 frames", "cannot decode video", "split:videos,num_files:6",
                   "<tr><th>span</th><td><code>3</code>", "<td>train</td><td class=\"num\">24</td>"):
        assert needle in text, needle
    report_json = json.loads((tmp_path / "report" / rpt.REPORT_JSON).read_text())
    assert report_json["decision"]["blessed"] is False and report_json["decision"]["pushed"] is False
    assert report_json["decision"]["reason"].startswith("failed: binary_accuracy (is_fake, candidate) = 0.7083")


def test_gate_decision_pass_reason_without_and_with_baseline():
    thresholds = [{"output": "is_fake", "metric": "binary_accuracy", "lower_bound": 0.9, "upper_bound": None,
                   "change_absolute": -1e-10, "change_relative": None, "direction": "higher is better"}]
    first = {"models": {"candidate": {"is_fake": {"binary_accuracy": 0.95}}}, "has_baseline": False,
             "thresholds": thresholds, "failures": [], "validation_ok": True}
    d = rpt.gate_decision(True, first, pushed=True, version=4, destination="/reg/skyhawk/4")
    assert d["reason"] == ("passed: accuracy 0.9500 >= floor 0.9000 "
                           "(no blessed baseline yet, so only the floor applied)")
    later = {**first, "has_baseline": True, "diff": {"is_fake": {"binary_accuracy": 0.01}}}
    d = rpt.gate_decision(True, later, pushed=True, version=5)
    assert d["reason"] == ("passed: accuracy 0.9500 >= floor 0.9000 and no regression vs baseline "
                           "(accuracy change +0.0100)")
    assert d["blessed"] and d["pushed"] and d["version"] == 5
    # Not blessed: the pusher's recorded gate failures are the fallback reason.
    d = rpt.gate_decision(False, {"failures": []}, pusher_failures=["binary_accuracy (is_fake): too low"])
    assert d["reason"] == "failed: binary_accuracy (is_fake): too low" and not d["pushed"]


def test_render_report_blessed_without_data(tmp_path):
    """A blessed/pushed run with only metrics: the decision renders, missing sections say so, no images."""
    evaluation = {"models": {"candidate": {"is_fake": {"binary_accuracy": 0.97}, "p_fake": {"auc": 0.99}}},
                  "has_baseline": False, "failures": [], "validation_ok": True,
                  "thresholds": [{"output": "is_fake", "metric": "binary_accuracy", "lower_bound": 0.9}]}
    decision = rpt.gate_decision(True, evaluation, pushed=True, version=2, destination="/reg/m/2")
    path = Path(rpt.render_report(str(tmp_path / "r"), {}, evaluation, {}, decision, {}, {"span": 0}))
    text = path.read_text()
    assert "BLESSED &mdash; pushed as version 2 to <code>/reg/m/2</code>" in text
    assert "passed: accuracy 0.9700 &gt;= floor 0.9000" in text and ">0.9900<" in text
    assert "No training history found" in text and "No extraction summary found" in text
    assert "<img" not in text and sorted(os.listdir(path.parent)) == [rpt.REPORT_FILE, rpt.REPORT_JSON]
