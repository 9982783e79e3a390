"""skyhawk.registry and ``skyhawk registry``: real files, a real fake-gcs-server process, a real SavedModel."""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
from registry_models import cli, served, served_config, variables_index, version_meta

from skyhawk import fileio
from skyhawk.registry import Registry, RegistryError

# tests/gcs.py: gcs_emulator, gcs_prefix (a real fake-gcs-server); tests/registry_models.py: saved_model
pytest_plugins = ["gcs", "registry_models"]


def _exercise(reg: Registry, saved_model: str) -> None:
    """Publish/list/show/pin/unpin/rollback; the same assertions for every filesystem."""
    with pytest.raises(RegistryError, match="unknown model"):
        reg.versions("deepfake")
    assert reg.models() == []
    assert reg.serving("deepfake") is None

    written = [reg.publish("deepfake", saved_model, version_meta(i)) for i in range(3)]
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

    assert served_config(reg) == {"deepfake": (reg.model_dir("deepfake"), [3])}  # only the serving version

    reg.pin("deepfake", 1)
    assert reg.serving("deepfake") == 1 and reg.show("deepfake")["version"] == 1
    assert served_config(reg) == {"deepfake": (reg.model_dir("deepfake"), [1])}
    with pytest.raises(RegistryError, match="no usable published version before 1"):
        reg.rollback("deepfake")

    reg.unpin("deepfake")
    reg.unpin("deepfake")  # idempotent
    assert reg.serving("deepfake") == 3 and reg.pinned("deepfake") is None
    assert served_config(reg)["deepfake"][1] == [3]
    assert reg.rollback("deepfake") == 2 and reg.serving("deepfake") == 2
    assert reg.rollback("deepfake") == 1 and reg.serving("deepfake") == 1
    pin = json.loads(fileio.read_text(reg._join("deepfake", "serving.json")))
    assert pin["version"] == 1 and pin["reason"] == "rollback" and pin["previous"] == 2

    # A new publish while pinned does not move serving.
    assert reg.publish("deepfake", saved_model, version_meta(3))["version"] == 4
    assert reg.serving("deepfake") == 1
    reg.unpin("deepfake")
    assert reg.serving("deepfake") == 4


def _exercise_unpublished_invisible(reg: Registry, saved_model: str) -> None:
    """A version dir without metadata.json (a crashed/ongoing publish) and staging junk are invisible."""
    reg.publish("m", saved_model, version_meta(0))
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
    assert reg.publish("m", saved_model, version_meta(1))["version"] == 3
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
    assert served_config(reg)["race"][1] == [n]  # the config written last saw every version (none lands stale)


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
    assert (Path(local["uri"]) / "variables" / "variables.index").read_bytes() == variables_index(4096)


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


# ------------------------------------------------------------------------------------------------- CLI


def _cli_round_trip(capsys, root: str, saved_model: str) -> None:
    rc, out, err = cli(capsys, "--root", root, "list")
    assert rc == 1 and out == "" and err.startswith(f"skyhawk registry: error: no registry at {root}")
    reg = Registry(root)
    for i in range(3):
        reg.publish("deepfake", saved_model, version_meta(i))

    rc, out, _ = cli(capsys, "--root", root, "list")
    assert rc == 0 and out.splitlines()[0].split() == ["MODEL", "VERSIONS", "LATEST", "SERVING", "PINNED"]
    assert out.splitlines()[1].split() == ["deepfake", "3", "3", "3", "no"]
    rc, out, _ = cli(capsys, "--root", root, "list", "deepfake")
    assert rc == 0 and "run-2" in out and out.splitlines()[3].split()[:2] == ["*", "3"]
    rc, out, _ = cli(capsys, "list", "deepfake", "--json", "--root", root)  # options after the action
    listing = json.loads(out)
    assert listing["versions"] == [1, 2, 3] and listing["serving"] == 3 and len(listing["metadata"]) == 3

    rc, out, _ = cli(capsys, "--root", root, "show", "deepfake@2")
    assert rc == 0 and out.startswith("deepfake@2 (not serving)") and "run-1" in out
    rc, out, _ = cli(capsys, "--root", root, "--json", "show", "deepfake")
    shown = json.loads(out)
    assert shown["version"] == 3 and shown["serving"] is True and shown["threshold"] == 0.5

    rc, out, _ = cli(capsys, "--root", root, "pin", "deepfake@1")
    assert rc == 0 and "pinned deepfake@1 (was serving 3)" in out
    rc, out, _ = cli(capsys, "--root", root, "--json", "list")
    assert json.loads(out) == [{"model": "deepfake", "versions": [1, 2, 3], "latest": 3, "serving": 1,
                                "pinned": True, "pin_missing": False}]
    rc, out, _ = cli(capsys, "--root", root, "unpin", "deepfake")
    assert rc == 0 and "serving latest 3" in out
    rc, out, _ = cli(capsys, "--root", root, "rollback", "deepfake")
    assert rc == 0 and "3 -> 2" in out and Registry(root).serving("deepfake") == 2
    rc, out, _ = cli(capsys, "--root", root, "config")
    assert rc == 0 and served(out) == {"deepfake": (Registry(root).model_dir("deepfake"), [2])}

    rc, out, err = cli(capsys, "--root", root, "show", "deepfake@9")
    assert rc == 1 and out == ""
    assert err == "skyhawk registry: error: unknown version deepfake@9 (published: 1, 2, 3)\n"
    rc, _, err = cli(capsys, "--root", root, "pin", "deepfake@9")
    assert rc == 1 and err.startswith("skyhawk registry: error: unknown version deepfake@9")
    rc, _, err = cli(capsys, "--root", root, "pin", "deepfake")
    assert rc == 1 and "missing version" in err
    rc, _, err = cli(capsys, "--root", root, "rollback", "nope")
    assert rc == 1 and err.startswith("skyhawk registry: error: unknown model 'nope'") and err.count("\n") == 1


def test_cli_round_trip_local(capsys, tmp_path, saved_model, monkeypatch):
    _cli_round_trip(capsys, str(tmp_path / "reg"), saved_model)
    monkeypatch.setenv("SKYHAWK_REGISTRY", str(tmp_path / "reg"))  # the default for --root
    rc, out, _ = cli(capsys, "--json", "list")
    assert rc == 0 and json.loads(out)[0]["serving"] == 2


def test_cli_round_trip_gcs(capsys, gcs_prefix, saved_model):
    _cli_round_trip(capsys, gcs_prefix, saved_model)
