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

The first ``--baseline`` is the reference of the **paired bootstrap difference**: on the same videos
(scored by both), 1,000 resamples of the videos (seed 0, a resample with one class only is drawn again,
as ``skyhawk.aggregate.bootstrap_auc_ci``), the AUC of each seed's model minus the baseline's, and of the
mean over the seeds minus the baseline's, with 95 % percentile intervals. Each seed's row also gives the
matched-pair accuracy ``evaluate`` reports, and the **nuisance-only AUC of that run's training split**:
the ConfoundCheck audit (``skyhawk.confound``: capture and encoding facts alone, group-CV logistic
regression) of the train split the run trained on, read from the pipeline's metadata store. Once per recipe it
prints the pixel audit of that train split (``skyhawk_model.input_audit``): how well sharpness and
high-frequency share, which follow the face's source size, separate the labels in the raw crops and in the
input the recipe's model sees (augmentation, nuisance augmentation, canonical face resolution).
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
RESAMPLES = 1000
BOOTSTRAP_SEED = 0


def run(cmd: list[str], log: Path) -> float:
    """Runs cmd with its output in log; returns the wall seconds; raises on failure."""
    start = time.monotonic()
    with open(log, "w") as f:
        code = subprocess.call(cmd, stdout=f, stderr=subprocess.STDOUT)
    if code:
        raise SystemExit(f"failed ({code}): {' '.join(cmd)} (log: {log})")
    return time.monotonic() - start


def newest_model(config: str, overrides: list[str]) -> tuple[str, bool | None, dict[str, Any] | None]:
    """(serving model dir of the pipeline's newest Trainer output, pushed?, the train split's confound audit or
    None) from its MLMD."""
    from tfx.orchestration import metadata
    from tfx.utils import path_utils

    from components.confound import SkyhawkConfound, load_confound
    from pipelines.commands.options import parse_set
    from pipelines.run import latest_outputs, load_config

    cfg = load_config(config, parse_set(overrides))
    with metadata.Metadata(metadata.sqlite_metadata_connection_config(cfg.metadata_path)) as m:
        models = sorted(m.store.get_artifacts_by_type("Model"), key=lambda a: a.id)
        audits = sorted(m.store.get_artifacts_by_type(SkyhawkConfound.TYPE_NAME), key=lambda a: a.id)
    if not models:
        raise SystemExit(f"no trained model in {cfg.metadata_path}")
    train_audit = load_confound(audits[-1].uri).get("splits", {}).get("train") if audits else None
    return path_utils.serving_model_path(models[-1].uri), latest_outputs(cfg)["pushed"], train_audit


def train_input_audit(config: str, overrides: list[str]) -> dict[str, Any] | None:
    """The pixel audit (``skyhawk_model.input_audit``) of the newest train split of the pipeline, raw crops vs
    the input the recipe's model sees; None when the store holds no examples."""
    from tfx.orchestration import metadata

    from pipelines.commands.options import parse_set
    from pipelines.run import load_config
    from skyhawk_model.input_audit import input_audit

    cfg = load_config(config, parse_set(overrides))
    with metadata.Metadata(metadata.sqlite_metadata_connection_config(cfg.metadata_path)) as m:
        examples = sorted(m.store.get_artifacts_by_type("Examples"), key=lambda a: a.id)
    if not examples:
        return None
    uri = os.path.join(examples[-1].uri, "Split-train", "*")  # TFX's split folder layout
    return input_audit(uri, cfg.train, cfg.extract.margin)


def paired_difference(models: list[dict[str, float]], baseline: dict[str, float], labels: dict[str, int],
                      resamples: int = RESAMPLES, seed: int = BOOTSTRAP_SEED) -> dict[str, Any]:
    """Paired bootstrap of mean(AUC of ``models``) - AUC of ``baseline`` over the videos all of them scored
    (uri -> p_fake; ``labels`` uri -> 0/1): the point difference and its 95 % percentile interval."""
    import numpy as np

    from skyhawk.aggregate import auc

    uris = sorted(set(baseline).intersection(*models) & set(labels))
    y = np.array([labels[u] for u in uris])
    base = np.array([baseline[u] for u in uris])
    ours = [np.array([m[u] for u in uris]) for m in models]

    def diff(idx: np.ndarray) -> float:
        return float(np.mean([auc(y[idx], s[idx]) for s in ours]) - auc(y[idx], base[idx]))

    rng = np.random.default_rng(seed)
    draws: list[float] = []
    while len(draws) < resamples:
        idx = rng.integers(0, len(uris), len(uris))
        if len(set(y[idx].tolist())) == 2:
            draws.append(diff(idx))
    lo, hi = np.percentile(draws, [2.5, 97.5])
    return {"videos": len(uris), "difference": diff(np.arange(len(uris))), "ci95": [float(lo), float(hi)],
            "resamples": resamples, "seed": seed}


def video_scores(ev: dict[str, Any]) -> dict[str, float]:
    """uri -> p_fake of one model's evaluation report."""
    return {v["uri"]: float(v["p_fake"]) for v in ev["videos"]}


def diff_text(d: dict[str, Any]) -> str:
    return f"{d['difference']:+.3f} [{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}] over {d['videos']} videos"


def pairs_text(ev: dict[str, Any]) -> str:
    """The matched-pair accuracy ``evaluate`` reports (fake above its own real), or ''."""
    mp = ev.get("matched_pairs") or {}
    acc, ci = mp.get("accuracy"), mp.get("ci95")
    if acc is None:
        return ""
    return f"  pairs {acc:.3f}" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "") + f" ({mp.get('pairs', '?')} pairs)"


def audit_text(audit: dict[str, Any] | None) -> str:
    """The train split's nuisance-only AUC (group-CV, all features) and its strongest single feature."""
    if not audit:
        return "train nuisance AUC n/a"
    combined = audit.get("combined_auc")
    top = (audit.get("features") or [{}])[0]
    text = f"train nuisance AUC {combined:.3f}" if combined is not None else "train nuisance AUC n/a"
    return text + (f" (strongest alone: {top['name']} AUC {top['auc']:.3f}, {top['direction']})"
                   if top.get("name") else "")


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
    base: dict[str, float] = {}
    labels: dict[str, int] = {}
    for ref in args.baseline:
        ev = evaluate(ref, args, out / f"baseline-{Path(ref).name}")
        rows.append({"name": f"baseline {ref}", "eval": ev, "seconds": None, "pushed": None,
                     "matched_pairs": ev.get("matched_pairs")})
        base = base or video_scores(ev)  # the first baseline is the reference of the paired differences
        labels.update({v["uri"]: int(v["label"]) for v in ev["videos"]})
        print(f"baseline {ref}: video AUC {auc_text(ev)}{pairs_text(ev)}", flush=True)
    for seed in args.seeds:
        overrides = [*args.set, f"train.seed={seed}"]
        seconds = run([*SKYHAWK, "run", "--config", args.config, *[a for o in overrides for a in ("--set", o)]],
                      out / f"run-seed{seed}.log")
        model, pushed, train_audit = newest_model(args.config, overrides)
        ev = evaluate(model, args, out / f"seed{seed}")
        row = {"name": f"seed {seed}", "seed": seed, "model": model, "eval": ev, "seconds": seconds,
               "pushed": pushed, "train_nuisance": train_audit, "matched_pairs": ev.get("matched_pairs")}
        if base:
            row["vs_baseline"] = paired_difference([video_scores(ev)], base, labels)
        rows.append(row)
        m = ev["metrics"]
        vs = f"  vs baseline {diff_text(row['vs_baseline'])}" if base else ""
        print(f"seed {seed}: video AUC {auc_text(ev)}  acc {m['video_accuracy']:.3f}  log loss "
              f"{m['video_log_loss']:.3f}{pairs_text(ev)}{vs}  {audit_text(train_audit)}  run {seconds / 60:.1f} min"
              f"  pushed {pushed}  ({model})", flush=True)
    seeded = [r for r in rows if "seed" in r]
    aucs = [r["eval"]["metrics"]["video_auc"] for r in seeded]
    summary: dict[str, Any] = {"config": args.config, "set": args.set, "seeds": args.seeds, "aucs": aucs,
                               "mean": statistics.mean(aucs) if aucs else None,
                               "sd": statistics.stdev(aucs) if len(aucs) > 1 else None}
    if aucs:
        sd = f" ± {summary['sd']:.3f} (sd)" if summary["sd"] is not None else ""
        print(f"\n{args.config}: video AUC on {args.input} over {len(aucs)} seeds: {summary['mean']:.3f}{sd}")
        if base:
            summary["vs_baseline"] = paired_difference([video_scores(r["eval"]) for r in seeded], base, labels)
            print(f"  mean over seeds minus baseline {args.baseline[0]}: {diff_text(summary['vs_baseline'])} "
                  f"(paired bootstrap, {RESAMPLES} resamples, 95 % CI)")
        pair_accs = [(r["matched_pairs"] or {}).get("accuracy") for r in seeded]
        if all(a is not None for a in pair_accs):
            summary["matched_pair_accuracy"] = {"mean": statistics.mean(pair_accs),
                                                "sd": statistics.stdev(pair_accs) if len(pair_accs) > 1 else None}
            print(f"  matched-pair accuracy: {statistics.mean(pair_accs):.3f}"
                  + (f" ± {statistics.stdev(pair_accs):.3f} (sd)" if len(pair_accs) > 1 else ""))
        pixel = train_input_audit(args.config, [*args.set, f"train.seed={args.seeds[0]}"])
        if pixel:
            from skyhawk_model.input_audit import audit_table

            summary["train_input_pixel_audit"] = pixel
            print("  " + audit_table(pixel).replace("\n", "\n  "))
        combined = [(r["train_nuisance"] or {}).get("combined_auc") for r in seeded]
        if combined and combined[-1] is not None:
            summary["train_nuisance_auc"] = combined[-1]
            print(f"  training split: {audit_text(seeded[-1]['train_nuisance'])}")
        by_source: dict[str, list[float]] = {}
        for r in seeded:
            for s in r["eval"].get("per_source") or []:
                if s.get("auc") is not None:
                    by_source.setdefault(s["name"], []).append(s["auc"])
        for source, vals in sorted(by_source.items()):
            print(f"  {source}: mean video AUC {statistics.mean(vals):.3f} over {len(vals)} seeds")
        summary["per_source"] = {k: statistics.mean(v) for k, v in by_source.items()}
    summary["rows"] = [{k: v for k, v in r.items() if k != "eval"} | {"metrics": r["eval"]["metrics"]} for r in rows]
    summary["baseline"] = args.baseline[0] if args.baseline else None
    (out / "quality.json").write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    main()
