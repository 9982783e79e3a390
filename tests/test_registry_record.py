"""skyhawk.registry's VersionRecord: typed in Python, the same flat metadata.json on disk (old registries read)."""
from __future__ import annotations

import json
import logging

import pytest
from registry_models import fake_saved_model

from skyhawk import fileio
from skyhawk.registry import Registry, RegistryError, VersionRecord, record_in


@pytest.fixture
def saved_model(tmp_path) -> str:
    return fake_saved_model(tmp_path / "sm")


def test_a_typed_record_is_stored_flat_and_read_back_typed(tmp_path, saved_model, caplog):
    reg = Registry(str(tmp_path / "reg"))
    with caplog.at_level(logging.WARNING):
        written = reg.publish("m", saved_model, VersionRecord(
            threshold=0.4, image_size=256, backbone="efficientnet_b0", blessed=True,
            config={"extract": {"margin": 1.3}}, extra={"metrics": {"auc": 0.9}, "model_uri": "/runs/1"}))
    assert "set by the registry" not in caplog.text  # a record's own (unset) registry fields are no clash
    assert written.version == 1 and written.uri == reg.version_dir("m", 1) and written.source == saved_model
    stored = json.loads(fileio.read_text(fileio.join(written.uri, "metadata.json")))
    assert stored["threshold"] == 0.4 and stored["backbone"] == "efficientnet_b0" and stored["blessed"] is True
    assert stored["metrics"] == {"auc": 0.9} and stored["model_uri"] == "/runs/1" and "extra" not in stored
    assert stored["config"] == {"extract": {"margin": 1.3}} and stored["version"] == 1
    read = reg.show("m")
    assert isinstance(read, VersionRecord) and read.threshold == 0.4 and read.image_size == 256
    assert read.extra == {"metrics": {"auc": 0.9}, "model_uri": "/runs/1"} and read.usable is True
    # mapping access sees the stored object (what `registry --json` prints), plus usable/problem
    assert read["metrics"] == {"auc": 0.9} and read.get("model_uri") == "/runs/1" and read["version"] == 1
    assert dict(read) == {**stored, "uri": read.uri, "usable": True, "problem": None}
    assert record_in(read.uri) == VersionRecord.from_json(stored) and record_in(saved_model) is None
    with caplog.at_level(logging.WARNING):  # a record's extra naming a registry field is one
        again = reg.publish("m", saved_model, VersionRecord(extra={"version": 7, "note": "x"}))
    assert again.version == 2 and again["note"] == "x" and "['version'] are set by the registry" in caplog.text


def test_a_metadata_json_written_before_the_record_existed_still_reads(tmp_path, saved_model):
    reg = Registry(str(tmp_path / "reg"))
    reg.publish("m", saved_model, {})
    old = {"model_name": "m", "version": 1, "created_at": "2025-01-01T00:00:00.000000Z", "threshold": 1,
           "image_size": 224, "files": [], "size_bytes": 3, "blessed": None, "imported": {"file": "w.h5"}}
    fileio.write_text(fileio.join(reg.version_dir("m", 1), "metadata.json"), json.dumps(old))
    read = reg.show("m", 1)
    assert read.threshold == 1.0 and isinstance(read.threshold, float) and read.backbone is None
    assert read.blessed is None and read.extra == {"imported": {"file": "w.h5"}} and read.config == {}


def test_a_mistyped_record_hides_the_version_and_a_mistyped_publish_is_refused(tmp_path, saved_model, caplog):
    reg = Registry(str(tmp_path / "reg"))
    reg.publish("m", saved_model, {"threshold": 0.5})
    reg.publish("m", saved_model, {"threshold": 0.5})
    fileio.write_text(fileio.join(reg.version_dir("m", 2), "metadata.json"), json.dumps({"image_size": "big"}))
    with caplog.at_level(logging.WARNING):
        assert [v.version for v in reg.versions("m")] == [1]
    assert "image_size must be an integer" in caplog.text
    with pytest.raises(RegistryError, match="invalid metadata: threshold must be a number"):
        reg.publish("m", saved_model, {"threshold": "high"})
    assert [v.version for v in reg.versions("m")] == [1]
