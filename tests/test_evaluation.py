"""Evaluation: video-level metrics through a real TFMA run of the pipeline's EvalConfig, against values
computed by hand from the same frame predictions; the video gate (``gate.video_level``) with the DFDC
"confident" rule, including its boundary (more than 11 confident frames, but not more than n / 2.5);
``skyhawk evaluate``'s matched-pair accuracy by hand and on dev_videos with the released Meso4_DF (e2e);
and the evaluation page (#25): no horizontal overflow at 1280 px, no per-group table of single-video
groups, media counted by kind, unlabelled files named, calibration title and legend in one unit."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import tensorflow_model_analysis as tfma
from score_models import save_score_model, write_examples

from skyhawk.config import GateConfig
from skyhawk_model import evaluation as ev
from skyhawk_model import gate

pytest_plugins = ["score_model"]

THRESHOLD = 0.5
FLOOR = 0.73

# video: (label, [(frames, p_fake), ...]) and the video score the confident rule gives, by hand:
# more than 11 frames with p > 0.8 that are also more than n/2.5 of the n frames -> mean of those;
# else more than 90 % of frames with p < 0.2 -> mean of those; else the plain mean.
VIDEOS = {
    "fake/a": (1, [(13, 0.9), (17, 0.6)]),     # 13 > 11 and 13 > 30/2.5 = 12: confident -> 0.9
    "real/b": (0, [(12, 0.9), (18, 0.1)]),     # 12 > 11 but 12 = 30/2.5, not more: mean (10.8 + 1.8) / 30
    "real/c": (0, [(12, 0.85), (18, 0.3)]),    # the same boundary: mean (10.2 + 5.4) / 30 = 0.52, wrong
    "real/d": (0, [(28, 0.1), (2, 0.6)]),      # 28 > 0.9 * 30 low frames: mean of those -> 0.1
    "fake/e": (1, [(13, 0.95), (17, 0.55)]),   # confident -> 0.95
    "fake/f": (1, [(11, 0.9), (9, 0.15)]),     # 11 > 20/2.5 but not > 11: mean (9.9 + 1.35) / 20 = 0.5625
    "fake/g": (1, [(10, 0.45)]),               # mean 0.45: wrong
}
BY_HAND = {"fake/a": 0.9, "real/b": 0.42, "real/c": 0.52, "real/d": 0.1, "fake/e": 0.95, "fake/f": 0.5625,
           "fake/g": 0.45}


def _frames(video: str) -> list[float]:
    return [p for n, p in VIDEOS[video][1] for _ in range(n)]


@pytest.fixture(scope="module")
def evaluation(tmp_path_factory) -> dict:
    root: Path = tmp_path_factory.mktemp("video_eval")
    save_score_model(root / "model", "score", THRESHOLD)
    write_examples(root / "eval.tfrecord", [(video, label, {"score": p}) for video, (label, _) in VIDEOS.items()
                                            for p in _frames(video)])
    gate = GateConfig(accuracy_floor=FLOOR, video_level=True, video_aggregation="confident")
    # As TFX's Evaluator on a first run (no blessed baseline yet): the change thresholds are rubber-stamped.
    config = tfma.utils.update_eval_config_with_defaults(ev.eval_config(gate, THRESHOLD), has_baseline=False,
                                                         rubber_stamp=True)
    model = tfma.default_eval_shared_model(str(root / "model"), eval_config=config, rubber_stamp=True)
    tfma.run_model_analysis(eval_shared_model=model, eval_config=config, data_location=str(root / "eval.tfrecord"),
                            file_format="tfrecords", output_path=str(root / "evaluation"))
    return ev.load_evaluation(str(root / "evaluation"))


def test_hand_scores_follow_the_confident_rule():
    """The expected video scores above, recomputed from the frames with the rule's definition."""
    for video, expected in BY_HAND.items():
        p = _frames(video)
        high, low = [x for x in p if x > 0.8], [x for x in p if x < 0.2]
        if len(high) > 11 and len(high) > len(p) / 2.5:
            score = sum(high) / len(high)
        elif len(low) > 0.9 * len(p):
            score = sum(low) / len(low)
        else:
            score = sum(p) / len(p)
        assert score == pytest.approx(expected), video


def test_video_metrics_match_values_computed_by_hand(evaluation):
    labels = {v: VIDEOS[v][0] for v in VIDEOS}
    accuracy = sum((BY_HAND[v] >= THRESHOLD) == bool(labels[v]) for v in VIDEOS) / len(VIDEOS)
    fakes = [BY_HAND[v] for v in VIDEOS if labels[v]]
    reals = [BY_HAND[v] for v in VIDEOS if not labels[v]]
    auc = sum(1.0 if f > r else 0.5 if f == r else 0.0 for f in fakes for r in reals) / (len(fakes) * len(reals))
    clipped = {v: min(max(BY_HAND[v], 0.01), 0.99) for v in VIDEOS}
    log_loss = -sum(math.log(clipped[v]) if labels[v] else math.log(1 - clipped[v]) for v in VIDEOS) / len(VIDEOS)
    assert (accuracy, auc) == (pytest.approx(5 / 7), pytest.approx(11 / 12))

    video = evaluation["models"]["candidate"][ev.SCORE_OUTPUT]
    assert video[ev.VIDEO_COUNT] == len(VIDEOS)
    assert video[ev.VIDEO_ACCURACY] == pytest.approx(accuracy, abs=1e-6)
    assert video[ev.VIDEO_AUC] == pytest.approx(auc, abs=1e-6)
    assert video[ev.VIDEO_LOG_LOSS] == pytest.approx(log_loss, rel=1e-5)
    # Frame level, by hand: a frame is right when (p >= threshold) matches its video's label.
    frames = [(labels[v], p) for v in VIDEOS for p in _frames(v)]
    frame_accuracy = sum((p >= THRESHOLD) == bool(y) for y, p in frames) / len(frames)
    assert frame_accuracy == pytest.approx(135 / 180)
    decision = evaluation["models"]["candidate"][ev.DECISION_OUTPUT]
    assert decision[ev.FRAME_ACCURACY] == pytest.approx(frame_accuracy, abs=1e-6)
    assert video[ev.EXAMPLE_COUNT] == len(frames)


def test_video_level_gate_fails_on_video_accuracy_alone(evaluation):
    """Frame accuracy 0.75 passes the 0.73 floor; video accuracy 5/7 does not, so the model is not blessed."""
    assert evaluation["validation_ok"] is False
    assert [(f["metric"], f["output"]) for f in evaluation["failures"]] == [(ev.VIDEO_ACCURACY, ev.SCORE_OUTPUT)]
    decision = gate.gate_decision(False, evaluation)
    assert decision["reason"] == f"failed: video_accuracy (p_fake, candidate) = {5 / 7:.4f} violates >= {FLOOR:.4f}"
    video_gate = gate.threshold_for(evaluation, ev.SCORE_OUTPUT, ev.VIDEO_ACCURACY)
    assert video_gate is not None and video_gate["lower_bound"] == pytest.approx(FLOOR)


# ----------------------------------------------------------------- matched pairs (skyhawk evaluate)

def _video(uri: str, label: int, group: str, p: float, source: str = "dfl", status: str = "ok") -> dict:
    return {"uri": uri, "label": label, "group": group, "source": source, "p_fake": p, "status": status}


def test_matched_pair_accuracy_by_hand():
    """Pairs are (real, fake) of one group; a tie counts 0.5; groups without both labels hold no pair; the CI
    resamples whole groups (a group's three pairs stay together)."""
    from components.score.metrics import matched_pairs

    videos = [
        _video("r1", 0, "g1", 0.2), _video("f1", 1, "g1", 0.7),  # fake higher: 1
        _video("r2", 0, "g2", 0.6), _video("f2", 1, "g2", 0.4),  # real higher: 0
        _video("r3", 0, "g3", 0.5, status="failed"), _video("f3", 1, "g3", 0.5),  # tie: 0.5, unscored
        _video("r4", 0, "g4", 0.3, "ghost"), _video("f4a", 1, "g4", 0.9, "ghost"),  # one real, three fakes:
        _video("f4b", 1, "g4", 0.1, "ghost"), _video("f4c", 1, "g4", 0.31, "ghost"),  # 1 + 0 + 1
        _video("r5", 0, "g5", 0.1), _video("f6", 1, "g6", 0.9),  # single-label groups: no pair
    ]
    mp = matched_pairs(videos)
    assert (mp["groups"], mp["pairs"], mp["fake_higher"]) == (4, 6, 3.5)
    assert mp["accuracy"] == pytest.approx(3.5 / 6) and mp["unscored_pairs"] == 1
    lo, hi = mp["ci95"]
    assert 0.0 <= lo < 3.5 / 6 < hi <= 1.0 and "over groups" in mp["ci_method"]
    by_source = {s["name"]: s for s in mp["per_source"]}
    assert (by_source["dfl"]["pairs"], by_source["dfl"]["fake_higher"]) == (3, 1.5)
    assert (by_source["ghost"]["pairs"], by_source["ghost"]["accuracy"]) == (3, pytest.approx(2 / 3))
    assert by_source["ghost"]["ci95"] is None  # one group: no interval
    # the CI by hand: the same 1,000 group resamples (seed 0), percentile 2.5 / 97.5
    wins, n = np.array([1.0, 0.0, 0.5, 2.0]), np.array([1, 1, 1, 3])
    idx = np.random.default_rng(0).integers(0, 4, (1000, 4))
    assert [lo, hi] == pytest.approx(list(np.percentile(wins[idx].sum(1) / n[idx].sum(1), [2.5, 97.5])))
    none = matched_pairs([_video("a", 0, "a", 0.5, status="failed"), _video("b", 1, "a", 0.5, status="failed")])
    assert none["accuracy"] is None and none["undefined"] == "no pair holds two scored videos"


@pytest.mark.e2e
def test_dev_videos_released_meso4_matched_pairs_and_nuisance_auc(shared_media: Path, tmp_path: Path, capsys):
    """#24.4 done-when: ``skyhawk evaluate`` on dev_videos prints the nuisance-only AUC and the matched-pair accuracy
    over the groups holding both labels (22 DeepFaceLive pairs plus GHOST's ghost_orig group: 3 fakes of one
    real); on the 22 DeepFaceLive pairs alone the released Meso4_DF ranks the fake higher in 9 (0.41; 8, 0.36,
    before issue 27's tight tracking window moved the tracked boxes, hence the crops, by a few pixels).

    A measurement of a released model on the dev set (nothing is selected or tuned here)."""
    from pipelines.main import main

    weights = shared_media.parent / "weights" / "mesonet" / "Meso4_DF.h5"
    reg = tmp_path / "reg"
    assert main(["import-model", "--backbone", "meso4", "--weights", str(weights), "--registry", str(reg),
                 "--name", "meso4"]) == 0
    dev = shared_media / "dev_videos"
    assert main(["evaluate", "--input", str(dev), "--labels", f"csv:{dev / 'labels.csv'}", "--model",
                 str(reg / "meso4"), "--output", str(tmp_path / "ev")]) == 0
    printed = capsys.readouterr().out
    result = json.loads((tmp_path / "ev" / "evaluation.json").read_text())
    (model,) = result["models"]
    mp = model["matched_pairs"]
    assert (mp["groups"], mp["pairs"]) == (23, 25) and mp["unscored_pairs"] == 0
    by_source = {s["name"]: s for s in mp["per_source"]}
    assert set(by_source) == {"iperov/DeepFaceLive", "ai-forever/ghost"}
    dfl, ghost = by_source["iperov/DeepFaceLive"], by_source["ai-forever/ghost"]
    assert (dfl["groups"], dfl["pairs"], dfl["fake_higher"]) == (22, 22, 9.0)
    assert round(dfl["accuracy"], 2) == 0.41
    assert (ghost["groups"], ghost["pairs"]) == (1, 3)
    assert {p["group"] for p in mp["pairs_detail"] if "ghost" in p["fake"]} == {"ghost_orig"}
    assert f"matched-pair accuracy {mp['accuracy']:.4f}" in printed and "iperov/DeepFaceLive: 0.4091" in printed
    nu = result["nuisance"]
    assert nu["n_videos"] == 57 and nu["combined_auc"] is not None
    assert {"face_side_px", "frame_width", "frame_height"} <= {f["name"] for f in nu["features"]}
    assert f"nuisance-only AUC of these videos: {nu['combined_auc']:.4f}" in printed
    page = (tmp_path / "ev" / "evaluation.html").read_text()
    assert "Matched pairs" in page and "Capture and encoding alone" in page and "face_side_px" in page


# ----------------------------------------------------------------- the evaluation page (#25)

LONG = "x" * 150  # a name without a break point: a table cell holding it is wider than the page


@pytest.fixture(scope="module")
def page_run(tmp_path_factory, real_faces, real_videos, test_model) -> Path:
    """A real ``skyhawk evaluate`` of 6 labelled photos (a ``csv:`` manifest without groups: every video its own
    group; long names and a long source name), with 7 unlabelled files (6 photos, 1 video)."""
    from pipelines.main import main

    root = tmp_path_factory.mktemp("page") / "in"
    lines = ["path,label,source_repo"]
    for i, photo in enumerate(real_faces[:6]):
        name = f"{LONG}{i}.jpg"
        (root / "labelled").mkdir(parents=True, exist_ok=True)
        (root / "labelled" / name).symlink_to(photo)
        lines.append(f"labelled/{name},{'real' if i % 2 else 'fake'},{'src' + LONG if i < 3 else 'short'}")
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    for i, photo in enumerate(real_faces[6:12]):
        (root / "other" / f"u{i}.jpg").parent.mkdir(exist_ok=True)
        (root / "other" / f"u{i}.jpg").symlink_to(photo)
    (root / "other" / "clip.mp4").symlink_to(real_videos[0])
    out_dir = root.parent / "ev"
    assert main(["evaluate", "--input", str(root), "--labels", f"csv:{root / 'labels.csv'}", "--model",
                 test_model.ref + "/1", "--output", str(out_dir), "--frames", "1"]) == 0
    return out_dir


def _parents_of_tables(html: str) -> list[list[tuple[str, dict]]]:
    """For every <table>: its open ancestors (tag, attributes), outermost first."""
    from html.parser import HTMLParser

    void = {"img", "br", "meta", "input", "hr", "link"}

    class Tables(HTMLParser):
        def __init__(self):
            super().__init__()
            self.stack: list[tuple[str, dict]] = []
            self.tables: list[list[tuple[str, dict]]] = []

        def handle_starttag(self, tag, attrs):
            if tag == "table":
                self.tables.append(list(self.stack))
            if tag not in void:
                self.stack.append((tag, dict(attrs)))

        def handle_endtag(self, tag):
            while self.stack:
                if self.stack.pop()[0] == tag:
                    break

    parser = Tables()
    parser.feed(html)
    return parser.tables


def test_page_structure_fits_and_counts_by_kind(page_run: Path):
    """The CI path of the layout check (no browser): every table sits in a box that scrolls sideways, no
    per-group table for single-video groups, media counted by kind, unlabelled files named and all listed."""
    html = (page_run / "evaluation.html").read_text()
    tables = _parents_of_tables(html)
    assert len(tables) >= 3
    for ancestors in tables:
        assert ancestors and ancestors[-1][0] == "div" and "scroll" in ancestors[-1][1].get("class", "").split()
    assert ".scroll { overflow-x: auto;" in html
    assert "Per group" not in html and "Every group holds a single video" in html
    assert "6 labelled files scored (0 videos, 6 photos; 3 real, 3 fake)" in html
    assert "7 files without a label (1 video, 6 photos, not scored)" in html
    listing = (page_run / "unlabelled.txt").read_text().splitlines()
    assert len(listing) == 7 and all("/other/" in line for line in listing)
    named = [line for line in listing if line in html]
    assert len(named) == 5 and "and 2 more" in html and str(page_run / "unlabelled.txt") in html
    result = json.loads((page_run / "evaluation.json").read_text())
    assert result["unlabelled_media"] == {"videos": 1, "photos": 6}
    (model,) = result["models"]
    summary = json.loads((Path(model["scores"]) / "summary.json").read_text())
    assert summary["labels"] == {"real": 3, "fake": 3} and "fake" not in summary and "real" not in summary
    assert summary["predicted_fake"] + summary["predicted_real"] == summary["ok"]


def test_page_fits_1280px_in_headless_chromium(page_run: Path, tmp_path: Path):
    """Rendered at 1280 px: the page itself never scrolls sideways; the too-wide table scrolls inside its box."""
    import shutil
    import subprocess

    exe = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
    if exe is None:
        pytest.skip("headless Chromium is not installed (test_page_structure_fits_and_counts_by_kind is the CI path)")
    probe = """<script>window.addEventListener("load", () => {
      const d = document.documentElement;
      const boxes = [...document.querySelectorAll("div.scroll")].map(b => [b.scrollWidth, b.clientWidth]);
      document.body.setAttribute("data-probe", JSON.stringify({page: [d.scrollWidth, d.clientWidth], boxes}));
    });</script>"""
    page = tmp_path / "probe.html"
    page.write_text((page_run / "evaluation.html").read_text().replace("</body>", probe + "</body>"))
    dom = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                          "--window-size=1280,900", "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    import html as html_lib
    import re

    found = re.search(r'data-probe="([^"]*)"', dom)
    assert found, dom[-2000:]
    measured = json.loads(html_lib.unescape(found.group(1)))
    width, visible = measured["page"]
    assert visible >= 1200 and width <= visible, measured  # no horizontal overflow of the page
    assert any(inner > box for inner, box in measured["boxes"]), measured  # the wide table scrolls in its box


def test_calibration_title_and_legend_name_one_unit(monkeypatch):
    """The calibration plot was titled "videos, 10 bins" with the legend "marker area ~ faces in bin"."""
    from components import report_plots
    from components.score.metrics import model_report
    from components.score.pages import evaluation_html

    figures = []
    real_figure = report_plots.figure

    def recording_figure(*args, **kwargs):
        figures.append(real_figure(*args, **kwargs))
        return figures[-1]

    monkeypatch.setattr(report_plots, "figure", recording_figure)
    videos = [{**_video(f"v{i}", i % 2, f"g{i // 2}", 0.1 + 0.08 * i), "video_id": f"v{i}", "reason": ""}
              for i in range(10)]
    report = model_report(videos, [], 0.5, model="m/1", scores="-", scoring={})
    nuisance = {"combined_auc": None, "combined_sd": None, "combined_features": [], "features": [], "dropped": [],
                "n_videos": 10, "n_real": 5, "n_fake": 5, "n_groups": 5, "folds": 0, "shuffles": 0, "note": "",
                "videos_from": "m/1", "videos_left_out": 0}
    evaluation_html({"input": "in", "labels": "folders", "frames_per_video": 1, "aggregate": "mean",
                     "videos_listed": 10, "videos_missing": 0, "missing": [], "unlabelled": [],
                     "labelled_media": {"videos": 10, "photos": 0, "real": 5, "fake": 5},
                     "unlabelled_media": {"videos": 0, "photos": 0}, "unlabelled_listing": None,
                     "nuisance": nuisance, "models": [report]})
    calibration = [ax for fig in figures for ax in fig.axes if ax.get_title().startswith("Calibration")]
    assert len(calibration) == 1
    (ax,) = calibration
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "videos" in ax.get_title() and "model (marker area ~ videos in bin)" in legend, (ax.get_title(), legend)
