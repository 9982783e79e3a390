"""The process environment every Skyhawk entry point needs, set in this one place.

``apply()`` sets the defaults (never overriding what the user already set) in ``os.environ``, so this
process and every subprocess it starts (Beam workers, the TFX CLI, SDK harnesses) see them. ``quiet()``
also hides warnings known to be noise. Importing ``skyhawk`` applies the defaults (``skyhawk/__init__.py``),
so TensorFlow always loads the Keras 2 (``tf_keras``) the models are built with.
"""
from __future__ import annotations

import os
import warnings
from typing import MutableMapping

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
