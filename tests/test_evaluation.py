"""Video-level metrics through a real TFMA run of the pipeline's EvalConfig, against values computed by hand
from the same frame predictions; the video gate (``gate.video_level``) with the DFDC "confident" rule,
including its boundary (more than 11 confident frames, but not more than n / 2.5)."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import tensorflow_model_analysis as tfma
from score_models import save_score_model, write_examples

from skyhawk.config import GateConfig
from skyhawk_model import evaluation as ev
from skyhawk_model import gate

THRESHOLD = 0.5
FLOOR = 0.73

# video: (label, [(frames, p_fake), ...]) and the video score the confident rule gives, by hand:
# more than 11 frames with p > 0.8 that are also more than n/2.5 of the n frames -> mean of those;
# else more than 90 % of frames with p < 0.2 -> mean of those; else the plain mean.
VIDEOS = {
    "fake/a": (1, [(13, 0.9), (17, 0.6)]),     # 13 > 11 and 13 > 30/2.5 = 12: confident -> 0.9
    "real/b": (0, [(12, 0.9), (18, 0.1)]),     # 12 > 11 but 12 = 30/2.5, not more: mean (10.8 + 1.8) / 30
    "real/c": (0, [(12, 0.85), (18, 0.3)]),    # the same boundary: mean (10.2 + 5.4) / 30 = 0.52, wrong
    "real/d": (0, [(28, 0.1), (2, 0.6)]),      # 28 > 0.9 * 30 low frames: mean of those -> 0.1
    "fake/e": (1, [(13, 0.95), (17, 0.55)]),   # confident -> 0.95
    "fake/f": (1, [(11, 0.9), (9, 0.15)]),     # 11 > 20/2.5 but not > 11: mean (9.9 + 1.35) / 20 = 0.5625
    "fake/g": (1, [(10, 0.45)]),               # mean 0.45: wrong
}
BY_HAND = {"fake/a": 0.9, "real/b": 0.42, "real/c": 0.52, "real/d": 0.1, "fake/e": 0.95, "fake/f": 0.5625,
           "fake/g": 0.45}


def _frames(video: str) -> list[float]:
    return [p for n, p in VIDEOS[video][1] for _ in range(n)]


@pytest.fixture(scope="module")
def evaluation(tmp_path_factory) -> dict:
    root: Path = tmp_path_factory.mktemp("video_eval")
    save_score_model(root / "model", "score", THRESHOLD)
    write_examples(root / "eval.tfrecord", [(video, label, {"score": p}) for video, (label, _) in VIDEOS.items()
                                            for p in _frames(video)])
    gate = GateConfig(accuracy_floor=FLOOR, video_level=True, video_aggregation="confident")
    # As TFX's Evaluator on a first run (no blessed baseline yet): the change thresholds are rubber-stamped.
    config = tfma.utils.update_eval_config_with_defaults(ev.eval_config(gate, THRESHOLD), has_baseline=False,
                                                         rubber_stamp=True)
    model = tfma.default_eval_shared_model(str(root / "model"), eval_config=config, rubber_stamp=True)
    tfma.run_model_analysis(eval_shared_model=model, eval_config=config, data_location=str(root / "eval.tfrecord"),
                            file_format="tfrecords", output_path=str(root / "evaluation"))
    return ev.load_evaluation(str(root / "evaluation"))


def test_hand_scores_follow_the_confident_rule():
    """The expected video scores above, recomputed from the frames with the rule's definition."""
    for video, expected in BY_HAND.items():
        p = _frames(video)
        high, low = [x for x in p if x > 0.8], [x for x in p if x < 0.2]
        if len(high) > 11 and len(high) > len(p) / 2.5:
            score = sum(high) / len(high)
        elif len(low) > 0.9 * len(p):
            score = sum(low) / len(low)
        else:
            score = sum(p) / len(p)
        assert score == pytest.approx(expected), video


def test_video_metrics_match_values_computed_by_hand(evaluation):
    labels = {v: VIDEOS[v][0] for v in VIDEOS}
    accuracy = sum((BY_HAND[v] >= THRESHOLD) == bool(labels[v]) for v in VIDEOS) / len(VIDEOS)
    fakes = [BY_HAND[v] for v in VIDEOS if labels[v]]
    reals = [BY_HAND[v] for v in VIDEOS if not labels[v]]
    auc = sum(1.0 if f > r else 0.5 if f == r else 0.0 for f in fakes for r in reals) / (len(fakes) * len(reals))
    clipped = {v: min(max(BY_HAND[v], 0.01), 0.99) for v in VIDEOS}
    log_loss = -sum(math.log(clipped[v]) if labels[v] else math.log(1 - clipped[v]) for v in VIDEOS) / len(VIDEOS)
    assert (accuracy, auc) == (pytest.approx(5 / 7), pytest.approx(11 / 12))

    video = evaluation["models"]["candidate"][ev.SCORE_OUTPUT]
    assert video[ev.VIDEO_COUNT] == len(VIDEOS)
    assert video[ev.VIDEO_ACCURACY] == pytest.approx(accuracy, abs=1e-6)
    assert video[ev.VIDEO_AUC] == pytest.approx(auc, abs=1e-6)
    assert video[ev.VIDEO_LOG_LOSS] == pytest.approx(log_loss, rel=1e-5)
    # Frame level, by hand: a frame is right when (p >= threshold) matches its video's label.
    frames = [(labels[v], p) for v in VIDEOS for p in _frames(v)]
    frame_accuracy = sum((p >= THRESHOLD) == bool(y) for y, p in frames) / len(frames)
    assert frame_accuracy == pytest.approx(135 / 180)
    decision = evaluation["models"]["candidate"][ev.DECISION_OUTPUT]
    assert decision[ev.FRAME_ACCURACY] == pytest.approx(frame_accuracy, abs=1e-6)
    assert video[ev.EXAMPLE_COUNT] == len(frames)


def test_video_level_gate_fails_on_video_accuracy_alone(evaluation):
    """Frame accuracy 0.75 passes the 0.73 floor; video accuracy 5/7 does not, so the model is not blessed."""
    assert evaluation["validation_ok"] is False
    assert [(f["metric"], f["output"]) for f in evaluation["failures"]] == [(ev.VIDEO_ACCURACY, ev.SCORE_OUTPUT)]
    decision = gate.gate_decision(False, evaluation)
    assert decision["reason"] == f"failed: video_accuracy (p_fake, candidate) = {5 / 7:.4f} violates >= {FLOOR:.4f}"
    video_gate = gate.threshold_for(evaluation, ev.SCORE_OUTPUT, ev.VIDEO_ACCURACY)
    assert video_gate is not None and video_gate["lower_bound"] == pytest.approx(FLOOR)
