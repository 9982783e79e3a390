"""What to score: a folder, glob, listing file or one video (local or gs://) -> one VideoInput per file.

Discovery happens inside the pipeline (``beam_fileio.MatchAll`` on a folder or glob, or the lines of a
listing file), so no list of inputs passes through the driver; a caller that already holds the list
(``skyhawk evaluate``) passes the URIs themselves, so a name with a newline stays one input. Every input
is accounted for: a listed file that is missing, a symbolic link in a scanned folder that leads nowhere
(dangling, or a loop) and a FIFO or device become inputs with an ``error`` (a ``failed`` row) instead
of being left out. Local sources and listed paths are normalised to absolute paths (``in1``, ``./in1``,
``sub/../in1`` and ``/abs/in1`` are one folder), so one file reached two ways is scored once.
"""
from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from typing import Iterator, Sequence

import apache_beam as beam
from apache_beam.io import fileio as beam_fileio

from components.score import ScoreError
from skyhawk import fileio
from skyhawk.datasets import is_media

GLOB_CHARS = "*?["


@dataclass(frozen=True)
class VideoInput:
    """One input file: its URI, size and modification time (the resume key), or why it cannot be read."""

    uri: str
    size: int = -1
    mtime: float = -1.0
    error: str = ""

    @property
    def key(self) -> str:
        return f"{self.uri}|{self.size}|{self.mtime:.6f}"


def source_kind(src: str | Sequence[str]) -> str:
    """'uris' (a list), 'glob', 'folder', 'listing' (a text file of URIs) or 'file' (one video). Raises ScoreError."""
    if not isinstance(src, str):
        return "uris"
    if not src:
        raise ScoreError("--input is empty")
    if any(c in src for c in GLOB_CHARS):
        return "glob"
    if fileio.isdir(src):
        return "folder"
    if fileio.isfile(src):
        return "file" if is_media(src) else "listing"
    raise ScoreError(f"input not found: {src}")


def stat_input(uri: str) -> VideoInput:
    """VideoInput with size and mtime, or with an error when the file is missing or not a regular file."""
    try:
        st = fileio.stat(uri)
        return VideoInput(uri, error=st.problem) if st.problem else VideoInput(uri, st.size, st.mtime)
    except FileNotFoundError:
        return VideoInput(uri, error="file not found")
    except Exception as e:  # noqa: BLE001 - one bad entry is a failed row, not a failed run
        return VideoInput(uri, error=f"cannot stat: {type(e).__name__}: {e}")


def matched_input(m) -> VideoInput:
    """The VideoInput of a match result (Beam ``FileMetadata``); a local FIFO or device gets its error."""
    if not fileio.is_remote(m.path):  # object stores hold only regular files
        try:
            problem = fileio.stat(m.path).problem
        except OSError:
            problem = ""  # gone since the match: the sampler says so
        if problem:
            return VideoInput(m.path, error=problem)
    return VideoInput(m.path, m.size_in_bytes, m.last_updated_in_seconds)


def canonical_source(src: str) -> str:
    """A local SRC as an absolute, normalised path (a glob keeps its pattern); a remote one unchanged."""
    if fileio.is_remote(src) or not src:
        return src
    return fileio.normpath(src)


def listing_entry(line: str, base: str) -> Iterator[str]:
    """The normalised URI of one listing line (relative to the listing's folder); nothing for blanks/comments.
    A UTF-8 byte-order mark (the first line of a file saved as "UTF-8 with BOM") is not part of the path."""
    entry = line.removeprefix("\ufeff").strip()
    if not entry or entry.startswith("#"):
        return
    if not fileio.is_remote(entry) and not os.path.isabs(entry):
        entry = fileio.join(base, entry)
    yield fileio.normpath(entry)


def broken_links(folder: str) -> Iterator[VideoInput]:
    """Media-named symbolic links under a local folder that lead nowhere, as failed inputs.

    Beam's match skips them silently; a listing that names them gives a failed row, so a scan does too.
    """
    if fileio.is_remote(folder):  # object stores have no symbolic links
        return
    for path in fileio.list_files(folder):  # broken links included
        if is_media(path):
            st = fileio.stat(path)
            if st.broken_link:
                yield VideoInput(fileio.local_path(path), error=st.problem)


class DiscoverVideos(beam.PTransform):
    """SRC (folder, glob, listing file or one video) -> PCollection[VideoInput]."""

    def __init__(self, src: str | Sequence[str]):
        super().__init__()
        self._kind = source_kind(src)
        self._src = sorted({fileio.normpath(u) for u in src}) if self._kind == "uris" else canonical_source(src)

    def expand(self, pbegin):
        src = self._src
        if self._kind == "uris":
            return (pbegin
                    | "URIs" >> beam.Create(src)
                    | "Stat" >> beam.Map(stat_input))
        if self._kind == "listing":
            base = posixpath.dirname(src) if fileio.is_remote(src) else os.path.dirname(os.path.abspath(src))
            return (pbegin
                    | "ReadListing" >> beam.io.ReadFromText(src)
                    | "Entries" >> beam.FlatMap(listing_entry, base)
                    | "Stat" >> beam.Map(stat_input))
        pattern = src.rstrip("/") + "/**" if self._kind == "folder" else src
        matched = (pbegin
                   | "Pattern" >> beam.Create([pattern])
                   | "Match" >> beam_fileio.MatchAll(beam_fileio.EmptyMatchTreatment.ALLOW))
        if self._kind == "folder":
            matched = matched | "Videos" >> beam.Filter(lambda m: is_media(m.path))
        found = matched | "ToInput" >> beam.Map(matched_input)
        if self._kind != "folder":
            return found
        broken = (pbegin
                  | "Folder" >> beam.Create([src])
                  | "BrokenLinks" >> beam.FlatMap(broken_links))
        return (found, broken) | "All" >> beam.Flatten()
