"""``skyhawk run`` (the pipeline from a config) and ``skyhawk demo`` (the whole job on offline demo data).

While the pipeline runs, each component's start and finish is printed to stderr (``pipelines.progress``).
"""
from __future__ import annotations

import argparse
import json
import time
from typing import Any

from pipelines.progress import component_progress


def _parse_set(values: list[str]) -> dict[str, Any]:
    """--set key=value pairs; values are JSON when they parse as JSON, else strings."""
    out: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set expects key=value, got {item!r}")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run the TFX pipeline (extract -> validate -> train -> gate -> push) locally",
                       description="Runs the Skyhawk pipeline with TFX's LocalDagRunner (MLMD in SQLite).")
    p.add_argument("--config", help="pipeline config JSON (default: the packaged demo config)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.max_epochs=3 (repeatable)")
    p.add_argument("--no-cache", action="store_true", help="re-run every component")
    p.set_defaults(func=run)

    d = sub.add_parser("demo", help="generate the offline demo data and run the whole pipeline on it",
                       description="Makes demo videos from photos shipped in installed packages, then runs "
                                   "extraction -> validation -> training -> gate -> push. The model learns the demo "
                                   "clips; that says nothing about detection quality on real deepfakes.")
    d.add_argument("--output", default="out/demo", help="folder for data, pipeline state, report and registry")
    d.add_argument("--seed", type=int, default=0, help="demo data seed")
    d.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value")
    d.set_defaults(func=demo)

    c = sub.add_parser("compile", help="compile the pipeline for Kubeflow Pipelines v2 / Vertex AI (PipelineJob JSON)",
                       description="Compiles the same pipeline with TFX's KubeflowV2DagRunner; see docs/cluster.md.")
    c.add_argument("--config", required=True, help="pipeline config JSON (pipeline_root and data on gs://)")
    c.add_argument("--image", default="", help="the pipeline image (infra/Dockerfile); default $SKYHAWK_IMAGE")
    c.add_argument("--output", default="skyhawk_pipeline.json", help="where to write the PipelineJob JSON")
    c.add_argument("--scoring-input", metavar="SRC", help="compile the scoring pipeline over SRC instead")
    c.add_argument("--splits", default="train,eval", help="example splits to declare (add test for datasets "
                                                         "with a test list); the data is not read here")
    c.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value")
    c.set_defaults(func=compile_spec)


def _print_outcome(cfg, outcome: dict[str, Any], seconds: float) -> None:
    if outcome["pushed"]:
        print(f"model pushed: {cfg.registry}/{cfg.model_name}/{outcome['version']}")
    elif outcome["pushed"] is False:
        print(f"model NOT pushed (not blessed); decision: {outcome['pushed_model_uri']}")
    if outcome["report"]:
        print(f"report: {outcome['report']}")
    print(f"registry: skyhawk registry --root {cfg.registry} list {cfg.model_name}")
    print(f"pipeline: {cfg.pipeline_name} in {seconds:.0f} s (state: {cfg.pipeline_root}, {cfg.metadata_path})")


def run(args: argparse.Namespace) -> int:
    from pipelines.run import load_config, run_local

    cfg = load_config(args.config, _parse_set(args.set))
    start = time.monotonic()
    with component_progress(verbose=getattr(args, "verbose", False)):
        outcome = run_local(cfg, enable_cache=not args.no_cache)
    _print_outcome(cfg, outcome, time.monotonic() - start)
    return 0


def demo(args: argparse.Namespace) -> int:
    from pipelines.run import demo_config, ensure_demo_data, run_local

    cfg = demo_config(args.output, _parse_set(args.set))
    start = time.monotonic()
    ensure_demo_data(cfg, seed=args.seed)
    print(f"demo data: {cfg.data_root} (package-shipped photos; learnable, no measure of quality on real deepfakes)",
          flush=True)
    with component_progress(verbose=getattr(args, "verbose", False)):
        outcome = run_local(cfg)
    _print_outcome(cfg, outcome, time.monotonic() - start)
    return 0


def compile_spec(args: argparse.Namespace) -> int:
    import os

    from pipelines.kubeflow_v2_runner import compile_pipeline
    from pipelines.run import load_config

    cfg = load_config(args.config, _parse_set(args.set))
    out = compile_pipeline(cfg, args.image or os.environ.get("SKYHAWK_IMAGE", ""), args.output, args.scoring_input,
                           split_names=[s for s in args.splits.split(",") if s])
    print(f"pipeline spec: {out}")
    return 0
