"""The registry under failure: a publish failing at each step, corrupt metadata and pins, broken versions."""
from __future__ import annotations

import os

import pytest
from registry_models import cli, served, served_config, version_meta

from pipelines.main import main
from skyhawk import fileio
from skyhawk.registry import Registry, RegistryError

pytest_plugins = ["gcs", "registry_models"]  # gcs_prefix (a real fake-gcs-server), saved_model


class Injected(OSError):
    """The failure a test forces into one step of a publish."""


def _fail_publish(reg: Registry, saved_model: str, monkeypatch, step: str) -> None:
    """Forces one step of a publish to fail; then no half version is visible, staging is gone, and the next
    publish works."""
    import google.cloud.storage

    from skyhawk.fileio.beam import BeamFilesystem
    from skyhawk.fileio.local import LocalFilesystem

    local = not fileio.is_remote(reg.root)
    reg.publish("m", saved_model, version_meta(0))
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
        reg.publish("m", saved_model, version_meta(1))
    monkeypatch.undo()
    assert [v["version"] for v in reg.versions("m")] == [1] and reg.serving("m") == 1
    assert not fileio.glob(reg._join("m", "2", "**")), f"half version left after a failed {step}"
    assert not fileio.glob(reg._join("m", ".staging", "**")), f"staging left after a failed {step}"
    if local:
        assert not os.path.exists(reg._join("m", ".staging")), f"empty .staging/ left after a failed {step}"
    assert served_config(reg) == {"m": (reg.model_dir("m"), [1])}
    again = reg.publish("m", saved_model, version_meta(2))["version"]
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
    reg.publish("good", saved_model, version_meta(0))
    reg.publish("bad", saved_model, version_meta(0))
    fileio.write_text(fileio.join(reg.version_dir("bad", 1), "metadata.json"), "{not json")
    return reg


@pytest.mark.parametrize("where", ["local", "gcs"])
def test_corrupt_metadata_hides_only_that_version(where, tmp_path, request, saved_model, capsys):
    root = str(tmp_path / "reg") if where == "local" else request.getfixturevalue("gcs_prefix")
    reg = _corrupt_registry(root, saved_model)
    assert reg.models() == ["good"]
    assert set(served(reg.models_config())) == {"good"}  # never served: the registry does not list it
    rc, out, err = cli(capsys, "--root", root, "list")
    assert rc == 0 and out.splitlines()[1].split() == ["good", "1", "1", "1", "no"]
    rc, _, err = cli(capsys, "--root", root, "show", "bad")
    assert rc == 1 and "unknown model 'bad'" in err


def test_corrupt_pin_names_the_file_and_unpin_repairs_it(tmp_path, saved_model, capsys):
    root = str(tmp_path / "reg")
    reg = Registry(root)
    for i in range(2):
        reg.publish("m", saved_model, version_meta(i))
    reg.pin("m", 1)
    pin_file = reg._join("m", "serving.json")
    fileio.write_text(pin_file, '{"version": ')
    for argv in (["list"], ["list", "m"], ["show", "m"], ["rollback", "m"]):
        rc, out, err = cli(capsys, "--root", root, *argv)
        assert rc == 1 and err.count("\n") == 1, argv
        assert f"corrupt pin file {pin_file}" in err and "skyhawk registry unpin m" in err, err
    rc, out, _ = cli(capsys, "--root", root, "unpin", "m")
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
        reg.publish("m", saved_model, version_meta(i))
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
    assert served(reg.models_config()) == {"m": (reg.model_dir("m"), [3])}
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
    rc, out, _ = cli(capsys, "--root", root, "list", "m")
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
    rc, out, _ = cli(capsys, "--root", root, "list", "m")
    rows = [r.split() for r in out.splitlines()]
    assert rc == 0 and rows[1][3] == "0" and rows[2][3] == "1-3" and rows[3][:2] == ["*", "3"] and rows[3][4] == "2,4"
    rc, out, _ = cli(capsys, "--root", root, "show", "m@2")
    assert rc == 0
    assert "trained on spans: 1-3   eval span: 3" in out
    assert "parent version: 1 (warm start: fine-tuned from the latest blessed model for <= 2 epoch(s))" in out
    assert "pipeline run: 2025-01-02T03:04:05" in out
    assert "data span 2: fingerprint split:videos,num_files:2  (/p/ex/2)" in out
    assert "golden set: /data/golden: golden set video_accuracy 0.9000 vs baseline 0.8500" in out
    assert "video_accuracy=0.9 (baseline 0.85) videos=20" in out
    rc, out, _ = cli(capsys, "--root", root, "show", "m@1")
    assert "parent version: -" in out and "golden set: none recorded" in out
