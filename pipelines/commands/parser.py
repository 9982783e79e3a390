"""The ``skyhawk`` argument parser: the command families, in help order, each adding its own subcommands."""
from __future__ import annotations

import argparse

from pipelines.commands import audit, data, ensemble, extract, pipeline, registry, retrain, score

# Command families, in help order; a new family is one import above and one entry here.
FAMILIES = (
    extract,  # extract
    score,  # score, predict, evaluate
    data,  # synth, demo-data
    audit,  # audit
    pipeline,  # run, demo, compile
    retrain,  # retrain
    registry,  # registry list|show|pin|unpin|rollback|config
    ensemble,  # ensemble
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="skyhawk", description="Deepfake-video detection pipeline.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level, with tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for family in FAMILIES:
        family.register(sub)
    return parser
