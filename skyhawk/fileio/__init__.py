"""The one file-IO layer: the same functions on local paths and on any Beam filesystem URI (gs://, ...).

As ``tfx.dsl.io.filesystem_registry`` does, a table maps each URI scheme to its backend (``base.Filesystem``):
``local.LocalFilesystem`` for plain paths and ``file://`` (``os``/``shutil``), ``gcs.GcsFilesystem`` for gs://,
and ``beam.BeamFilesystem`` (Beam's ``FileSystems``) for every other scheme. A backend declares its
``SUPPORTED_SCHEMES``, sets up its own credentials and implements the atomic steps a publish needs
(``create_if_absent``, ``move_tree``); ``register`` adds one. Files are read and written verbatim.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import posixpath
import shutil
import tempfile
from typing import Any, Callable, Iterator

from skyhawk.fileio.base import FileStat, Filesystem
from skyhawk.fileio.beam import BeamFilesystem
from skyhawk.fileio.gcs import GcsFilesystem, Unreachable, check_reachable, use_emulator_credentials
from skyhawk.fileio.local import LocalFilesystem

_CHUNK = 8 << 20

__all__ = [
    "FileStat", "Filesystem", "Unreachable", "blocking_file", "check_reachable", "copy_file", "create_if_absent",
    "disk_full_names", "exists", "filesystem", "glob", "is_disk_full", "is_remote", "isdir", "isfile", "join",
    "list_files", "listdir", "local_copy", "local_path", "makedirs", "move_tree", "normpath", "prune_dir",
    "read_bytes", "read_json", "read_text", "register", "relpath", "remove", "scheme", "size", "stat",
    "use_emulator_credentials", "without_scheme", "write_bytes", "write_json", "write_text",
]


# --- paths (no I/O) -----------------------------------------------------------------------------------


def scheme(path: str) -> str | None:
    """The URI scheme of a remote path ('gs', ...), None for a local path or a ``file://`` URI."""
    s = _scheme_of(path)
    return None if s in LocalFilesystem.SUPPORTED_SCHEMES else s


def _scheme_of(path: str) -> str:
    """The scheme part of path, lower case ('' for a plain path): the scheme table's key."""
    return path.split("://", 1)[0].lower() if "://" in path else ""


def is_remote(path: str) -> bool:
    return scheme(path) is not None


def local_path(path: str) -> str:
    """A local path without its ``file://`` prefix (remote URIs are returned unchanged)."""
    return LocalFilesystem.native(path)


def without_scheme(path: str) -> str:
    """``gs://b/k`` -> ``b/k``; a local path unchanged."""
    return path.split("://", 1)[1] if is_remote(path) else local_path(path)


def normpath(path: str) -> str:
    """A canonical form: ``vids/b.mp4``, ``./vids/b.mp4`` and ``x/../vids/b.mp4`` name the same file.

    Local paths become absolute (symlinks are not resolved); remote keys are normalised lexically.
    """
    if is_remote(path):
        prefix, rest = path.split("://", 1)
        bucket, _, key = rest.partition("/")
        key = posixpath.normpath(key) if key.strip("/") else ""
        return f"{prefix}://{bucket}/{key}" if key else f"{prefix}://{bucket}"
    return os.path.abspath(local_path(path))


def join(base: str, *parts: str) -> str:
    """base/part/...; '/' for remote URIs, the OS separator for local paths."""
    return posixpath.join(base, *parts) if is_remote(base) else os.path.join(local_path(base), *parts)


def relpath(path: str, base: str) -> str:
    """path below base with '/' separators ('' when path is base); ValueError when it is not below base."""
    if is_remote(base):
        prefix = base.rstrip("/") + "/"
        if path.rstrip("/") == base.rstrip("/"):
            return ""
        if not path.startswith(prefix):
            raise ValueError(f"{path} is not below {base}")
        return path[len(prefix):]
    rel = os.path.relpath(local_path(path), local_path(base)).replace(os.sep, "/")
    if rel == ".." or rel.startswith("../"):
        raise ValueError(f"{path} is not below {base}")
    return "" if rel == "." else rel


# --- dispatch -----------------------------------------------------------------------------------------


_TABLE: dict[str, Filesystem] = {}  # scheme ("" = a plain local path) -> its backend


def register(backend: Filesystem) -> Filesystem:
    """Puts backend in the scheme table for each of its ``SUPPORTED_SCHEMES`` (replacing an earlier one)."""
    for s in backend.SUPPORTED_SCHEMES:
        _TABLE[s.lower()] = backend
    return backend


register(LocalFilesystem())
register(GcsFilesystem())


def filesystem(path: str) -> tuple[Filesystem, str]:
    """(the backend for path's scheme, path in that backend's form), its credentials set up; a scheme without a
    backend of its own goes to Beam's filesystems."""
    s = _scheme_of(path)
    backend = _TABLE.get(s) or _fallback(s)
    backend.prepare()
    return backend, backend.native(path)


def _fallback(s: str) -> Filesystem:
    """Beam's filesystem for scheme s (made once per scheme)."""
    backend = BeamFilesystem(s)
    _TABLE[s] = backend
    return backend


def _ready(path: str) -> tuple[Filesystem, str]:
    """filesystem(path), after the backend checked that its endpoint answers (gs://: a few seconds, not the
    storage client's 2 minutes of retries): every function below that does I/O goes through here."""
    backend, p = filesystem(path)
    backend.check_reachable(p)
    return backend, p


def _on(path: str, method: str, *args: Any) -> Any:
    """Calls the Filesystem method of path's backend on path (in the backend's form)."""
    fs, p = _ready(path)
    return getattr(fs, method)(p, *args)


def exists(path: str) -> bool:
    """True for an existing file or directory (on object stores: an object, or a prefix with objects)."""
    return _on(path, "exists")


def isdir(path: str) -> bool:
    """A local directory, or a remote prefix holding at least one object."""
    return _on(path, "isdir")


def isfile(path: str) -> bool:
    return _on(path, "isfile")


def glob(pattern: str) -> list[str]:
    """Files matching a pattern, sorted: ``*``/``?`` within a path component, ``**`` across folders.

    The same rules locally and on object stores; hidden names (``.staging``) match like any other.
    """
    return _on(pattern, "glob")


def size(path: str) -> int:
    """Size of a file in bytes."""
    return _on(path, "size")


def stat(path: str) -> FileStat:
    """Size, modification time and why path is not a readable regular file ('' when it is: locally a FIFO, a
    device, a folder, a dangling symbolic link or a loop); FileNotFoundError when nothing is there."""
    return _on(path, "stat")


def list_files(root: str) -> list[str]:
    """Every file below root, recursively, sorted (local: broken symlinks included, folders not)."""
    return _on(root, "list_files")


def listdir(path: str) -> list[str]:
    """Names of the files and folders directly in path, sorted; FileNotFoundError when there is no such folder."""
    return _on(path, "listdir")


def read_bytes(path: str) -> bytes:
    """A whole file; FileNotFoundError when it does not exist (local or remote)."""
    return _on(path, "read_bytes")


def read_text(path: str) -> str:
    return read_bytes(path).decode("utf-8")


def read_json(path: str) -> Any:
    """A JSON file's value; FileNotFoundError when missing, ValueError when not valid JSON."""
    return json.loads(read_bytes(path))


def write_bytes(path: str, data: bytes) -> None:
    """Writes a whole file, atomically: a local file is replaced by rename, an object in one upload."""
    _on(path, "write_bytes", data)


def write_text(path: str, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str, data: Any, default: Callable[[Any], Any] | None = None) -> None:
    """data as indented, key-sorted JSON (atomically, like write_bytes); ``default`` as in ``json.dumps``."""
    write_text(path, json.dumps(data, indent=2, sort_keys=True, default=default) + "\n")


def blocking_file(path: str) -> str | None:
    """The file that stops a folder being made at path: path itself, or (local) its nearest existing
    ancestor when that is a file; None when nothing blocks it."""
    if isfile(path):
        return path
    if not is_remote(path):
        parent = os.path.dirname(os.path.abspath(local_path(path)))
        while not os.path.exists(parent):
            parent = os.path.dirname(parent)
        if not os.path.isdir(parent):
            return parent
    return None


def makedirs(path: str) -> None:
    """Creates a local directory and its parents; object stores have no folders (no-op)."""
    _on(path, "makedirs")


def prune_dir(path: str) -> None:
    """Removes path if it is an empty local folder (one another writer may be about to use: ``makedirs``
    survives that); object stores have no empty folders."""
    _on(path, "prune_dir")


def create_if_absent(path: str, data: bytes) -> bool:
    """Writes a whole file only if none is there; True when this call made it. Atomic locally and on gs://
    (two callers never both get True); best effort on other object stores (docs/registry.md)."""
    return _on(path, "create_if_absent", data)


def move_tree(src: str, dst: str, rels: list[str]) -> None:
    """Moves folder src, holding exactly the files rels ('/'-separated, relative), to dst on the same filesystem;
    FileExistsError when dst exists. Local: one rename (dst appears whole). Object stores: copied in the order
    of rels, then src deleted; a failure midway leaves a partial dst, which the caller removes."""
    (fs, s), (_, d) = _ready(src), _ready(dst)
    fs.move_tree(s, d, rels)


def copy_file(src: str, dst: str) -> None:
    """Copies one file between any two filesystems (streaming; server-side within one object store)."""
    (src_fs, s), (dst_fs, d) = _ready(src), _ready(dst)
    if scheme(src) == scheme(dst):
        src_fs.copy(s, d)
        return
    with src_fs.open_read(s) as fin, dst_fs.open_write(d) as fout:
        while chunk := fin.read(_CHUNK):
            fout.write(chunk)


def remove(path: str, recursive: bool = False) -> None:
    """Deletes a file, or with recursive a folder (remote: every object under the prefix); missing is fine."""
    _on(path, "remove", recursive)


@contextlib.contextmanager
def local_copy(uri: str) -> Iterator[str]:
    """A local path for uri: the path itself when local, else a temporary copy deleted on exit."""
    if not is_remote(uri):
        yield local_path(uri)
        return
    fs, p = _ready(uri)
    fd, tmp = tempfile.mkstemp(suffix=os.path.splitext(uri)[1], prefix="skyhawk-")
    try:
        with os.fdopen(fd, "wb") as out, fs.open_read(p) as src:
            shutil.copyfileobj(src, out, 1 << 20)
        yield tmp
    finally:
        os.unlink(tmp)


# --- a full disk --------------------------------------------------------------------------------------

# how a full disk reads once Beam or MLMD turned it into text: the OS's ENOSPC message, SQLite's SQLITE_FULL
_DISK_FULL_TEXTS = (os.strerror(errno.ENOSPC), "database or disk is full")


def is_disk_full(exc: BaseException | None) -> bool:
    """Whether exc (or what it wraps) is a full disk; Beam's runners re-raise worker errors as text."""
    while exc is not None:
        if (isinstance(exc, OSError) and exc.errno == errno.ENOSPC) or any(t in str(exc) for t in _DISK_FULL_TEXTS):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


@contextlib.contextmanager
def disk_full_names(path: str) -> Iterator[None]:
    """A full disk met inside (``is_disk_full``) is re-raised as ``OSError`` ENOSPC whose filename is path,
    the output being written, so that the command's one error line names it."""
    try:
        yield
    except Exception as e:
        if is_disk_full(e):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path) from None
        raise
