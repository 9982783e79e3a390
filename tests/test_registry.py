"""skyhawk.registry and ``skyhawk registry``: real files, a real fake-gcs-server process, a real SavedModel."""
from __future__ import annotations

import json
import os
import struct
import threading
from pathlib import Path

import pytest
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from pipelines.main import main
from skyhawk import fileio
from skyhawk.registry import Registry, RegistryError

pytest_plugins = ["gcs"]  # tests/gcs.py: gcs_emulator, gcs_prefix (a real fake-gcs-server)


def _graph(meta_graph: bytes) -> bytes:
    """The protobuf wire form of a SavedModel (schema version 1) holding one MetaGraphDef's bytes."""
    return b"\x08\x01\x12" + bytes([len(meta_graph)]) + meta_graph


def _variables_index(tensor_bytes: int) -> bytes:
    """A TensorFlow table (LevelDB format, uncompressed) as variables.index: the bundle header (1 shard) and one
    float tensor 'v' of tensor_bytes bytes at offset 0 of shard 0; block checksums are not filled in."""
    def varint(n: int) -> bytes:
        out = b""
        while True:
            out += bytes([(n & 0x7F) | (0x80 if n > 0x7F else 0)])
            n >>= 7
            if not n:
                return out

    def block(entries: list[tuple[bytes, bytes]]) -> bytes:
        body = b"".join(varint(0) + varint(len(k)) + varint(len(v)) + k + v for k, v in entries)
        return body + struct.pack("<II", 0, 1) + b"\0\0\0\0\0"  # restarts [0]; trailer: uncompressed, crc

    data = block([(b"", b"\x08\x01"), (b"v", b"\x08\x01\x28" + varint(tensor_bytes))])
    meta = block([])
    index = block([(b"v", varint(0) + varint(len(data) - 5))])
    handles = varint(len(data)) + varint(len(meta) - 5) + varint(len(data) + len(meta)) + varint(len(index) - 5)
    return data + meta + index + handles.ljust(40, b"\0") + struct.pack("<Q", 0xDB4775248B80FB57)


def _fake_saved_model(d: Path, tag: str = "x") -> str:
    """A directory with SavedModel-shaped files: a graph with no MetaGraph fields the registry reads and a
    variables index that matches its data file (the registry checks those as TF Serving's loader would)."""
    (d / "variables").mkdir(parents=True)
    (d / "assets").mkdir()
    (d / "saved_model.pb").write_bytes(_graph(b"graph-" + tag.encode()))
    (d / "fingerprint.pb").write_bytes(b"fp")
    (d / "variables" / "variables.index").write_bytes(_variables_index(4096))
    (d / "variables" / "variables.data-00000-of-00001").write_bytes(os.urandom(4096))
    (d / "assets" / "vocab.txt.gz").write_bytes(b"not gzip")  # must be copied verbatim, not (de)compressed
    return str(d)


@pytest.fixture
def saved_model(tmp_path) -> str:
    return _fake_saved_model(tmp_path / "sm")


def _served(text: str) -> dict[str, tuple[str, list[int]]]:
    """models.config text -> {model name: (base_path, the versions its policy allows)}."""
    config = text_format.Parse(text, model_server_config_pb2.ModelServerConfig())
    return {c.name: (c.base_path, list(c.model_version_policy.specific.versions))
            for c in config.model_config_list.config}


def _config(reg: Registry) -> dict[str, tuple[str, list[int]]]:
    return _served(fileio.read_text(reg._join("models.config")))


def _meta(i: int) -> dict:
    return {"metrics": {"auc": 0.9 + i / 100}, "blessing": {"blessed": True}, "threshold": 0.5,
            "data": {"spans": [i], "fingerprints": [f"fp-{i}"]}, "pipeline_run_id": f"run-{i}",
            "config": {"epochs": 1}}


def _exercise(reg: Registry, saved_model: str) -> None:
    """Publish/list/show/pin/unpin/rollback; the same assertions for every filesystem."""
    with pytest.raises(RegistryError, match="unknown model"):
        reg.versions("deepfake")
    assert reg.models() == []
    assert reg.serving("deepfake") is None

    written = [reg.publish("deepfake", saved_model, _meta(i)) for i in range(3)]
    assert [m["version"] for m in written] == [1, 2, 3]
    m = written[0]
    assert m["model_name"] == "deepfake" and m["uri"] == reg.version_dir("deepfake", 1)
    assert m["metrics"] == {"auc": 0.9} and m["data"]["fingerprints"] == ["fp-0"] and m["pipeline_run_id"] == "run-0"
    assert {f["path"] for f in m["files"]} == {"saved_model.pb", "fingerprint.pb", "variables/variables.index",
                                              "variables/variables.data-00000-of-00001", "assets/vocab.txt.gz"}
    assert m["size_bytes"] == sum(f["size"] for f in m["files"]) > 4096
    assert m["created_at"].endswith("Z")

    # TF Serving layout: the SavedModel sits directly in the version dir, next to metadata.json.
    for rel in ("saved_model.pb", "variables/variables.index", "metadata.json"):
        assert fileio.isfile(fileio.join(reg.version_dir("deepfake", 2), *rel.split("/")))
    assert json.loads(fileio.read_text(fileio.join(reg.version_dir("deepfake", 2), "metadata.json")))["version"] == 2
    # No staging left behind.
    assert not fileio.glob(reg._join("deepfake", ".staging", "**"))

    assert reg.models() == ["deepfake"]
    assert [v["version"] for v in reg.versions("deepfake")] == [1, 2, 3]
    assert reg.serving("deepfake") == 3 and reg.show("deepfake")["version"] == 3
    assert reg.show("deepfake", 1)["pipeline_run_id"] == "run-0"
    with pytest.raises(RegistryError, match=r"unknown version deepfake@7 \(published: 1, 2, 3\)"):
        reg.show("deepfake", 7)
    with pytest.raises(RegistryError, match="unknown version"):
        reg.pin("deepfake", 7)

    assert _config(reg) == {"deepfake": (reg.model_dir("deepfake"), [3])}  # only the serving version

    reg.pin("deepfake", 1)
    assert reg.serving("deepfake") == 1 and reg.show("deepfake")["version"] == 1
    assert _config(reg) == {"deepfake": (reg.model_dir("deepfake"), [1])}
    with pytest.raises(RegistryError, match="no usable published version before 1"):
        reg.rollback("deepfake")

    reg.unpin("deepfake")
    reg.unpin("deepfake")  # idempotent
    assert reg.serving("deepfake") == 3 and reg.pinned("deepfake") is None
    assert _config(reg)["deepfake"][1] == [3]
    assert reg.rollback("deepfake") == 2 and reg.serving("deepfake") == 2
    assert reg.rollback("deepfake") == 1 and reg.serving("deepfake") == 1
    pin = json.loads(fileio.read_text(reg._join("deepfake", "serving.json")))
    assert pin["version"] == 1 and pin["reason"] == "rollback" and pin["previous"] == 2

    # A new publish while pinned does not move serving.
    assert reg.publish("deepfake", saved_model, _meta(3))["version"] == 4
    assert reg.serving("deepfake") == 1
    reg.unpin("deepfake")
    assert reg.serving("deepfake") == 4


def _exercise_unpublished_invisible(reg: Registry, saved_model: str) -> None:
    """A version dir without metadata.json (a crashed/ongoing publish) and staging junk are invisible."""
    reg.publish("m", saved_model, _meta(0))
    partial = reg.version_dir("m", 2)
    fileio.write_bytes(fileio.join(partial, "saved_model.pb"), b"half")
    fileio.write_bytes(reg._join("m", ".staging", "dead", "saved_model.pb"), b"junk")
    fileio.write_bytes(reg._join("ghost", "1", "saved_model.pb"), b"junk")  # a model with nothing published
    assert reg.models() == ["m"]
    assert [v["version"] for v in reg.versions("m")] == [1]
    assert reg.serving("m") == 1
    with pytest.raises(RegistryError, match="unknown version"):
        reg.show("m", 2)
    with pytest.raises(RegistryError, match="unknown model 'ghost'"):
        reg.show("ghost")
    # The number of the unfinished version is not reused.
    assert reg.publish("m", saved_model, _meta(1))["version"] == 3
    assert [v["version"] for v in reg.versions("m")] == [1, 3]


def _exercise_concurrent(reg: Registry, saved_model: str, n: int) -> None:
    results, errors = [], []
    barrier = threading.Barrier(n)

    def worker(i):
        try:
            barrier.wait()
            results.append(reg.publish("race", saved_model, {"worker": i})["version"])
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert sorted(results) == list(range(1, n + 1))
    published = reg.versions("race")
    assert [v["version"] for v in published] == list(range(1, n + 1))
    assert sorted(v["worker"] for v in published) == list(range(n))
    assert _config(reg)["race"][1] == [n]  # the config written last saw every version (none lands stale)


# ------------------------------------------------------------------------------------------------- local
def test_local_flows(tmp_path, saved_model):
    _exercise(Registry(str(tmp_path / "reg")), saved_model)


def test_local_unpublished_is_invisible(tmp_path, saved_model):
    _exercise_unpublished_invisible(Registry(str(tmp_path / "reg")), saved_model)


def test_local_concurrent_publishes_get_distinct_versions(tmp_path, saved_model):
    reg = Registry(str(tmp_path / "reg"))
    _exercise_concurrent(reg, saved_model, n=8)
    assert fileio.listdir(reg._join("race", ".claims")) == [str(v) for v in range(1, 9)]
    assert not os.path.exists(reg._join("race", ".staging"))  # the last one out prunes the shared staging folder


def test_publish_validation(tmp_path, saved_model):
    reg = Registry(str(tmp_path / "reg"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(RegistryError, match="no SavedModel"):
        reg.publish("m", str(tmp_path / "empty"), {})
    with pytest.raises(RegistryError, match="invalid model name"):
        reg.publish("../evil", saved_model, {})
    with pytest.raises(RegistryError, match="not JSON-serializable"):
        reg.publish("m", saved_model, {"bad": object()})
    assert reg.models() == []
    assert not list((tmp_path / "reg").rglob("saved_model.pb"))  # nothing staged or published


def test_download_round_trip(tmp_path, saved_model):
    reg = Registry(str(tmp_path / "reg"))
    reg.publish("m", saved_model, {})
    out = tmp_path / "out"
    reg.download("m", 1, str(out))
    for rel in ("saved_model.pb", "assets/vocab.txt.gz", "variables/variables.data-00000-of-00001"):
        assert (out / rel).read_bytes() == (Path(saved_model) / rel).read_bytes()
    assert json.loads((out / "metadata.json").read_text())["version"] == 1


# ------------------------------------------------------------------------------------------------- gs://
def test_gcs_flows(gcs_prefix, saved_model):
    _exercise(Registry(gcs_prefix), saved_model)


def test_gcs_unpublished_is_invisible(gcs_prefix, saved_model):
    _exercise_unpublished_invisible(Registry(gcs_prefix), saved_model)


def test_gcs_concurrent_publishes_get_distinct_versions(gcs_prefix, saved_model):
    reg = Registry(gcs_prefix)
    _exercise_concurrent(reg, saved_model, n=4)
    assert fileio.listdir(reg._join("race", ".claims")) == ["1", "2", "3", "4"]


def test_gcs_promote_between_registries(gcs_prefix, tmp_path, saved_model):
    """A published version (gs://) can be the source of another publish: gs->gs and gs->local."""
    staging_reg, prod_reg = Registry(f"{gcs_prefix}/staging"), Registry(f"{gcs_prefix}/prod")
    first = staging_reg.publish("m", saved_model, {"stage": "staging"})
    promoted = prod_reg.publish("m", first["uri"], {"stage": "prod"})
    assert promoted["version"] == 1 and promoted["stage"] == "prod" and promoted["source"] == first["uri"]
    assert {f["path"] for f in promoted["files"]} == {f["path"] for f in first["files"]}  # not metadata.json
    local = Registry(str(tmp_path / "reg")).publish("m", promoted["uri"], {})
    assert (Path(local["uri"]) / "variables" / "variables.index").read_bytes() == _variables_index(4096)


def test_gcs_real_savedmodel_round_trip(gcs_prefix, tmp_path):
    import numpy as np
    import tensorflow as tf

    class Tiny(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable([[2.0], [-1.0]])

        @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32)])
        def __call__(self, x):
            return {"score": tf.sigmoid(tf.matmul(x, self.w))}

    module = Tiny()
    src = tmp_path / "tiny"
    tf.saved_model.save(module, str(src), signatures={"serving_default": module.__call__})
    x = np.array([[1.0, 0.5], [0.0, 3.0]], np.float32)
    expected = module(x)["score"].numpy()

    reg = Registry(gcs_prefix)
    meta = reg.publish("tiny", str(src), {"metrics": {"auc": 1.0}})
    assert meta["uri"] == f"{gcs_prefix}/tiny/1"
    out = tmp_path / "back"
    reg.download("tiny", None, str(out))
    loaded = tf.saved_model.load(str(out))
    got = loaded.signatures["serving_default"](tf.constant(x))["score"].numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_emulator_restores_env():
    from infra.gcs_emulator import GCSEmulator

    before = os.environ.get("STORAGE_EMULATOR_HOST")
    with GCSEmulator(bucket="other") as emu:
        assert os.environ["STORAGE_EMULATOR_HOST"] == emu.url
        reg = Registry("gs://other/r")
        assert reg.models() == []
    assert os.environ.get("STORAGE_EMULATOR_HOST") == before


# ------------------------------------------------------------------------------------------------- failures
class Injected(OSError):
    """The failure a test forces into one step of a publish."""


def _fail_publish(reg: Registry, saved_model: str, monkeypatch, step: str) -> None:
    """Forces one step of a publish to fail; then no half version is visible, staging is gone, and the next
    publish works."""
    import google.cloud.storage

    from skyhawk.fileio.beam import BeamFilesystem
    from skyhawk.fileio.local import LocalFilesystem

    local = not fileio.is_remote(reg.root)
    reg.publish("m", saved_model, _meta(0))
    calls = {"copy": 0, "move": 0}
    real_copy, real_write, real_store_copy = fileio.copy_file, fileio.write_bytes, BeamFilesystem.copy

    def copy(src, dst):  # into staging: 5 files per version
        calls["copy"] += 1
        if step == "copy-to-staging" and calls["copy"] == 2:
            raise Injected(f"copy {src} -> {dst}")
        real_copy(src, dst)

    def store_copy(self, src, dst):  # from staging into the version folder (object stores: file by file)
        calls["move"] += 1
        if step == "copy-to-version" and calls["move"] == 2:
            raise Injected(f"copy {src} -> {dst}")
        real_store_copy(self, src, dst)

    def write(path, data):
        if step == "metadata" and path.endswith("metadata.json"):
            raise Injected(f"write {path}")
        real_write(path, data)

    def fail(*a, **k):
        raise Injected(step)

    monkeypatch.setattr(fileio, "copy_file", copy)
    monkeypatch.setattr(fileio, "write_bytes", write)
    monkeypatch.setattr(BeamFilesystem, "copy", store_copy)
    if step == "claim":  # the atomic step: create-if-absent (gs://: an ifGenerationMatch=0 upload)
        if local:
            monkeypatch.setattr(LocalFilesystem, "create_if_absent", fail)
        else:
            monkeypatch.setattr(google.cloud.storage.Blob, "upload_from_string", fail)
    with pytest.raises(Injected):
        reg.publish("m", saved_model, _meta(1))
    monkeypatch.undo()
    assert [v["version"] for v in reg.versions("m")] == [1] and reg.serving("m") == 1
    assert not fileio.glob(reg._join("m", "2", "**")), f"half version left after a failed {step}"
    assert not fileio.glob(reg._join("m", ".staging", "**")), f"staging left after a failed {step}"
    if local:
        assert not os.path.exists(reg._join("m", ".staging")), f"empty .staging/ left after a failed {step}"
    assert _config(reg) == {"m": (reg.model_dir("m"), [1])}
    again = reg.publish("m", saved_model, _meta(2))["version"]
    assert again == (3 if step in ("copy-to-version", "metadata") else 2)  # a claimed number is never reused
    assert [v["version"] for v in reg.versions("m")] == [1, again]


STEPS = ["copy-to-staging", "copy-to-version", "metadata", "claim"]


@pytest.mark.parametrize("step", [s for s in STEPS if s != "copy-to-version"])  # local: staging is renamed
def test_local_publish_failing_midway(tmp_path, saved_model, monkeypatch, step):
    _fail_publish(Registry(str(tmp_path / "reg")), saved_model, monkeypatch, step)


@pytest.mark.parametrize("step", STEPS)
def test_gcs_publish_failing_midway(gcs_prefix, saved_model, monkeypatch, step):
    _fail_publish(Registry(gcs_prefix), saved_model, monkeypatch, step)


def _corrupt_registry(root: str, saved_model: str) -> Registry:
    reg = Registry(root)
    reg.publish("good", saved_model, _meta(0))
    reg.publish("bad", saved_model, _meta(0))
    fileio.write_text(fileio.join(reg.version_dir("bad", 1), "metadata.json"), "{not json")
    return reg


@pytest.mark.parametrize("where", ["local", "gcs"])
def test_corrupt_metadata_hides_only_that_version(where, tmp_path, request, saved_model, capsys):
    root = str(tmp_path / "reg") if where == "local" else request.getfixturevalue("gcs_prefix")
    reg = _corrupt_registry(root, saved_model)
    assert reg.models() == ["good"]
    assert set(_served(reg.models_config())) == {"good"}  # never served: the registry does not list it
    rc, out, err = _cli(capsys, "--root", root, "list")
    assert rc == 0 and out.splitlines()[1].split() == ["good", "1", "1", "1", "no"]
    rc, _, err = _cli(capsys, "--root", root, "show", "bad")
    assert rc == 1 and "unknown model 'bad'" in err


def test_corrupt_pin_names_the_file_and_unpin_repairs_it(tmp_path, saved_model, capsys):
    root = str(tmp_path / "reg")
    reg = Registry(root)
    for i in range(2):
        reg.publish("m", saved_model, _meta(i))
    reg.pin("m", 1)
    pin_file = reg._join("m", "serving.json")
    fileio.write_text(pin_file, '{"version": ')
    for argv in (["list"], ["list", "m"], ["show", "m"], ["rollback", "m"]):
        rc, out, err = _cli(capsys, "--root", root, *argv)
        assert rc == 1 and err.count("\n") == 1, argv
        assert f"corrupt pin file {pin_file}" in err and "skyhawk registry unpin m" in err, err
    rc, out, _ = _cli(capsys, "--root", root, "unpin", "m")
    assert rc == 0 and "serving latest 2" in out and Registry(root).serving("m") == 2


def _break(reg: Registry, name: str, version: int, how: str) -> None:
    """A published version made unservable after the fact: its graph removed, garbled or cut short."""
    pb = fileio.join(reg.version_dir(name, version), "saved_model.pb")
    if how == "missing":
        fileio.remove(pb)
    elif how == "garbage":
        fileio.write_bytes(pb, b"not a graph")
    else:
        fileio.write_bytes(pb, fileio.read_bytes(pb)[:-2])


@pytest.mark.parametrize("how, problem", [("missing", "no saved_model.pb"), ("garbage", "not a SavedModel graph"),
                                          ("truncated", "not a SavedModel graph")])
def test_a_broken_version_is_listed_unusable_and_never_pinned_or_served(tmp_path, saved_model, how, problem,
                                                                      capsys):
    """Issue 17.6: a version folder without a readable saved_model.pb is marked, and pin, models.config and
    model resolution refuse it with one line."""
    from skyhawk_model.model_ref import ModelRefError, resolve

    root = str(tmp_path / "reg")
    reg = Registry(root)
    for i in range(3):
        reg.publish("m", saved_model, _meta(i))
    _break(reg, "m", 2, how)
    listed = {v["version"]: v for v in reg.versions("m")}
    assert [listed[v]["usable"] for v in (1, 2, 3)] == [True, False, True]
    assert listed[1]["problem"] is None and problem in listed[2]["problem"]
    assert reg.show("m", 2)["usable"] is False and reg.show("m")["usable"] is True
    assert main(["registry", "--root", root, "list", "m"]) == 0
    listing = capsys.readouterr().out
    assert f"! version 2 is unusable: {listed[2]['problem']}" in listing
    assert [line.split()[:2] for line in listing.splitlines() if line.startswith("!")][0] == ["!", "2"]
    assert main(["registry", "--root", root, "pin", "m@2"]) == 1
    assert "unusable version" in capsys.readouterr().err
    with pytest.raises(RegistryError, match=r"cannot pin m@2: unusable version \(.*" + problem) as e:
        reg.pin("m", 2)
    assert "\n" not in str(e.value) and reg.pinned("m") is None
    assert _served(reg.models_config()) == {"m": (reg.model_dir("m"), [3])}
    assert reg.rollback("m") == 1  # skips the broken version 2
    reg.unpin("m")
    with pytest.raises(ModelRefError, match=problem):
        resolve(f"{root}/m/2")
    with pytest.raises(ModelRefError, match=problem):
        resolve(reg.version_dir("m", 2))  # the folder itself, not through the registry
    _break(reg, "m", 3, how)  # the serving version itself broken: models.config is refused, not written broken
    with pytest.raises(RegistryError, match=r"cannot serve m@3: unusable version"):
        reg.models_config()
    with pytest.raises(ModelRefError, match=problem):
        resolve(f"{root}/m")


def test_name_check_is_the_whole_name(tmp_path, saved_model):
    reg = Registry(str(tmp_path / "reg"))
    for bad in ("m\n", "m/x", "../m", ".m", ""):
        with pytest.raises(RegistryError, match="invalid model name"):
            reg.publish(bad, saved_model, {})


def test_list_shows_the_pushers_metrics_and_run(tmp_path, saved_model, capsys):
    """The RegistryPusher's metadata shape: metrics per output, the run under pipeline_run."""
    root = str(tmp_path / "reg")
    Registry(root).publish("m", saved_model, {
        "metrics": {"is_fake": {"binary_accuracy": 0.875}, "p_fake": {"auc": 0.93, "binary_accuracy": 0.5},
                    "": {"video_accuracy": 0.9}},
        "pipeline_run": {"model_artifact_id": 17, "model_uri": "/p/Trainer/model/17"}, "blessed": True})
    Registry(root).publish("m", saved_model, {"metrics": {"auc": 0.8}, "pipeline_run": {"run_id": "run-2"}})
    rc, out, _ = _cli(capsys, "--root", root, "list", "m")
    rows = out.splitlines()
    assert rc == 0 and rows[0].split()[3:7] == ["SPANS", "THRESHOLD", "METRICS", "RUN"]
    assert "binary_accuracy=0.875 video_accuracy=0.9 auc=0.93" in rows[1] and "model#17" in rows[1]
    assert "auc=0.8" in rows[2] and "run-2" in rows[2]


def test_list_and_show_the_lineage(tmp_path, saved_model, capsys):
    """The pusher's lineage fields: the span range per version in `list`; spans, eval span, parent version,
    pipeline run, per-span fingerprints and golden-set metrics in `show`."""
    root = str(tmp_path / "reg")
    reg = Registry(root)
    reg.publish("m", saved_model, {"data": {"span": 0, "input_fingerprint": "fp"}})  # before spans existed
    reg.publish("m", saved_model, {
        "spans": [1, 2, 3], "eval_span": 3, "parent_version": 1, "pipeline_run_id": "2025-01-02T03:04:05",
        "warm_start": {"reason": "fine-tuned from the latest blessed model for <= 2 epoch(s)"},
        "data": {"spans": [1, 2, 3], "eval_span": 3, "training_data": [
            {"span": s, "input_fingerprint": f"split:videos,num_files:{s}", "examples_uri": f"/p/ex/{s}"}
            for s in (1, 2, 3)]},
        "golden": {"golden_root": "/data/golden", "summary": "golden set video_accuracy 0.9000 vs baseline 0.8500",
                   "candidate": {"video_accuracy": 0.9, "videos": 20}, "baseline": {"video_accuracy": 0.85}}})
    reg.publish("m", saved_model, {"spans": [2, 4], "eval_span": 4})
    rc, out, _ = _cli(capsys, "--root", root, "list", "m")
    rows = [r.split() for r in out.splitlines()]
    assert rc == 0 and rows[1][3] == "0" and rows[2][3] == "1-3" and rows[3][:2] == ["*", "3"] and rows[3][4] == "2,4"
    rc, out, _ = _cli(capsys, "--root", root, "show", "m@2")
    assert rc == 0
    assert "trained on spans: 1-3   eval span: 3" in out
    assert "parent version: 1 (warm start: fine-tuned from the latest blessed model for <= 2 epoch(s))" in out
    assert "pipeline run: 2025-01-02T03:04:05" in out
    assert "data span 2: fingerprint split:videos,num_files:2  (/p/ex/2)" in out
    assert "golden set: /data/golden: golden set video_accuracy 0.9000 vs baseline 0.8500" in out
    assert "video_accuracy=0.9 (baseline 0.85) videos=20" in out
    rc, out, _ = _cli(capsys, "--root", root, "show", "m@1")
    assert "parent version: -" in out and "golden set: none recorded" in out


# ------------------------------------------------------------------------------------------------- CLI
def _cli(capsys, *argv) -> tuple[int, str, str]:
    rc = main(["registry", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _cli_round_trip(capsys, root: str, saved_model: str) -> None:
    rc, out, err = _cli(capsys, "--root", root, "list")
    assert rc == 1 and out == "" and err.startswith(f"skyhawk registry: error: no registry at {root}")
    reg = Registry(root)
    for i in range(3):
        reg.publish("deepfake", saved_model, _meta(i))

    rc, out, _ = _cli(capsys, "--root", root, "list")
    assert rc == 0 and out.splitlines()[0].split() == ["MODEL", "VERSIONS", "LATEST", "SERVING", "PINNED"]
    assert out.splitlines()[1].split() == ["deepfake", "3", "3", "3", "no"]
    rc, out, _ = _cli(capsys, "--root", root, "list", "deepfake")
    assert rc == 0 and "run-2" in out and out.splitlines()[3].split()[:2] == ["*", "3"]
    rc, out, _ = _cli(capsys, "list", "deepfake", "--json", "--root", root)  # options after the action
    listing = json.loads(out)
    assert listing["versions"] == [1, 2, 3] and listing["serving"] == 3 and len(listing["metadata"]) == 3

    rc, out, _ = _cli(capsys, "--root", root, "show", "deepfake@2")
    assert rc == 0 and out.startswith("deepfake@2 (not serving)") and "run-1" in out
    rc, out, _ = _cli(capsys, "--root", root, "--json", "show", "deepfake")
    shown = json.loads(out)
    assert shown["version"] == 3 and shown["serving"] is True and shown["threshold"] == 0.5

    rc, out, _ = _cli(capsys, "--root", root, "pin", "deepfake@1")
    assert rc == 0 and "pinned deepfake@1 (was serving 3)" in out
    rc, out, _ = _cli(capsys, "--root", root, "--json", "list")
    assert json.loads(out) == [{"model": "deepfake", "versions": [1, 2, 3], "latest": 3, "serving": 1,
                                "pinned": True, "pin_missing": False}]
    rc, out, _ = _cli(capsys, "--root", root, "unpin", "deepfake")
    assert rc == 0 and "serving latest 3" in out
    rc, out, _ = _cli(capsys, "--root", root, "rollback", "deepfake")
    assert rc == 0 and "3 -> 2" in out and Registry(root).serving("deepfake") == 2
    rc, out, _ = _cli(capsys, "--root", root, "config")
    assert rc == 0 and _served(out) == {"deepfake": (Registry(root).model_dir("deepfake"), [2])}

    rc, out, err = _cli(capsys, "--root", root, "show", "deepfake@9")
    assert rc == 1 and out == ""
    assert err == "skyhawk registry: error: unknown version deepfake@9 (published: 1, 2, 3)\n"
    rc, _, err = _cli(capsys, "--root", root, "pin", "deepfake@9")
    assert rc == 1 and err.startswith("skyhawk registry: error: unknown version deepfake@9")
    rc, _, err = _cli(capsys, "--root", root, "pin", "deepfake")
    assert rc == 1 and "missing version" in err
    rc, _, err = _cli(capsys, "--root", root, "rollback", "nope")
    assert rc == 1 and err.startswith("skyhawk registry: error: unknown model 'nope'") and err.count("\n") == 1


def test_cli_round_trip_local(capsys, tmp_path, saved_model, monkeypatch):
    _cli_round_trip(capsys, str(tmp_path / "reg"), saved_model)
    monkeypatch.setenv("SKYHAWK_REGISTRY", str(tmp_path / "reg"))  # the default for --root
    rc, out, _ = _cli(capsys, "--json", "list")
    assert rc == 0 and json.loads(out)[0]["serving"] == 2


def test_cli_round_trip_gcs(capsys, gcs_prefix, saved_model):
    _cli_round_trip(capsys, gcs_prefix, saved_model)
