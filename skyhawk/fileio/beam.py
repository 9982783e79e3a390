"""The remote fileio backend: any scheme Apache Beam's ``FileSystems`` knows (gs://, s3://, hdfs://, ...).

Beam is imported on first use (importing it takes seconds). ``tf.io.gfile`` is not used: its GCS client ignores
``STORAGE_EMULATOR_HOST`` and so cannot reach a plain fake-gcs-server (only one behind the real host names,
``infra/gcs_tf.py``), while Beam's (google-cloud-storage) client can. Files are read and written verbatim (Beam
would otherwise (de)compress by extension, e.g. ``*.gz``).
"""
from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from skyhawk.fileio.base import Filesystem

_RAW = "uncompressed"  # CompressionTypes.UNCOMPRESSED
GCS_HOST = "storage.googleapis.com"
REACH_SECONDS = 5.0  # the first gs:// access of a process waits this long for a TCP connection
_reached: set[tuple[str, int]] = set()  # endpoints reached by this process (checked again until they are)


class Unreachable(ConnectionError):
    """The object store's endpoint cannot be reached (one line naming the host and the bucket)."""


def gcs_endpoint() -> tuple[str, int]:
    """(host, port) gs:// traffic goes to first: $STORAGE_EMULATOR_HOST when set, else an HTTPS proxy when one
    is set, else Google Cloud Storage."""
    emulator = os.environ.get("STORAGE_EMULATOR_HOST", "")
    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy") or ""
    if not emulator and not proxy:
        return GCS_HOST, 443
    target = emulator or proxy
    url = urlsplit(target if "://" in target else f"http://{target}")
    return url.hostname or "localhost", url.port or (443 if url.scheme == "https" else 80)


def _connect(host: str, port: int, out: list[str]) -> None:
    try:
        socket.create_connection((host, port), timeout=REACH_SECONDS).close()
        out.append("")
    except OSError as e:
        out.append(e.strerror or str(e) or type(e).__name__)


def check_reachable(path: str) -> None:
    """Unreachable unless a TCP connection to the gs:// endpoint opens within REACH_SECONDS (name lookup
    included; once an endpoint was reached, not checked again in this process), instead of the storage
    client's 2 minutes of retries."""
    endpoint = gcs_endpoint()
    if endpoint in _reached:
        return
    out: list[str] = []
    worker = threading.Thread(target=_connect, args=(*endpoint, out), daemon=True)
    worker.start()
    worker.join(REACH_SECONDS + 1)
    why = (out[0] or None) if out else f"no answer within {REACH_SECONDS:.0f} s"
    if why is None:
        _reached.add(endpoint)
    else:
        bucket = path[len("gs://"):].split("/", 1)[0]
        via = " ($STORAGE_EMULATOR_HOST)" if os.environ.get("STORAGE_EMULATOR_HOST") else ""
        raise Unreachable(f"cannot reach {endpoint[0]}:{endpoint[1]}{via} for bucket {bucket} ({why}): check the "
                          "network" + (" and that the emulator is running" if via else " or set up GCS access"))


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
