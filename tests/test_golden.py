"""GoldenGate's golden-set scoring: the ``score`` settings checked once as a ``ScoreConfig`` and scored exactly as
``skyhawk evaluate`` scores (same metrics), the threshold set where each model is resolved.

Runs GoldenGate's executor function on real artifacts: Trainer-style model folders (``Format-Serving``) of a real
exported model (tests/score_model.py), a golden set of real videos, real Beam and real dlib/OpenCV. The decision
rules alone (no golden set) are in test_drift_gate.py; the whole pipeline in test_retrain.py.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from components.golden import GOLDEN_FILE, GoldenGate
from pipelines.main import main
from skyhawk.config import ConfigError

pytest_plugins = ["score_model"]

FRAMES = 2
VIDEOS = {"real": "real_videos/AliaksandrSiarohin__first-order-model__demo_old__00.mp4",
          "fake": "real_videos/KwaiVGI__LivePortrait__assets__examples__driving__d0.mp4"}  # labels for plumbing only


def _golden_set(root: Path, shared_media: Path) -> Path:
    for label, rel in VIDEOS.items():
        (root / label).mkdir(parents=True)
        (root / label / Path(rel).name).symlink_to(shared_media / rel)
    return root


def _trainer_model(folder: Path, saved_model: str):
    """A Trainer Model artifact whose serving model is saved_model."""
    from tfx.types import standard_artifacts

    folder.mkdir()
    (folder / "Format-Serving").symlink_to(saved_model)
    model = standard_artifacts.Model()
    model.uri = str(folder)
    return model


def _gate(tmp_path: Path, golden: Path, candidate, baseline, name: str, **score) -> dict:
    from tfx.types import standard_artifacts

    evaluator_blessing, blessing = standard_artifacts.ModelBlessing(), standard_artifacts.ModelBlessing()
    evaluator_blessing.uri, blessing.uri = str(tmp_path / "eval_blessing"), str(tmp_path / name)
    evaluator_blessing.set_int_custom_property("blessed", 1)
    GoldenGate.EXECUTOR_SPEC.executor_class._FUNCTION(
        model=candidate, evaluator_blessing=evaluator_blessing, final_blessing=blessing, baseline_model=baseline,
        drift=None, golden_root=str(golden), golden_labels="folders", max_regression=0.0, block_on_drift=0,
        beam_args=json.dumps(["--direct_running_mode=in_memory", "--direct_num_workers=1"]), **score)
    return json.loads((Path(blessing.uri) / GOLDEN_FILE).read_text())


def test_golden_gate_scores_as_evaluate_with_the_score_settings(shared_media: Path, test_model, tmp_path: Path,
                                                                  capsys):
    golden = _golden_set(tmp_path / "golden", shared_media)
    candidate = _trainer_model(tmp_path / "candidate", test_model.saved_model)  # exported threshold 0.5
    baseline = _trainer_model(tmp_path / "baseline", str(Path(test_model.registry, test_model.name, "2")))  # 0.99
    verdict = _gate(tmp_path, golden, candidate, baseline, "blessing", frames=FRAMES, aggregate="confident",
                    threshold=0.5)
    assert verdict["passed"] and verdict["blessed"], verdict  # same weights at the same threshold: no regression
    assert verdict["candidate"] == verdict["baseline"] and verdict["candidate"]["videos"] == 2
    for who, label in (("candidate", str(tmp_path / "candidate" / "Format-Serving")),
                       ("baseline", f"{test_model.name}/2")):
        ev = json.loads((tmp_path / "blessing" / "golden" / who / "evaluation.json").read_text())
        assert (ev["frames_per_video"], ev["aggregate"]) == (FRAMES, "confident")
        (report,) = ev["models"]
        assert (report["model"], report["threshold"]) == (label, 0.5)  # score.threshold replaced the exported one
        assert all(v["status"] == "ok" for v in report["videos"])
    # the golden-set metrics are `skyhawk evaluate`'s with the same settings
    assert main(["evaluate", "--input", str(golden), "--labels", "folders", "--model", test_model.saved_model,
                 "--output", str(tmp_path / "ev"), "--frames", str(FRAMES), "--aggregate", "confident",
                 "--threshold", "0.5"]) == 0
    capsys.readouterr()
    (report,) = json.loads((tmp_path / "ev" / "evaluation.json").read_text())["models"]
    assert report["metrics"] == verdict["candidate"]


def test_a_bad_score_setting_fails_the_gate_before_any_scoring(shared_media: Path, test_model, tmp_path: Path):
    golden = _golden_set(tmp_path / "golden", shared_media)
    candidate = _trainer_model(tmp_path / "candidate", test_model.saved_model)
    with pytest.raises(ConfigError, match="^aggregate must be one of"):
        _gate(tmp_path, golden, candidate, None, "blessing", frames=FRAMES, aggregate="median")
    assert not (tmp_path / "blessing").exists()
