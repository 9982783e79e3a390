"""The model over sampled videos: Beam's RunInference with a Skyhawk SavedModel's ``serving_jpeg`` signature.

RunInference loads the model once per worker process (its shared handle) and ``BatchElements`` batches
whole videos, so a video's faces are scored together and its row needs no join (no barrier: rows are
committed while later videos are still being decoded).
"""
from __future__ import annotations

import logging
import math
import time
from typing import Any, Iterable, Sequence

import apache_beam as beam
from apache_beam.ml.inference.base import KeyedModelHandler, ModelHandler, RunInference

from components.score.sample import NAMESPACE, Crops

FaceScore = tuple[int, float, float, float]  # (frame index, seconds, p_fake, this face's inference seconds)


class VideoModelHandler(ModelHandler):
    """Beam ModelHandler: the crops of each video in a batch -> their (frame, seconds, P(fake), seconds)."""

    def __init__(self, model_uri: str, batch_size: int, faces_per_video: int):
        super().__init__()
        self._uri = model_uri
        self._batch_size = int(batch_size)
        self._videos_per_batch = max(1, math.ceil(batch_size / max(faces_per_video, 1)))

    def load_model(self) -> Any:
        from skyhawk_model.export import load_scorer
        from skyhawk_model.model_ref import local_model_dir

        quiet_inference_logs()
        return load_scorer(local_model_dir(self._uri), batch_size=self._batch_size)

    def run_inference(self, batch: Sequence[Crops], model: Any, inference_args: dict | None = None
                      ) -> Iterable[list[FaceScore]]:
        jpegs = [jpeg for crops in batch for _, jpeg in crops]
        start = time.perf_counter()
        p = model(jpegs) if jpegs else []
        share = (time.perf_counter() - start) / max(len(jpegs), 1)
        out, i = [], 0
        for crops in batch:
            out.append([(key[1], key[3], float(p[i + j]), share) for j, (key, _) in enumerate(crops)])
            i += len(crops)
        return out

    def batch_elements_kwargs(self) -> dict[str, int]:
        return {"min_batch_size": self._videos_per_batch, "max_batch_size": self._videos_per_batch}

    def get_metrics_namespace(self) -> str:
        return NAMESPACE


class InferVideos(beam.PTransform):
    """(record, crops) -> (record, [(frame, seconds, p_fake, inference seconds)]) with one model."""

    def __init__(self, model_uri: str, batch_size: int, faces_per_video: int):
        super().__init__()
        self._handler = KeyedModelHandler(VideoModelHandler(model_uri, batch_size, faces_per_video))

    def expand(self, videos):
        return videos | "RunInference" >> RunInference(self._handler)


def quiet_inference_logs() -> None:
    """Drops Beam RunInference's per-batch root-logger warning about memory metrics on this platform."""
    root = logging.getLogger()
    if not any(isinstance(f, _DropResourceWarning) for f in root.filters):
        root.addFilter(_DropResourceWarning())


class _DropResourceWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "Resource module is not available" not in record.getMessage()
