"""Skyhawk: a deepfake-video detector delivered as a TFX / Beam batch pipeline."""
from setuptools import find_packages, setup

setup(
    name="skyhawk",
    version="0.1.0",
    description="Deepfake-video detection pipeline (TFX + Beam + dlib + Inception-ResNet-V2)",
    python_requires=">=3.10,<3.11",
    packages=find_packages(include=["skyhawk*", "components*", "pipelines*", "skyhawk_model*"]),
    package_data={"skyhawk": ["configs/*.json"], "components": ["templates/*.j2"]},
    entry_points={"console_scripts": ["skyhawk=pipelines.main:main"]},
)
