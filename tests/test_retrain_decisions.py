"""`skyhawk retrain`'s decisions without a pipeline run: errors (exit 1), spans that are not `span-N` (refused by
retrain and by the pipeline's pre-check alike), an empty newest span (exit 4, never "pushed"), and the decision
read from a run's outcome. The runs themselves are in test_retrain.py (e2e)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from components.example_gen import data_splits
from pipelines.main import main
from pipelines.retrain import EXIT_ERROR, EXIT_NOT_PUSHED, EXIT_PUSHED, run_decision
from pipelines.run import demo_config
from skyhawk.config import ExtractConfig, to_dict


@pytest.fixture()
def home(tmp_path: Path) -> Path:
    """A retrain config (use_spans, folder labels) whose data_root, registry and MLMD live under tmp_path."""
    cfg = demo_config(str(tmp_path), {"use_spans": True, "extract.labels": "folders"})
    (tmp_path / "config.json").write_text(json.dumps(to_dict(cfg)))
    (tmp_path / "videos").mkdir()
    return tmp_path


def retrain(home: Path, capsys) -> tuple[int, str, str]:
    rc = main(["retrain", "--config", str(home / "config.json")])
    out, err = capsys.readouterr()
    return rc, out, err


def add_video(home: Path, span: str, real_videos: list[Path]) -> None:
    folder = home / "videos" / span / "real"
    folder.mkdir(parents=True)
    (folder / real_videos[0].name).symlink_to(real_videos[0])


def test_a_broken_config_is_an_error(home: Path, capsys):
    (home / "config.json").write_text("{not json")
    rc, out, err = retrain(home, capsys)
    assert rc == EXIT_ERROR and out == ""
    assert err.startswith("skyhawk retrain: error: ") and err.count("\n") == 1


def test_no_span_folder_is_an_error(home: Path, capsys):
    rc, out, err = retrain(home, capsys)
    assert rc == EXIT_ERROR and out == ""
    assert err == f"skyhawk retrain: error: no span-N/ folder under {home / 'videos'}\n"


@pytest.mark.parametrize("stray", ["span-04", "span-x", "span-"])
def test_a_span_folder_that_is_not_span_n_is_refused_up_front(home: Path, capsys, real_videos, stray: str):
    add_video(home, "span-1", real_videos)
    add_video(home, stray, real_videos)
    rc, out, err = retrain(home, capsys)
    assert rc == EXIT_ERROR and out == ""
    assert err.startswith(f"skyhawk retrain: error: {stray}: not a span folder (spans are span-N")
    assert err.count("\n") == 1
    with pytest.raises(ValueError, match=f"^{stray}: not a span folder"):  # the pipeline's own pre-check
        data_splits(str(home / "videos"), ExtractConfig(), use_spans=True)


def test_folders_that_are_no_span_are_ignored(home: Path, capsys, real_videos):
    add_video(home, "span-1", real_videos)
    (home / "videos" / "notes").mkdir()
    (home / "videos" / "span-7.txt").write_text("a file, not a folder")
    assert data_splits(str(home / "videos"), ExtractConfig(), use_spans=True) == ["train", "eval"]


@pytest.mark.parametrize("content", [None, "README.txt"])
def test_an_empty_newest_span_is_not_pushed(home: Path, capsys, real_videos, content: str | None):
    """Without a video the span decides nothing: exit 4 with the reason, before any TFX work."""
    add_video(home, "span-1", real_videos)
    (home / "videos" / "span-2").mkdir()
    if content:
        (home / "videos" / "span-2" / content).write_text("no video here")
    rc, out, err = retrain(home, capsys)
    assert rc == EXIT_NOT_PUSHED, out + err
    assert out == (f"span-2: nothing trained, nothing pushed: no readable video or photo under "
                   f"{home / 'videos' / 'span-2'}\n")
    assert "model pushed" not in out and not (home / "metadata.sqlite").exists()


def _outcome(**kw) -> dict:
    return {"pushed": True, "version": 2, "report": None, "pushed_model_uri": "x", "reason": None,
            "spans": "1,2", "eval_span": 2, **kw}


def test_run_decision_from_the_outcome(home: Path):
    from pipelines.run import load_config

    cfg = load_config(str(home / "config.json"))
    pushed = run_decision(cfg, 2, _outcome())
    assert pushed.code == EXIT_PUSHED and pushed.message.startswith("span-2: model pushed: ")
    rejected = run_decision(cfg, 2, _outcome(pushed=False, reason="golden set video_accuracy 0.0 vs 1.0"))
    assert rejected.code == EXIT_NOT_PUSHED and rejected.message.endswith(": golden set video_accuracy 0.0 vs 1.0")
    # the newest push decision is an older span's (TFX ran on another span): not this span's push
    stale = run_decision(cfg, 3, _outcome())
    assert stale.code == EXIT_NOT_PUSHED and "model pushed" not in stale.message
    assert stale.message == "span-3: nothing pushed: the run's newest decision is about span-2 (spans 1,2), not span-3"
