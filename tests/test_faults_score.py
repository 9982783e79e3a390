"""Issue #25's repros for ``skyhawk score`` and ``skyhawk evaluate`` (items 1, 2, 3, 10, 11, 12 and 17's score
items), each as a user or an operator would meet it; every one failed on main before its fix.

Real Beam (DirectRunner), real dlib/OpenCV on real photos and videos from ../shared/media, a real exported
model (tests/score_model.py); items 2 and 17's SIGINT start real ``skyhawk`` processes.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from media import IN_MEMORY

from components.score import commit as out
from components.score.job import run_scoring
from pipelines.main import main
from skyhawk import datasets
from skyhawk.config import ConfigError, ScoreConfig
from skyhawk_model.model_ref import resolve

pytest_plugins = ["score_model"]

REPO = Path(__file__).resolve().parents[1]


def _rows(dest: Path, fmt: str = "jsonl") -> list[dict]:
    return [json.loads(line) for line in (dest / f"results.{fmt}").read_text().splitlines()]


def _photos(real_faces: list[Path], folder: Path, n: int, offset: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    links = []
    for photo in real_faces[offset:offset + n]:
        (folder / photo.name).symlink_to(photo)
        links.append(folder / photo.name)
    return links


def _one_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def _skyhawk(*args: str) -> list[str]:
    return [sys.executable, "-m", "pipelines.main", *args]


def _sigint_default() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # a background shell may have started us with SIGINT ignored


# ----------------------------------------------------------------- item 1

def test_evaluate_with_a_relative_input_scores_every_file(real_faces, test_model, tmp_path: Path, monkeypatch,
                                                          capsys):
    """#25.1: ``evaluate --input ev_in`` (relative, 2 real and 2 fake photos) scored 0 and failed 4 with rc 0."""
    monkeypatch.chdir(tmp_path)
    _photos(real_faces, tmp_path / "ev_in" / "real", 2)
    _photos(real_faces, tmp_path / "ev_in" / "fake", 2, offset=2)
    assert main(["evaluate", "--input", "ev_in", "--labels", "folders", "--model", test_model.saved_model,
                 "--output", "ev_fold", "--frames", "1"]) == 0
    capsys.readouterr()
    ev = json.loads((tmp_path / "ev_fold" / "evaluation.json").read_text())
    m = ev["models"][0]["metrics"]
    assert m["videos_failed"] == 0 and m["videos"] == 4 and m["videos_scored"] + m["videos_no_face"] == 4
    assert ev["input"] == str(tmp_path / "ev_in")
    assert ev["labelled_media"] == {"videos": 0, "photos": 4, "real": 2, "fake": 2}


def test_evaluate_where_every_file_failed_reports_no_auc_with_the_reason(test_model, tmp_path: Path, capsys):
    """#25.1: when every video failed, the page and the JSON reported AUC 0.5 and accuracy 0.5 as numbers."""
    for label in ("real", "fake"):
        (tmp_path / "in" / label).mkdir(parents=True)
        for i in range(2):
            (tmp_path / "in" / label / f"broken{i}.mp4").write_text("not a video\n")
    rc = main(["evaluate", "--input", str(tmp_path / "in"), "--labels", "folders", "--model", test_model.saved_model,
               "--output", str(tmp_path / "ev"), "--frames", "1"])
    printed = capsys.readouterr()
    errors = [line for line in printed.err.splitlines() if "error" in line]
    assert rc == 1 and len(errors) == 1 and "scored no video (4 failed, 0 without a face)" in errors[0], printed.err
    ev = json.loads((tmp_path / "ev" / "evaluation.json").read_text())
    m = ev["models"][0]["metrics"]
    for key in ("video_auc", "video_auc_ci95", "video_accuracy", "video_log_loss", "frame_auc"):
        assert m[key] is None and m["undefined"][key].startswith("no video was scored (4 failed"), key
    assert "video AUC n/a" in printed.out and "no video was scored" in printed.out
    page = (tmp_path / "ev" / "evaluation.html").read_text()
    for key in ("video_auc", "video_accuracy", "video_log_loss"):  # a dash with the reason, not 0.5
        assert re.search(rf'<td>{key}</td>\s*<td class="num">- <span class="muted">no video was scored', page), key


# ----------------------------------------------------------------- item 2

def test_two_concurrent_scores_into_one_output_do_not_mix(real_videos, test_model, tmp_path: Path):
    """#25.2: ``score --frames 4`` and ``score --frames 2`` into one new output, started together, both exited 0
    with rows of both settings. Now one holds the output's lock and the other is refused (exit 5)."""
    src = tmp_path / "in"
    src.mkdir()
    for video in real_videos[:6]:
        (src / video.name).symlink_to(video)
    dest = tmp_path / "out"
    procs = [subprocess.Popen(_skyhawk("score", "--input", str(src), "--model", test_model.saved_model, "--output",
                                       str(dest), "--frames", frames, "--flush-every", "1"),
                              cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for frames in ("4", "2")]
    results = [(p.wait(timeout=900), p.stderr.read()) for p in procs]
    codes = sorted(rc for rc, _ in results)
    assert codes in ([0, 1], [0, 5]), results
    refused = next(err for rc, err in results if rc != 0)
    assert ("another run is writing into this output" in refused or "holds rows made with other settings"
            in refused), refused
    settings = json.loads((dest / "settings.json").read_text())
    rows = _rows(dest)
    assert len(rows) == 6 and {r["uri"] for r in rows} == {str(src / v.name) for v in real_videos[:6]}
    committed = [rec["row"] for rec in out.read_records(str(dest))]
    sampled = {r["frames_sampled"] for r in committed if r["status"] == "ok"}
    assert sampled == {settings["frames_per_video"]}, (sampled, settings)  # one setting, the one recorded


# ----------------------------------------------------------------- item 3

def test_one_row_per_file_whatever_the_spelling_of_its_folder(real_faces, test_model, tmp_path: Path, monkeypatch):
    """#25.3: in1, /abs/in1, sub/../in1 and ./in1 into one output gave 4 rows and ``videos: 4``."""
    monkeypatch.chdir(tmp_path)
    (photo,) = _photos(real_faces, tmp_path / "in1", 1)
    (tmp_path / "sub").mkdir()
    model = resolve(test_model.saved_model)
    for spelling in ("in1", str(tmp_path / "in1"), "sub/../in1", "./in1", "in1/"):
        summary = run_scoring(spelling, model, "out", ScoreConfig(frames=1), beam_args=IN_MEMORY)
    assert summary["videos"] == 1 and summary["scored_this_run"] == 0
    assert [r["uri"] for r in _rows(tmp_path / "out")] == [str(photo)]


# ----------------------------------------------------------------- item 10

def test_a_damaged_part_is_quarantined_and_its_videos_scored_again(real_faces, test_model, tmp_path: Path, capsys):
    """#25.10: a truncated ``_parts/*.jsonl`` gave a raw JSONDecodeError inside SkipScored and the run could not
    resume. Now the part is named, moved to ``_quarantine/`` and its videos are scored again."""
    photos = _photos(real_faces, tmp_path / "in", 3)
    dest = tmp_path / "out"
    argv = ["score", "--input", str(tmp_path / "in"), "--model", test_model.saved_model, "--output", str(dest),
            "--frames", "1", "--flush-every", "1"]
    assert main(argv) == 0
    capsys.readouterr()
    parts = sorted((dest / out.PARTS_DIR).glob("*.jsonl"))
    assert len(parts) == 3
    damaged = parts[0]
    lost_uri = json.loads(damaged.read_text())["row"]["uri"]
    damaged.write_bytes(damaged.read_bytes()[:40])  # a truncated record
    assert main(argv) == 0
    printed = capsys.readouterr()
    assert f"damaged part {damaged}" in printed.err and str(dest / out.QUARANTINE_DIR / damaged.name) in printed.err
    assert "scored this run: 1 " in printed.out  # exactly the videos of the damaged part
    assert (dest / out.QUARANTINE_DIR / damaged.name).is_file() and not damaged.exists()
    rows = _rows(dest)
    assert sorted(r["uri"] for r in rows) == sorted(map(str, photos)) and lost_uri in {r["uri"] for r in rows}


@pytest.mark.parametrize("content", ["{", "[1, 2]", "\xff\xfe"], ids=["truncated", "a-list", "not-utf8"])
def test_a_damaged_settings_file_is_named(real_faces, test_model, tmp_path: Path, capsys, content: str):
    """#25.10: a broken settings.json gave ``Expecting value`` or ``'list' object has no attribute 'get'``."""
    _photos(real_faces, tmp_path / "in", 1)
    dest = tmp_path / "out"
    argv = ["score", "--input", str(tmp_path / "in"), "--model", test_model.saved_model, "--output", str(dest),
            "--frames", "1"]
    assert main(argv) == 0
    (dest / "settings.json").write_bytes(content.encode("latin-1"))
    capsys.readouterr()
    assert main(argv) == 1
    line = _one_line(capsys.readouterr().err)
    assert f"{dest / 'settings.json'} is damaged" in line and "--force" in line, line
    assert main([*argv, "--force"]) == 0 and json.loads((dest / "settings.json").read_text())["frames_per_video"] == 1


# ----------------------------------------------------------------- item 11

def test_a_labels_csv_and_a_listing_with_a_utf8_bom(real_faces, test_model, tmp_path: Path):
    """#25.11: a CSV with a BOM was refused (``needs a header with at least path,label``); a listing's first path
    got ``\\ufeff`` prepended and failed as ``file not found`` with rc 0."""
    (photo,) = _photos(real_faces, tmp_path / "in", 1)
    manifest = tmp_path / "in" / "labels.csv"
    manifest.write_text(f"path,label\n{photo.name},real\n", encoding="utf-8-sig")
    (item,) = datasets.discover(str(tmp_path / "in"), f"csv:{manifest}")
    assert (item.uri, item.label, item.error) == (str(photo), 0, "")
    listing = tmp_path / "list.txt"
    listing.write_text(f"{photo}\n", encoding="utf-8-sig")
    run_scoring(str(listing), resolve(test_model.saved_model), str(tmp_path / "out"), ScoreConfig(frames=1),
                beam_args=IN_MEMORY)
    (row,) = _rows(tmp_path / "out")
    assert row["uri"] == str(photo) and row["status"] != "failed", row


# ----------------------------------------------------------------- item 12

def test_evaluate_keeps_a_file_name_with_a_newline_whole(real_faces, test_model, tmp_path: Path, capsys):
    """#25.12: evaluate wrote its inputs newline-delimited, so ``new\\nline.jpg`` became two bogus failed rows."""
    odd = tmp_path / "in" / "real" / "new\nline.jpg"
    odd.parent.mkdir(parents=True)
    odd.symlink_to(real_faces[0])
    _photos(real_faces, tmp_path / "in" / "fake", 1, offset=1)
    assert main(["evaluate", "--input", str(tmp_path / "in"), "--labels", "folders", "--model",
                 test_model.saved_model, "--output", str(tmp_path / "ev"), "--frames", "1"]) == 0
    capsys.readouterr()
    (model,) = json.loads((tmp_path / "ev" / "evaluation.json").read_text())["models"]
    assert model["metrics"]["videos_failed"] == 0 and model["metrics"]["videos"] == 2
    (scores,) = (tmp_path / "ev" / "scores").iterdir()
    rows = _rows(scores)
    assert str(odd) in {r["uri"] for r in rows} and len(rows) == 2


# ----------------------------------------------------------------- item 17 (score)

def test_switching_format_leaves_no_stale_results_file(real_faces, test_model, tmp_path: Path):
    """#25.17: a used output switched to ``--format csv`` kept its old results.jsonl, out of date from then on."""
    _photos(real_faces, tmp_path / "in", 1)
    model, dest = resolve(test_model.saved_model), tmp_path / "out"
    run_scoring(str(tmp_path / "in"), model, str(dest), ScoreConfig(frames=1), beam_args=IN_MEMORY)
    assert (dest / "results.jsonl").is_file()
    _photos(real_faces, tmp_path / "in", 1, offset=1)
    run_scoring(str(tmp_path / "in"), model, str(dest), ScoreConfig(frames=1, output_format="csv"), beam_args=IN_MEMORY)
    assert sorted(p.name for p in dest.glob("results.*")) == ["results.csv"]
    assert len((dest / "results.csv").read_text().splitlines()) == 3  # header + both photos


@pytest.mark.parametrize("flag, value", [("--flush-every", "0"), ("--explain", "-1"), ("--workers", "-1")])
def test_out_of_range_numbers_are_refused_in_one_line(test_model, tmp_path: Path, capsys, flag: str, value: str):
    """#25.17: ``--flush-every 0``, ``--explain -1`` and ``--workers -1`` were accepted silently."""
    assert main(["score", "--input", str(tmp_path), "--model", test_model.saved_model, "--output",
                 str(tmp_path / "out"), flag, value]) == 1
    least = 0 if value == "-1" else 1
    assert _one_line(capsys.readouterr().err) == f"skyhawk score: error: {flag} must be >= {least}, got {value}"
    assert not (tmp_path / "out").exists()
    with pytest.raises(ConfigError, match="^flush_every must be >= 1, got 0$"):  # the score section's own check
        ScoreConfig(flush_every=0)


def test_fifos_and_devices_get_their_own_reason(real_faces, test_model, tmp_path: Path):
    """#25.17: a FIFO in a scanned folder and a device in a listing were reported as ``empty file``."""
    folder = tmp_path / "in"
    (photo,) = _photos(real_faces, folder, 1)
    os.mkfifo(folder / "pipe.mp4")
    listing = tmp_path / "list.txt"
    listing.write_text(f"{photo}\n/dev/null\n{folder / 'pipe.mp4'}\n")
    model = resolve(test_model.saved_model)
    for src, dest in ((folder, "scan"), (listing, "listed")):
        run_scoring(str(src), model, str(tmp_path / dest), ScoreConfig(frames=1), beam_args=IN_MEMORY)
        rows = {r["uri"]: r for r in _rows(tmp_path / dest)}
        pipe = rows[str(folder / "pipe.mp4")]
        assert (pipe["status"], pipe["reason"]) == ("failed", "not a regular file (a FIFO (named pipe))")
        assert rows[str(photo)]["status"] != "failed"
    device = {r["uri"]: r for r in _rows(tmp_path / "listed")}["/dev/null"]
    assert (device["status"], device["reason"]) == ("failed", "not a regular file (a device)")


def test_sigint_during_score_exits_130(real_videos, test_model, tmp_path: Path):
    """#25.17: Ctrl-C during ``score`` exited 1 (Beam re-raises it as ``RuntimeError('KeyboardInterrupt [while
    running ...]')``); an interrupted command exits 130."""
    dest = tmp_path / "out"
    proc = subprocess.Popen(_skyhawk("score", "--input", str(real_videos[0].parent), "--model", test_model.saved_model,
                                     "--output", str(dest), "--frames", "32", "--flush-every", "1"),
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_sigint_default)
    while not list((dest / out.PARTS_DIR).glob("*.jsonl")):  # interrupted mid-run: rows committed, more to come
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=300)[1]
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "skyhawk: interrupted"
