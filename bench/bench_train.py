"""Training speed of the Skyhawk classifier on this machine: first step, steady images/s, in-pipeline ratio.

For every size (one process, one after another):

- ``first step``: seconds of the first ``model.fit`` step of a freshly built model (tracing the train
  step, Grappler, the step itself); graph mode, as the Trainer runs;
- ``bare``: steady images/s of ``model.fit`` steps on in-memory random pixels (forward + backward +
  Adam), after the first step (batch / median step time);
- ``pipeline``: images/s of whole training epochs as the Trainer runs them (``trainer.fit`` with its
  callbacks) from gzipped TFRecords of JPEG face crops through the real ``make_dataset`` (decode,
  augmentation, shuffle) with a validation pass over an eval split a quarter the size of the train
  split (the default ``eval_fraction`` 0.2): train images / median epoch time; and bare / pipeline;
- the share of the CPU's peak FP32 FLOP/s the bare step reaches (training ~ 3x the forward FLOPs,
  counted by the TF profiler; peak = cores x clock x FLOP/cycle from the CPU's vector units).

    .venv/bin/python bench/bench_train.py                      # 128 and 299
    .venv/bin/python bench/bench_train.py --sizes 128 --batch-sizes 32 --steps 6

Not a test: it prints numbers and ratios, it asserts nothing.
"""
from __future__ import annotations

import argparse
import dataclasses
import glob
import os
import platform
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from skyhawk import env  # noqa: E402

env.apply()  # legacy Keras before TensorFlow loads

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from skyhawk import features  # noqa: E402
from skyhawk.config import TrainConfig  # noqa: E402
from skyhawk_model.data import make_dataset  # noqa: E402
from skyhawk_model.model import build_model, use_mixed_precision  # noqa: E402
from skyhawk_model.trainer import fit  # noqa: E402

FACES = os.path.join(ROOT, "..", "shared", "media", "real_faces")


def cpu_peak_gflops() -> tuple[float, str]:
    """Peak FP32 GFLOP/s = cores x clock x FLOP/cycle (2 FMA units of the widest vector the CPU has)."""
    flags, mhz = set(), 0.0
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags") and not flags:
                    flags = set(line.split(":", 1)[1].split())
                elif line.startswith("cpu MHz") and not mhz:
                    mhz = float(line.split(":", 1)[1])
    except OSError:
        pass
    lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags else 4
    per_cycle = lanes * 2 * 2  # FMA = 2 FLOP per lane, 2 FMA pipes per core
    cores = len(os.sched_getaffinity(0))
    ghz = (mhz or 2000.0) / 1000.0
    return cores * ghz * per_cycle, f"{cores} cores x {ghz:.2f} GHz x {per_cycle} FP32 FLOP/cycle"


def forward_flops(model, size: int) -> int:
    """FLOPs of one forward pass of one image (TF profiler over the inference graph)."""
    fn = tf.function(lambda x: model(x, training=False)).get_concrete_function(
        tf.TensorSpec([1, size, size, 3], tf.float32))
    opts = tf.compat.v1.profiler.ProfileOptionBuilder(
        tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()).with_empty_output().build()
    return int(tf.compat.v1.profiler.profile(graph=fn.graph, options=opts).total_float_ops)


def write_records(path: str, n: int, size: int, seed: int) -> None:
    """n gzipped face-crop tf.Examples (JPEG crops of the shared real photos, or noise without them)."""
    photos = sorted(glob.glob(os.path.join(FACES, "*.jp*g")) + glob.glob(os.path.join(FACES, "*.png")))
    rng = np.random.default_rng(seed)
    os.makedirs(path, exist_ok=True)
    with tf.io.TFRecordWriter(os.path.join(path, "data_tfrecord-00000-of-00001.gz"), options="GZIP") as w:
        for i in range(n):
            img = cv2.imread(photos[i % len(photos)]) if photos else None
            if img is None:
                img = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
            ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 95])
            assert ok
            rec = features.FaceRecord(buf.tobytes(), i % 2, f"v{i}", f"g{i}", 0, 0, [0, 0, 1, 1], 0.9, "bench")
            w.write(features.to_example(rec).SerializeToString())


def _step_timer():
    """A Keras callback recording each training step's wall time."""
    import tf_keras

    class Timer(tf_keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds: list[float] = []
            self._t0 = 0.0

        def on_train_batch_begin(self, batch, logs=None):
            self._t0 = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.seconds.append(time.perf_counter() - self._t0)

    return Timer()


def bench(cfg: TrainConfig, steps: int, epochs: int, workdir: str) -> dict:
    """Median-based numbers: the machine may be shared, a median ignores a step slowed by a neighbour."""
    t0 = time.perf_counter()
    model = build_model(cfg)
    build_s = time.perf_counter() - t0
    rng = np.random.default_rng(cfg.seed)
    n = cfg.batch_size * 2
    x = rng.uniform(0, 255, (n, cfg.image_size, cfg.image_size, 3)).astype(np.float32)
    y = rng.integers(0, 2, n).astype(np.int64)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).repeat().batch(cfg.batch_size).prefetch(2)
    t0 = time.perf_counter()
    model.fit(ds, steps_per_epoch=1, epochs=1, verbose=0)
    first_s = time.perf_counter() - t0
    timer = _step_timer()
    model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0, callbacks=[timer])
    bare = cfg.batch_size / float(np.median(timer.seconds))

    train_dir, eval_dir = os.path.join(workdir, "train"), os.path.join(workdir, "eval")
    write_records(train_dir, steps * cfg.batch_size, cfg.image_size, cfg.seed)
    write_records(eval_dir, max(1, steps * cfg.batch_size // 4), cfg.image_size, cfg.seed + 1)
    train_ds = make_dataset([os.path.join(train_dir, "*")], cfg, training=True, repeat=True)
    eval_ds = make_dataset([os.path.join(eval_dir, "*")], cfg, training=False)
    t0 = time.perf_counter()  # warm-up epoch: traces the validation step
    fit(model, train_ds, eval_ds, cfg, steps_per_epoch=1, validation_steps=1)
    warm_eval_s = time.perf_counter() - t0
    history = fit(model, train_ds, eval_ds, dataclasses.replace(cfg, max_epochs=epochs), steps_per_epoch=steps,
                  run_dir=os.path.join(workdir, "run"))
    pipeline = steps * cfg.batch_size / float(np.median(history["epoch_seconds"]))
    return {
        "size": cfg.image_size, "batch": cfg.batch_size, "params": model.count_params(), "build_s": build_s,
        "first_s": first_s, "bare": bare, "pipeline": pipeline, "warm_eval_s": warm_eval_s,
        "flops": 3 * forward_flops(model, cfg.image_size),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backbone", default="inception_resnet_v2")
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 299])
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 8],
                    help="one per size, or a single value for all sizes")
    ap.add_argument("--steps", type=int, default=4, help="timed steps (bare) and steps per epoch (pipeline)")
    ap.add_argument("--epochs", type=int, default=3, help="timed pipeline epochs (the median one counts)")
    ap.add_argument("--weights", default="none", help="none | imagenet | weights file (speed does not depend on it)")
    ap.add_argument("--mixed-precision", default="off", choices=["auto", "on", "off"])
    ap.add_argument("--peak-gflops", type=float, default=0.0, help="override the computed CPU peak")
    args = ap.parse_args(argv)
    if len(args.batch_sizes) not in (1, len(args.sizes)):
        ap.error("--batch-sizes needs one value or one per size")
    batches = args.batch_sizes * len(args.sizes) if len(args.batch_sizes) == 1 else args.batch_sizes
    peak, how = cpu_peak_gflops()
    if args.peak_gflops:
        peak, how = args.peak_gflops, "given"

    print(f"# {args.backbone} training | TF {tf.__version__} | {platform.processor() or platform.machine()} "
          f"| peak {peak:.0f} GFLOP/s ({how}) | GPUs: {len(tf.config.list_physical_devices('GPU'))}", flush=True)
    results = []
    for size, batch in zip(args.sizes, batches, strict=True):
        cfg = TrainConfig(backbone=args.backbone, weights=args.weights, image_size=size, batch_size=batch,
                          mixed_precision=args.mixed_precision, max_epochs=1, target_accuracy=2.0,
                          checkpoint_dir="none")
        with tempfile.TemporaryDirectory(prefix="skyhawk-bench-") as workdir:
            r = bench(cfg, args.steps, args.epochs, workdir)
        results.append(r)
        gflops = r["bare"] * r["flops"] / 1e9
        print(f"size={r['size']:>4} batch={r['batch']:>3} mixed={use_mixed_precision(cfg)!s:5} "
              f"first step {r['first_s']:6.1f}s | bare {r['bare']:7.2f} images/s | pipeline {r['pipeline']:7.2f} "
              f"images/s (bare/pipeline {r['bare'] / r['pipeline']:.2f}x) | {r['flops'] / 1e9:.2f} GFLOP/image "
              f"-> {gflops:.0f} GFLOP/s = {100 * gflops / peak:.0f}% of peak "
              f"(build {r['build_s']:.0f}s, validation warm-up {r['warm_eval_s']:.0f}s, {r['params']:,} params)",
              flush=True)
    base = results[0]
    for r in results[1:]:
        print(f"ratio: {base['size']}px is {base['bare'] / r['bare']:.2f}x the images/s of {r['size']}px "
              f"(pixels ratio {(r['size'] / base['size']) ** 2:.2f})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
