"""Shared test fixtures: the read-only real media in ../shared (never copied into the repo)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from skyhawk import env

env.apply()  # legacy Keras, quiet TF/FFmpeg: this process and the subprocesses tests start
# Subprocesses (TFX CLI, Beam worker pools) must find this environment's python, pip and tfx first.
os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")

REPO = Path(__file__).resolve().parents[1]
SHARED_MEDIA = Path(os.environ.get("SKYHAWK_SHARED_MEDIA", REPO.parent / "shared" / "media"))


@pytest.fixture(scope="session")
def shared_media() -> Path:
    """../shared/media: real_videos/, real_faces/, MANIFEST.csv."""
    if not (SHARED_MEDIA / "real_videos").is_dir():
        pytest.fail(f"shared media not found at {SHARED_MEDIA} (set SKYHAWK_SHARED_MEDIA)")
    return SHARED_MEDIA


@pytest.fixture(scope="session")
def real_videos(shared_media: Path) -> list[Path]:
    return sorted((shared_media / "real_videos").glob("*.mp4"))


@pytest.fixture(scope="session")
def real_faces(shared_media: Path) -> list[Path]:
    return sorted(p for p in (shared_media / "real_faces").iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
