"""The process environment every Skyhawk entry point needs, set in this one place.

``apply()`` sets the defaults (never overriding what the user already set) in ``os.environ``, so this
process and every subprocess it starts (Beam workers, the TFX CLI, SDK harnesses) see them. ``quiet()``
also hides warnings known to be noise; ``worker_stderr_filtered()`` hides what Beam's SDK worker
processes print (their tracebacks repeat the error the command reports in one line). Importing ``skyhawk``
applies the defaults (``skyhawk/__init__.py``), so TensorFlow always loads the Keras 2 (``tf_keras``) the models
are built with.
"""
from __future__ import annotations

import contextlib
import os
import sys
import threading
import warnings
from typing import Iterator, MutableMapping

DEFAULTS: dict[str, str] = {
    "TF_USE_LEGACY_KERAS": "1",  # Keras 2 (tf_keras): the models, SavedModels and TFMA all use it
    "TF_CPP_MIN_LOG_LEVEL": "3",  # TensorFlow's C++ start-up chatter (CUDA probes, CPU features)
    "OPENCV_FFMPEG_LOGLEVEL": "-8",  # bad videos are reported per video, not logged by FFmpeg
    "PYTHONWARNINGS": "ignore::FutureWarning",  # Google's Python-version notices, in subprocesses too
}


def apply(environ: MutableMapping[str, str] | None = None) -> MutableMapping[str, str]:
    """Sets each default in ``environ`` (default ``os.environ``) unless already set; returns it."""
    env = os.environ if environ is None else environ
    for key, value in DEFAULTS.items():
        env.setdefault(key, value)
    return env


def quiet() -> None:
    """Hides known noise in this process: Google client libraries' "non-supported Python version"
    FutureWarnings and TFMA's divide-by-zero RuntimeWarnings on a class missing from a small eval split."""
    apply()
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"google\..*")
    warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"tensorflow_model_analysis\..*")


@contextlib.contextmanager
def worker_stderr_filtered(keep: str = "skyhawk") -> Iterator[None]:
    """Inside: what other processes and C libraries write to file descriptor 2 passes only when a line
    starts with keep (the workers' progress lines); this process's ``sys.stderr`` writes straight through.

    A no-op when ``sys.stderr`` is not descriptor 2 (a test capturing it, an embedding program).
    """
    try:
        if sys.stderr.fileno() != 2:
            raise ValueError
    except (AttributeError, OSError, ValueError):
        yield
        return
    sys.stderr.flush()
    direct = os.fdopen(os.dup(2), "w", buffering=1)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)

    def pump() -> None:
        with os.fdopen(read_end, "rb") as lines:
            for line in lines:
                if line.startswith(keep.encode()):
                    direct.write(line.decode(errors="replace"))
                    direct.flush()

    threading.Thread(target=pump, name="stderr-filter", daemon=True).start()
    before, sys.stderr = sys.stderr, direct
    try:
        yield
    finally:
        sys.stderr = before
        os.dup2(direct.fileno(), 2)  # closes the pipe here; the pump ends when the last worker has exited
