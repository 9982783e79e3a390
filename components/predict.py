"""In-process scoring of a few videos: the bulk-scoring path without Beam's start-up.

Same sampling and crops (``components.score.sample_video``), same model signature and the same row
(``components.score_output.make_row``), so a file gets the same p_fake here as from ``skyhawk score``.
"""
from __future__ import annotations

import time
from typing import Any, Sequence

from components import score_output as out
from components.score import sample_video, stat_input
from skyhawk_model.model_ref import ModelRef, local_model_dir


class Predictor:
    """A loaded model, face detector and crop settings: call ``predict(paths)`` as often as needed."""

    def __init__(self, model: ModelRef, frames: int = 32, aggregate: str = "mean", batch_size: int = 32):
        from skyhawk.faces import FaceDetector
        from skyhawk_model.export import load_scorer

        self.model, self.aggregate = model, aggregate
        self.cfg = model.extract_config(frames)
        self.detector = FaceDetector(self.cfg.detector, self.cfg.detect_size)
        self.scorer = load_scorer(local_model_dir(model.uri), batch_size=batch_size)

    def predict(self, paths: Sequence[str]) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
        """[(row, per-frame scores)] for each path, in order."""
        results = []
        for path in paths:
            video, crops = sample_video(stat_input(path), self.cfg, self.detector)
            start = time.monotonic()
            p = self.scorer([jpeg for _, jpeg in crops]) if crops else []
            video["seconds"] += time.monotonic() - start
            scores = [(key[1], key[3], float(pi)) for (key, _), pi in zip(crops, p, strict=True)]
            results.append(out.make_row(video, scores, self.model.label, self.model.threshold, self.aggregate))
        return results


def predict_videos(paths: Sequence[str], model: ModelRef, frames: int = 32, aggregate: str = "mean",
                   batch_size: int = 32) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """[(row, per-frame scores)] for each path, in order (loads the model once)."""
    return Predictor(model, frames, aggregate, batch_size).predict(paths)
