"""A learning curve on outside data: every Nth epoch model of a training (``train.export_epochs``) scored
with ``skyhawk evaluate``'s code on a labelled folder, one row per epoch.

    .venv/bin/python bench/dev_curve.py --epochs-dir out/sbi_cpu/pipeline/Trainer/model_run/<id>/epochs \\
        --input ../shared/media/dev_videos --labels csv:../shared/media/dev_videos/labels.csv \\
        --output out/dev-curve --every 3

Columns: epoch, the epoch's training accuracy and validation loss (its own history), the folder's video
AUC, accuracy at the model's threshold, log loss, and how many same-group (real, fake) pairs rank the
fake higher. A diagnostic: it measures, it selects nothing (never pick an epoch or a budget from the
dev videos).
"""
from __future__ import annotations

import argparse
import json
import os
from collections import defaultdict
from pathlib import Path

import skyhawk  # noqa: F401  (legacy Keras before TensorFlow loads)
from components.score.evaluate import run_evaluation
from skyhawk.artifact import read_history
from skyhawk.config import ScoreConfig
from skyhawk_model.model_ref import resolve


def pairs_ranked(videos: list[dict]) -> tuple[int, int]:
    """(pairs whose fake scores above its real, pairs): groups with exactly one real and one fake video."""
    by_group: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for v in videos:
        by_group[v["group"]][v["label"]].append(v["p_fake"])
    pairs = [(g[0][0], g[1][0]) for g in by_group.values() if len(g[0]) == 1 and len(g[1]) == 1]
    return sum(fake > real for real, fake in pairs), len(pairs)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs-dir", required=True, help="<model_run_dir>/epochs of a train.export_epochs training")
    p.add_argument("--input", required=True)
    p.add_argument("--labels", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--every", type=int, default=3, help="score every Nth epoch (the last one always)")
    p.add_argument("--frames", type=int, default=32)
    args = p.parse_args(argv)

    epochs = sorted(d for d in os.listdir(args.epochs_dir) if d.isdigit())
    chosen = [e for i, e in enumerate(epochs, 1) if i % args.every == 0 or e == epochs[-1]]
    header = f"{'epoch':>5} {'train acc':>9} {'val loss':>8} {'AUC':>6} {'acc':>6} {'logloss':>7} {'pairs':>7}"
    print(header, flush=True)
    rows = []
    for e in chosen:
        model_dir = os.path.join(args.epochs_dir, e)
        hist = read_history(model_dir)
        ev = run_evaluation(args.input, args.labels, resolve(model_dir), os.path.join(args.output, e),
                            ScoreConfig(frames=args.frames))
        m = ev["metrics"]
        right, n = pairs_ranked(ev["videos"])
        rows.append({"epoch": int(e), "accuracy": hist.get("accuracy"), "val_loss": hist.get("val_loss"),
                     **{k: m[k] for k in ("video_auc", "video_accuracy", "video_log_loss")}, "pairs": [right, n]})
        print(f"{int(e):5d} {hist.get('accuracy', float('nan')):9.3f} {hist.get('val_loss', float('nan')):8.3f} "
              f"{m['video_auc']:6.3f} {m['video_accuracy']:6.3f} {m['video_log_loss']:7.3f} {right:>3d}/{n:<3d}",
              flush=True)
    Path(args.output).mkdir(parents=True, exist_ok=True)
    Path(args.output, "curve.json").write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
