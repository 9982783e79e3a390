"""Pytest fixture: a real fake-gcs-server process (see infra/gcs_emulator.py).

Use it from a test module with ``from gcs import gcs_emulator  # noqa: F401`` (tests/ is on sys.path under
pytest's default import mode), or ``-p gcs`` on the command line to load it as a plugin.
"""
from __future__ import annotations

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
