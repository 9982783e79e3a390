"""Detection quality of a packaged recipe: K seeds trained end to end, each scored on a labelled folder.

    .venv/bin/python bench/quality.py --config skyhawk/configs/meso_ft.json --seeds 1 2 3 \\
        --input ../shared/media/dev_videos --labels csv:../shared/media/dev_videos/labels.csv \\
        --output out/quality/meso_ft [--baseline REF ...]

Each seed is ``skyhawk run --config C --set train.seed=S`` (extraction and validation are cached after
the first seed), then ``skyhawk evaluate`` of that run's trained model (the Trainer's output, whether
the gate pushed it or not: the gate is not the yardstick here) with 32 frames and mean aggregation.
``--baseline`` models (registry references or SavedModel folders, e.g. an imported MesoNet) are scored
once beside them. Prints one row per seed (video AUC with its bootstrap 95 % CI when ``evaluate``
reports one, accuracy, log loss, wall time, pushed), the mean and sd of the video AUC over the seeds,
and the mean AUC per source. It measures and selects nothing: never choose a recipe, a seed or an
epoch from what it prints on the dev videos.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SKYHAWK = [sys.executable, "-m", "pipelines.main"]


def run(cmd: list[str], log: Path) -> float:
    """Runs cmd with its output in log; returns the wall seconds; raises on failure."""
    start = time.monotonic()
    with open(log, "w") as f:
        code = subprocess.call(cmd, stdout=f, stderr=subprocess.STDOUT)
    if code:
        raise SystemExit(f"failed ({code}): {' '.join(cmd)} (log: {log})")
    return time.monotonic() - start


def newest_model(config: str, overrides: list[str]) -> tuple[str, bool | None]:
    """(serving model dir of the pipeline's newest Trainer output, pushed?) from its MLMD."""
    from tfx.orchestration import metadata
    from tfx.utils import path_utils

    from pipelines.commands.options import parse_set
    from pipelines.run import latest_outputs, load_config

    cfg = load_config(config, parse_set(overrides))
    with metadata.Metadata(metadata.sqlite_metadata_connection_config(cfg.metadata_path)) as m:
        models = sorted(m.store.get_artifacts_by_type("Model"), key=lambda a: a.id)
    if not models:
        raise SystemExit(f"no trained model in {cfg.metadata_path}")
    return path_utils.serving_model_path(models[-1].uri), latest_outputs(cfg)["pushed"]


def evaluate(model: str, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """``skyhawk evaluate`` of one model; its evaluation.json."""
    run([*SKYHAWK, "evaluate", "--input", args.input, "--labels", args.labels, "--model", model,
         "--output", str(out), "--frames", str(args.frames)], out.with_suffix(".log"))
    return json.loads((out / "evaluation.json").read_text())["models"][0]  # the one model's report


def auc_text(ev: dict[str, Any]) -> str:
    m = ev["metrics"]
    ci = m.get("video_auc_ci95")
    return f"{m['video_auc']:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", required=True)
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="more config overrides")
    p.add_argument("--input", required=True, help="labelled folder to measure on (never trained or selected on)")
    p.add_argument("--labels", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--frames", type=int, default=32)
    p.add_argument("--baseline", action="append", default=[], help="a model scored once beside the seeds")
    args = p.parse_args(argv)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for ref in args.baseline:
        ev = evaluate(ref, args, out / f"baseline-{Path(ref).name}")
        rows.append({"name": f"baseline {ref}", "eval": ev, "seconds": None, "pushed": None})
        print(f"baseline {ref}: video AUC {auc_text(ev)}", flush=True)
    for seed in args.seeds:
        overrides = [*args.set, f"train.seed={seed}"]
        seconds = run([*SKYHAWK, "run", "--config", args.config, *[a for o in overrides for a in ("--set", o)]],
                      out / f"run-seed{seed}.log")
        model, pushed = newest_model(args.config, overrides)
        ev = evaluate(model, args, out / f"seed{seed}")
        rows.append({"name": f"seed {seed}", "seed": seed, "model": model, "eval": ev, "seconds": seconds,
                     "pushed": pushed})
        m = ev["metrics"]
        print(f"seed {seed}: video AUC {auc_text(ev)}  acc {m['video_accuracy']:.3f}  log loss "
              f"{m['video_log_loss']:.3f}  run {seconds / 60:.1f} min  pushed {pushed}  ({model})", flush=True)
    seeded = [r for r in rows if "seed" in r]
    aucs = [r["eval"]["metrics"]["video_auc"] for r in seeded]
    summary: dict[str, Any] = {"config": args.config, "set": args.set, "seeds": args.seeds, "aucs": aucs,
                               "mean": statistics.mean(aucs) if aucs else None,
                               "sd": statistics.stdev(aucs) if len(aucs) > 1 else None}
    if aucs:
        sd = f" ± {summary['sd']:.3f} (sd)" if summary["sd"] is not None else ""
        print(f"\n{args.config}: dev video AUC over {len(aucs)} seeds: {summary['mean']:.3f}{sd}")
        by_source: dict[str, list[float]] = {}
        for r in seeded:
            for s in r["eval"].get("per_source") or []:
                if s.get("auc") is not None:
                    by_source.setdefault(s["name"], []).append(s["auc"])
        for source, vals in sorted(by_source.items()):
            print(f"  {source}: mean video AUC {statistics.mean(vals):.3f} over {len(vals)} seeds")
        summary["per_source"] = {k: statistics.mean(v) for k, v in by_source.items()}
    summary["rows"] = [{k: v for k, v in r.items() if k != "eval"} | {"metrics": r["eval"]["metrics"]} for r in rows]
    (out / "quality.json").write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    main()
