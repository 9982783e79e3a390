"""What the registry reads and deletes per operation (counted through wrappers around the real fileio calls), and
how callers read its ``VersionRecord`` (typed fields; the cheap mapping view; the pusher's lineage lookup)."""
from __future__ import annotations

import logging
import os
from collections import Counter
from typing import Callable

import pytest
from registry_models import served, served_config, version_meta

from skyhawk import fileio
from skyhawk.registry import Registry, RegistryError, VersionRecord, record_in

pytest_plugins = ["gcs", "registry_models"]  # gcs_prefix (a real fake-gcs-server), saved_model


def _count_reads(monkeypatch) -> Counter:
    """Counts fileio.read_bytes per path (the real read still happens): metadata.json, saved_model.pb, ..."""
    reads: Counter = Counter()
    real = fileio.read_bytes

    def read_bytes(path):
        reads[path] += 1
        return real(path)

    monkeypatch.setattr(fileio, "read_bytes", read_bytes)
    return reads


def _named(reads: Counter, name: str) -> dict[str, int]:
    return {p: n for p, n in reads.items() if os.path.basename(p) == name}


def test_models_config_and_a_publish_read_each_version_once(tmp_path, saved_model, monkeypatch):
    """One listing per models.config: each metadata.json read once, only each serving version's graph read;
    a publish builds it once and its settle check reads no metadata.json again."""
    reg = Registry(str(tmp_path / "reg"))
    for name in ("a", "b"):
        for i in range(3):
            reg.publish(name, saved_model, version_meta(i))
    reg.pin("b", 2)
    metadata = {fileio.join(reg.version_dir(n, v), "metadata.json") for n in ("a", "b") for v in (1, 2, 3)}

    reads = _count_reads(monkeypatch)
    assert served(reg.models_config()) == {"a": (reg.model_dir("a"), [3]), "b": (reg.model_dir("b"), [2])}
    assert _named(reads, "metadata.json") == {p: 1 for p in metadata}
    assert _named(reads, "saved_model.pb") == {fileio.join(reg.version_dir("a", 3), "saved_model.pb"): 1,
                                               fileio.join(reg.version_dir("b", 2), "saved_model.pb"): 1}
    reads.clear()
    assert reg.publish("a", saved_model, version_meta(3)).version == 4
    assert _named(reads, "metadata.json") == {p: 1 for p in metadata | {fileio.join(reg.version_dir("a", 4),
                                                                                    "metadata.json")}}
    assert sorted(_named(reads, "saved_model.pb")) == [fileio.join(reg.version_dir("a", 4), "saved_model.pb"),
                                                       fileio.join(reg.version_dir("b", 2), "saved_model.pb")]
    assert served_config(reg) == {"a": (reg.model_dir("a"), [4]), "b": (reg.model_dir("b"), [2])}


@pytest.mark.parametrize("meanwhile", ["publish", "pin"])
def test_models_config_settles_after_a_change_made_while_it_was_written(tmp_path, saved_model, monkeypatch,
                                                                        meanwhile):
    """Another writer changes the registry (a new version, a pin) and writes its models.config just before this
    publish writes the one it built earlier: the settle check sees the change and rewrites it."""
    reg = Registry(str(tmp_path / "reg"))
    reg.publish("m", saved_model, version_meta(0))
    real_write, done = fileio.write_bytes, []

    def write_bytes(path, data):
        if os.path.basename(path) == "models.config" and not done:
            done.append(path)  # the other writer, once, right before this config lands
            other = Registry(reg.root)
            other.publish("m", saved_model, version_meta(9)) if meanwhile == "publish" else other.pin("m", 1)
        real_write(path, data)

    monkeypatch.setattr(fileio, "write_bytes", write_bytes)
    assert reg.publish("m", saved_model, version_meta(1)).version == 2
    assert done and served_config(reg) == {"m": (reg.model_dir("m"), [3 if meanwhile == "publish" else 1])}


@pytest.mark.parametrize("where", ["local", "gcs"])
def test_a_publish_deletes_its_staging_folder_once(where, tmp_path, request, saved_model, monkeypatch):
    """gs://: move_tree deletes the staged objects after copying them, and nothing deletes them again;
    locally the staged folder is renamed into place (nothing to delete)."""
    from skyhawk.fileio.base import Filesystem
    from skyhawk.fileio.beam import BeamFilesystem
    from skyhawk.fileio.local import LocalFilesystem

    root = str(tmp_path / "reg") if where == "local" else request.getfixturevalue("gcs_prefix")
    reg = Registry(root)
    removed: list[str] = []
    backend = LocalFilesystem if where == "local" else BeamFilesystem
    real_remove: Callable[..., None] = backend.remove

    def remove(self: Filesystem, path: str, recursive: bool = False) -> None:
        removed.append(path)
        real_remove(self, path, recursive)

    monkeypatch.setattr(backend, "remove", remove)
    assert reg.publish("m", saved_model, version_meta(0)).version == 1
    staged = [p for p in removed if "/.staging/" in p]
    assert len(staged) == (0 if where == "local" else 1), removed
    assert not fileio.glob(reg._join("m", ".staging", "**"))
    assert fileio.isfile(fileio.join(reg.version_dir("m", 1), "variables", "variables.index"))


def test_one_reader_of_metadata_json_two_error_behaviours(tmp_path, saved_model, caplog):
    """read_record is the one reader: record_in (a folder named directly) raises its one-line RegistryError,
    a listing logs it and skips that version."""
    reg = Registry(str(tmp_path / "reg"))
    for i in range(2):
        reg.publish("m", saved_model, version_meta(i))
    bad = fileio.join(reg.version_dir("m", 2), "metadata.json")
    fileio.write_text(bad, "{not json")
    with pytest.raises(RegistryError, match=f"^unreadable registry metadata {bad}: ") as e:
        record_in(reg.version_dir("m", 2))
    assert "\n" not in str(e.value)
    assert record_in(reg.version_dir("m", 1)).version == 1 and record_in(str(tmp_path)) is None
    with caplog.at_level(logging.WARNING):
        assert [v.version for v in reg.versions("m")] == [1]
    assert f"ignoring m@2: {e.value}" in caplog.text


def test_the_mapping_view_is_the_stored_object_key_by_key(tmp_path, saved_model, monkeypatch):
    """record[key] and record.get(key) answer as as_dict() does (a set field wins over an extra key of its name,
    an unset one falls back to it; usable/problem once read), without building it."""
    reg = Registry(str(tmp_path / "reg"))
    written = reg.publish("m", saved_model, VersionRecord(threshold=0.4, blessed=False, extra={"metrics": {"a": 1}}))
    listed = reg.versions("m")[0]
    clash = VersionRecord(backbone=None, extra={"backbone": "from-extra", "version": 9, "usable": "x"}, version=3)
    for record in (written, listed, clash, VersionRecord()):
        whole = record.as_dict()
        assert {k: record[k] for k in whole} == whole and dict(record) == whole and len(record) == len(whole)
        for missing in ("threshold", "image_size", "problem", "nope", "extra"):
            if missing not in whole:
                assert missing not in record and record.get(missing, "-") == "-"
                with pytest.raises(KeyError):
                    record[missing]
    assert clash["backbone"] == "from-extra" and clash["version"] == 3 and clash["usable"] == "x"
    assert listed["usable"] is True and listed["problem"] is None and listed["metrics"] == {"a": 1}
    assert written["blessed"] is False and "usable" not in written
    built: list[VersionRecord] = []
    real_to_json = VersionRecord.to_json
    monkeypatch.setattr(VersionRecord, "to_json", lambda self: built.append(self) or real_to_json(self))
    assert listed["metrics"] == {"a": 1} and listed.get("threshold") == 0.4 and "source" in listed
    assert not built  # one key: one lookup, not the whole object


def test_the_pusher_finds_the_parent_version_from_typed_records(tmp_path, saved_model):
    from components.pusher import parent_version

    reg = Registry(str(tmp_path / "reg"))
    reg.publish("m", saved_model, {"model_uri": "/p/Trainer/model/7"})
    reg.publish("m", saved_model, VersionRecord(extra={"model_uri": "/p/Trainer/model/9/"}))
    reg.publish("m", saved_model, {})
    published = reg.versions("m")
    assert parent_version(published, "/p/Trainer/model/9/Format-Serving") == 2
    assert parent_version(published, "/p/Trainer/model/7") == 1
    assert parent_version(published, "/p/Trainer/model/70/Format-Serving") is None
    assert parent_version(published, None) is None
