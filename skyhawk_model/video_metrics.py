"""TFMA metric: video-level accuracy, AUC and log loss from per-frame predictions.

Use it in a MetricsSpec with ``query_key="video_id"``: TFMA then hands the combiner one element per
video holding all of that video's frame labels and predictions; ``skyhawk.aggregate.video_score``
turns them into one score (mean or the DFDC "confident" rule).
"""
from __future__ import annotations

from typing import Any

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import metric_types, metric_util
from tensorflow_model_analysis.proto import config_pb2

from skyhawk import aggregate
from skyhawk.config import GateConfig, TrainConfig

ACCURACY, AUC, LOG_LOSS, COUNT = "video_accuracy", "video_auc", "video_log_loss", "video_count"


class VideoMetrics(metric_types.Metric):
    """video_accuracy / video_auc / video_log_loss / video_count (needs query_key = video id feature).

    The metric's name is ``video_accuracy``: TFMA keys a MetricConfig's threshold by the metric's name,
    so a threshold on this MetricConfig gates the video accuracy (without a name it would gate a metric
    called '' that does not exist, and every model would fail with "Metric not found").
    """

    def __init__(self, aggregation: str = GateConfig.video_aggregation, threshold: float = TrainConfig.threshold,
                 name: str = ACCURACY):
        super().__init__(_video_metrics, aggregation=aggregation, threshold=threshold, name=name)


def _video_metrics(aggregation: str = GateConfig.video_aggregation, threshold: float = TrainConfig.threshold,
                   name: str = ACCURACY,
                   eval_config: config_pb2.EvalConfig | None = None, model_names: list[str] | None = None,
                   output_names: list[str] | None = None, query_key: str = "", example_weighted: bool = False
                   ) -> metric_types.MetricComputations:
    """One computation per (model, output): candidate and baseline are scored alike."""
    if not query_key:
        raise ValueError("VideoMetrics needs query_key (the video id feature) in its MetricsSpec")
    if aggregation not in aggregate.AGGREGATIONS:
        raise ValueError(f"unknown aggregation {aggregation!r}")
    computations = []
    for model_name in model_names or [""]:
        for output_name in output_names or [""]:
            keys = {name: metric_types.MetricKey(name=name, model_name=model_name, output_name=output_name,
                                                 example_weighted=example_weighted)
                    for name in (ACCURACY, AUC, LOG_LOSS, COUNT)}
            computations.append(metric_types.MetricComputation(
                keys=list(keys.values()), preprocessors=None,
                combiner=_VideoCombiner(keys, aggregation, threshold, eval_config, model_name, output_name,
                                        example_weighted)))
    return computations


class _VideoCombiner(beam.CombineFn):
    """Accumulates (label, video score) pairs; one input element is one video's frames."""

    def __init__(self, keys: dict[str, metric_types.MetricKey], aggregation: str, threshold: float,
                 eval_config: config_pb2.EvalConfig | None, model_name: str, output_name: str,
                 example_weighted: bool):
        self._keys = keys
        self._aggregation = aggregation
        self._threshold = threshold
        self._eval_config = eval_config
        self._model_name = model_name
        self._output_name = output_name
        self._example_weighted = example_weighted

    def create_accumulator(self) -> list[tuple[int, float]]:
        return []

    def add_input(self, acc: list[tuple[int, float]], element: metric_types.StandardMetricInputs
                  ) -> list[tuple[int, float]]:
        for label, prediction, _ in metric_util.to_label_prediction_example_weight(
                element, eval_config=self._eval_config, model_name=self._model_name,
                output_name=self._output_name, example_weighted=self._example_weighted, flatten=False,
                require_single_example_weight=True):
            y = int(np.max(np.asarray(label, dtype=np.float64)))
            acc.append((y, aggregate.video_score(np.asarray(prediction).ravel(), self._aggregation)))
        return acc

    def merge_accumulators(self, accs) -> list[tuple[int, float]]:
        out: list[tuple[int, float]] = []
        for a in accs:
            out.extend(a)
        return out

    def extract_output(self, acc: list[tuple[int, float]]) -> dict[metric_types.MetricKey, Any]:
        labels = [y for y, _ in acc]
        scores = [s for _, s in acc]
        return {
            self._keys[ACCURACY]: aggregate.accuracy(labels, scores, self._threshold),
            self._keys[AUC]: aggregate.auc(labels, scores),
            self._keys[LOG_LOSS]: aggregate.log_loss(labels, scores),
            self._keys[COUNT]: float(len(acc)),
        }
