"""A local Beam portable runner: job service + external worker pool, as subprocesses.

``local_portable_runner()`` starts

- ``python -m apache_beam.runners.portability.local_job_service_main --port=N`` (the job API; it runs
  the pipeline with Beam's FnApiRunner), and
- ``python -m apache_beam.runners.worker.worker_pool_main --service_port=M`` (an EXTERNAL environment:
  it starts one SDK-harness process per requested worker, with the ``python`` found on PATH),

both with this interpreter's ``bin/`` first on PATH and the repository on PYTHONPATH, so the workers
import the same Skyhawk code and packages, then yields the pipeline flags::

    with local_portable_runner() as beam_args:
        run_extraction(videos, out, config, beam_args)

Both processes (and the workers the pool starts) run in their own process groups, which are
terminated on exit, even when the body raises. From a shell, ``python -m infra.beam`` prints the flags
and keeps the services running until Ctrl-C.

This exercises the same path as a remote runner (the pipeline is serialised to a job service and the
DoFns are unpickled in separate worker processes), without Flink, Spark or a cloud project.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator, Sequence

from infra.procs import free_port, port_open, wait_ready
from skyhawk import env as skyhawk_env

REPO = Path(__file__).resolve().parents[1]
JOB_SERVICE = "apache_beam.runners.portability.local_job_service_main"
WORKER_POOL = "apache_beam.runners.worker.worker_pool_main"


class BeamServiceError(RuntimeError):
    """A local Beam service did not start (the message includes the tail of its log)."""


def portable_args(job_port: int, pool_port: int, extra: Sequence[str] = ()) -> list[str]:
    """PortableRunner flags for a job service on job_port and an EXTERNAL worker pool on pool_port."""
    return [
        "--runner=PortableRunner",
        f"--job_endpoint=localhost:{job_port}",
        "--environment_type=EXTERNAL",
        f"--environment_config=localhost:{pool_port}",
        *extra,
    ]


def service_env(python: str | None = None) -> dict[str, str]:
    """Environment for the services and their workers: the venv's bin/ first on PATH, the repo importable."""
    env = dict(os.environ)
    bindir = os.path.dirname(os.path.abspath(python or sys.executable))
    env["PATH"] = os.pathsep.join([bindir, env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    skyhawk_env.apply(env)
    return env


def _stop(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after grace seconds, to the process's own group (itself and its workers)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        proc.poll()  # reap it, so that a dead leader does not count as alive
        if not _group_alive(proc.pid):
            break
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            proc.poll()
            if not _group_alive(proc.pid):
                break
            time.sleep(0.1)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace)


def _group_alive(pgid: int) -> bool:
    """Any process (other than zombies the OS has yet to reap) left in the group?"""
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return any(_state(pid) not in ("Z", "") for pid in _group_members(pgid))


def _group_members(pgid: int) -> list[int]:
    out = []
    for d in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if d.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                with open(f"/proc/{d}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[2]) == pgid:
                    out.append(int(d))
    return out if os.path.isdir("/proc") else [pgid]


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "" if os.path.isdir("/proc") else "R"


@contextlib.contextmanager
def local_portable_runner(python: str | None = None, job_port: int = 0, pool_port: int = 0,
                          log_dir: str | None = None, timeout: float = 60.0,
                          extra_args: Sequence[str] = ()) -> Iterator[list[str]]:
    """Starts a job service and an external worker pool; yields the PortableRunner flags.

    python: interpreter for the services and workers (default: this one). Ports default to free ones.
    Logs go to log_dir (default: a temporary folder, kept only while running). Always stops both
    services and their workers on exit.
    """
    python = python or sys.executable
    env = service_env(python)
    job_port = job_port or free_port()
    pool_port = pool_port or free_port()
    while pool_port == job_port:
        pool_port = free_port()
    with contextlib.ExitStack() as stack:
        if log_dir is None:
            log_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="skyhawk-beam-"))
        os.makedirs(log_dir, exist_ok=True)
        procs: list[subprocess.Popen] = []
        stack.callback(lambda: [_stop(p) for p in reversed(procs)])
        started = []
        for what, module, flag, port in (("worker pool", WORKER_POOL, "--service_port", pool_port),
                                         ("job service", JOB_SERVICE, "--port", job_port)):
            log = os.path.join(log_dir, module.rsplit(".", 1)[1] + ".log")
            with open(log, "wb") as out:  # both start at once: each takes seconds to import Beam
                procs.append(subprocess.Popen(
                    [python, "-m", module, f"{flag}={port}"], stdout=out, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL, env=env, cwd=str(REPO), start_new_session=True))
            started.append((procs[-1], port, log, what))
        for proc, port, log, what in started:
            wait_ready(proc, lambda port=port: port_open(port), f"{what} on port {port}", timeout, log,
                       BeamServiceError)
        yield portable_args(job_port, pool_port, extra_args)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Runs a local Beam job service + worker pool until Ctrl-C.")
    ap.add_argument("--job-port", type=int, default=0, help="job service port (default: a free one)")
    ap.add_argument("--pool-port", type=int, default=0, help="worker pool port (default: a free one)")
    ap.add_argument("--log-dir", default=None, help="folder for the service logs (default: temporary)")
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop the services on kill, too
    # Ctrl-C stops it even when started from a background job, whose SIGINT the shell set to "ignore"
    # (an inherited ignore that Python keeps: it installs its own SIGINT handler only if none is set)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with local_portable_runner(job_port=args.job_port, pool_port=args.pool_port, log_dir=args.log_dir) as flags:
            print("local Beam portable runner ready; pipeline flags:")
            print("  " + " ".join(flags))
            print("e.g.: skyhawk extract --input VIDEOS --output OUT "
                  + " ".join(f"--beam-arg={f}" for f in flags))
            print("Ctrl-C to stop.", flush=True)
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        print("stopped.", flush=True)
    except BeamServiceError as e:
        print(f"infra.beam: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
