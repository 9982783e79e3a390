"""Retraining on new spans with the real LocalDagRunner, through `skyhawk retrain` (tiny demo spans, one epoch).

One pipeline, one MLMD store and registry, three runs shared by the tests (module fixtures, in order):
1. span-1 only: trained from scratch (no blessed model yet), pushed as version 1; its manifest's split column
   sends one group to `test`, a split that neither the Trainer nor the Evaluator's gate sees;
2. span-2 added: a candidate warm-started from version 1, trained on spans 1-2, judged on span 2's eval split
   and on the golden set, pushed as version 2 with its lineage;
3. span-3 added, drifted (no SBI fakes: the method shares change), trained on the window of the last 2 spans
   with its decision threshold pinned at 0.999999 (every video "real"): it passes the Evaluator's gate on
   span 3 (half real, half fake, gate.max_regression 0.5) but loses the all-fake golden set (video accuracy
   0 vs the baseline's 1): not pushed; the drift is in the report;
then `skyhawk retrain` with no new span exits with 3 and runs nothing.

As in test_pipeline.py, thresholds at the extremes (0.001: every frame "fake") make the accuracies known
from the label balance alone, whatever one epoch of training did.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from media import TINY_PIPELINE

from pipelines.main import main
from pipelines.retrain import EXIT_NO_NEW_SPAN, EXIT_NOT_PUSHED
from pipelines.run import demo_config
from skyhawk.config import to_dict
from skyhawk.registry import Registry

pytestmark = pytest.mark.e2e

TINY = {
    "pipeline_name": "skyhawk-retrain-test",
    **TINY_PIPELINE,
    "use_spans": True,
    "extract.labels": "csv:manifest.csv",  # each span's own manifest
    "train.warm_start": True,
    "train.warm_start_epochs": 1,
    "gate.golden_labels": "folders",
}


def make_span(videos: Path, span: int, seed: int, drop_method: str | None = None, test_group: bool = False) -> Path:
    """data_root/span-N/: demo clips (2 per identity) with their manifest; optionally without one fake method,
    or with a split column that sends the first group to the test split."""
    from skyhawk.demo import make_demo_data

    root = videos / f"span-{span}"
    manifest = Path(make_demo_data(str(root), seed=seed, clips=2, frames=12))
    with manifest.open(newline="") as f:
        rows = list(csv.DictReader(f))
    kept = [r for r in rows if r["method"] != drop_method]
    for r in rows:
        if r not in kept:
            (root / r["path"]).unlink()
    if test_group:
        kept = [{**r, "split": "test" if r["group"] == rows[0]["group"] else ""} for r in kept]
    with manifest.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(kept[0]))
        w.writeheader()
        w.writerows(kept)
    return root


def split_size(examples_uri: str, split: str) -> int:
    """How many examples (face frames) an Examples artifact holds in one split."""
    import glob

    import tensorflow as tf

    files = glob.glob(os.path.join(examples_uri, f"Split-{split}", "*.gz"))
    return sum(1 for _ in tf.data.TFRecordDataset(files, compression_type="GZIP")) if files else 0


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """span-1, an all-fake golden set and the config file."""
    from skyhawk.demo import make_demo_data

    home = tmp_path_factory.mktemp("retrain")
    make_span(home / "videos", 1, seed=0, test_group=True)
    golden = home / "golden"
    make_demo_data(str(golden), seed=3, clips=1, frames=12)
    shutil.rmtree(golden / "real")
    cfg = demo_config(str(home), {**TINY, "gate.golden_root": str(golden)})
    (home / "config.json").write_text(json.dumps(to_dict(cfg)))
    return home


def retrain(home: Path, capsys, *sets: str) -> tuple[int, str]:
    rc = main(["retrain", "--config", str(home / "config.json"), *[f"--set={s}" for s in sets]])
    return rc, capsys.readouterr()[0]


def versions(home: Path) -> list[dict]:
    cfg = json.loads((home / "config.json").read_text())
    return Registry(cfg["registry"]).versions(cfg["model_name"])


def pipeline_runs(home: Path) -> list[str]:
    from tfx.orchestration import metadata

    path = json.loads((home / "config.json").read_text())["metadata_path"]
    with metadata.Metadata(metadata.sqlite_metadata_connection_config(path)) as m:
        return [c.name for c in m.store.get_contexts_by_type("pipeline_run")]


@pytest.fixture(scope="module")
def run1(home: Path) -> dict:
    capsys = _Capture()
    rc, out = retrain(home, capsys)
    return {"rc": rc, "out": out, "versions": versions(home)}


@pytest.fixture(scope="module")
def run2(run1, home: Path) -> dict:
    make_span(home / "videos", 2, seed=1)
    rc, out = retrain(home, _Capture())
    return {"rc": rc, "out": out, "versions": versions(home), "runs": pipeline_runs(home)}


@pytest.fixture(scope="module")
def run3(run2, home: Path) -> dict:
    make_span(home / "videos", 3, seed=2, drop_method="sbi")
    rc, out = retrain(home, _Capture(), "train.threshold=0.999999", "gate.max_regression=0.5",
                      "train.span_window=2")
    return {"rc": rc, "out": out, "versions": versions(home)}


def decision(out: str, span: int) -> str:
    """The command's decision line (Keras prints its epoch lines on stdout too)."""
    return next(line for line in out.splitlines() if line.startswith(f"span-{span}: model "))


class _Capture:
    """capsys for module-scoped fixtures: the stdout the command printed since the last call."""

    def __init__(self) -> None:
        import io

        self._buf = io.StringIO()
        self._old = sys.stdout
        sys.stdout = self._buf

    def readouterr(self) -> tuple[str, str]:
        sys.stdout = self._old
        return self._buf.getvalue(), ""


def test_first_span_is_trained_from_scratch_and_pushed(run1):
    assert run1["rc"] == 0, run1["out"]
    assert decision(run1["out"], 1).endswith("/1 (trained on spans 1)")
    (v1,) = run1["versions"]
    assert v1["spans"] == [1] and v1["eval_span"] == 1 and v1["parent_version"] is None
    assert v1["warm_start"]["enabled"] is True and v1["warm_start"]["base_model"] is None
    assert "no blessed model yet" in v1["warm_start"]["reason"]
    assert v1["golden"]["baseline"] is None and v1["golden"]["candidate"]["video_accuracy"] == 1.0


def test_the_test_split_reaches_neither_the_trainer_nor_the_gate(run1):
    """Span 1's test group is written to its own split; TFMA counts exactly the eval split's frames."""
    from skyhawk_model.evaluation import CANDIDATE, EXAMPLE_COUNT, load_evaluation

    (v1,) = run1["versions"]
    examples = v1["data"]["examples_uri"]
    sizes = {split: split_size(examples, split) for split in ("train", "eval", "test")}
    assert all(sizes.values()), sizes
    counted = load_evaluation(v1["evaluation_uri"])["models"][CANDIDATE]["p_fake"][EXAMPLE_COUNT]
    assert counted == sizes["eval"], (counted, sizes)


def test_new_span_warm_starts_trains_on_the_window_and_records_lineage(run2, home: Path):
    assert run2["rc"] == 0, run2["out"]
    assert [v["version"] for v in run2["versions"]] == [1, 2]
    v1, v2 = run2["versions"]
    assert decision(run2["out"], 2).endswith("/2 (trained on spans 1,2)")
    assert v2["spans"] == [1, 2] and v2["eval_span"] == 2 and v2["data"]["eval_span"] == 2
    assert v2["parent_version"] == 1
    assert v2["warm_start"]["base_model"].startswith(v1["model_uri"]) and v2["warm_start"]["epochs"] == 1
    assert [r["span"] for r in v2["data"]["training_data"]] == [1, 2]
    assert all(r["input_fingerprint"] for r in v2["data"]["training_data"])
    assert v2["data"]["training_data"][0]["examples_uri"] == v1["data"]["examples_uri"]  # span 1 re-used
    assert v2["pipeline_run_id"] in run2["runs"] and v2["pipeline_run_id"] != v1["pipeline_run_id"]
    golden = v2["golden"]
    assert golden["golden_root"] == str(home / "golden") and golden["passed"] is True
    assert golden["candidate"]["video_accuracy"] == 1.0 and golden["baseline"]["video_accuracy"] == 1.0
    assert golden["candidate"]["videos"] == 4
    assert "method" not in json.dumps(v2["drift"])  # spans 1 and 2 have the same method shares
    # ConfoundCheck audits the train split the Trainer reads: spans 1 and 2 pooled
    root = Path(json.loads((home / "config.json").read_text())["pipeline_root"])
    audits = sorted(root.glob("ConfoundCheck/confound/*/confound.json"), key=lambda p: int(p.parent.name))
    first, newest = (json.loads(p.read_text()) for p in (audits[0], audits[-1]))
    assert first["train_spans"] == 1 and newest["train_spans"] == 2
    assert newest["splits"]["train"]["n_videos"] > first["splits"]["train"]["n_videos"]

    rc = main(["registry", "--root", str(Path(v2["uri"]).parents[1]), "list", v2["model_name"]])
    assert rc == 0


def test_golden_set_regression_blocks_a_candidate_that_passes_the_gate(run3):
    assert run3["rc"] == EXIT_NOT_PUSHED, run3["out"]
    assert [v["version"] for v in run3["versions"]] == [1, 2]
    first = decision(run3["out"], 3)
    assert first.startswith("span-3: model NOT pushed (trained on spans 2,3): ")
    assert "golden set video_accuracy 0.0000 vs baseline 1.0000" in first
    assert "binary_accuracy" not in first  # the Evaluator's gate passed


def test_drifted_span_is_flagged_in_the_report(run3):
    report = next(line.split(": ", 1)[1] for line in run3["out"].splitlines() if line.startswith("report: "))
    data = json.loads((Path(report).parent / "report.json").read_text())["data"]
    assert data["spans"] == [2, 3] and data["eval_span"] == 3
    drift = data["drift"]
    assert drift["previous_span"] == 2 and drift["span"] == 3
    assert any(a["feature"] == "method" for a in drift["anomalies"]), drift
    page = Path(report).read_text()
    assert "Drift anomalies (span 2 &rarr; span 3)" in page and "<code>method</code>" in page
    assert "fine-tuned from the latest blessed model" in page


def test_no_new_span_exits_with_the_no_op_code(run3, home: Path):
    """The installed command, as cron runs it: one line, exit 3, no pipeline run started."""
    before = pipeline_runs(home)
    skyhawk = os.path.join(os.path.dirname(sys.executable), "skyhawk")
    done = subprocess.run([skyhawk, "retrain", "--config", str(home / "config.json")], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == EXIT_NO_NEW_SPAN, done.stdout + done.stderr
    assert done.stdout.count("\n") == 1
    assert done.stdout.startswith("no new span: span-3 is the newest") and "(rejected)" in done.stdout
    assert pipeline_runs(home) == before
