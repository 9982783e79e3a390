"""Skyhawk: a deepfake-video detector delivered as a TFX / Beam batch pipeline."""
from skyhawk import env as _env

_env.apply()  # before anything imports TensorFlow (see skyhawk/env.py)
