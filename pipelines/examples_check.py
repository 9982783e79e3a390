"""Names the damaged examples file when a pipeline run fails on a TFRecord it cannot read.

TensorFlow reports a truncated or corrupt GZIP TFRecord as a ``DataLossError`` ("truncated record at ...",
"Graph execution error" plus dozens of lines of op stack) that names no file. ``damaged_examples_named(cfg)``
turns such a failure into one ``ExamplesDamaged`` line: the file, what is wrong with it, the span its
Examples artifact holds (from MLMD) and what to do. Each examples file is checked by decompressing it and
walking the TFRecord framing (length, length CRC, data, data CRC); the CRCs are not recomputed.
"""
from __future__ import annotations

import contextlib
import os
import struct
import zlib
from typing import Any, Iterator

from skyhawk import fileio

# How a damaged TFRecord reads once TensorFlow or TFX turned it into text.
_DAMAGE_TEXTS = ("DataLossError", "truncated record", "corrupted record", "Read less bytes than requested",
                 "incorrect header check", "Compressed file ended", "inflate() failed")
_CHUNK = 1 << 20


class ExamplesDamaged(RuntimeError):
    """An examples file of the pipeline cannot be read (one line naming it and the repair)."""


def is_record_damage(exc: BaseException | None) -> bool:
    """Whether exc (or what it wraps) is TensorFlow failing to read a TFRecord file."""
    while exc is not None:
        if type(exc).__name__ == "DataLossError" or any(t in str(exc) for t in _DAMAGE_TEXTS):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def record_problem(path: str) -> str | None:
    """Why a GZIP (by its .gz name) or plain TFRecord file cannot be read to its end, or None."""
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS) if path.endswith(".gz") else None
    buf, offset, need = b"", 0, 12
    fs, p = fileio.filesystem(path)
    with fs.open_read(p) as f:
        while True:
            chunk = f.read(_CHUNK)
            if inflate is not None:
                try:
                    data = inflate.decompress(chunk) if chunk else inflate.flush()
                except zlib.error as e:
                    return f"not a readable GZIP stream ({e})"
            else:
                data = chunk
            buf += data
            while len(buf) >= need:
                if need == 12:
                    need = 12 + struct.unpack_from("<Q", buf)[0] + 4
                else:
                    offset, buf, need = offset + need, buf[need:], 12
            if not chunk:
                break
    if inflate is not None and not inflate.eof:
        return "truncated GZIP stream (the file ends before its end marker)"
    if buf:
        return f"truncated record at byte {offset} (of the uncompressed records)"
    return None


def examples_by_span(cfg: Any) -> list[tuple[int | None, str]]:
    """(span, uri) of every Examples artifact in cfg's MLMD store."""
    if not os.path.exists(cfg.metadata_path):
        return []
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    conn = metadata_store_pb2.ConnectionConfig()
    conn.sqlite.filename_uri = cfg.metadata_path
    conn.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    store = metadata_store.MetadataStore(conn)
    out = []
    for a in store.get_artifacts_by_type("Examples"):
        span = a.custom_properties["span"].int_value if "span" in a.custom_properties else None
        out.append((span, a.uri))
    return out


def find_damaged(cfg: Any) -> list[tuple[int | None, str, str]]:
    """(span, file, why) of every unreadable examples file of cfg's pipeline."""
    found = []
    for span, uri in examples_by_span(cfg):
        if not fileio.isdir(uri):
            continue
        for path in fileio.list_files(uri):
            if "/Split-" in path.replace(os.sep, "/"):
                why = record_problem(path)
                if why:
                    found.append((span, path, why))
    return found


@contextlib.contextmanager
def damaged_examples_named(cfg: Any) -> Iterator[None]:
    """A run failing on an unreadable TFRecord is re-raised as ExamplesDamaged naming the file and the repair."""
    try:
        yield
    except Exception as e:
        if not is_record_damage(e):
            raise
        found = find_damaged(cfg)
        if not found:
            raise
        span, path, why = found[0]
        which = f"span-{span}" if span is not None else "its span"
        more = f" (and {len(found) - 1} more damaged examples files)" if len(found) > 1 else ""
        raise ExamplesDamaged(f"damaged examples file {path}: {why}{more}; re-extract {which} (see "
                              "docs/retraining.md, 'Damaged examples')") from None
