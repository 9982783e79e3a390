"""``skyhawk run`` (the pipeline from a config), ``skyhawk demo`` (the whole job on offline demo data) and
``skyhawk compile`` (the pipeline for Kubeflow Pipelines v2 / Vertex AI).

While the pipeline runs, each component's start and finish is printed to stderr (``pipelines.progress``).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from pipelines.commands import options
from pipelines.progress import component_progress

EXIT_DEMO_NOT_PUSHED = 4  # `skyhawk demo` ran, but its model was not published (as retrain's "not pushed")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run the TFX pipeline (extract -> validate -> train -> gate -> push) locally",
                       description="Runs the Skyhawk pipeline with TFX's LocalDagRunner (MLMD in SQLite).")
    options.add_config(p)
    p.add_argument("--no-cache", action="store_true", help="re-run every component")
    p.set_defaults(func=run)

    d = sub.add_parser("demo", help="generate the offline demo data and run the whole pipeline on it",
                       description="Makes demo videos from photos shipped in installed packages, then runs "
                                   "extraction -> validation -> training -> gate -> push. The model learns the demo "
                                   "clips; that says nothing about detection quality on real deepfakes. Exit 4 "
                                   "when the model is not pushed.")
    d.add_argument("--output", default="out/demo", help="folder for data, pipeline state, report and registry")
    d.add_argument("--seed", type=int, default=0, help="demo data seed")
    options.add_set(d)
    d.set_defaults(func=demo)

    c = sub.add_parser("compile", help="compile the pipeline for Kubeflow Pipelines v2 / Vertex AI (PipelineJob JSON)",
                       description="Compiles the same pipeline with TFX's KubeflowV2DagRunner; see docs/cluster.md.")
    options.add_config(c, required=True, help="pipeline config JSON (pipeline_root and data on gs://)")
    c.add_argument("--image", default="", help="the pipeline image (infra/Dockerfile); default $SKYHAWK_IMAGE")
    c.add_argument("--output", default="skyhawk_pipeline.json", help="where to write the PipelineJob JSON")
    c.add_argument("--scoring-input", metavar="SRC", help="compile the scoring pipeline over SRC instead")
    c.add_argument("--allow-local", action="store_true",
                   help="compile even with local paths in the config (refused: the cluster cannot read them)")
    c.add_argument("--splits", default="train,eval", help="example splits to declare (add test for datasets "
                                                         "with a test list); the data is not read here")
    c.set_defaults(func=compile_spec)


def print_outcome(cfg: Any, outcome: dict[str, Any], seconds: float) -> None:
    if outcome["pushed"]:
        print(f"model pushed: {cfg.registry}/{cfg.model_name}/{outcome['version']}")
    elif outcome["pushed"] is False:
        print(f"model NOT pushed (not blessed); decision: {outcome['pushed_model_uri']}")
    if outcome["report"]:
        print(f"report: {outcome['report']}")
    print(f"registry: skyhawk registry --root {cfg.registry} list {cfg.model_name}")
    print(f"pipeline: {cfg.pipeline_name} in {seconds:.0f} s (state: {cfg.pipeline_root}, {cfg.metadata_path})")


def demo_failure(outcome: dict[str, Any]) -> str | None:
    """Why a demo run did not publish its model (None: it did); the demo exits non-zero then."""
    if outcome["pushed"]:
        return None
    if outcome["pushed"] is None:
        return "the run recorded no push decision (no PushedModel in MLMD)"
    return f"model NOT pushed: {outcome.get('reason') or 'not blessed'}"


def run(args: argparse.Namespace) -> int:
    from pipelines.run import run_local

    cfg = options.load_config_from(args)
    start = time.monotonic()
    with component_progress(verbose=getattr(args, "verbose", False)):
        outcome = run_local(cfg, enable_cache=not args.no_cache)
    print_outcome(cfg, outcome, time.monotonic() - start)
    return 0


def demo(args: argparse.Namespace) -> int:
    from pipelines.run import demo_config, ensure_demo_data, run_local

    cfg = demo_config(args.output, options.parse_set(args.set))
    start = time.monotonic()
    ensure_demo_data(cfg, seed=args.seed)
    print(f"demo data: {cfg.data_root} (package-shipped photos; learnable, no measure of quality on real deepfakes)",
          flush=True)
    with component_progress(verbose=getattr(args, "verbose", False)):
        outcome = run_local(cfg)
    print_outcome(cfg, outcome, time.monotonic() - start)
    failure = demo_failure(outcome)
    if failure:
        print(f"skyhawk demo: {failure}", file=sys.stderr)
        return EXIT_DEMO_NOT_PUSHED
    return 0


def compile_spec(args: argparse.Namespace) -> int:
    from pipelines.kubeflow_v2_runner import compile_pipeline

    cfg = options.load_config_from(args)
    out = compile_pipeline(cfg, args.image or os.environ.get("SKYHAWK_IMAGE", ""), args.output, args.scoring_input,
                           split_names=[s for s in args.splits.split(",") if s], allow_local=args.allow_local)
    print(f"pipeline spec: {out}")
    return 0
