"""The remote fileio backend: any scheme Apache Beam's ``FileSystems`` knows (gs://, s3://, hdfs://, ...).

Beam is imported on first use (importing it takes seconds). ``tf.io.gfile`` is not used: its GCS client ignores
``STORAGE_EMULATOR_HOST`` and so cannot reach a plain fake-gcs-server (only one behind the real host names,
``infra/gcs_tf.py``), while Beam's (google-cloud-storage) client can. Files are read and written verbatim (Beam
would otherwise (de)compress by extension, e.g. ``*.gz``).
"""
from __future__ import annotations

import logging
import os
from typing import Any, BinaryIO

from skyhawk.fileio.base import Filesystem

_RAW = "uncompressed"  # CompressionTypes.UNCOMPRESSED


def _fs() -> Any:
    from apache_beam.io.filesystems import FileSystems

    return FileSystems


class BeamFilesystem(Filesystem):
    """Object stores through Beam: folders are key prefixes; a write is one upload."""

    def __init__(self, scheme: str):
        self.scheme = scheme

    def exists(self, path: str) -> bool:
        return _fs().exists(path) or self.isdir(path)

    def isdir(self, path: str) -> bool:
        return bool(_fs().match([path.rstrip("/") + "/**"], limits=[1])[0].metadata_list)

    def isfile(self, path: str) -> bool:
        return _fs().exists(path)

    def glob(self, pattern: str) -> list[str]:
        return sorted(m.path for m in _fs().match([pattern])[0].metadata_list)

    def list_files(self, root: str) -> list[str]:
        return self.glob(root.rstrip("/") + "/**")

    def listdir(self, path: str) -> list[str]:
        prefix = path.rstrip("/") + "/"
        names = {p[len(prefix):].split("/", 1)[0] for p in self.list_files(path) if p.startswith(prefix)}
        if not names:
            raise FileNotFoundError(f"no such folder: {path}")
        return sorted(n for n in names if n)

    def size(self, path: str) -> int:
        found = _fs().match([path])[0].metadata_list
        if not found:
            raise FileNotFoundError(f"no such file: {path}")
        return found[0].size_in_bytes

    def open_read(self, path: str) -> BinaryIO:
        return _fs().open(path, compression_type=_RAW)

    def read_bytes(self, path: str) -> bytes:
        try:
            with _fs().open(path, compression_type=_RAW) as f:
                return f.read()
        except Exception as e:
            if not _fs().exists(path):
                raise FileNotFoundError(f"no such file: {path}") from e
            raise

    def open_write(self, path: str) -> BinaryIO:
        return _fs().create(path, compression_type=_RAW)

    def write_bytes(self, path: str, data: bytes) -> None:
        with self.open_write(path) as f:
            f.write(data)

    def copy(self, src: str, dst: str) -> None:
        _fs().copy([src], [dst])  # server-side within one object store

    def makedirs(self, path: str) -> None:
        """Object stores have no folders."""

    def remove(self, path: str, recursive: bool = False) -> None:
        """On gs:// objects are deleted one by one: Beam's batch delete uses the GCS batch endpoint, and
        fake-gcs-server skips batch parts without a Content-ID, which google-cloud-storage never sends
        ("Bad response: not multi-part")."""
        fs = _fs()
        if recursive:
            targets = [m.path for m in fs.match([path.rstrip("/") + "/**"])[0].metadata_list]
            targets += [path.rstrip("/")] if fs.exists(path.rstrip("/")) else []
        else:
            targets = [path] if fs.exists(path) else []
        if self.scheme == "gs":
            from apache_beam.io.gcp.gcsio import GcsIO

            gcs = GcsIO()
            for t in targets:
                gcs.delete(t)
        elif targets:
            fs.delete(targets)


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
        logging.getLogger(__name__).warning(
            "could not preset anonymous GCS credentials for the emulator (%s); the first gs:// access may take "
            "~25 s while Beam looks for credentials", e)
        return False
