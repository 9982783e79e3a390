"""Registry test helpers: SavedModel-shaped folders, models.config parsing, version metadata, the CLI."""
from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from pipelines.main import main
from skyhawk import fileio
from skyhawk.registry import Registry


def _graph(meta_graph: bytes) -> bytes:
    """The protobuf wire form of a SavedModel (schema version 1) holding one MetaGraphDef's bytes."""
    return b"\x08\x01\x12" + bytes([len(meta_graph)]) + meta_graph


def variables_index(tensor_bytes: int) -> bytes:
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


def fake_saved_model(d: Path, tag: str = "x") -> str:
    """A directory with SavedModel-shaped files: a graph with no MetaGraph fields the registry reads and a
    variables index that matches its data file (the registry checks those as TF Serving's loader would)."""
    (d / "variables").mkdir(parents=True)
    (d / "assets").mkdir()
    (d / "saved_model.pb").write_bytes(_graph(b"graph-" + tag.encode()))
    (d / "fingerprint.pb").write_bytes(b"fp")
    (d / "variables" / "variables.index").write_bytes(variables_index(4096))
    (d / "variables" / "variables.data-00000-of-00001").write_bytes(os.urandom(4096))
    (d / "assets" / "vocab.txt.gz").write_bytes(b"not gzip")  # must be copied verbatim, not (de)compressed
    return str(d)


@pytest.fixture
def saved_model(tmp_path) -> str:
    return fake_saved_model(tmp_path / "sm")


def served(text: str) -> dict[str, tuple[str, list[int]]]:
    """models.config text -> {model name: (base_path, the versions its policy allows)}."""
    config = text_format.Parse(text, model_server_config_pb2.ModelServerConfig())
    return {c.name: (c.base_path, list(c.model_version_policy.specific.versions))
            for c in config.model_config_list.config}


def served_config(reg: Registry) -> dict[str, tuple[str, list[int]]]:
    return served(fileio.read_text(reg._join("models.config")))


def version_meta(i: int) -> dict:
    return {"metrics": {"auc": 0.9 + i / 100}, "blessing": {"blessed": True}, "threshold": 0.5,
            "data": {"spans": [i], "fingerprints": [f"fp-{i}"]}, "pipeline_run_id": f"run-{i}",
            "config": {"epochs": 1}}




def cli(capsys, *argv) -> tuple[int, str, str]:
    rc = main(["registry", *argv])
    out, err = capsys.readouterr()
    return rc, out, err
