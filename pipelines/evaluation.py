"""The Evaluator's TFMA config (metrics + the blessing gate) and reading its results back."""
from __future__ import annotations

import json

import tensorflow_model_analysis as tfma

from skyhawk import features
from skyhawk.config import GateConfig

FRAME_ACCURACY = "binary_accuracy"
VIDEO_ACCURACY = "video_accuracy"
DECISION_OUTPUT = "is_fake"  # the model's own decision at its exported threshold
SCORE_OUTPUT = "p_fake"


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
    decision = tfma.MetricsSpec(
        output_names=[DECISION_OUTPUT],
        metrics=[tfma.MetricConfig(class_name="BinaryAccuracy", config=json.dumps({"threshold": 0.5}),
                                   threshold=gate_threshold)],
    )
    score = tfma.MetricsSpec(
        output_names=[SCORE_OUTPUT],
        metrics=[
            tfma.MetricConfig(class_name="ExampleCount"),
            tfma.MetricConfig(class_name="AUC", config=json.dumps({"num_thresholds": 1000})),
            tfma.MetricConfig(class_name="BinaryCrossentropy", config=json.dumps({"name": "log_loss"})),
            tfma.MetricConfig(class_name="Precision", config=json.dumps({"thresholds": threshold})),
            tfma.MetricConfig(class_name="Recall", config=json.dumps({"thresholds": threshold})),
            tfma.MetricConfig(class_name="ConfusionMatrixAtThresholds",
                              config=json.dumps({"thresholds": [threshold]})),
            tfma.MetricConfig(class_name="ConfusionMatrixPlot"),
            tfma.MetricConfig(class_name="CalibrationPlot"),
        ],
    )
    video = tfma.MetricsSpec(
        output_names=[SCORE_OUTPUT],
        query_key=features.VIDEO_ID,
        metrics=[tfma.MetricConfig(
            class_name="VideoMetrics", module="skyhawk_model.video_metrics",
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
