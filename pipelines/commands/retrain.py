"""``skyhawk retrain --config FILE``: run the pipeline only when a new span has arrived; print the decision.

The decisions and exit codes are ``pipelines.retrain``'s: 0 pushed, 3 no new span, 4 not pushed, 5 another
retrain of the same pipeline root is running, 1 error.
"""
from __future__ import annotations

import argparse
import sys

from pipelines.commands import options


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("retrain", help="run the pipeline if a new data span arrived (exit 3: nothing new)",
                       description="Runs the pipeline when data_root has a span-N/ newer than the newest span a "
                                   "model was decided on; exit codes: 0 pushed, 3 no new span, 4 not pushed, "
                                   "5 another retrain holds the pipeline root's lock, 1 error. See "
                                   "docs/retraining.md.")
    options.add_config(p, required=True, help="pipeline config JSON (with use_spans: true)")
    p.set_defaults(func=retrain)


def retrain(args: argparse.Namespace) -> int:
    from pipelines.retrain import EXIT_LOCKED
    from pipelines.retrain import retrain as run

    decision = run(options.load_config_from(args), verbose=getattr(args, "verbose", False))
    print(decision.message, file=sys.stderr if decision.code == EXIT_LOCKED else sys.stdout)
    for line in decision.details:
        print(line)
    return decision.code
