"""An exclusive, non-blocking lock on a local folder, held for as long as a writer works in it.

``folder_lock(folder, name)`` takes an ``fcntl.flock`` on ``folder/name`` (created if needed) and records who
holds it (pid, host, start time, command) in that file. A second holder gets ``LockHeld`` at once, with the
first holder's record; the kernel releases the lock when its process ends, however it ends (kill -9 too), so a
stale lock file never blocks anyone. Local paths only (flock is per machine).
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import json
import os
import sys
from typing import Iterator


class LockHeld(Exception):
    """Another process holds the lock; ``holder`` is its record (may be empty), ``path`` the lock file."""

    def __init__(self, path: str, holder: dict):
        self.path, self.holder = path, holder
        who = ", ".join(f"{k} {holder[k]}" for k in ("pid", "host", "since") if holder.get(k)) or "holder unknown"
        super().__init__(f"{path} is locked ({who})")


@contextlib.contextmanager
def folder_lock(folder: str, name: str) -> Iterator[str]:
    """Holds the lock ``folder/name`` (creating the folder) for the with-block; yields the lock file's path.
    Raises ``LockHeld`` at once when another process holds it."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockHeld(path, _holder(fd)) from None
        record = {"pid": os.getpid(), "host": os.uname().nodename,
                  "since": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                  "command": " ".join(sys.argv)[:200]}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
        yield path
    finally:
        os.close(fd)  # releases the flock


def _holder(fd: int) -> dict:
    try:
        record = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return record if isinstance(record, dict) else {}
    except ValueError:
        return {}
