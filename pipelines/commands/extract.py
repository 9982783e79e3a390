"""``skyhawk extract``: the extraction Beam pipeline, standalone (its ExtractConfig fields as flags)."""
from __future__ import annotations

import argparse
import json
import sys

from pipelines.commands import options
from pipelines.commands.options import FieldFlag
from skyhawk.config import DETECTORS, FACE_MODES, SYNTH_METHODS, ExtractConfig, replace
from skyhawk.labels import LABEL_HELP

# The ExtractConfig fields `extract` takes as flags (README's command table documents them).
FIELD_FLAGS = (
    FieldFlag("--frames", "frames_per_video", "frames sampled per video"),
    FieldFlag("--detector", "detector", choices=DETECTORS),
    FieldFlag("--image-size", "image_size", "side of the square face crops"),
    FieldFlag("--margin", "margin", "box enlargement factor"),
    FieldFlag("--faces", "faces", "largest face per frame, or all", choices=FACE_MODES),
    FieldFlag("--labels", "labels", LABEL_HELP),
    FieldFlag("--allow-outside-root", "allow_outside_root",
              "let a CSV manifest list videos outside --input (refused by default)"),
    FieldFlag("--eval-fraction", "eval_fraction"),
    FieldFlag("--synthesize", "synthesize", "also emit synthetic fakes of each real video (same group)",
              choices=SYNTH_METHODS),
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("extract", help="videos -> face-crop tf.Example TFRecords (Beam)",
                       description="Samples frames, finds faces with dlib and writes face crops as "
                                   "tf.Examples under OUTPUT/Split-<name>/, with a per-video report.")
    options.add_io(p, "folder of videos (local or gs://...)", "output folder (local or gs://...)")
    options.add_field_flags(p, ExtractConfig(), FIELD_FLAGS)
    options.add_beam(p, workers=0)
    p.add_argument("--overwrite", action="store_true",
                   help="replace a non-empty --output folder (refused by default, so runs never mix)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=extract)


def extract(args: argparse.Namespace) -> int:
    from components.extract import run_extraction

    cfg = replace(ExtractConfig(), **options.config_overrides(args, FIELD_FLAGS))
    summary = run_extraction(args.input, args.output, cfg, options.beam_args(args), progress=sys.stderr.isatty(),
                             overwrite=args.overwrite)
    if args.json:
        print(json.dumps(summary, indent=2, sort_keys=True))
        return 0
    print(f"videos: {summary['videos']} (ok {summary['videos_ok']}, no face {summary['videos_no_face']}, "
          f"failed {summary['videos_failed']})")
    print(f"frames sampled: {summary['frames_sampled']}, with a face: {summary['frames_with_face']}")
    print(f"faces written: {summary['faces_written']} real-source + {summary['synthetic_faces_written']} synthetic; "
          f"per split: {summary['faces_per_split']}")
    for prob in summary["problems"]:
        print(f"  {prob['status']}: {prob['video_id']}: {prob['reason']}")
    print(f"seconds: {summary['seconds']}; output: {args.output} (report: extraction_report.jsonl)")
    return 0
