"""The ``skyhawk`` command's entry point (``setup.py`` console script): logging, errors, exit code.

The commands themselves are defined in ``pipelines.commands`` (one module per command family).
"""
from __future__ import annotations

from skyhawk import env

env.quiet()  # before the imports below load Beam, TensorFlow and Google's client libraries

import argparse  # noqa: E402
import contextlib  # noqa: E402
import errno  # noqa: E402
import logging  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
from typing import Iterator  # noqa: E402

from pipelines.commands.parser import build_parser  # noqa: E402

# library chatter hidden without --verbose; their errors too (the command raises them: one line below)
QUIET_LOGGERS = ("apache_beam", "absl", "tensorflow")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.verbose:
        return _run(args)
    with _quiet_threads_on_interrupt(), env.worker_stderr_filtered():  # workers' tracebacks: one error line below
        return _run(args)


@contextlib.contextmanager
def _quiet_threads_on_interrupt() -> Iterator[None]:
    """Inside, Ctrl-C makes threads that die from then on (Beam's worker and job-service threads, whose worker
    processes got the same Ctrl-C) print no traceback and libraries log nothing (Beam logs each worker's failure
    at CRITICAL); the main thread gets KeyboardInterrupt as usual (exit 130). The old handler is restored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupted(signum: int, frame: object) -> None:
        threading.excepthook = lambda args: None
        logging.disable(logging.CRITICAL)
        raise KeyboardInterrupt

    before = signal.signal(signal.SIGINT, interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


def _run(args: argparse.Namespace) -> int:
    """Runs the parsed command: its exit code, or 1 with one error line (130 when interrupted)."""
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not args.verbose:  # TFX resolver notes, Beam and TensorFlow start-up messages
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("skyhawk: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # one clear line for the user; --verbose shows the traceback
        if args.verbose:
            raise
        print(f"skyhawk {args.command}: error: {error_line(e)}", file=sys.stderr)
        return 1


def error_line(e: Exception) -> str:
    """The one line printed for e (a full disk names the path being written)."""
    if isinstance(e, OSError) and e.errno == errno.ENOSPC:
        return f"no space left on device writing {e.filename or '(unknown path)'}"
    return str(e)


if __name__ == "__main__":
    sys.exit(main())
