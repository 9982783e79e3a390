"""Training throughput (images/s) of the Skyhawk classifier on this machine, at several input sizes.

Measures ``model.fit`` steps (forward + backward + Adam update) on in-memory random pixels, after
warm-up steps that absorb tracing, so it isolates the model cost from JPEG decoding / augmentation.
All sizes run in the same process, one after another, and a ratio line compares them.

    TF_USE_LEGACY_KERAS=1 .venv/bin/python bench/bench_train.py                # 128 and 299, batch 8
    TF_USE_LEGACY_KERAS=1 .venv/bin/python bench/bench_train.py --sizes 96 299 --batch-sizes 16 8 --steps 5

Not a test. Tracing the InceptionResNetV2 train step alone takes minutes on a small CPU.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from skyhawk.config import TrainConfig  # noqa: E402
from skyhawk_model.model import build_model, use_mixed_precision  # noqa: E402


def bench(cfg: TrainConfig, steps: int, warmup: int) -> dict:
    t0 = time.perf_counter()
    model = build_model(cfg)
    build_s = time.perf_counter() - t0
    rng = np.random.default_rng(cfg.seed)
    n = cfg.batch_size * 2
    x = rng.uniform(0, 255, (n, cfg.image_size, cfg.image_size, 3)).astype(np.float32)
    y = rng.integers(0, 2, n).astype(np.int64)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).repeat().batch(cfg.batch_size).prefetch(2)
    t0 = time.perf_counter()
    model.fit(ds, steps_per_epoch=warmup, epochs=1, verbose=0)  # traces the train step
    warm_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0)
    run_s = time.perf_counter() - t0
    return {
        "size": cfg.image_size,
        "batch": cfg.batch_size,
        "params": model.count_params(),
        "build_s": build_s,
        "warmup_s": warm_s,
        "step_s": run_s / steps,
        "images_per_s": steps * cfg.batch_size / run_s,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backbone", default="inception_resnet_v2")
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 299])
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[8],
                    help="one per size, or a single value for all sizes")
    ap.add_argument("--steps", type=int, default=3, help="timed steps per size")
    ap.add_argument("--warmup", type=int, default=1, help="untimed steps per size (includes tracing)")
    ap.add_argument("--weights", default="none", help="none | imagenet | weights file (speed does not depend on it)")
    ap.add_argument("--mixed-precision", default="off", choices=["auto", "on", "off"])
    args = ap.parse_args(argv)
    if len(args.batch_sizes) not in (1, len(args.sizes)):
        ap.error("--batch-sizes needs one value or one per size")
    batches = args.batch_sizes * len(args.sizes) if len(args.batch_sizes) == 1 else args.batch_sizes

    print(f"# {args.backbone} train throughput | TF {tf.__version__} | {platform.processor() or platform.machine()} "
          f"x{os.cpu_count()} CPUs | GPUs: {len(tf.config.list_physical_devices('GPU'))}", flush=True)
    results = []
    for size, batch in zip(args.sizes, batches, strict=True):
        cfg = TrainConfig(backbone=args.backbone, weights=args.weights, image_size=size, batch_size=batch,
                          mixed_precision=args.mixed_precision).validate()
        r = bench(cfg, args.steps, args.warmup)
        results.append(r)
        print(f"size={r['size']:>4} batch={r['batch']:>3} mixed={use_mixed_precision(cfg)!s:5} "
              f"images/s={r['images_per_s']:8.2f} step={r['step_s']:7.2f}s "
              f"(build {r['build_s']:.0f}s, warm-up/trace {r['warmup_s']:.0f}s, {r['params']:,} params)", flush=True)
    base = results[0]
    for r in results[1:]:
        print(f"ratio: {base['size']}px is {base['images_per_s'] / r['images_per_s']:.2f}x the images/s of "
              f"{r['size']}px (pixels ratio {(r['size'] / base['size']) ** 2:.2f})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
