"""Tests that need what a developer machine may lack (root, network namespaces, mounts): skipped there with
the reason (``-rs`` in pyproject shows it), failed under CI (``CI=true``), where a skip would read green."""
from __future__ import annotations

import os

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1")


def require(why_not: str | None, what: str) -> None:
    """Nothing when why_not is None; else skip (fail under CI) naming what the test needs and why it cannot."""
    if why_not is None:
        return
    if in_ci():
        pytest.fail(f"{what}: {why_not} (CI=true: this test must run, not skip)", pytrace=False)
    pytest.skip(f"{what}: {why_not}")
