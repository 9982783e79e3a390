"""A whole `skyhawk run` with data, pipeline root and registry on gs://, then `skyhawk score` gs:// -> gs://.

Everything runs against a real fake-gcs-server process inside a network namespace of its own
(infra/gcs_tf.py): TensorFlow's GCS client (TFX artifacts, TFDV, the Trainer's TFRecord reading and
SavedModel export) reaches it as www.googleapis.com / storage.googleapis.com through the namespace's
/etc/hosts and a throwaway CA; google-cloud-storage and Beam's gs:// reach it the same way. The namespace
has only loopback, so nothing leaves it. Only MLMD's SQLite file is local. The namespace and its
/etc/netns folder are deleted at the end; without root (or `ip`) the module is skipped, and fails under
CI=true (tests/needs.py).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from gcs import inside, list_objects, read_object, write_object
from needs import require

from infra import netns
from infra.gcs_tf import GCSNamespace

pytestmark = pytest.mark.e2e

BUCKET = "skyhawk-test"
GS = f"gs://{BUCKET}"
MODEL = "skyhawk-gcs"
CONFIG = {
    "pipeline_name": "skyhawk-gcs",
    "data_root": f"{GS}/data",
    "pipeline_root": f"{GS}/pipeline",
    "registry": f"{GS}/registry",
    "model_name": MODEL,
    "beam_args": ["--direct_running_mode=in_memory", "--direct_num_workers=1"],
    "extract": {"frames_per_video": 4, "image_size": 75, "labels": f"csv:{GS}/data/manifest.csv",
                "eval_fraction": 0.3},
    "train": {"weights": "none", "image_size": 75, "batch_size": 16, "max_epochs": 1, "threshold": 0.001},
    "gate": {"accuracy_floor": 0.0},
}


def _skyhawk() -> str:
    return os.path.join(os.path.dirname(sys.executable), "skyhawk")


def _local_files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture(scope="module")
def gns():
    require(netns.unavailable(), "needs a network namespace for the GCS emulator")
    with GCSNamespace(bucket=BUCKET) as space:
        yield space
    assert space.ns not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not os.path.exists(os.path.join(netns.NETNS_ETC, space.ns))


@pytest.fixture(scope="module")
def run(gns, tmp_path_factory) -> dict:
    """`skyhawk demo-data` (from the packaged photos) straight into gs://.../data, then `skyhawk run`."""
    home = tmp_path_factory.mktemp("gcs_run")
    state, cwd = home / "state", home / "cwd"
    cwd.mkdir()
    inside(gns, [_skyhawk(), "demo-data", "--output", f"{GS}/data", "--clips", "2", "--frames", "12"],
           cwd=str(cwd))
    config = home / "gs.json"
    config.write_text(json.dumps({**CONFIG, "metadata_path": str(state / "metadata.sqlite")}))
    done = inside(gns, [_skyhawk(), "run", "--config", str(config)], cwd=str(cwd), timeout=1800)
    return {"stdout": done.stdout, "state": state, "cwd": cwd}


def test_run_keeps_every_artifact_on_gcs(gns, run):
    assert f"model pushed: {GS}/registry/{MODEL}/1" in run["stdout"]
    report = next(line.split(": ", 1)[1] for line in run["stdout"].splitlines() if line.startswith("report: "))
    assert report.startswith(f"{GS}/pipeline/RunReport/") and report.endswith("/report.html")

    objects = list_objects(gns, BUCKET, "pipeline/")

    def under(component: str, suffix: str) -> list[str]:
        return [n for n in objects if n.startswith(f"pipeline/{component}/") and n.endswith(suffix)]

    for split in ("train", "eval"):  # FaceExampleGen's TFRecords (Beam's WriteToTFRecord on gs://)
        records = under("FileBasedExampleGen", f"Split-{split}/data_tfrecord-00000-of-00001.gz")
        assert len(records) == 1 and objects[records[0]] > 1000, records
        stats = under("StatisticsGen", f"Split-{split}/FeatureStats.pb")  # TFDV
        assert len(stats) == 1 and objects[stats[0]] > 0
    assert len(under("SchemaGen", "schema.pbtxt")) == 1
    summary = json.loads(read_object(gns, BUCKET, under("FileBasedExampleGen", "summary.json")[0]))
    assert summary["videos_ok"] == 12 and summary["faces_written"] > 0
    saved = under("Trainer", "Format-Serving/saved_model.pb")  # the Trainer's SavedModel export
    assert len(saved) == 1 and any(n.startswith(saved[0].rsplit("/", 1)[0] + "/variables/") for n in objects)
    assert under("Evaluator", "BLESSED")
    html = read_object(gns, BUCKET, report[len(GS) + 1:])
    assert "pushed as version 1" in html
    assert under("RunReport", "roc.png") and under("RunReport", "report.json")

    registry = list_objects(gns, BUCKET, "registry/")
    assert {f"registry/{MODEL}/1/saved_model.pb", f"registry/{MODEL}/1/metadata.json",
            "registry/models.config"} <= set(registry)
    meta = json.loads(read_object(gns, BUCKET, f"registry/{MODEL}/1/metadata.json"))
    assert meta["version"] == 1 and meta["blessed"] is True and meta["uri"] == f"{GS}/registry/{MODEL}/1"

    # Nothing on the local disk but MLMD's SQLite store (no stray "gs:" folders in the working directory).
    assert _local_files(run["cwd"]) == []
    assert _local_files(run["state"]) == ["metadata.sqlite"]


def test_score_gcs_listing_into_gcs_with_the_registry_model(gns, run):
    """A listing file on gs:// naming two demo videos, a broken object and a missing one -> results on gs://."""
    videos = [f"{GS}/data/real/astronaut_clip00.mp4", f"{GS}/data/fake/grace_clip01_swap.mp4"]
    write_object(gns, BUCKET, "score_in/broken.mp4", "not a video")
    listing = [*videos, f"{GS}/score_in/broken.mp4", f"{GS}/score_in/missing.mp4"]
    write_object(gns, BUCKET, "score_in/list.txt", "\n".join(listing) + "\n")
    done = inside(gns, [_skyhawk(), "score", "--input", f"{GS}/score_in/list.txt", "--model",
                        f"{GS}/registry/{MODEL}", "--output", f"{GS}/scores", "--frames", "4"],
                  cwd=str(run["cwd"]), timeout=900)
    assert f"results: {GS}/scores/results.jsonl" in done.stdout
    rows = [json.loads(line) for line in read_object(gns, BUCKET, "scores/results.jsonl").splitlines()]
    assert {r["uri"]: r["status"] for r in rows} == {videos[0]: "ok", videos[1]: "ok", listing[2]: "failed",
                                                      listing[3]: "failed"}
    assert all(r["model"] == f"{MODEL}/1" for r in rows if r["status"] == "ok"), rows
    assert {"scores/summary.json", "scores/frames.jsonl"} <= set(list_objects(gns, BUCKET, "scores/"))
    assert _local_files(run["cwd"]) == []


def test_unchanged_rerun_is_served_from_the_cache_and_adds_no_version(gns, run):
    """Same config again: TFX's cache (artifacts on gs://) serves extraction to training; the registry
    recognises the pushed model as version 1 (read back from gs://) instead of publishing a second one."""
    config = run["cwd"].parent / "gs.json"
    done = inside(gns, [_skyhawk(), "run", "--config", str(config)], cwd=str(run["cwd"]), timeout=1800)
    assert f"model pushed: {GS}/registry/{MODEL}/1" in done.stdout
    objects = list_objects(gns, BUCKET, "")
    assert not [n for n in objects if n.startswith(f"registry/{MODEL}/2/")]
    assert len([n for n in objects if n.endswith("Format-Serving/saved_model.pb")]) == 1  # Trainer not re-run
    pushed = sorted((n for n in objects if n.startswith("pipeline/RegistryPusher/") and n.endswith("PUSHED.json")),
                    key=lambda n: int(n.split("/")[3]))  # pipeline/RegistryPusher/pushed_model/<execution id>/
    assert len(pushed) == 2 and json.loads(read_object(gns, BUCKET, pushed[-1]))["already_published"] is True
    assert _local_files(run["cwd"]) == []
