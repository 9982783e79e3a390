"""Work no consumer needs is not done: scoring and predict compute no facial landmarks (issue 27 item 2).

Real runs: the extraction DoFn, in-process ``predict`` and a Beam ``score`` job (DirectRunner, in this
process) on a real video, with every ``LandmarkPredictor`` construction and call counted through a wrapper
installed on the class. Extraction (training data: online SBI, swaps) must show up in the count, so the
counter is known to see the calls scoring would make. No current model's preprocessing reads landmarks,
so scoring has no branch that computes them.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from media import IN_MEMORY

from skyhawk.faces import LandmarkPredictor

pytest_plugins = ["score_model"]

VIDEO = "real_videos/AliaksandrSiarohin__first-order-model__demo_old__00.mp4"  # one clear face
FRAMES = 3


@pytest.fixture
def landmark_work(monkeypatch) -> dict[str, int]:
    """Counts LandmarkPredictor constructions ("built") and calls ("calls") anywhere in this process."""
    counts = {"built": 0, "calls": 0}
    init, call = LandmarkPredictor.__init__, LandmarkPredictor.__call__

    def counted_init(self, *a, **k):
        counts["built"] += 1
        init(self, *a, **k)

    def counted_call(self, *a, **k):
        counts["calls"] += 1
        return call(self, *a, **k)

    monkeypatch.setattr(LandmarkPredictor, "__init__", counted_init)
    monkeypatch.setattr(LandmarkPredictor, "__call__", counted_call)
    return counts


def test_extraction_computes_landmarks_and_the_counter_sees_them(landmark_work: dict, shared_media: Path):
    from components import extract
    from skyhawk import features
    from skyhawk.config import ExtractConfig
    from skyhawk.datasets import VideoItem

    fn = extract.ExtractFacesFn(extract.to_dict(ExtractConfig(frames_per_video=FRAMES, image_size=64)))
    fn.setup()
    item = VideoItem(uri=str(shared_media / VIDEO), video_id="v", label=features.REAL, group_id="v", split="train")
    report = list(fn.process(item))[-1].value
    assert report["faces_written"] == FRAMES, report
    assert landmark_work == {"built": 1, "calls": FRAMES}


def test_predict_and_score_compute_no_landmarks(landmark_work: dict, shared_media: Path, test_model, tmp_path: Path):
    from components.score.job import run_scoring
    from components.score.predict import predict_videos
    from skyhawk.config import ScoreConfig
    from skyhawk_model.model_ref import resolve

    model, score = resolve(test_model.saved_model), ScoreConfig(frames=FRAMES)
    (row, scores), = predict_videos([str(shared_media / VIDEO)], model, score)
    assert row["status"] == "ok" and len(scores) == FRAMES, row
    summary = run_scoring(str(shared_media / VIDEO), model, str(tmp_path / "dest"), score, beam_args=IN_MEMORY)
    assert summary["scored_this_run"] == 1, summary
    assert landmark_work == {"built": 0, "calls": 0}
