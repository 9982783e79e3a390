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

import errno
import os
import posixpath
import stat
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


def _link_error(path: str) -> str:
    """Why a symbolic link cannot be read ('' when it leads to a file)."""
    try:
        os.stat(path)
    except FileNotFoundError:
        return f"dangling symbolic link (to {os.readlink(path)})"
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "symbolic link loop"
        return f"cannot stat: {e.strerror}"
    return ""


def stat_input(uri: str) -> VideoInput:
    """VideoInput with size and mtime, or with an error when the file is missing."""
    from apache_beam.io.filesystems import FileSystems

    try:
        if not fileio.is_remote(uri):
            path = uri.removeprefix("file://")
            if os.path.islink(path) and _link_error(path):
                return VideoInput(uri, error=_link_error(path))
            st = os.stat(path)
            if not stat.S_ISREG(st.st_mode):
                return VideoInput(uri, error=f"not a regular file ({_file_type(st.st_mode)})")
            return VideoInput(uri, st.st_size, st.st_mtime)
        meta = FileSystems.match([uri], limits=[1])[0].metadata_list
        if not meta:
            return VideoInput(uri, error="file not found")
        return VideoInput(uri, meta[0].size_in_bytes, meta[0].last_updated_in_seconds)
    except FileNotFoundError:
        return VideoInput(uri, error="file not found")
    except Exception as e:  # noqa: BLE001 - one bad entry is a failed row, not a failed run
        return VideoInput(uri, error=f"cannot stat: {type(e).__name__}: {e}")


def matched_input(m) -> VideoInput:
    """The VideoInput of a match result (Beam ``FileMetadata``); a local FIFO or device gets its error."""
    if not fileio.is_remote(m.path):
        try:
            mode = os.stat(fileio.local_path(m.path)).st_mode
        except OSError:
            mode = stat.S_IFREG  # gone since the match: the sampler says so
        if not stat.S_ISREG(mode):
            return VideoInput(m.path, error=f"not a regular file ({_file_type(mode)})")
    return VideoInput(m.path, m.size_in_bytes, m.last_updated_in_seconds)


def _file_type(mode: int) -> str:
    """What a non-regular file is: 'a folder', 'a FIFO (named pipe)', 'a device', 'a socket'."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a socket" if stat.S_ISSOCK(mode) else "not a regular file"


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
    if fileio.is_remote(folder):
        return
    for parent, _, files in os.walk(fileio.local_path(folder)):
        for name in sorted(files):
            path = os.path.join(parent, name)
            if is_media(name) and os.path.islink(path) and _link_error(path):
                yield VideoInput(path, error=_link_error(path))


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
