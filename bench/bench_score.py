"""Bulk-scoring benchmark: what the Beam job costs over its parts, long videos, memory. Prints ratios.

All parts are measured in one run on the same machine (these machines are noisy; compare ratios):

1. Over ../shared/media/real_videos + dev_videos at 32 frames, one worker, an Inception-ResNet-V2 export
   at 299 px (random weights: speed does not depend on them), or the model ``--model REF`` names (a registry
   ref or SavedModel folder, e.g. the imported released Meso4):
   (a) extraction only: ``components.score.sample.sample_video`` in-process (decode, detect, track, crop, JPEG);
   (b) the model's inference only, on the same crops, batched in-process (model load included);
   (c) end-to-end ``run_scoring`` (DirectRunner, one worker, in this process).
   Each is run ``--repeat`` (3) times, alternating a b c / c b a, after one warm-up extraction; the min of
   each is kept and the spread (max - min) shown. Target: min (c) <= 1.15 x (min (a) + min (b)). Beside
   each wall time: the CPU-seconds of the process tree (``bench/cpu.py``; min over repeats) and, for (c),
   the scoring CPU-seconds per video. Also prints the CPU inference images/s, and
   (d) the same videos scored by two models sharing crop settings in one job (``run_shared_scoring``; the
   model twice, into two folders): frames the tracker searched (counted) and CPU-seconds vs (c): the
   videos are decoded and their faces detected once for both.
2. One long video (>= 5 min, made by concatenating shared videos in a temp folder) vs a 10-second one:
   seconds to score each (target <= 3x), and the seconds a decode of every frame takes for comparison.
3. Peak RSS of ``skyhawk score`` subprocesses over listings of N and 10 x N entries (links to the shared
   videos; 1 frame each): flat memory means the ratio stays near 1.

    .venv/bin/python bench/bench_score.py [--model REF] [--limit N] [--repeat 3] [--image-size 299] [--skip-long]
        [--skip-rss] [--skip-shared] [--rss-entries 1000]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench.cpu import Clock  # noqa: E402
from skyhawk import env  # noqa: E402

env.quiet()  # the environment defaults (legacy Keras, quiet TF/FFmpeg) before TensorFlow loads
MEDIA = Path(os.environ.get("SKYHAWK_SHARED_MEDIA", REPO.parent / "shared" / "media"))
IN_MEMORY = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


def export_model(out: Path, size: int) -> str:
    from skyhawk.config import ExtractConfig, TrainConfig, to_dict
    from skyhawk_model.export import export_model as export
    from skyhawk_model.model import build_model

    cfg = TrainConfig(backbone="inception_resnet_v2", weights="none", image_size=size)
    return export(build_model(cfg), str(out), cfg, {}, crop=to_dict(ExtractConfig(image_size=size)))


def videos(limit: int) -> list[Path]:
    from skyhawk.datasets import is_media

    found = sorted(p for p in (MEDIA / "real_videos").glob("*") if is_media(str(p))) + sorted(
        p for p in (MEDIA / "dev_videos").rglob("*") if is_media(str(p)))
    return found[:limit] if limit else found


def part_one(model_dir: str, vids: list[Path], work: Path, frames: int, repeat: int, shared: bool = True) -> None:
    """(a), (b), (c) each ``repeat`` times, the order alternating a b c / c b a; min and spread of each (wall),
    min CPU-seconds of each; then (d), two models sharing one job, unless ``shared`` is False."""
    from components.score.discover import stat_input
    from components.score.job import run_scoring
    from components.score.sample import sample_video
    from skyhawk.config import ScoreConfig
    from skyhawk.faces import FaceDetector
    from skyhawk_model.export import load_scorer
    from skyhawk_model.model_ref import local_model_dir, resolve

    model = resolve(model_dir)
    saved_model = local_model_dir(model.uri)
    cfg = model.extract_config(frames)
    detector = FaceDetector.from_config(cfg)
    listing = work / "bench.txt"
    listing.write_text("".join(f"{v}\n" for v in vids))
    crops: list[bytes] = []
    loads: list[float] = []

    def extract() -> None:
        crops.clear()
        for v in vids:
            _, c = sample_video(stat_input(str(v)), cfg, detector)
            crops.extend(j for _, j in c)

    def infer() -> None:
        t = time.perf_counter()
        scorer = load_scorer(saved_model, batch_size=32)
        loads.append(time.perf_counter() - t)
        scorer(crops)

    def end_to_end(r: int) -> None:
        summary = run_scoring(str(listing), model, str(work / f"scored-{r}"), ScoreConfig(frames=frames),
                              beam_args=IN_MEMORY)
        assert summary["videos"] == len(vids) and summary["scored_this_run"] == len(vids), summary

    times: dict[str, list[float]] = {"a": [], "b": [], "c": []}
    cpu: dict[str, list[float]] = {"a": [], "b": [], "c": []}
    extract()  # (b) needs the crops before its first run; this also warms caches and lazy imports
    for r in range(repeat):
        for part in ("a", "b", "c") if r % 2 == 0 else ("c", "b", "a"):
            with Clock() as clock:
                if part == "c":
                    end_to_end(r)
                else:
                    {"a": extract, "b": infer}[part]()
            times[part].append(clock.wall)
            cpu[part].append(clock.cpu)
    a, b, c = (min(times[k]) for k in "abc")
    ca, cb, cc = (min(cpu[k]) for k in "abc")

    def spread(k: str) -> str:
        return f"min of {len(times[k])}, spread {max(times[k]) - min(times[k]):.1f} s: " + \
            ", ".join(f"{x:.1f}" for x in times[k])

    print(f"\n1. {len(vids)} videos x {frames} frames, {len(crops)} faces, model {model.label} "
          f"({cfg.image_size} px), 1 worker")
    print(f"   (a) extraction only          {a:8.1f} s  {ca:8.1f} CPU-s  ({spread('a')})")
    print(f"   (b) inference only           {b:8.1f} s  {cb:8.1f} CPU-s  ({spread('b')}; model load "
          f"{min(loads):.1f} s; {len(crops) / max(b - min(loads), 1e-9):.2f} images/s on CPU)")
    print(f"   (c) end-to-end skyhawk score {c:8.1f} s  {cc:8.1f} CPU-s  ({spread('c')})")
    print(f"   (c) / ((a) + (b)) = {c / (a + b):.3f}   (target <= 1.15; worst-case pairing max(c) / (min(a) + min(b)) "
          f"= {max(times['c']) / (a + b):.3f}); CPU: {cc / max(ca + cb, 1e-9):.3f}")
    print(f"   scoring CPU-seconds per video (c): {cc / len(vids):.3f}   (extraction (a) {ca / len(vids):.3f}, "
          f"inference (b) {cb / len(vids):.3f})")
    if shared:
        shared_scoring(model, listing, work, frames, len(vids), cc)


def shared_scoring(model, listing: Path, work: Path, frames: int, n_videos: int, one_cpu: float) -> None:
    """(d): the model twice in one ``run_shared_scoring`` job (two folders); the frames the tracker searched are
    counted (once per sampled frame when the videos are decoded and detected once for both) and the CPU compared
    with one model's job (c)."""
    from components.score.job import run_shared_scoring
    from skyhawk.config import ScoreConfig
    from skyhawk.faces import FaceTracker

    searched = [0]
    find = FaceTracker.find

    def counted(self, frame):
        searched[0] += 1
        return find(self, frame)

    FaceTracker.find = counted  # type: ignore[method-assign]  (the DirectRunner runs in this process)
    try:
        with Clock() as clock:
            targets = [(model, str(work / "shared-1")), (model, str(work / "shared-2"))]
            summaries = run_shared_scoring(str(listing), targets, ScoreConfig(frames=frames), beam_args=IN_MEMORY)
    finally:
        FaceTracker.find = find  # type: ignore[method-assign]
    assert all(s["scored_this_run"] == n_videos for s in summaries), summaries
    sampled = sum(json.loads(line)["frames_sampled"] for line in
                  (work / "shared-1" / "results.jsonl").read_text().splitlines())
    print(f"   (d) two models, one shared job {clock.wall:6.1f} s  {clock.cpu:8.1f} CPU-s  "
          f"({clock.cpu / max(one_cpu, 1e-9):.2f} x one model's (c)); "
          f"frames searched for faces {searched[0]} for {sampled} sampled "
          f"({'once' if searched[0] == sampled else 'NOT once'} per frame)")


def concat_video(sources: list[Path], out: Path, seconds: float, size: tuple[int, int] = (480, 360)) -> float:
    """Writes sources one after another (resized) until `seconds` of 25 fps video; returns its length."""
    import cv2

    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), 25, size)
    n, want = 0, int(seconds * 25)
    while n < want:
        for src in sources:
            cap = cv2.VideoCapture(str(src))
            while n < want:
                ok, f = cap.read()
                if not ok:
                    break
                writer.write(cv2.resize(f, size))
                n += 1
            cap.release()
            if n >= want:
                break
    writer.release()
    return n / 25


def part_two(model_dir: str, work: Path, frames: int) -> None:
    import cv2

    from components.score.predict import Predictor
    from skyhawk.config import ScoreConfig
    from skyhawk.video import SampledFrames
    from skyhawk_model.model_ref import resolve

    srcs = sorted((MEDIA / "real_videos").glob("*.mp4"))
    long_len = concat_video(srcs, work / "long.mp4", 5 * 60 + 5)
    short_len = concat_video(srcs[:1], work / "short.mp4", 10)
    predictor = Predictor(resolve(model_dir), ScoreConfig(frames=frames))
    predictor.predict([str(work / "short.mp4")])  # warm-up: the first graph run
    timing = {}
    for name in ("short", "long"):
        t = time.perf_counter()
        (row, _), = predictor.predict([str(work / f"{name}.mp4")])
        timing[name] = time.perf_counter() - t
        assert row["status"] == "ok", row
    t = time.perf_counter()
    cap = cv2.VideoCapture(str(work / "long.mp4"))
    while cap.grab():
        pass
    cap.release()
    decode_all = time.perf_counter() - t
    seeks = SampledFrames(str(work / "long.mp4"), frames).seeks
    print(f"\n2. long video {long_len:.0f} s vs short {short_len:.0f} s, {frames} frames each "
          f"({seeks} seeks in the long one)")
    print(f"   short {timing['short']:.2f} s, long {timing['long']:.2f} s: ratio {timing['long'] / timing['short']:.2f}"
          f"   (target <= 3; decoding every frame of the long one alone takes {decode_all:.1f} s, "
          f"{decode_all / timing['short']:.1f}x the short one's whole scoring)")


def peak_rss(listing: Path, model_dir: str, dest: Path) -> tuple[float, float]:
    """(peak RSS in MiB, seconds) of a `skyhawk score` subprocess."""
    cmd = [sys.executable, "-m", "pipelines.main", "score", "--input", str(listing), "--model", model_dir,
           "--output", str(dest), "--frames", "1"]
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage (RUSAGE_CHILDREN is a max over all)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}")
    return usage.ru_maxrss / 1024, time.perf_counter() - t


def part_three(model_dir: str, work: Path, entries: int) -> None:
    srcs = sorted((MEDIA / "real_videos").glob("*.mp4"))
    links = work / "links"
    links.mkdir()
    results = {}
    for n in (entries // 10, entries):
        listing = work / f"list-{n}.txt"
        lines = []
        for i in range(n):
            link = links / f"v{i:05d}.mp4"
            if not link.exists():
                link.symlink_to(srcs[i % len(srcs)])
            lines.append(f"{link}\n")
        listing.write_text("".join(lines))
        results[n] = peak_rss(listing, model_dir, work / f"rss-{n}")
        rows = (work / f"rss-{n}" / "results.jsonl").read_text().count("\n")
        assert rows == n, (rows, n)
    (small_rss, small_s), (big_rss, big_s) = results[entries // 10], results[entries]
    print(f"\n3. peak RSS of skyhawk score (1 frame per video): {entries // 10} entries {small_rss:.1f} MiB "
          f"({small_s:.0f} s), {entries} entries {big_rss:.1f} MiB ({big_s:.0f} s): ratio {big_rss / small_rss:.2f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="", help="bench this model (registry ref or SavedModel folder) instead of "
                    "a random-weight Inception-ResNet-V2 export")
    ap.add_argument("--skip-shared", action="store_true", help="part 1: skip (d), two models in one job")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N videos in part 1 (0: all)")
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--image-size", type=int, default=299)
    ap.add_argument("--skip-long", action="store_true")
    ap.add_argument("--skip-rss", action="store_true")
    ap.add_argument("--rss-entries", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3, help="part 1: runs of (a), (b), (c) each; the min is kept")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="skyhawk-bench-") as tmp:
        work = Path(tmp)
        t = time.perf_counter()
        if args.model:
            model_dir = args.model
        else:
            model_dir = export_model(work / "model", args.image_size)
            print(f"exported Inception-ResNet-V2 at {args.image_size} px in {time.perf_counter() - t:.1f} s")
        part_one(model_dir, videos(args.limit), work, args.frames, args.repeat, not args.skip_shared)
        if not args.skip_long:
            part_two(model_dir, work, args.frames)
        if not args.skip_rss:
            part_three(model_dir, work, args.rss_entries)
    print(json.dumps({"done": True}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
