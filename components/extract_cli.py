"""``skyhawk extract``: the extraction Beam pipeline, standalone."""
from __future__ import annotations

import argparse
import json
import sys

from skyhawk.config import DETECTORS, FACE_MODES, SYNTH_METHODS, ExtractConfig, replace


def beam_args_for(workers: int, extra: list[str] | None = None, runner: str = "direct") -> list[str]:
    """Beam options: the local DirectRunner with N worker processes, or another runner profile
    (``skyhawk.runners``: its required flags must be among the raw flags), plus any raw flags.

    Raw flags (``--job_endpoint=...``, Dataflow options, ...) win over these.
    """
    from skyhawk.runners import runner_args

    if runner != "direct":
        return runner_args(runner, list(extra or []))
    if workers == 1:
        args = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
    else:  # 0: Beam's fn_runner turns --direct_num_workers=0 into one worker per core
        args = ["--direct_running_mode=multi_processing", f"--direct_num_workers={max(workers, 0)}"]
    return runner_args("direct", args + list(extra or []))


def add_beam_arguments(p: argparse.ArgumentParser, workers: int) -> None:
    """--runner, --workers and --beam-arg, shared by every Beam command."""
    from skyhawk.runners import RUNNERS

    p.add_argument("--runner", choices=tuple(RUNNERS), default="direct",
                   help="Beam runner profile; non-direct runners take their flags via --beam-arg (docs/cluster.md)")
    p.add_argument("--workers", type=int, default=workers,
                   help="local DirectRunner worker processes (0: one per core)")
    p.add_argument("--beam-arg", action="append", default=[], metavar="FLAG",
                   help="extra Beam pipeline flag, repeatable (e.g. --beam-arg=--job_endpoint=host:8099)")


def register(sub: argparse._SubParsersAction) -> None:
    d = ExtractConfig()
    p = sub.add_parser("extract", help="videos -> face-crop tf.Example TFRecords (Beam)",
                       description="Samples frames, finds faces with dlib and writes face crops as "
                                   "tf.Examples under OUTPUT/Split-<name>/, with a per-video report.")
    p.add_argument("--input", required=True, help="folder of videos (local or gs://...)")
    p.add_argument("--output", required=True, help="output folder (local or gs://...)")
    p.add_argument("--frames", type=int, default=d.frames_per_video, help="frames sampled per video")
    p.add_argument("--detector", choices=DETECTORS, default=d.detector)
    p.add_argument("--image-size", type=int, default=d.image_size, help="side of the square face crops")
    p.add_argument("--margin", type=float, default=d.margin, help="box enlargement factor")
    p.add_argument("--faces", choices=FACE_MODES, default=d.faces, help="largest face per frame, or all")
    p.add_argument("--labels", default=d.labels,
                   help="folders | folders:SUB=LABEL,... | csv:FILE | ffpp | dfdc | celebdf")
    p.add_argument("--allow-outside-root", action="store_true",
                   help="let a CSV manifest list videos outside --input (refused by default)")
    p.add_argument("--eval-fraction", type=float, default=d.eval_fraction)
    p.add_argument("--synthesize", choices=SYNTH_METHODS, default=d.synthesize,
                   help="also emit synthetic fakes of each real video (same group)")
    add_beam_arguments(p, workers=0)
    p.add_argument("--overwrite", action="store_true",
                   help="replace a non-empty --output folder (refused by default, so runs never mix)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from components.extract import run_extraction

    cfg = replace(ExtractConfig(), frames_per_video=args.frames, detector=args.detector, image_size=args.image_size,
                  margin=args.margin, faces=args.faces, labels=args.labels, eval_fraction=args.eval_fraction,
                  synthesize=args.synthesize, allow_outside_root=args.allow_outside_root)
    summary = run_extraction(args.input, args.output, cfg, beam_args_for(args.workers, args.beam_arg, args.runner),
                             progress=sys.stderr.isatty(), overwrite=args.overwrite)
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
