"""``skyhawk retrain --config FILE``: run the pipeline only when a new span has arrived; print the decision.

The decisions and exit codes are ``pipelines.retrain``'s: 0 pushed, 3 no new span, 4 not pushed, 1 error.
"""
from __future__ import annotations

import argparse
import time

from pipelines.commands import options


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("retrain", help="run the pipeline if a new data span arrived (exit 3: nothing new)",
                       description="Runs the pipeline when data_root has a span-N/ newer than the newest span a "
                                   "model was decided on; exit codes: 0 pushed, 3 no new span, 4 not pushed, "
                                   "1 error. See docs/retraining.md.")
    options.add_config(p, required=True, help="pipeline config JSON (with use_spans: true)")
    p.set_defaults(func=retrain)


def retrain(args: argparse.Namespace) -> int:
    from pipelines.retrain import pending_span

    cfg = options.load_config_from(args)
    newest, decision = pending_span(cfg)
    if decision is not None:  # nothing to run: no TFX or TensorFlow import
        print(decision.message)
        return decision.code
    from pipelines.progress import component_progress
    from pipelines.retrain import run_decision
    from pipelines.run import run_local

    start = time.monotonic()
    with component_progress(verbose=getattr(args, "verbose", False)):
        outcome = run_local(cfg)
    decision = run_decision(cfg, newest, outcome)
    print(decision.message)
    if outcome["report"]:
        print(f"report: {outcome['report']}")
    print(f"registry: skyhawk registry --root {cfg.registry} list {cfg.model_name}")
    print(f"pipeline: {cfg.pipeline_name} in {time.monotonic() - start:.0f} s")
    return decision.code
