"""``skyhawk predict`` takes what ``skyhawk score`` takes (local or gs:// files), with the ``score`` settings as one
``ScoreConfig`` and the decision threshold set where the model is resolved.

A real exported model in a real registry (tests/score_model.py), real dlib/OpenCV on a real video, a real GCS
emulator (tests/gcs.py).
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from components.score.predict import Predictor, predict_videos
from pipelines.main import main
from skyhawk.config import ConfigError, ScoreConfig
from skyhawk_model.model_ref import resolve

pytest_plugins = ["score_model", "gcs"]

VIDEO = "real_videos/AliaksandrSiarohin__first-order-model__demo_old__00.mp4"  # one clear face
FRAMES = 2


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_predict_scores_a_gcs_video_as_the_same_local_one(gcs_prefix: str, shared_media: Path, test_model, capsys):
    from apache_beam.io.filesystems import FileSystems

    local = str(shared_media / VIDEO)
    remote = f"{gcs_prefix}/in/{Path(VIDEO).name}"
    with FileSystems.create(remote) as f:
        f.write(Path(local).read_bytes())
    assert main(["predict", "--json", "--model", test_model.saved_model, "--frames", str(FRAMES), remote, local]) == 0
    gs_row, local_row = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (gs_row["uri"], gs_row["status"], local_row["status"]) == (remote, "ok", "ok")
    assert gs_row["p_fake"] == pytest.approx(local_row["p_fake"], abs=1e-6)
    assert gs_row["top_frames"] == local_row["top_frames"]
    absent = f"{gcs_prefix}/in/absent.mp4"
    assert main(["predict", "--model", test_model.saved_model, remote, absent]) == 1
    assert _one_line(capsys.readouterr().err) == f"skyhawk predict: error: not a file: {absent}"


def test_predict_refuses_a_missing_file_or_a_folder_in_one_line(shared_media: Path, test_model, tmp_path: Path,
                                                                 capsys):
    for bad in (tmp_path / "absent.mp4", tmp_path):
        assert main(["predict", "--model", test_model.saved_model, str(shared_media / VIDEO), str(bad)]) == 1
        printed = capsys.readouterr()
        assert _one_line(printed.err) == f"skyhawk predict: error: not a file: {bad}"
        assert not printed.out  # refused before any video is scored


def test_one_score_config_sets_frames_aggregate_and_batch_size(shared_media: Path, test_model):
    model = resolve(test_model.saved_model)
    score = ScoreConfig(frames=FRAMES, aggregate="confident", batch_size=1)
    predictor = Predictor(model, score)
    assert (predictor.cfg.frames_per_video, predictor.aggregate, predictor.scorer.batch_size) == (FRAMES,
                                                                                                  "confident", 1)
    (row, frames), = predictor.predict([str(shared_media / VIDEO)])
    assert row["frames_sampled"] == FRAMES and len(frames) == row["faces_scored"] >= 1
    (again, _), = predict_videos([str(shared_media / VIDEO)], model, ScoreConfig(frames=FRAMES, aggregate="confident"))
    assert again["p_fake"] == pytest.approx(row["p_fake"], abs=1e-6)  # one face per call or 32: same scores
    with pytest.raises(ConfigError, match="^batch_size must be >= 1, got 0$"):  # checked once, where it is built
        ScoreConfig(batch_size=0)


def test_resolve_sets_the_scoring_threshold(test_model):
    """``score.threshold`` (``--threshold``) replaces the exported threshold; 0 keeps it."""
    exported = resolve(test_model.ref)
    assert (exported.label, exported.threshold) == (f"{test_model.name}/2", 0.99)
    assert resolve(test_model.ref, 0.0) == exported
    assert resolve(test_model.ref, 0.5) == replace(exported, threshold=0.5)  # the rest as exported
    assert resolve(test_model.saved_model, 0.7).threshold == 0.7 and resolve(test_model.saved_model).threshold == 0.5
