"""Deprecated alias of ``skyhawk.datasets``, renamed so that the module no longer shares its name with the
``extract.labels`` config field. Kept only until its last importers (tests/test_demo.py,
bench/bench_extract.py) switch to ``skyhawk.datasets``; add nothing here."""
from skyhawk.datasets import *  # noqa: F401,F403
from skyhawk.datasets import LabelError, VideoItem, assign_splits, discover  # noqa: F401
