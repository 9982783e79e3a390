"""Checks a SavedModel's ``variables/`` against its graph, as TF Serving's loader would, without TensorFlow.

A graph with a saver (every Keras export) needs ``variables/variables.index``; the index is a TensorFlow table
(LevelDB format: blocks of prefix-compressed entries, a footer with a magic number) whose header entry names the
number of data shards and whose other entries say, per tensor, its shard, offset and size. The loader reads each
tensor from ``variables.data-SSSSS-of-NNNNN`` at that offset: a missing shard or one shorter than an entry's
end fails it ("Read less bytes than requested"). ``variables_problem`` reports that beforehand, in one line
naming the file. Only file sizes are read from the data shards (no checksum pass over the weights).
"""
from __future__ import annotations

import struct

from skyhawk import fileio

VARIABLES = "variables"
INDEX = "variables.index"
_MAGIC = 0xDB4775248B80FB57
_FOOTER = 48


def varint(data: bytes, i: int) -> tuple[int, int]:
    """(the protobuf varint at data[i], the index after it)."""
    value = shift = 0
    while True:
        byte = data[i]  # IndexError when truncated
        value |= (byte & 0x7F) << shift
        i, shift = i + 1, shift + 7
        if not byte & 0x80:
            return value, i


def _fields(data: bytes) -> dict[int, list]:
    """{field number: [values]} of a protobuf message (varints as int, length-delimited as bytes)."""
    out: dict[int, list] = {}
    i = 0
    while i < len(data):
        key, i = varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = varint(data, i)
        elif wire == 2:
            n, i = varint(data, i)
            value, i = data[i:i + n], i + n
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, i = data[i:i + size], i + size
        else:
            raise ValueError(f"unsupported wire type {wire}")
        out.setdefault(number, []).append(value)
    if i != len(data):
        raise IndexError("message runs past its end")
    return out


def _block(data: bytes, offset: int, size: int) -> list[tuple[bytes, bytes]]:
    """The (key, value) entries of one uncompressed table block."""
    if offset + size + 5 > len(data) or data[offset + size] != 0:  # trailer: compression type, crc
        raise ValueError("a block past the end of the file, or compressed")
    block = data[offset:offset + size]
    restarts = struct.unpack_from("<I", block, size - 4)[0]
    end, i, key, entries = size - 4 - 4 * restarts, 0, b"", []
    while i < end:
        shared, i = varint(block, i)
        fresh, i = varint(block, i)
        length, i = varint(block, i)
        key = key[:shared] + block[i:i + fresh]
        i += fresh
        entries.append((key, block[i:i + length]))
        i += length
    return entries


def read_index(data: bytes) -> tuple[int, list[tuple[str, int, int, int]]]:
    """(number of shards, [(tensor name, shard, offset, size)]) of a variables.index file's bytes."""
    if len(data) < _FOOTER or struct.unpack_from("<Q", data, len(data) - 8)[0] != _MAGIC:
        raise ValueError("not a TensorFlow table (no footer magic)")
    footer = data[-_FOOTER:]
    _, i = varint(footer, 0)
    _, i = varint(footer, i)  # the metaindex handle
    index_offset, i = varint(footer, i)
    index_size, _ = varint(footer, i)
    shards, tensors = None, []
    for _, handle in _block(data, index_offset, index_size):
        offset, j = varint(handle, 0)
        size, _ = varint(handle, j)
        for key, value in _block(data, offset, size):
            fields = _fields(value)
            if key == b"":  # BundleHeaderProto: num_shards = 1
                shards = fields.get(1, [1])[0]
            else:  # BundleEntryProto: shard_id = 3, offset = 4, size = 5
                tensors.append((key.decode(errors="replace"), fields.get(3, [0])[0], fields.get(4, [0])[0],
                                fields.get(5, [0])[0]))
    if shards is None:
        raise ValueError("no bundle header")
    return shards, tensors


def graph_has_saver(saved_model: bytes) -> bool:
    """Whether a saved_model.pb's first MetaGraphDef has a SaverDef (field 3): its variables must be restored."""
    graphs = _fields(saved_model).get(2, [])
    return bool(graphs) and 3 in _fields(graphs[0])


def variables_problem(model_dir: str, saved_model: bytes) -> str | None:
    """Why model_dir's variables cannot be restored (one line naming the file), or None."""
    folder = fileio.join(model_dir, VARIABLES)
    index = fileio.join(folder, INDEX)
    try:
        needs = graph_has_saver(saved_model)
    except (IndexError, ValueError):
        needs = True
    if not fileio.isfile(index):
        return f"no {VARIABLES}/{INDEX} in {model_dir} (the graph has variables to restore)" if needs else None
    try:
        shards, tensors = read_index(fileio.read_bytes(index))
    except (OSError, IndexError, ValueError, struct.error) as e:
        return f"{index} is unreadable ({e})"
    ends = [0] * shards
    for _, shard, offset, size in tensors:
        if not 0 <= shard < shards:
            return f"{index} names data shard {shard} of {shards}"
        ends[shard] = max(ends[shard], offset + size)
    for shard, end in enumerate(ends):
        data = fileio.join(folder, f"variables.data-{shard:05d}-of-{shards:05d}")
        if not fileio.isfile(data):
            return f"{data} is missing"
        have = fileio.size(data)
        if have < end:
            return f"{data} is truncated ({have} bytes; the index needs {end})"
    return None
