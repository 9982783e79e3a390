"""The run report: a real TFMA evaluation (candidate vs baseline) of tiny real SavedModels read back by
skyhawk_model.evaluation, the RunReport component's report dict (report.json) and one HTML smoke test; plus
the decision text and degenerate inputs."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import tensorflow as tf
import tensorflow_model_analysis as tfma
from score_models import save_score_model, write_examples

from components import report as rpt
from components import report_page, report_plots
from skyhawk.config import GateConfig
from skyhawk_model import evaluation as ev
from skyhawk_model import gate

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


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory) -> dict[str, Path]:
    """A real TFMA run of the pipeline's EvalConfig, with a baseline the way TFX's Evaluator sets it up."""
    root = tmp_path_factory.mktemp("report")
    candidate_dir = root / "model" / "Format-Serving"
    save_score_model(candidate_dir, "score", THRESHOLD)
    save_score_model(root / "baseline" / "Format-Serving", "baseline_score", THRESHOLD)
    write_examples(root / "eval.tfrecord", [(video, label, {"score": c, "baseline_score": b})
                                            for video, label in VIDEOS
                                            for c, b in zip(CANDIDATE_SCORES[video], BASELINE_SCORES[video],
                                                            strict=True)])
    config = ev.eval_config(GateConfig(accuracy_floor=FLOOR), THRESHOLD)
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


def _artifact(cls, uri, **props):
    a = cls()
    a.uri = str(uri)
    os.makedirs(a.uri, exist_ok=True)
    for k, v in props.items():
        (a.set_int_custom_property if isinstance(v, int) else a.set_string_custom_property)(k, v)
    return a


def test_load_evaluation_reads_candidate_baseline_and_failures(evaluated):
    summary = ev.load_evaluation(str(evaluated["evaluation"]))
    assert summary["has_baseline"] is True
    cand, base = summary["models"]["candidate"], summary["models"]["baseline"]
    assert cand["is_fake"]["binary_accuracy"] == pytest.approx(_accuracy(CANDIDATE_SCORES))
    assert base["is_fake"]["binary_accuracy"] == pytest.approx(_accuracy(BASELINE_SCORES))
    assert cand["p_fake"]["example_count"] == 24 and cand["p_fake"]["video_count"] == 6
    assert {"auc", "log_loss", "precision", "recall"} <= set(cand["p_fake"])
    assert summary["diff"]["is_fake"]["binary_accuracy"] == pytest.approx(
        _accuracy(CANDIDATE_SCORES) - _accuracy(BASELINE_SCORES))
    # The candidate is below the floor and worse than the baseline: both thresholds fail.
    assert summary["validation_ok"] is False
    failed = {(f["metric"], f["model"]) for f in summary["failures"]}
    assert ("binary_accuracy", "candidate") in failed and ("binary_accuracy_diff", "candidate") in failed
    gate = next(t for t in summary["thresholds"] if t["metric"] == "binary_accuracy")
    assert gate["lower_bound"] == pytest.approx(FLOOR) and gate["change_absolute"] is not None
    # One threshold text for the table and the failures alike (TFMA reports each failed bound on its own).
    assert ev.threshold_text(gate) == f">= {FLOOR:.4f} and change vs baseline >= -1e-10"
    texts = {f["metric"]: f["threshold"] for f in summary["failures"]}
    assert texts == {"binary_accuracy": f">= {FLOOR:.4f}", "binary_accuracy_diff": "change vs baseline >= -1e-10"}

    plots = ev.load_plot_data(str(evaluated["evaluation"]), THRESHOLD)
    cm = plots["confusion"]
    assert cm["threshold"] == pytest.approx(THRESHOLD)
    assert {k: cm[k] for k in ("tp", "fp", "tn", "fn")} == _counts(CANDIDATE_SCORES)
    assert plots["roc"]["auc"] == pytest.approx(summary["models"]["candidate"]["p_fake"]["auc"])
    fpr, tpr = plots["roc"]["fpr"], plots["roc"]["tpr"]
    assert fpr[0] == tpr[0] == 0 and fpr[-1] == tpr[-1] == 1 and fpr == sorted(fpr)
    assert sum(b["count"] for b in plots["calibration"]) == pytest.approx(24)


@pytest.fixture(scope="module")
def component_report(evaluated, tmp_path_factory) -> dict:
    """RunReport run on the real evaluation, with a history, an extraction summary and a not-pushed decision."""
    from tfx.types import standard_artifacts

    tmp = tmp_path_factory.mktemp("component")
    extra = evaluated["serving"] / "assets.extra"
    extra.mkdir(exist_ok=True)
    history = {"loss": [0.9, 0.6, 0.5], "accuracy": [0.6, 0.75, 0.8], "val_loss": [0.8, 0.7, 0.65],
               "val_accuracy": [0.55, 0.65, 0.7], "epochs": 3, "stop_reason": "max_epochs"}
    (extra / "history.json").write_text(json.dumps(history))
    (extra / "skyhawk_model.json").write_text(json.dumps({"threshold": THRESHOLD, "backbone": "tiny",
                                                          "image_size": 64, "history": history}))
    examples = _artifact(standard_artifacts.Examples, tmp / "examples", span=3,
                         input_fingerprint="split:videos,num_files:6,total_bytes:1234")
    (tmp / "examples" / "summary.json").write_text(json.dumps(EXTRACTION))
    pushed = _artifact(standard_artifacts.PushedModel, tmp / "pushed", pushed=0)
    (tmp / "pushed" / "NOT_PUSHED.json").write_text(json.dumps({"blessed": False, "gate_failures": ["x"]}))
    rpt.RunReport.test_call(
        model=_artifact(standard_artifacts.Model, evaluated["model"]),
        evaluation=_artifact(standard_artifacts.ModelEvaluation, evaluated["evaluation"]),
        model_blessing=_artifact(standard_artifacts.ModelBlessing, tmp / "blessing", blessed=0),
        pushed_model=pushed, examples=examples, report=_artifact(rpt.SkyhawkReport, tmp / "report"))
    out = tmp / "report"
    return {"dir": out, "json": json.loads((out / report_page.JSON_FILE).read_text()), "history": history}


EXTRACTION = {"videos": 8, "videos_ok": 6, "videos_no_face": 1, "videos_failed": 1, "frames_sampled": 64,
              "frames_with_face": 50, "faces_written": 48, "synthetic_faces_written": 0,
              "faces_per_split": {"eval": 24, "train": 24},
              "problems": [{"video_id": "fake/empty", "status": "no_face", "reason": "no face in 8 frames"},
                           {"video_id": "real/broken", "status": "failed", "reason": "cannot decode video"}]}


def test_run_report_dict_holds_decision_metrics_training_and_data(evaluated, component_report):
    report = component_report["json"]
    summary = ev.load_evaluation(str(evaluated["evaluation"]))
    cand, base = summary["models"]["candidate"], summary["models"]["baseline"]
    # The decision and its reason: the failing thresholds, from the evaluation (not the pusher's fallback).
    decision = report["decision"]
    assert decision["blessed"] is False and decision["pushed"] is False and decision["version"] is None
    accuracy = _accuracy(CANDIDATE_SCORES)
    assert f"binary_accuracy (is_fake, candidate) = {accuracy:.4f} violates >= {FLOOR:.4f}" in decision["failures"]
    assert any(f.startswith("binary_accuracy_diff (is_fake, candidate)") for f in decision["failures"])
    assert decision["reason"] == "failed: " + "; ".join(decision["failures"])
    # The metric table: known rows first, in order, each with candidate, baseline and change.
    rows = {(r["output"], r["metric"]): r for r in report["metrics"]["rows"]}
    assert report["metrics"]["has_baseline"] is True
    assert [r["metric"] for r in report["metrics"]["rows"][:3]] == ["binary_accuracy", "auc", "log_loss"]
    for output, name in (("is_fake", "binary_accuracy"), ("p_fake", "auc"), ("p_fake", "video_accuracy")):
        row = rows[(output, name)]
        assert row["candidate"] == pytest.approx(cand[output][name])
        assert row["baseline"] == pytest.approx(base[output][name])
        assert row["change"] == pytest.approx(cand[output][name] - base[output][name])
    assert rows[("is_fake", "binary_accuracy")]["threshold"] == f">= {FLOOR:.4f} and change vs baseline >= -1e-10"
    assert rows[("p_fake", "example_count")]["candidate"] == 24 and rows[("p_fake", "example_count")]["count"]
    assert rows[("p_fake", "video_count")]["candidate"] == 6
    assert report["curves"]["confusion"]["tp"] == _counts(CANDIDATE_SCORES)["tp"]
    # Training, extraction and data identity.
    assert report["training"]["columns"] == ["loss", "accuracy", "val_loss", "val_accuracy"]
    assert report["training"]["rows"][2] == [3, 0.5, 0.8, 0.65, 0.7]
    assert report["training"]["facts"] == {"epochs": 3, "stop_reason": "max_epochs"}
    assert report["extraction"] == EXTRACTION
    assert report["data"]["span"] == 3 and report["data"]["threshold"] == THRESHOLD
    assert report["data"]["input_fingerprint"] == "split:videos,num_files:6,total_bytes:1234"
    assert report["data"]["backbone"] == "tiny" and report["data"]["image_size"] == 64
    assert [p["file"] for p in report["plots"]] == [report_plots.ACCURACY_PNG, report_plots.LOSS_PNG,
                                                    report_plots.CONFUSION_PNG, report_plots.ROC_PNG,
                                                    report_plots.CALIBRATION_PNG]


def test_run_report_html_smoke(component_report):
    """The page renders the dict: every PNG linked and valid, the headline, a value and escaped text."""
    html_path = component_report["dir"] / report_page.HTML_FILE
    text = html_path.read_text()
    linked = sorted(set(_between_all(text, 'src="', '"')))
    assert linked == sorted(p["file"] for p in component_report["json"]["plots"])
    for name in linked:
        data = (html_path.parent / name).read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 5000, name
        image = tf.io.decode_png(data)
        assert image.shape[0] > 200 and image.shape[1] > 200, name
    assert "<script" not in text.lower()
    assert "NOT BLESSED &mdash; not pushed" in text
    row = component_report["json"]["metrics"]["rows"][0]
    assert f'<td class="num">{row["candidate"]:.4f}</td>' in text
    assert "&gt;= 0.9000" in text  # autoescaped threshold text
    assert "<td>train</td><td class=\"num\">24</td>" in text and "cannot decode video" in text


def _between_all(text: str, start: str, end: str) -> list[str]:
    out, i = [], text.find(start)
    while i >= 0:
        j = text.index(end, i + len(start))
        out.append(text[i + len(start):j])
        i = text.find(start, j)
    return out


def test_gate_decision_pass_reason_without_and_with_baseline():
    thresholds = [{"output": "is_fake", "metric": "binary_accuracy", "lower_bound": 0.9, "upper_bound": None,
                   "change_absolute": -1e-10, "change_relative": None, "direction": "higher is better"}]
    first = {"models": {"candidate": {"is_fake": {"binary_accuracy": 0.95}}}, "has_baseline": False,
             "thresholds": thresholds, "failures": [], "validation_ok": True}
    d = gate.gate_decision(True, first, pushed=True, version=4, destination="/reg/skyhawk/4")
    assert d["reason"] == ("passed: accuracy 0.9500 >= floor 0.9000 "
                           "(no blessed baseline yet, so only the floor applied)")
    later = {**first, "has_baseline": True, "diff": {"is_fake": {"binary_accuracy": 0.01}}}
    d = gate.gate_decision(True, later, pushed=True, version=5)
    assert d["reason"] == ("passed: accuracy 0.9500 >= floor 0.9000 and no regression vs baseline "
                           "(accuracy change +0.0100)")
    assert d["blessed"] and d["pushed"] and d["version"] == 5
    # Not blessed: the pusher's recorded gate failures are the fallback reason.
    d = gate.gate_decision(False, {"failures": []}, pusher_failures=["binary_accuracy (is_fake): too low"])
    assert d["reason"] == "failed: binary_accuracy (is_fake): too low" and not d["pushed"]


def test_report_blessed_without_data(tmp_path):
    """A blessed/pushed run with only metrics: the decision renders, missing sections say so, no images."""
    evaluation = {"models": {"candidate": {"is_fake": {"binary_accuracy": 0.97}, "p_fake": {"auc": 0.99}}},
                  "has_baseline": False, "failures": [], "validation_ok": True,
                  "thresholds": [{"output": "is_fake", "metric": "binary_accuracy", "lower_bound": 0.9}]}
    decision = gate.gate_decision(True, evaluation, pushed=True, version=2, destination="/reg/m/2")
    report = report_page.build_report({}, evaluation, {}, decision, {}, {"span": 0})
    path = Path(report_page.write_report(str(tmp_path / "r"), report))
    assert report["plots"] == [] and report["training"] == {"facts": {}, "columns": [], "rows": []}
    assert report["metrics"]["has_baseline"] is False
    assert [(r["metric"], r["candidate"], r["baseline"]) for r in report["metrics"]["rows"]] == [
        ("binary_accuracy", 0.97, None), ("auc", 0.99, None)]
    assert json.loads((path.parent / report_page.JSON_FILE).read_text())["decision"] == decision
    text = path.read_text()
    assert "BLESSED &mdash; pushed as version 2 to <code>/reg/m/2</code>" in text
    assert "No training history found" in text and "No extraction summary found" in text
    assert "<h2>Confound audit</h2>\n<p class=\"muted\">Not checked.</p>" in text  # no ConfoundCheck input
    assert "<img" not in text and sorted(os.listdir(path.parent)) == [report_page.HTML_FILE, report_page.JSON_FILE]


def test_page_escapes_untrusted_text(tmp_path):
    """Video ids and reasons come from user data: the template escapes them."""
    decision = gate.gate_decision(False, {"failures": []}, pusher_failures=["<b>x</b>"])
    extraction = {"videos": 1, "problems": [{"video_id": "<script>alert(1)</script>", "status": "failed",
                                             "reason": "a & b"}]}
    text = report_page.render_html(report_page.build_report({}, {}, {}, decision, extraction))
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<li>&lt;b&gt;x&lt;/b&gt;</li>" in text and "a &amp; b" in text
