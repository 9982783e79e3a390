"""Is the demo reliable? ``skyhawk demo`` N times (train.seed 1..N, each in a fresh folder); how many pushed.

    .venv/bin/python bench/demo_repeat.py --runs 10 --output out/demo-repeat

Per run: pushed or not (and the gate's reason), the gate's held-out video AUC and frame accuracy (the
Evaluator's candidate metrics), the selected and the last epoch, and the wall time. Then the count
pushed out of N. The demo's target: N of N pushed, each in <= 5 minutes on a 2-core machine.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SKYHAWK = [sys.executable, "-m", "pipelines.main"]


def gate_metrics(metadata_path: str) -> dict[str, Any]:
    """The newest candidate's overall metrics and the newest model's training history, from the run's MLMD."""
    from tfx.orchestration import metadata
    from tfx.utils import path_utils

    from skyhawk.artifact import read_history
    from skyhawk_model.evaluation import CANDIDATE, load_evaluation

    with metadata.Metadata(metadata.sqlite_metadata_connection_config(metadata_path)) as m:
        evals = sorted(m.store.get_artifacts_by_type("ModelEvaluation"), key=lambda a: a.id)
        models = sorted(m.store.get_artifacts_by_type("Model"), key=lambda a: a.id)
    out: dict[str, Any] = {}
    if evals:
        metrics = load_evaluation(evals[-1].uri)["models"][CANDIDATE]
        out["metrics"] = {k: v for per_output in metrics.values() for k, v in per_output.items()}
    if models:
        hist = read_history(path_utils.serving_model_path(models[-1].uri))
        out.update(selected_epoch=hist.get("selected_epoch"), epochs=hist.get("epochs"))
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--output", default="out/demo-repeat")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="demo config overrides")
    args = p.parse_args(argv)
    rows = []
    for i in range(1, args.runs + 1):
        out = Path(args.output, f"run-{i}")
        cmd = [*SKYHAWK, "demo", "--output", str(out), "--set", f"train.seed={i}",
               *[a for o in args.set for a in ("--set", o)]]
        start = time.monotonic()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        seconds = time.monotonic() - start
        pushed = "model pushed:" in proc.stdout
        reason = "" if pushed else (proc.stderr.strip().splitlines() or proc.stdout.strip().splitlines() or [""])[-1]
        info = gate_metrics(str(out / "metadata.sqlite")) if (out / "metadata.sqlite").exists() else {}
        m = info.get("metrics", {})
        rows.append({"run": i, "pushed": pushed, "exit": proc.returncode, "seconds": seconds, "reason": reason,
                     **info})
        auc, acc = m.get("video_auc", float("nan")), m.get("binary_accuracy", float("nan"))
        print(f"run {i:2d}: {'pushed' if pushed else 'NOT pushed':10s} exit {proc.returncode}  "
              f"video AUC {auc:.3f}  frame accuracy {acc:.3f}  "
              f"epoch {info.get('selected_epoch')}/{info.get('epochs')}  {seconds:.0f} s"
              + (f"  ({reason})" if reason else ""), flush=True)
    n = sum(r["pushed"] for r in rows)
    slowest = max(r["seconds"] for r in rows)
    print(f"\npushed {n} of {len(rows)}; slowest run {slowest:.0f} s")
    Path(args.output).mkdir(parents=True, exist_ok=True)
    Path(args.output, "demo_repeat.json").write_text(json.dumps(rows, indent=2, default=str) + "\n")


if __name__ == "__main__":
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    main()
