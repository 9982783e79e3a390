"""The ``score`` section of the config: how videos are scored, the one home of every scoring default.

``skyhawk score``/``predict``/``evaluate`` take their flags' defaults from ``ScoreConfig``, the scoring
pipeline and the golden gate read the pipeline config's ``score`` section, and the scoring functions check
their settings by building one (so a bad value is one ``ConfigError`` naming the field, before any work).
``FRAMES_PER_VIDEO`` is also extraction's default (``ExtractConfig.frames_per_video``).
"""
from __future__ import annotations

from dataclasses import dataclass

from skyhawk.typed import Checked, need

SCORE_FORMATS = ("jsonl", "csv", "parquet")  # score.output_format: the results file of a scoring destination
FRAMES_PER_VIDEO = 32  # frames sampled per video: extraction's and scoring's default


@dataclass(frozen=True)
class ScoreConfig(Checked):
    """How videos are scored: ``skyhawk score``/``predict``/``evaluate``, the scoring pipeline, the golden gate."""

    frames: int = FRAMES_PER_VIDEO  # frames sampled per video (in a pipeline config: extract.frames_per_video)
    aggregate: str = "mean"  # frame -> video score: mean | confident (skyhawk.aggregate)
    threshold: float = 0.0  # fake if p_fake >= threshold; 0: the threshold exported with the model
    output_format: str = "jsonl"  # jsonl | csv | parquet: the results file of a scoring destination
    batch_size: int = 32  # face crops per model call
    flush_every: int = 500  # a part file is committed every N rows (a killed run loses at most N per worker)

    def _check(self) -> None:
        from skyhawk.aggregate import AGGREGATIONS

        need(self.frames >= 1, f"frames must be >= 1, got {self.frames}")
        need(self.aggregate in AGGREGATIONS, f"aggregate must be one of {', '.join(AGGREGATIONS)}, "
             f"got {self.aggregate!r}")
        need(self.threshold == 0.0 or 0.0 < self.threshold < 1.0,
             f"threshold must be in (0, 1) (0: the model's own), got {self.threshold}")
        need(self.output_format in SCORE_FORMATS,
             f"output_format must be one of {', '.join(SCORE_FORMATS)}, got {self.output_format!r}")
        need(self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}")
        need(self.flush_every >= 1, f"flush_every must be >= 1, got {self.flush_every}")
