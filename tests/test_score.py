"""Bulk scoring (``skyhawk score``), in-process ``predict`` and labelled ``evaluate`` on real videos.

Real Beam (DirectRunner), real dlib/OpenCV, a real exported model in a real registry (tests/score_model.py).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from media import IN_MEMORY

from components.score import ScoreError
from components.score import commit as out
from components.score.job import run_scoring
from pipelines.main import main
from skyhawk.config import ScoreConfig
from skyhawk_model.model_ref import ModelRefError, resolve

pytest_plugins = ["score_model", "gcs"]

FRAMES = 4
SCORE = ScoreConfig(frames=FRAMES)  # the score section these tests score with
FACE_VIDEOS = [  # small, one clear face each
    "real_videos/AliaksandrSiarohin__first-order-model__demo_old__00.mp4",
    "real_videos/KwaiVGI__LivePortrait__assets__examples__driving__d0.mp4",
    "dev_videos/fake/dfl__Albica_Johns_0__right_fake.mp4",
    "dev_videos/real/dfl__Albica_Johns_0__left_real.mp4",
]


def _blank_video(path: Path) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (160, 120))
    for _ in range(10):
        writer.write(np.full((120, 160, 3), 90, np.uint8))
    writer.release()


@pytest.fixture(scope="module")
def archive(tmp_path_factory, shared_media: Path) -> Path:
    """A folder of symlinked real videos plus every kind of bad input."""
    root = tmp_path_factory.mktemp("archive")
    (root / "sub").mkdir()
    for i, rel in enumerate(FACE_VIDEOS):
        (root / ("sub" if i % 2 else "") / Path(rel).name).symlink_to(shared_media / rel)
    (root / "zero.mp4").write_bytes(b"")
    (root / "notes.mp4").write_text("this is a text file, not a video\n")
    with open(shared_media / FACE_VIDEOS[1], "rb") as f:
        (root / "sub" / "truncated.mp4").write_bytes(f.read(20000))
    _blank_video(root / "blank.mp4")
    (root / "readme.txt").write_text("not a video: discovery skips it\n")
    return root


def _videos(root: Path) -> list[str]:
    return sorted(str(p) for p in root.rglob("*.mp4"))


def _rows(dest: Path | str, fmt: str = "jsonl") -> list[dict]:
    return [json.loads(line) for line in Path(dest, f"results.{fmt}").read_text().splitlines()]


def _comparable(rows: list[dict]) -> list[tuple]:
    return sorted((r["uri"], r["status"], r["p_fake"], r["verdict"], r["frames_sampled"], r["faces_scored"],
                   json.dumps(r["top_frames"])) for r in rows)


@pytest.fixture(scope="module")
def scored(archive: Path, test_model, tmp_path_factory) -> tuple[Path, dict]:
    """One scoring run over the archive folder into a fresh destination."""
    dest = tmp_path_factory.mktemp("scored") / "dest"
    summary = run_scoring(str(archive), resolve(test_model.saved_model), str(dest), SCORE,
                          beam_args=IN_MEMORY)
    return dest, summary


def test_a_row_for_every_input(scored, archive: Path, test_model):
    dest, summary = scored
    rows = _rows(dest)
    assert sorted(r["uri"] for r in rows) == _videos(archive)
    assert summary["videos"] == len(rows) == 8 and summary["scored_this_run"] == 8
    by_name = {Path(r["uri"]).name: r for r in rows}
    for r in rows:
        assert list(r) == list(out.ROW_KEYS)
    assert by_name["zero.mp4"]["status"] == "failed" and "empty file" in by_name["zero.mp4"]["reason"]
    assert by_name["notes.mp4"]["status"] == "failed" and "not a readable video" in by_name["notes.mp4"]["reason"]
    assert by_name["truncated.mp4"]["status"] == "failed"
    blank = by_name["blank.mp4"]
    assert blank["status"] == "no_face" and "no face found" in blank["reason"] and blank["frames_sampled"] > 0
    for r in (by_name["zero.mp4"], blank):
        assert r["p_fake"] == 0.5 and r["verdict"] == "" and r["faces_scored"] == 0 and r["top_frames"] == []
    for rel in FACE_VIDEOS:
        r = by_name[Path(rel).name]
        assert r["status"] == "ok" and r["reason"] == ""
        assert r["frames_sampled"] == FRAMES and 1 <= r["faces_scored"] <= FRAMES
        assert r["verdict"] == ("fake" if r["p_fake"] >= 0.5 else "real")
        assert r["model"] == test_model.saved_model
        tops = r["top_frames"]
        assert 1 <= len(tops) <= 3 and [t["p_fake"] for t in tops] == sorted((t["p_fake"] for t in tops),
                                                                                reverse=True)
        assert all(set(t) == {"frame", "seconds", "p_fake"} for t in tops)
        assert abs(tops[0]["seconds"] * 25 - tops[0]["frame"]) < tops[0]["frame"] * 0.25 + 1  # ~25-30 fps
        assert r["seconds"] > 0
    assert (summary["ok"], summary["no_face"], summary["failed"]) == (4, 1, 3)
    frames = out.read_frames_view(str(dest))
    assert set(frames) == {r["uri"] for r in rows}
    for rel in FACE_VIDEOS:
        uri = str(archive / ("sub" if FACE_VIDEOS.index(rel) % 2 else "") / Path(rel).name)
        fr = frames[uri]
        assert len(fr) == by_name[Path(rel).name]["faces_scored"]  # one face per frame (faces=largest)
        assert by_name[Path(rel).name]["p_fake"] == pytest.approx(np.mean([f["p_fake"] for f in fr]), abs=2e-6)


def test_rerun_scores_only_new_or_changed_inputs(scored, archive: Path, test_model, tmp_path: Path):
    dest, _ = scored
    before = _rows(dest)
    again = run_scoring(str(archive), resolve(test_model.saved_model), str(dest), SCORE, beam_args=IN_MEMORY)
    assert again["scored_this_run"] == 0 and _comparable(_rows(dest)) == _comparable(before)
    # a changed input (new modification time) is scored again; its row is replaced, not duplicated
    copy = tmp_path / "copy"
    copy.mkdir()
    target = copy / "notes.mp4"
    target.write_text("still not a video\n")
    listing = tmp_path / "list.txt"
    listing.write_text(f"{target}\n{archive / 'zero.mp4'}\n")
    first = run_scoring(str(listing), resolve(test_model.saved_model), str(dest), SCORE, beam_args=IN_MEMORY)
    assert first["scored_this_run"] == 1  # zero.mp4 was already scored
    os.utime(target, (time.time() + 5, time.time() + 5))
    second = run_scoring(str(listing), resolve(test_model.saved_model), str(dest), SCORE,
                         beam_args=IN_MEMORY)
    assert second["scored_this_run"] == 1
    rows = _rows(dest)
    assert len(rows) == len({r["uri"] for r in rows}) == 9
    forced = run_scoring(str(listing), resolve(test_model.saved_model), str(dest), SCORE, force=True,
                         beam_args=IN_MEMORY)
    assert forced["scored_this_run"] == 2 and len(_rows(dest)) == 9


def test_a_folder_holds_one_model_and_one_set_of_settings(archive: Path, test_model, tmp_path: Path, capsys):
    """Rows of another model version or other settings are refused with one line; --force replaces them."""
    src, dest = str(archive / "blank.mp4"), tmp_path / "dest"
    base = ["score", "--input", src, "--output", str(dest), "--frames", "2"]
    assert main([*base, "--model", test_model.ref + "/1"]) == 0
    capsys.readouterr()
    for extra, named in [(["--model", test_model.ref + "/2"], "model skyhawk-test/1 -> skyhawk-test/2"),
                         (["--model", test_model.ref + "/1", "--frames", "3", "--aggregate", "confident"],
                          "frames_per_video 2 -> 3; aggregate mean -> confident")]:
        assert main([*base, *extra]) == 1
        err = capsys.readouterr().err.strip()
        assert named in err and "--force" in err and len(err.splitlines()) == 1, err
    assert {r["model"] for r in _rows(dest)} == {"skyhawk-test/1"}  # nothing was mixed in
    assert main([*base, "--model", test_model.ref + "/2", "--force"]) == 0
    (row,) = _rows(dest)
    summary = json.loads((dest / "summary.json").read_text())
    assert row["model"] == summary["model"] == "skyhawk-test/2" and summary["threshold"] == 0.99
    assert {r["model"] for r in out.read_records(str(dest))} == {"skyhawk-test/2"}
    # crop settings are part of a folder's settings too
    model = resolve(test_model.ref + "/2")
    moved = replace(model, crop={**model.crop, "margin": 0.5})
    with pytest.raises(ScoreError, match=r"crop margin .* -> 0.5"):
        out.check_settings(str(dest), out.settings_of(moved, ScoreConfig(frames=2, aggregate="mean")), force=False)


def test_broken_links_get_a_row_and_listed_paths_are_normalised(archive: Path, test_model, tmp_path: Path, capsys):
    folder = tmp_path / "scan"
    folder.mkdir()
    (folder / "blank.mp4").symlink_to(archive / "blank.mp4")
    (folder / "dangling.mp4").symlink_to(tmp_path / "nowhere.mp4")
    (folder / "loop1.mp4").symlink_to(folder / "loop2.mp4")
    (folder / "loop2.mp4").symlink_to(folder / "loop1.mp4")
    model = resolve(test_model.saved_model)
    s = run_scoring(str(folder), model, str(tmp_path / "d1"), ScoreConfig(frames=2), beam_args=IN_MEMORY)
    rows = {Path(r["uri"]).name: r for r in _rows(tmp_path / "d1")}
    assert s["videos"] == 4 and set(rows) == {"blank.mp4", "dangling.mp4", "loop1.mp4", "loop2.mp4"}
    assert rows["dangling.mp4"]["status"] == "failed" and "dangling symbolic link" in rows["dangling.mp4"]["reason"]
    assert all(rows[n]["status"] == "failed" and rows[n]["reason"] == "symbolic link loop"
               for n in ("loop1.mp4", "loop2.mp4"))
    listing = tmp_path / "list.txt"
    listing.write_text(f"{folder}/blank.mp4\n{folder}/../scan/blank.mp4\nscan/./blank.mp4\n{folder}/loop1.mp4\n")
    s = run_scoring(str(listing), model, str(tmp_path / "d2"), ScoreConfig(frames=2), beam_args=IN_MEMORY)
    assert s["scored_this_run"] == 2 and sorted(r["uri"] for r in _rows(tmp_path / "d2")) == [
        str(folder / "blank.mp4"), str(folder / "loop1.mp4")]
    # a newline in a file name stays on its line in predict's table
    odd = tmp_path / "new\nline.mp4"
    odd.symlink_to(archive / "blank.mp4")
    assert main(["predict", "--model", test_model.saved_model, "--frames", "2", str(odd)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert len(table) == 2 and table[1].startswith("new\\nline.mp4 ") and "no_face" in table[1]


def test_formats_and_discovery_by_glob_and_listing(archive: Path, test_model, tmp_path: Path):
    import pyarrow.parquet as pq

    model = resolve(test_model.saved_model)
    listing = tmp_path / "inputs.txt"
    name = Path(FACE_VIDEOS[1]).name
    listing.write_text("# a comment, then a path relative to the listing, an absent file and a duplicate\n"
                       f"sub/{name}\n{archive}/absent.mp4\n\nsub/{name}\n")
    (tmp_path / "sub").symlink_to(archive / "sub")
    s = run_scoring(str(listing), model, str(tmp_path / "d1"), replace(SCORE, output_format="csv"), beam_args=IN_MEMORY)
    import csv

    rows = list(csv.DictReader((tmp_path / "d1" / "results.csv").open()))
    assert list(rows[0]) == list(out.ROW_KEYS) and s["videos"] == len(rows) == 2
    assert {r["uri"]: (r["status"], r["reason"]) for r in rows} == {
        str(tmp_path / "sub" / name): ("ok", ""), f"{archive}/absent.mp4": ("failed", "file not found")}
    s = run_scoring(str(archive / "sub" / "*.mp4"), model, str(tmp_path / "d2"),
                    replace(SCORE, output_format="parquet"), beam_args=IN_MEMORY)
    table = pq.read_table(tmp_path / "d2" / "results.parquet")
    assert table.column_names == list(out.ROW_KEYS)
    assert sorted(table.column("uri").to_pylist()) == sorted(str(p) for p in (archive / "sub").glob("*.mp4"))


def test_threshold_and_version_come_from_the_registry(archive: Path, test_model, tmp_path: Path, capsys):
    from skyhawk.registry import Registry

    src = str(archive / Path(FACE_VIDEOS[0]).name)
    serving = run_scoring(src, resolve(test_model.ref), str(tmp_path / "v2"), SCORE, beam_args=IN_MEMORY)
    v1 = run_scoring(src, resolve(test_model.ref + "/1"), str(tmp_path / "v1"), SCORE, beam_args=IN_MEMORY)
    (r2,), (r1,) = _rows(tmp_path / "v2"), _rows(tmp_path / "v1")
    assert (r2["model"], serving["threshold"]) == (f"{test_model.name}/2", 0.99)
    assert (r1["model"], v1["threshold"]) == (f"{test_model.name}/1", 0.5)
    assert r1["p_fake"] == r2["p_fake"] and 0.5 <= r1["p_fake"] < 0.99  # same weights, different threshold
    assert (r1["verdict"], r2["verdict"]) == ("fake", "real")
    verdicts = {}  # score.threshold (--threshold): another decision threshold than the exported one; 0: the model's
    for threshold in ("0", "0.5"):
        assert main(["predict", "--json", "--model", test_model.ref, "--frames", str(FRAMES), "--threshold",
                     threshold, src]) == 0
        (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert row["p_fake"] == pytest.approx(r2["p_fake"], abs=1e-5)
        verdicts[threshold] = row["verdict"]
    assert verdicts == {"0": "real", "0.5": "fake"}
    reg = Registry(test_model.registry)
    reg.pin(test_model.name, 1)
    try:
        assert resolve(test_model.ref).label == f"{test_model.name}/1"
    finally:
        reg.unpin(test_model.name)
    with pytest.raises(ModelRefError, match="unknown version"):
        resolve(test_model.ref + "/7")
    with pytest.raises(ModelRefError, match="model not found"):
        resolve(str(tmp_path / "nowhere" / "model"))


def test_predict_agrees_with_score(scored, archive: Path, test_model, capsys):
    dest, _ = scored
    by_uri = {r["uri"]: r for r in _rows(dest)}
    files = [str(archive / Path(FACE_VIDEOS[0]).name), str(archive / "sub" / Path(FACE_VIDEOS[3]).name),
             str(archive / "blank.mp4")]
    assert main(["predict", "--json", "--model", test_model.saved_model, "--frames", str(FRAMES), *files]) == 0
    got = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [g["uri"] for g in got] == files
    for g in got:
        want = by_uri[g["uri"]]
        assert g["status"] == want["status"] and g["verdict"] == want["verdict"]
        assert g["p_fake"] == pytest.approx(want["p_fake"], abs=1e-5)
        assert [t["frame"] for t in g["top_frames"]] == [t["frame"] for t in want["top_frames"]] or \
            g["p_fake"] == pytest.approx(want["p_fake"], abs=1e-6)
    assert main(["predict", "--model", test_model.saved_model, "--frames", "2", str(archive / "notes.mp4")]) == 1
    assert "not a readable video" in capsys.readouterr().err


def test_bad_src_model_and_dest_are_one_line_errors(archive: Path, test_model, tmp_path: Path, capsys):
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    cases = [
        (["--input", str(tmp_path / "missing"), "--model", test_model.saved_model, "--output", str(tmp_path / "o")],
         "input not found"),
        (["--input", str(archive), "--model", str(tmp_path / "no-model"), "--output", str(tmp_path / "o")],
         "model not found"),
        (["--input", str(archive), "--model", test_model.saved_model, "--output", str(a_file)],
         "--output is a file"),
    ]
    for argv, message in cases:
        assert main(["score", *argv]) == 1
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "o").exists()
    with pytest.raises(ScoreError):
        run_scoring(str(archive), resolve(test_model.saved_model), str(a_file))


def test_explain_pages(scored, test_model):
    from components.score.pages import write_explain

    dest, _ = scored
    index = write_explain(str(dest), 2, resolve(test_model.saved_model), SCORE)
    html = Path(index).read_text()
    top = sorted((r for r in _rows(dest) if r["status"] == "ok"), key=lambda r: -r["p_fake"])[:2]
    assert html.count('href="0') == 2 and top[0]["uri"] in html
    page = Path(index).parent.joinpath("0001.html").read_text()
    assert top[0]["uri"] in page and page.count("data:image/jpeg;base64,") == top[0]["faces_scored"]
    assert "data:image/png;base64," in page and "<script" not in page


def _committed(dest: Path) -> list[dict]:
    parts = sorted((dest / out.PARTS_DIR).glob("*.jsonl"))
    return [json.loads(line) for p in parts for line in p.read_text().splitlines()]


def test_sigkill_after_the_first_part_then_rerun_scores_exactly_the_rest(archive: Path, test_model, tmp_path: Path):
    """A real `skyhawk score` subprocess (a part file per row) killed with SIGKILL once it has committed a row."""
    videos = _videos(archive)
    dest = tmp_path / "dest"
    cmd = [sys.executable, "-m", "pipelines.main", "score", "--input", str(archive), "--model", test_model.saved_model,
           "--output", str(dest), "--frames", "32", "--flush-every", "1"]
    proc = subprocess.Popen(cmd, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True)
    while not list((dest / out.PARTS_DIR).glob("*.jsonl")):
        assert proc.poll() is None, "skyhawk score ended before committing a row"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    before = _committed(dest)
    assert 1 <= len(before) < len(videos)  # rows are committed while later videos are still being decoded
    rerun = run_scoring(str(archive), resolve(test_model.saved_model), str(dest), ScoreConfig(frames=32),
                        beam_args=IN_MEMORY)
    assert rerun["scored_this_run"] == len(videos) - len(before)  # exactly the rest
    after = _committed(dest)
    assert sorted(r["row"]["uri"] for r in after) == videos  # every video once: no duplicate, none lost
    assert [r for r in after if r["key"] in {b["key"] for b in before}] == before  # committed rows kept as they were
    assert sorted(r["uri"] for r in _rows(dest)) == videos and rerun["videos"] == len(videos)
    assert not [p for p in (dest / out.PARTS_DIR).iterdir() if not p.name.endswith(".jsonl")]


def test_gcs_input_output_and_registry(gcs_prefix: str, archive: Path, test_model, tmp_path: Path):
    from apache_beam.io.filesystems import FileSystems

    from skyhawk.registry import Registry

    for name in (Path(FACE_VIDEOS[0]).name, "zero.mp4"):
        with FileSystems.create(f"{gcs_prefix}/in/{name}") as f:
            f.write((archive / name).read_bytes())
    reg = Registry(f"{gcs_prefix}/registry")
    reg.publish("m", test_model.saved_model, {"threshold": 0.5})
    summary = run_scoring(f"{gcs_prefix}/in", resolve(f"{gcs_prefix}/registry/m"), f"{gcs_prefix}/out",
                          SCORE, beam_args=IN_MEMORY)
    with FileSystems.open(f"{gcs_prefix}/out/results.jsonl", compression_type="uncompressed") as f:
        rows = [json.loads(line) for line in f.read().decode().splitlines()]
    assert summary["videos"] == 2 and {r["uri"]: r["status"] for r in rows} == {
        f"{gcs_prefix}/in/{Path(FACE_VIDEOS[0]).name}": "ok", f"{gcs_prefix}/in/zero.mp4": "failed"}
    assert all(r["model"] == "m/1" for r in rows)
    local = _rows_of_single(archive / Path(FACE_VIDEOS[0]).name, test_model, tmp_path)
    assert [r["p_fake"] for r in rows if r["status"] == "ok"] == [local["p_fake"]]


def _rows_of_single(path: Path, test_model, tmp_path: Path) -> dict:
    run_scoring(str(path), resolve(test_model.saved_model), str(tmp_path / "single"), SCORE,
                beam_args=IN_MEMORY)
    (row,) = _rows(tmp_path / "single")
    return row
