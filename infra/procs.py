"""Helpers for the local services infra/ starts as subprocesses (Beam job service and worker pool,
fake-gcs-server): a free port, waiting until a service answers, the tail of its log for errors, and
stopping one."""
from __future__ import annotations

import socket
import subprocess
import time
from typing import Callable


def free_port(host: str = "localhost") -> int:
    """A TCP port that is free now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_open(port: int, host: str = "localhost") -> bool:
    """Does something accept TCP connections on host:port?"""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def log_tail(path: str | None, lines: int = 20) -> str:
    """The last lines of a log file ('' when it cannot be read)."""
    if not path:
        return ""
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def wait_ready(proc: subprocess.Popen, ready: Callable[[], bool], what: str, timeout: float,
               log: str | None = None, error: type[Exception] = RuntimeError, poll: float = 0.1) -> None:
    """Returns once ``ready()`` is true; raises ``error`` (with the log's tail) when the process exits
    first or after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise error(f"{what} exited with code {proc.returncode}:\n{log_tail(log)}")
        if ready():
            return
        time.sleep(poll)
    raise error(f"{what} not ready after {timeout:.0f} s:\n{log_tail(log)}")


def stop_process(proc: subprocess.Popen, timeout: float = 5.0) -> None:
    """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL; returns once the process is reaped."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
