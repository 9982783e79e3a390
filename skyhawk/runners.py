"""Beam runner profiles: ``direct | portable | flink | spark | dataflow`` -> pipeline flags, checked early.

A profile names the runner and the flags it cannot run without; everything else stays plain Beam flags
(``--beam-arg`` on the command line, ``beam_args`` in a config), so any runner option remains reachable.
A missing required flag is a one-line error before any Beam work starts. See docs/cluster.md.
"""
from __future__ import annotations

import os
from typing import Sequence

RUNNERS: dict[str, str] = {
    "direct": "DirectRunner",
    "portable": "PortableRunner",
    "flink": "FlinkRunner",
    "spark": "SparkRunner",
    "dataflow": "DataflowRunner",
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "portable": ("--job_endpoint",),
    "flink": ("--flink_master",),
    "spark": ("--spark_master_url",),
    "dataflow": ("--project", "--region", "--temp_location"),
}


# ``--workers 0`` (one worker per core) runs them as threads on machines with at most this many cores, as
# processes above. Measured on 2 cores (bench/bench_workers.py, docs/extraction.md#workers): 2 threads beat
# 1 worker and 2 processes at every size (extraction 1.17 to 1.41x, scoring 1.00 to 1.18x; processes pay
# ~9 to 17 s of start-up per worker and only overtake 1 worker past 152 / 230 inputs). On more cores the
# Python parts of each frame (tracker, tf.Example, Beam's per-element work) share one GIL across threads;
# not measured here, so processes stay the choice there.
THREADS_UP_TO_CORES = 2


def auto_workers(cores: int | None = None) -> tuple[int, bool]:
    """What ``--workers 0`` means on a machine with ``cores`` cores (default: this one's):
    (workers, as threads)."""
    n = max(1, cores or os.cpu_count() or 1)
    return n, n <= THREADS_UP_TO_CORES


class RunnerError(ValueError):
    """A runner profile is unknown or misses a flag it needs (one line)."""


def _flag_names(args: Sequence[str]) -> set[str]:
    return {a.split("=", 1)[0] for a in args if a.startswith("--")}


def runner_args(runner: str, args: Sequence[str]) -> list[str]:
    """``--runner=<class>`` (not for direct) followed by args; RunnerError when a required flag is missing.

    With the direct profile, raw flags may still name any runner (they win); with another profile an
    explicit ``--runner=...`` must agree with it.
    """
    if runner not in RUNNERS:
        raise RunnerError(f"unknown runner {runner!r} (one of {' | '.join(RUNNERS)})")
    given = [a.split("=", 1)[1] for a in args if a.startswith("--runner=")]
    if runner == "direct":
        return list(args)
    if any(g not in (RUNNERS[runner], runner) for g in given):
        raise RunnerError(f"--runner={given[0]} contradicts the {runner} profile ({RUNNERS[runner]})")
    missing = [f for f in REQUIRED.get(runner, ()) if f not in _flag_names(args)]
    if missing:
        raise RunnerError(f"the {runner} runner needs {', '.join(m + '=...' for m in missing)}")
    head = [] if given else [f"--runner={RUNNERS[runner]}"]
    return head + list(args)


def beam_args_for(workers: int, extra: Sequence[str] | None = None, runner: str = "direct",
                  threads: bool = False, cores: int | None = None) -> list[str]:
    """Beam flags for a command: the local DirectRunner with N worker processes, or N threads of this process
    (``threads``: no per-worker start-up; dlib, OpenCV and TensorFlow release the GIL), or another runner
    profile (its required flags must be among the raw flags), plus the raw flags, which win. N = 0: one
    worker per core (``cores``, default this machine's), threads or processes by ``auto_workers``."""
    if runner != "direct":
        return runner_args(runner, list(extra or []))
    if workers <= 0:
        workers, auto_threads = auto_workers(cores)
        threads = threads or auto_threads
    if workers == 1:
        args = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
    else:
        mode = "multi_threading" if threads else "multi_processing"
        args = [f"--direct_running_mode={mode}", f"--direct_num_workers={workers}"]
    return runner_args("direct", args + list(extra or []))
