"""Inference for bulk scoring: Beam's RunInference over a Skyhawk SavedModel's ``serving_jpeg`` signature."""
from __future__ import annotations

import logging
import time
from typing import Any, Iterable, Sequence

import apache_beam as beam
from apache_beam.ml.inference.base import KeyedModelHandler, ModelHandler, RunInference

NAMESPACE = "skyhawk_score"


class FaceModelHandler(ModelHandler):
    """Beam ModelHandler over a Skyhawk SavedModel's ``serving_jpeg`` signature.

    JPEG crop -> (P(fake), this face's share of its batch's inference seconds). RunInference loads the
    model once per worker process and batches faces across videos.
    """

    def __init__(self, model_uri: str, batch_size: int = 32):
        super().__init__()
        self._uri = model_uri
        self._batch_size = int(batch_size)

    def load_model(self) -> Any:
        import tensorflow as tf

        from skyhawk_model.model_ref import local_model_dir

        quiet_inference_logs()
        return tf.saved_model.load(local_model_dir(self._uri))

    def run_inference(self, batch: Sequence[bytes], model: Any, inference_args: dict | None = None
                      ) -> Iterable[tuple[float, float]]:
        import tensorflow as tf

        from skyhawk_model.export import IMAGES_INPUT, SERVING_JPEG

        start = time.perf_counter()
        p = model.signatures[SERVING_JPEG](**{IMAGES_INPUT: tf.constant(list(batch), tf.string)})["p_fake"].numpy()
        share = (time.perf_counter() - start) / max(len(batch), 1)
        return [(float(x), share) for x in p]

    def batch_elements_kwargs(self) -> dict[str, int]:
        return {"min_batch_size": self._batch_size, "max_batch_size": self._batch_size}

    def get_metrics_namespace(self) -> str:
        return NAMESPACE


class ScoreFaces(beam.PTransform):
    """((uri, frame, face, seconds), jpeg) -> (uri, (frame, seconds, p_fake, inference seconds))."""

    def __init__(self, model_uri: str, batch_size: int = 32):
        super().__init__()
        self._handler = KeyedModelHandler(FaceModelHandler(model_uri, batch_size))

    def expand(self, faces):
        return (faces
                | "RunInference" >> RunInference(self._handler)
                | "ByVideo" >> beam.Map(lambda kv: (kv[0][0], (kv[0][1], kv[0][3], kv[1][0], kv[1][1]))))


def quiet_inference_logs() -> None:
    """Drops Beam RunInference's per-batch root-logger warning about memory metrics on this platform."""
    root = logging.getLogger()
    if not any(isinstance(f, _DropResourceWarning) for f in root.filters):
        root.addFilter(_DropResourceWarning())


class _DropResourceWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "Resource module is not available" not in record.getMessage()
