"""The gs:// fileio backend: Beam's filesystem plus what only GCS has (a create-if-absent upload, a reachability
check, emulator credentials).

Uses the google-cloud-storage client Beam's ``GcsIO`` holds, so ``STORAGE_EMULATOR_HOST`` (a fake-gcs-server)
is honoured the same way by every call.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
from urllib.parse import urlsplit

from skyhawk.fileio.beam import BeamFilesystem

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
        bucket = path.split("://", 1)[-1].split("/", 1)[0]
        via = " ($STORAGE_EMULATOR_HOST)" if os.environ.get("STORAGE_EMULATOR_HOST") else ""
        raise Unreachable(f"cannot reach {endpoint[0]}:{endpoint[1]}{via} for bucket {bucket} ({why}): check the "
                          "network" + (" and that the emulator is running" if via else " or set up GCS access"))


class GcsFilesystem(BeamFilesystem):
    """gs:// through Beam; ``create_if_absent`` is one upload with ``if_generation_match=0`` (GCS refuses it when
    the object exists), so concurrent publishers never get the same version."""

    SUPPORTED_SCHEMES = ("gs",)

    def __init__(self, scheme: str = "gs"):
        super().__init__(scheme)

    def prepare(self) -> None:
        use_emulator_credentials()

    def check_reachable(self, path: str) -> None:
        check_reachable(path)

    def create_if_absent(self, path: str, data: bytes) -> bool:
        from apache_beam.io.gcp.gcsio import GcsIO, parse_gcs_path
        from google.api_core.exceptions import PreconditionFailed

        bucket, name = parse_gcs_path(path)
        try:
            GcsIO().client.bucket(bucket).blob(name).upload_from_string(data, if_generation_match=0)
            return True
        except PreconditionFailed:
            return False

    def _delete(self, targets: list[str]) -> None:
        """One by one: Beam's batch delete uses the GCS batch endpoint, and fake-gcs-server skips batch parts
        without a Content-ID, which google-cloud-storage never sends ("Bad response: not multi-part")."""
        from apache_beam.io.gcp.gcsio import GcsIO

        gcs = GcsIO()
        for t in targets:
            gcs.delete(t)


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
