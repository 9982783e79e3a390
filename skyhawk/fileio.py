"""The one file-IO layer: local paths and any Beam filesystem URI (gs://, ...) behind the same functions.

Local paths (and ``file://`` URIs) use ``os``/``shutil`` directly; every other scheme goes through
``apache_beam.io.filesystems.FileSystems`` (imported on first remote use: importing Beam takes seconds).
``tf.io.gfile`` is not used: its GCS client ignores ``STORAGE_EMULATOR_HOST`` and so cannot reach a
plain fake-gcs-server (only one behind the real host names, ``infra/gcs_tf.py``), while Beam's
(google-cloud-storage) client can. Files are always read and
written verbatim (Beam would otherwise (de)compress by extension, e.g. ``*.gz``).

Only the registry's atomic publish steps (local ``os.rename``, the gs:// create-if-absent claim) go
around this module.
"""
from __future__ import annotations

import contextlib
import os
import posixpath
import re
import shutil
import tempfile
import uuid
from typing import Any, Iterator

_RAW = "uncompressed"  # CompressionTypes.UNCOMPRESSED
_CHUNK = 8 << 20


def _fs() -> Any:
    from apache_beam.io.filesystems import FileSystems

    return FileSystems


def scheme(path: str) -> str | None:
    """The URI scheme of a remote path ('gs', ...), None for a local path or a ``file://`` URI."""
    if "://" not in path:
        return None
    s = path.split("://", 1)[0].lower()
    return None if s == "file" else s


def is_remote(path: str) -> bool:
    return scheme(path) is not None


def local_path(path: str) -> str:
    """A local path without its ``file://`` prefix (remote URIs are returned unchanged)."""
    return path[len("file://"):] if path.startswith("file://") else path


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


def _remote_setup(path: str) -> None:
    if scheme(path) == "gs":
        use_emulator_credentials()


def join(base: str, *parts: str) -> str:
    """base/part/...; '/' for remote URIs, the OS separator for local paths."""
    return posixpath.join(base, *parts) if is_remote(base) else os.path.join(local_path(base), *parts)


def exists(path: str) -> bool:
    """True for an existing file or directory (on object stores: an object, or a prefix with objects)."""
    if not is_remote(path):
        return os.path.exists(local_path(path))
    _remote_setup(path)
    return _fs().exists(path) or isdir(path)


def isdir(path: str) -> bool:
    """A local directory, or a remote prefix holding at least one object."""
    if not is_remote(path):
        return os.path.isdir(local_path(path))
    _remote_setup(path)
    found = _fs().match([path.rstrip("/") + "/**"], limits=[1])[0].metadata_list
    return bool(found)


def isfile(path: str) -> bool:
    if not is_remote(path):
        return os.path.isfile(local_path(path))
    _remote_setup(path)
    return _fs().exists(path)


def _glob_regex(pattern: str) -> re.Pattern:
    """``**`` matches across '/', ``*`` and ``?`` within one path component (as on Beam's object stores)."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))


def glob(pattern: str) -> list[str]:
    """Files matching a pattern, sorted: ``*``/``?`` within a path component, ``**`` across folders.

    The same rules locally and on object stores; hidden names (``.staging``) match like any other.
    """
    if not is_remote(pattern):
        pattern = os.path.abspath(local_path(pattern)).replace(os.sep, "/")
        base = pattern[: min((pattern.find(c) for c in "*?[" if c in pattern), default=len(pattern))]
        base = base if base.endswith("/") else os.path.dirname(base)
        regex = _glob_regex(pattern)
        return sorted(p for p in list_files(base or "/") if regex.fullmatch(p.replace(os.sep, "/")))
    _remote_setup(pattern)
    return sorted(m.path for m in _fs().match([pattern])[0].metadata_list)


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


def size(path: str) -> int:
    """Size of a file in bytes."""
    if not is_remote(path):
        return os.path.getsize(local_path(path))
    _remote_setup(path)
    found = _fs().match([path])[0].metadata_list
    if not found:
        raise FileNotFoundError(f"no such file: {path}")
    return found[0].size_in_bytes


def list_files(root: str) -> list[str]:
    """Every file below root, recursively, sorted (local: broken symlinks included, folders not)."""
    if not is_remote(root):
        root = local_path(root)
        out = []
        for d, dirs, files in os.walk(root):
            dirs.sort()
            out.extend(os.path.join(d, f) for f in files)
        return sorted(out)
    return glob(root.rstrip("/") + "/**")


def read_bytes(path: str) -> bytes:
    """A whole file; FileNotFoundError when it does not exist (local or remote)."""
    if not is_remote(path):
        with open(local_path(path), "rb") as f:
            return f.read()
    _remote_setup(path)
    try:
        with _fs().open(path, compression_type=_RAW) as f:
            return f.read()
    except Exception as e:
        if not _fs().exists(path):
            raise FileNotFoundError(f"no such file: {path}") from e
        raise


def read_text(path: str) -> str:
    return read_bytes(path).decode("utf-8")


def write_bytes(path: str, data: bytes) -> None:
    """Writes a whole file, atomically: a local file is replaced by rename, an object in one upload."""
    if not is_remote(path):
        path = local_path(path)
        makedirs(os.path.dirname(os.path.abspath(path)))
        tmp = f"{path}.{uuid.uuid4().hex}.tmp"
        try:
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return
    _remote_setup(path)
    with _fs().create(path, compression_type=_RAW) as f:
        f.write(data)


def write_text(path: str, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


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
    if not is_remote(path):
        os.makedirs(local_path(path), exist_ok=True)


def copy_file(src: str, dst: str) -> None:
    """Copies one file between any two filesystems (streaming; server-side within one object store)."""
    if not is_remote(src) and not is_remote(dst):
        makedirs(os.path.dirname(os.path.abspath(local_path(dst))))
        shutil.copyfile(local_path(src), local_path(dst))
        return
    for p in (src, dst):
        _remote_setup(p)
    fs = _fs()
    if scheme(src) == scheme(dst):  # both on one object store: a server-side copy
        fs.copy([src], [dst])
        return
    if not is_remote(dst):
        makedirs(os.path.dirname(os.path.abspath(local_path(dst))))
    with fs.open(src, compression_type=_RAW) as fin, fs.create(dst, compression_type=_RAW) as fout:
        while chunk := fin.read(_CHUNK):
            fout.write(chunk)


def remove(path: str, recursive: bool = False) -> None:
    """Deletes a file, or with recursive a folder (remote: every object under the prefix); missing is fine.

    On gs:// objects are deleted one by one: Beam's batch delete uses the GCS batch endpoint, and
    fake-gcs-server skips batch parts without a Content-ID, which google-cloud-storage never sends
    ("Bad response: not multi-part").
    """
    if not is_remote(path):
        path = local_path(path).rstrip("/" + os.sep) or path
        if os.path.isdir(path) and not os.path.islink(path):
            if recursive:
                shutil.rmtree(path)
            else:
                os.rmdir(path)
        elif os.path.lexists(path):
            os.unlink(path)
        return
    _remote_setup(path)
    fs = _fs()
    if recursive:
        targets = [m.path for m in fs.match([path.rstrip("/") + "/**"])[0].metadata_list]
        targets += [path.rstrip("/")] if fs.exists(path.rstrip("/")) else []
    else:
        targets = [path] if fs.exists(path) else []
    if scheme(path) == "gs":
        from apache_beam.io.gcp.gcsio import GcsIO

        gcs = GcsIO()
        for t in targets:
            gcs.delete(t)
    elif targets:
        fs.delete(targets)


@contextlib.contextmanager
def local_copy(uri: str) -> Iterator[str]:
    """A local path for uri: the path itself when local, else a temporary copy deleted on exit."""
    if not is_remote(uri):
        yield local_path(uri)
        return
    _remote_setup(uri)
    fd, tmp = tempfile.mkstemp(suffix=os.path.splitext(uri)[1], prefix="skyhawk-")
    try:
        with os.fdopen(fd, "wb") as out, _fs().open(uri, compression_type=_RAW) as src:
            shutil.copyfileobj(src, out, 1 << 20)
        yield tmp
    finally:
        os.unlink(tmp)


def use_emulator_credentials() -> bool:
    """If STORAGE_EMULATOR_HOST is set, make Beam's gs:// filesystem use anonymous credentials right away.

    Beam's GcsIO resolves credentials with ``google.auth.default()`` before it builds the storage client and, with
    no Application Default Credentials, retries 4 times with exponential backoff (~25 s) before connecting
    anonymously; with real ADC it would hand real credentials to the emulator client, which then tries to refresh a
    token on the internet. No option or env var turns that off, so we settle Beam's (internal, process-wide)
    credential cache to "none" = anonymous. Only done when the emulator env var is set, which already sends all GCS
    traffic of this process to the emulator. Returns True if applied.
    """
    if not os.environ.get("STORAGE_EMULATOR_HOST"):
        return False
    try:
        from apache_beam.internal.gcp import auth

        cache = auth._Credentials
        with cache._credentials_lock:
            cache._credentials = None
            cache._credentials_init = True
        return True
    except (ImportError, AttributeError) as e:  # Beam changed its internals: fall back to the slow path
        import logging

        logging.getLogger(__name__).warning(
            "could not preset anonymous GCS credentials for the emulator (%s); the first gs:// access may take "
            "~25 s while Beam looks for credentials", e)
        return False
