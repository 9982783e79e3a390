"""``skyhawk evaluate`` on labelled real videos: its metrics by hand, accounting for every input, and models
compared on one page. A real exported model in a real registry (tests/score_model.py), real dlib/OpenCV.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipelines.main import main

pytest_plugins = ["score_model"]

FRAMES = 4


def _rows(dest: Path) -> list[dict]:
    return [json.loads(line) for line in Path(dest, "results.jsonl").read_text().splitlines()]


def _labelled(tmp_path: Path, shared_media: Path, picked: list[str], extra: str = "") -> Path:
    """Symlinks of dev videos under tmp_path plus labels.csv (path,label,group,source_repo)."""
    dev = shared_media / "dev_videos"
    lines = ["path,label,group,source_repo"]
    for rel in picked:
        (tmp_path / rel).parent.mkdir(exist_ok=True)
        (tmp_path / rel).symlink_to(dev / rel)
        label = rel.split("/")[0]
        lines.append(f"{rel},{label},{Path(rel).stem.split('__')[1]},{'ghost' if 'ghost' in rel else 'dfl'}")
    manifest = tmp_path / "labels.csv"
    manifest.write_text("\n".join(lines) + "\n" + extra)
    return manifest


def _strict_json(path: Path) -> dict:
    def refuse(name: str):
        raise ValueError(f"not strict JSON: {name}")

    return json.loads(path.read_text(), parse_constant=refuse)


EV_PICKED = ["real/dfl__Albica_Johns_0__left_real.mp4", "real/ghost__dance.mp4",
             "fake/dfl__Albica_Johns_0__right_fake.mp4", "fake/dfl__Dean_Wiesel_0__right_fake.mp4"]


def test_evaluate_matches_auc_computed_by_hand(shared_media: Path, test_model, tmp_path: Path, capsys):
    manifest = _labelled(tmp_path, shared_media, EV_PICKED)
    out_dir = tmp_path / "ev"
    assert main(["evaluate", "--input", str(tmp_path), "--labels", f"csv:{manifest}", "--model",
                 test_model.saved_model, "--output", str(out_dir), "--frames", str(FRAMES)]) == 0
    printed = capsys.readouterr().out
    assert "video AUC" in printed and "95% CI" in printed and "missing from disk: 0" in printed
    (ev,) = _strict_json(out_dir / "evaluation.json")["models"]
    vids = ev["videos"]
    assert len(vids) == 4
    pos = [v["p_fake"] for v in vids if v["label"] == 1]
    neg = [v["p_fake"] for v in vids if v["label"] == 0]
    by_hand = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg) / (len(pos) * len(neg))
    m = ev["metrics"]
    assert m["video_auc"] == pytest.approx(by_hand)
    lo, hi = m["video_auc_ci95"]
    assert 0.0 <= lo <= by_hand <= hi <= 1.0 and m["bootstrap"] == {"resamples": 1000, "seed": 0, "unit": "video"}
    acc = np.mean([(v["p_fake"] >= 0.5) == (v["label"] == 1) for v in vids])
    assert m["video_accuracy"] == pytest.approx(acc)
    clip = np.clip([v["p_fake"] for v in vids], 0.01, 0.99)
    y = np.array([v["label"] for v in vids])
    assert m["video_log_loss"] == pytest.approx(-np.mean(y * np.log(clip) + (1 - y) * np.log(1 - clip)))
    assert {s["name"] for s in ev["per_source"]} == {"dfl", "ghost"}
    assert "<img" in (out_dir / "evaluation.html").read_text()


def test_evaluate_accounts_for_unknown_labels_missing_files_and_one_class(shared_media: Path, test_model,
                                                                          tmp_path: Path, capsys):
    reals = [p for p in EV_PICKED if p.startswith("real/")]
    manifest = _labelled(tmp_path, shared_media, reals, extra="real/gone.mp4,real,gone,dfl\n")
    out_dir = tmp_path / "ev"
    argv = ["evaluate", "--input", str(tmp_path), "--labels", f"csv:{manifest}", "--model", test_model.saved_model,
            "--output", str(out_dir), "--frames", "2"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "missing from disk: 1" in printed and "video AUC n/a" in printed
    ev = _strict_json(out_dir / "evaluation.json")  # no bare NaN
    assert ev["videos_missing"] == 1 and ev["missing"][0]["uri"] == str(tmp_path / "real" / "gone.mp4")
    m = ev["models"][0]["metrics"]
    assert m["video_auc"] is None and m["video_auc_ci95"] is None and m["videos"] == 2
    assert m["undefined"]["video_auc"] == "AUC needs both classes (2 real, 0 fake)"
    page = (out_dir / "evaluation.html").read_text()
    assert "1 missing from disk" in page and "gone.mp4" in page and "AUC needs both classes" in page
    # an unknown label word is an error naming the line; no silent drop
    manifest.write_text(manifest.read_text() + "real/other.mp4,genuine,x,dfl\n")
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert "line 5: unknown label 'genuine'" in err and len(err.splitlines()) == 1, err
    # evaluate accepts the flag its error suggests
    (tmp_path / "other").mkdir()
    outside = tmp_path / "outside.csv"
    outside.write_text(f"path,label\n{tmp_path / reals[0]},real\n")
    argv[2], argv[4] = str(tmp_path / "other"), f"csv:{outside}"
    assert main(argv) == 1 and "allow with --allow-outside-root" in capsys.readouterr().err
    assert main([*argv, "--allow-outside-root"]) == 0


def test_evaluate_compares_models_on_one_page_sharing_decode(shared_media: Path, test_model, tmp_path: Path,
                                                             capsys):
    manifest = _labelled(tmp_path, shared_media, EV_PICKED)
    out_dir = tmp_path / "ev"
    v1, v2 = test_model.ref + "/1", test_model.ref + "/2"
    assert main(["evaluate", "--input", str(tmp_path), "--labels", f"csv:{manifest}", "--model", v1, "--model", v2,
                 "--output", str(out_dir), "--frames", str(FRAMES)]) == 0
    printed = capsys.readouterr().out
    ev = _strict_json(out_dir / "evaluation.json")
    names = [f"{test_model.name}/1", f"{test_model.name}/2"]
    assert [m["model"] for m in ev["models"]] == names and all(n + ": video AUC" in printed for n in names)
    assert ev["shared_scoring_jobs"] == 1  # same crop settings: one decode + face detection for both
    one, two = ev["models"]
    assert [v["p_fake"] for v in one["videos"]] == [v["p_fake"] for v in two["videos"]]  # same weights
    assert (one["threshold"], two["threshold"]) == (0.5, 0.99)
    assert one["metrics"]["video_auc_ci95"] == two["metrics"]["video_auc_ci95"]  # same resamples of the videos
    page = (out_dir / "evaluation.html").read_text()
    assert all(f"Per source: {n}" in page for n in names) and page.count("data:image/png;base64,") >= 3
    for n, d in zip(names, ("skyhawk-test-1", "skyhawk-test-2"), strict=True):
        rows = _rows(out_dir / "scores" / d)
        assert len(rows) == 4 and {r["model"] for r in rows} == {n}
