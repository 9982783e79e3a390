"""Workers benchmark (a script, not a test): 1 vs 2 local Beam workers for extraction and scoring.

Over N inputs (the shared real videos repeated under other names: symbolic links in a temp folder) it
times, wall clock with Beam start-up included, in one run:

  extract   ``run_extraction`` (``skyhawk extract``) with ``--workers 1`` (DirectRunner in_memory),
            ``--workers 2`` (DirectRunner multi_processing: 2 worker processes) and 2 threads (DirectRunner
            multi_threading: no worker start-up; dlib, OpenCV and TensorFlow release the GIL);
  score     ``run_scoring`` (``skyhawk score``) the same way, with a small Inception-ResNet-V2 export
            (random weights, ``--image-size`` px: speed does not depend on the weights);
  portable  optionally (``--portable``) extraction on the portable runner with an external worker pool
            of 1 and 2 workers (``infra.beam``).

Runs alternate 1, 2, 2, 1, ... per input count (``--repeat`` of each; the min is kept), so a load change
on a shared machine hits both alike. It prints per input count the seconds and the speed-up of 2 workers
over 1, and the break-even input count: the seconds are fitted as ``start-up + N x per-input`` per
worker count, and 2 workers overtake 1 where the lines cross.

    .venv/bin/python bench/bench_workers.py [--sizes 34,136,544] [--frames 32] [--repeat 1]
        [--skip-score] [--portable] [--videos DIR]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
from skyhawk import env  # noqa: E402

env.quiet()
DEFAULT_VIDEOS = REPO.parent / "shared" / "media" / "real_videos"


def make_inputs(videos: list[Path], n: int, folder: Path) -> Path:
    """folder/real/vNNNNN.mp4 -> the shared videos round-robin; returns folder."""
    (folder / "real").mkdir(parents=True)
    for i in range(n):
        src = videos[i % len(videos)]
        (folder / "real" / f"v{i:05d}{src.suffix}").symlink_to(src.resolve())
    return folder


def fit(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least-squares (start-up seconds, seconds per input) over (N, seconds) points."""
    n = len(points)
    if n == 1:
        return 0.0, points[0][1] / points[0][0]
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    b = sum((x - mx) * (y - my) for x, y in points) / max(sum((x - mx) ** 2 for x, _ in points), 1e-9)
    return my - b * mx, b


def break_even(one: list[tuple[int, float]], two: list[tuple[int, float]]) -> str:
    """The input count where 2 workers' fitted line crosses 1 worker's, as text."""
    (a1, b1), (a2, b2) = fit(one), fit(two)
    head = f"fit {a1:.1f} s + {b1:.3f} s/input vs {a2:.1f} s + {b2:.3f} s/input"
    if min(b1, b2) <= 0:
        return f"{head}: no break-even (the load noise is larger than the per-input cost; repeat or add sizes)"
    if b2 >= b1:
        return f"{head}: never overtakes 1 worker (no per-input gain)"
    n = (a2 - a1) / (b1 - b2)
    return f"{head}: break-even at {max(n, 0):.0f} inputs; asymptotic speed-up {b1 / b2:.2f}x"


def timed(fn, *args) -> tuple[float, float]:
    """(wall seconds, cores used): CPU seconds of this process and its waited-for children / wall seconds."""
    t, c = time.perf_counter(), os.times()
    fn(*args)
    wall, c2 = time.perf_counter() - t, os.times()
    cpu = sum(c2[:4]) - sum(c[:4])  # user + system, self + children
    return wall, cpu / max(wall, 1e-9)


def run_task(name: str, run, sizes: list[int], repeat: int, variants: tuple[str, ...]) -> None:
    """run(n, variant, run_no) -> None, timed for each size; prints the table and each variant's break-even
    against the first (1 worker). Variant order alternates forwards and backwards per repeat."""
    best: dict[str, list[tuple[int, float]]] = {v: [] for v in variants}
    cores: dict[str, list[float]] = {v: [] for v in variants}
    print(f"\n{name}:", flush=True)
    for n in sizes:
        secs: dict[str, float] = {v: float("inf") for v in variants}
        used: dict[str, float] = {}
        order = (list(variants) + list(reversed(variants))) * repeat
        for k, v in enumerate(order[: len(variants) * repeat]):
            s, c = timed(run, n, v, k)
            print(f"  {n:5d} inputs, {v}: {s:7.1f} s, {c:.2f} cores busy", flush=True)
            if s < secs[v]:
                secs[v], used[v] = s, c
        for v in variants:
            best[v].append((n, secs[v]))
            cores[v].append(used[v])
    base = variants[0]
    print(f"\n  {name}\n  {'inputs':>6s} " + " ".join(f"{v:>18s}" for v in variants)
          + "".join(f"  {'x vs ' + base:>14s}" for _ in variants[1:]))
    for i, n in enumerate(sizes):
        row = [best[v][i][1] for v in variants]
        print(f"  {n:6d} " + " ".join(f"{s:17.1f}s" for s in row)
              + "".join(f"  {row[0] / s:13.2f}x" for s in row[1:]))
    for v in variants[1:]:
        print(f"  {v}: {break_even(best[base], best[v])}", flush=True)
    ncpu = os.cpu_count() or 1
    for i, n in enumerate(sizes):  # a worker that already keeps c cores busy can gain at most ncpu / c
        c = cores[base][i]
        print(f"  {n} inputs: {base} kept {c:.2f} of {ncpu} cores busy (CPU s / wall s, self + children), so "
              f"more workers can gain at most {ncpu / max(c, 1e-9):.2f}x", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", default=str(DEFAULT_VIDEOS))
    ap.add_argument("--sizes", default="34,136,544", help="input counts, comma-separated")
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--image-size", type=int, default=128, help="the scoring model's input size")
    ap.add_argument("--repeat", type=int, default=1, help="runs per (size, workers); the min is kept")
    ap.add_argument("--skip-extract", action="store_true")
    ap.add_argument("--skip-score", action="store_true")
    ap.add_argument("--portable", action="store_true", help="also extraction on the portable runner")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    from skyhawk.config import VIDEO_EXTENSIONS

    videos = sorted(p for p in Path(args.videos).glob("*") if p.suffix.lower() in VIDEO_EXTENSIONS)
    print(f"{len(videos)} distinct videos, sizes {sizes}, {args.frames} frames/video, cores {os.cpu_count()}, "
          f"load {os.getloadavg()[0]:.1f}", flush=True)

    from components.extract import run_extraction
    from components.score.job import run_scoring
    from skyhawk.config import ExtractConfig, ScoreConfig
    from skyhawk.runners import beam_args_for

    cfg = ExtractConfig(frames_per_video=args.frames)
    with tempfile.TemporaryDirectory(prefix="skyhawk-bench-workers-") as tmp:
        work = Path(tmp)
        roots = {n: make_inputs(videos, n, work / f"in-{n}") for n in sizes}
        direct = {"1 worker": beam_args_for(1), "2 processes": beam_args_for(2),
                  "2 threads": beam_args_for(2, threads=True)}
        if not args.skip_extract:
            run_task("extract (DirectRunner)", lambda n, w, k: run_extraction(
                str(roots[n]), str(work / f"ex-{n}-{w[0]}-{k}"), cfg, direct[w]), sizes, args.repeat, tuple(direct))
        if args.portable:
            from infra.beam import local_portable_runner

            for n_workers in (1, 2):
                with local_portable_runner(extra_args=[f"--sdk_worker_parallelism={n_workers}"]) as beam_args:
                    for n in sizes:
                        s, _ = timed(run_extraction, str(roots[n]), str(work / f"px-{n}-{n_workers}"), cfg, beam_args)
                        print(f"  portable, {n_workers} worker(s), {n} inputs: {s:.1f} s", flush=True)
        if not args.skip_score:
            model = export_model(work / "model", args.image_size)
            for n in sizes:
                (work / f"list-{n}.txt").write_text("".join(f"{p}\n" for p in sorted((roots[n] / "real").iterdir())))
            run_task("score (DirectRunner)", lambda n, w, k: run_scoring(
                str(work / f"list-{n}.txt"), model, str(work / f"sc-{n}-{w[0]}-{k}"), ScoreConfig(frames=args.frames),
                beam_args=direct[w]), sizes, args.repeat, tuple(direct))
    return 0


def export_model(out: Path, size: int):
    """A random-weight Inception-ResNet-V2 export at size px, resolved as a scoring model reference."""
    from skyhawk.config import ExtractConfig, TrainConfig, to_dict
    from skyhawk_model.export import export_model as export
    from skyhawk_model.model import build_model
    from skyhawk_model.model_ref import resolve

    cfg = TrainConfig(backbone="inception_resnet_v2", weights="none", image_size=size)
    return resolve(export(build_model(cfg), str(out), cfg, {}, crop=to_dict(ExtractConfig(image_size=size))))


if __name__ == "__main__":
    sys.exit(main())
