"""``skyhawk synth`` (fakes from real videos/photos) and ``skyhawk demo-data`` (the offline demo dataset)."""
from __future__ import annotations

import argparse
import time


def register(sub: argparse._SubParsersAction) -> None:
    from skyhawk.synth import METHODS

    p = sub.add_parser(
        "synth", help="make fake videos/photos (SBI or face swap) from real ones",
        description="Fake every real video/photo under --input with self-blended images (sbi) or a landmark "
                    "face swap (swap); writes DIR/fake/, DIR/manifest.csv and DIR/errors.csv.",
    )
    p.add_argument("--input", required=True, help="a folder (searched recursively) or a single video/photo")
    p.add_argument("--output", required=True, metavar="DIR", help="output folder")
    p.add_argument("--method", required=True, choices=METHODS)
    p.add_argument("--frames", type=int, default=64, help="frames per video, from the start (default 64)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--contact-sheet", metavar="PNG", help="also write a real/fake contact sheet PNG")
    p.set_defaults(func=synth)

    d = sub.add_parser(
        "demo-data", help="make a tiny offline real/fake dataset from packaged photos (learnable, not real deepfakes)",
        description="Make real clips (camera motion over matplotlib's Grace Hopper and scikit-image's astronaut "
                    "photos) and their SBI and face-swap fakes, with a manifest. A model learns them; they "
                    "say nothing about detection quality on real deepfakes.",
    )
    d.add_argument("--output", required=True, metavar="DIR")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--clips", type=int, default=4, help="clips per identity (default 4)")
    d.add_argument("--frames", type=int, default=24, help="frames per clip (default 24)")
    d.add_argument("--size", type=int, default=256, help="frame side in pixels (default 256)")
    d.set_defaults(func=demo_data)


def synth(args: argparse.Namespace) -> int:
    from skyhawk.synth.folder import synthesize_folder

    report = synthesize_folder(args.input, args.output, args.method, frames=args.frames, seed=args.seed,
                               contact_sheet=args.contact_sheet)
    print(report.summary())
    return 0 if report.ok else 1


def demo_data(args: argparse.Namespace) -> int:
    from skyhawk.demo import make_demo_data

    start = time.monotonic()
    manifest = make_demo_data(args.output, seed=args.seed, clips=args.clips, frames=args.frames, size=args.size)
    n = 2 * args.clips
    print(f"demo-data: {n} real and {2 * n} fake clips ({args.frames} frames, {args.size} px) in "
          f"{time.monotonic() - start:.1f} s; manifest: {manifest}")
    print("note: a model learns these clips; they say nothing about detection quality on real deepfakes")
    return 0
