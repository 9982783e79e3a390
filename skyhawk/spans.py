"""Data spans on disk: the ``span-N/`` folders of a data root (one parser, one listing; TFX's spans are these N)."""
from __future__ import annotations

import os
import re

from skyhawk import fileio

SPAN_RE = re.compile(r"span-(0|[1-9]\d*)")  # a data span's folder: data_root/span-N/, N without leading zeros


def span_number(name: str) -> int | None:
    """N of a ``span-N`` folder; None for no span; ValueError for another ``span-*`` (TFX would misread it)."""
    if m := SPAN_RE.fullmatch(name):
        return int(m[1])
    if name.startswith("span-"):
        raise ValueError(f"{name}: not a span folder (spans are span-N, N = 0, 1, 2, ... without leading zeros)")
    return None


def list_spans(input_base: str) -> list[int]:
    """The N of the ``span-N/`` folders under input_base, ascending (local: empty ones too; object stores have
    no empty folders). The one span listing: a ``span-*`` folder that is no span raises ValueError."""
    if not fileio.isdir(input_base):
        return []
    if fileio.is_remote(input_base):  # the folders something is in
        rels = (p[len(input_base.rstrip("/")) + 1:].partition("/") for p in fileio.list_files(input_base))
        names = {top for top, sep, _ in rels if sep}
    else:  # one directory listing, not a walk of every video
        names = {n for n in os.listdir(input_base) if os.path.isdir(os.path.join(input_base, n))}
    return sorted(n for n in map(span_number, sorted(names)) if n is not None)
