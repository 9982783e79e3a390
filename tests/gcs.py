"""Pytest fixture: a real fake-gcs-server process (see infra/gcs_emulator.py); helpers for a GCSNamespace
(infra/gcs_tf.py), where TensorFlow's own GCS client reaches the emulator too.

Use it from a test module with ``from gcs import gcs_emulator  # noqa: F401`` (tests/ is on sys.path under
pytest's default import mode), or ``-p gcs`` on the command line to load it as a plugin.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest

from infra.gcs_emulator import GCSEmulator

BUCKET = "skyhawk-test"


@pytest.fixture(scope="session")
def gcs_emulator():
    """A running emulator with bucket ``skyhawk-test``; STORAGE_EMULATOR_HOST etc. are set while it runs."""
    with GCSEmulator(bucket=BUCKET) as emu:
        yield emu


@pytest.fixture
def gcs_prefix(gcs_emulator) -> str:
    """A fresh ``gs://skyhawk-test/<random>`` prefix per test."""
    return f"gs://{BUCKET}/t-{uuid.uuid4().hex[:12]}"


# --- inside a GCSNamespace (infra/gcs_tf.py): the emulator is reachable only from processes started in there

_LIST = """
import json, sys
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
bucket, prefix = sys.argv[1:3]
client = storage.Client(project="skyhawk-local", credentials=AnonymousCredentials())
print(json.dumps({b.name: b.size for b in client.list_blobs(bucket, prefix=prefix)}))
"""
_READ = """
import sys
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
client = storage.Client(project="skyhawk-local", credentials=AnonymousCredentials())
sys.stdout.write(client.bucket(sys.argv[1]).blob(sys.argv[2]).download_as_text())
"""
_WRITE = """
import sys
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
client = storage.Client(project="skyhawk-local", credentials=AnonymousCredentials())
client.bucket(sys.argv[1]).blob(sys.argv[2]).upload_from_string(sys.stdin.buffer.read())
"""


def inside(gns, argv: list[str], cwd: str | None = None, timeout: float = 120,
           stdin: str | None = None) -> subprocess.CompletedProcess:
    """argv run in the namespace with the GCS client env; fails the test with its output on a non-zero exit."""
    done = subprocess.run(gns.cmd(argv), env=gns.env(os.environ), cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, input=stdin)
    assert done.returncode == 0, f"{argv[:3]} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    return done


def list_objects(gns, bucket: str, prefix: str = "") -> dict[str, int]:
    """{object name: size} under prefix, listed by google-cloud-storage on the emulator."""
    return json.loads(inside(gns, [sys.executable, "-c", _LIST, bucket, prefix]).stdout.splitlines()[-1])


def read_object(gns, bucket: str, name: str) -> str:
    return inside(gns, [sys.executable, "-c", _READ, bucket, name]).stdout


def write_object(gns, bucket: str, name: str, text: str) -> None:
    inside(gns, [sys.executable, "-c", _WRITE, bucket, name], stdin=text)
