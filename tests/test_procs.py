"""infra.procs.stop_process: real subprocesses, one that exits on SIGTERM and one that ignores it."""
from __future__ import annotations

import signal
import subprocess
import sys

from infra.procs import stop_process

IGNORES_TERM = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                "print('ready', flush=True); time.sleep(60)")


def _start(code: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"  # the handler is installed before we signal
    return proc


def test_stop_process_terminates_then_kills():
    polite = _start("import time; print('ready', flush=True); time.sleep(60)")
    stop_process(polite, timeout=5)
    assert polite.returncode == -signal.SIGTERM

    stubborn = _start(IGNORES_TERM)
    stop_process(stubborn, timeout=0.5)
    assert stubborn.returncode == -signal.SIGKILL

    stop_process(stubborn)  # an already stopped process: nothing to do
    assert stubborn.returncode == -signal.SIGKILL
