"""The ``skyhawk`` command: one entry point over every stage (``setup.py`` console script).

It sits on the top floor so that it imports what it dispatches to plainly. Each subcommand lives next
to the code it drives and exposes ``register(subparsers)``, which adds its parser and sets ``func``;
this module only collects them (in help order) and handles logging and errors.
"""
from __future__ import annotations

from skyhawk import env

env.quiet()  # before the imports below load Beam, TensorFlow and Google's client libraries

import argparse  # noqa: E402
import errno  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402

from components import extract_cli, score_cli  # noqa: E402
from pipelines import cli as pipeline_cli  # noqa: E402
from pipelines import retrain  # noqa: E402
from skyhawk import demo, registry_cli  # noqa: E402
from skyhawk.synth import cli as synth_cli  # noqa: E402

# Modules that contribute subcommands (each has ``register(subparsers)``), in help order; a new command
# module is one import above and one line here.
COMMAND_MODULES = (
    extract_cli,  # extract
    score_cli,  # score, predict, evaluate
    synth_cli,  # synth
    demo,  # demo-data
    pipeline_cli,  # run, demo
    retrain,  # retrain
    registry_cli,  # registry
)
# library chatter hidden without --verbose; their errors too (the command raises them: one line below)
QUIET_LOGGERS = ("apache_beam", "absl", "tensorflow")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="skyhawk", description="Deepfake-video detection pipeline.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level, with tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.verbose:
        return _run(args)
    with env.worker_stderr_filtered():  # Beam workers' tracebacks: the error is printed once, below
        return _run(args)


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
