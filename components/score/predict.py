"""In-process scoring of a few files (``skyhawk predict``): the Beam job's path without Beam.

Same sampling and crops (``sample.sample_video``), same model signature and the same row
(``rows.make_row``), so a file gets the same p_fake here as from ``skyhawk score``.
"""
from __future__ import annotations

import os
import time
from typing import Any, Sequence

from components.score.discover import stat_input
from components.score.rows import make_row
from components.score.sample import sample_video
from skyhawk.config import ScoreConfig
from skyhawk_model.model_ref import ModelRef, local_model_dir

Result = tuple[dict[str, Any], list[dict[str, Any]]]  # (row, per-frame scores)


class Predictor:
    """A loaded model, face detector and crop settings (``score``: frames, aggregate, batch size; the threshold
    is the model's, set by ``model_ref.resolve``): call ``predict(paths)`` as often as needed."""

    def __init__(self, model: ModelRef, score: ScoreConfig = ScoreConfig()):
        from skyhawk.faces import FaceDetector
        from skyhawk_model.export import load_scorer

        self.model, self.aggregate = model, score.aggregate
        self.cfg = model.extract_config(score.frames)
        self.detector = FaceDetector.from_config(self.cfg)
        self.scorer = load_scorer(local_model_dir(model.uri), batch_size=score.batch_size)

    def predict(self, paths: Sequence[str]) -> list[Result]:
        """[(row, per-frame scores)] for each path, in order."""
        results = []
        for path in paths:
            video, crops = sample_video(stat_input(path), self.cfg, self.detector)
            start = time.monotonic()
            p = self.scorer([jpeg for _, jpeg in crops]) if crops else []
            video["seconds"] += time.monotonic() - start
            scores = [(key[1], key[3], float(pi)) for (key, _), pi in zip(crops, p, strict=True)]
            results.append(make_row(video, scores, self.model.label, self.model.threshold, self.aggregate))
        return results


def predict_videos(paths: Sequence[str], model: ModelRef, score: ScoreConfig = ScoreConfig()) -> list[Result]:
    """[(row, per-frame scores)] for each path, in order, with the ``score`` settings (loads the model once)."""
    return Predictor(model, score).predict(paths)


def printable(name: str) -> str:
    """A file name on one line: control characters (a newline in a name) escaped as Python would."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in name)


def predict_table(results: Sequence[Result]) -> list[str]:
    """The lines of ``skyhawk predict``'s table: one per file (names escaped, so one line each)."""
    lines = [f"{'file':40s} {'verdict':8s} {'p_fake':>8s} {'faces':>5s}  top frames (frame@s:p)"]
    for row, _ in results:
        top = " ".join(f"{t['frame']}@{t['seconds']:.1f}s:{t['p_fake']:.3f}" for t in row["top_frames"])
        verdict = row["verdict"] or row["status"]
        lines.append(f"{printable(os.path.basename(row['uri']))[:40]:40s} {verdict:8s} {row['p_fake']:8.4f} "
                     f"{row['faces_scored']:5d}  {printable(top or row['reason'])}")
    return lines
