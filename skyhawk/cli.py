"""The ``skyhawk`` command: one entry point over every stage.

Each subcommand lives next to the code it drives and exposes ``register(subparsers)``, which adds its
parser and sets ``func``; this module only collects them.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import warnings

# Modules that contribute subcommands, in help order.
COMMAND_MODULES = (
    "components.extract_cli",  # extract
    "components.score_cli",  # score, predict, evaluate
    "skyhawk.synth.cli",  # synth
    "skyhawk.demo",  # demo-data
    "pipelines.cli",  # run
    "skyhawk.registry_cli",  # registry
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="skyhawk", description="Deepfake-video detection pipeline.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"google\..*")
    os.environ.setdefault("PYTHONWARNINGS", "ignore::FutureWarning")  # Beam worker processes too
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # bad videos are reported, not logged by FFmpeg
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not args.verbose:  # library chatter (TFX resolver notes, TFMA divide-by-zero on empty classes)
        for name in ("apache_beam", "absl", "tensorflow"):
            logging.getLogger(name).setLevel(logging.ERROR)
        warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"tensorflow_model_analysis\..*")
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("skyhawk: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # one clear line for the user; --verbose shows the traceback
        if args.verbose:
            raise
        print(f"skyhawk {args.command}: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
