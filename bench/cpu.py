"""CPU-seconds of this process tree (user + system, waited-for children included), beside wall time."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass


def cpu_seconds() -> float:
    """User + system CPU seconds of this process (all its threads) and of its children that have exited."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


@dataclass
class Clock:
    """Wall and CPU seconds of one ``with`` block."""

    wall: float = 0.0
    cpu: float = 0.0

    def __enter__(self) -> Clock:
        self._wall, self._cpu = time.perf_counter(), cpu_seconds()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = cpu_seconds() - self._cpu
