"""``skyhawk score`` (archives, Beam), ``skyhawk predict`` (a few files, in-process), ``skyhawk evaluate``."""
from __future__ import annotations

import argparse
import json
import os
import sys

from components.score_output import FORMATS
from pipelines.commands import options


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("score", help="score an archive of videos: one result row per video (Beam)",
                       description="Samples frames, crops faces exactly as the model's training data was "
                                   "cropped, scores them with Beam RunInference and writes one row per input "
                                   "to OUTPUT/results.<format>. Re-running skips inputs already scored.")
    options.add_io(s, "folder (recursive), glob, or a text file of URIs; local or gs://",
                   "destination folder (local or gs://)")
    options.add_model(s)
    s.add_argument("--format", choices=FORMATS, default="jsonl")
    s.add_argument("--explain", type=int, default=0, metavar="N",
                   help="write HTML pages for the N highest-scoring videos (OUTPUT/explain/index.html)")
    _add_beam(s)
    s.set_defaults(func=score)

    p = sub.add_parser("predict", help="score a few video files in-process and print verdicts",
                       description="The scoring path of `skyhawk score` without Beam: same crops, model and "
                                   "aggregation, so the same p_fake.")
    p.add_argument("videos", nargs="+", metavar="VIDEO")
    options.add_model(p)
    p.add_argument("--json", action="store_true", help="print one JSON row per video")
    p.add_argument("--explain", metavar="DIR", help="write explanation pages for these videos to DIR")
    p.set_defaults(func=predict)

    e = sub.add_parser("evaluate", help="score a labelled folder and report AUC, accuracy, log loss",
                       description="Scores labelled videos through the bulk-scoring job and writes "
                                   "OUTPUT/evaluation.json and evaluation.html (ROC, histograms, calibration).")
    e.add_argument("--input", required=True, help="folder of labelled videos")
    e.add_argument("--labels", default="folders", help="folders | csv:FILE | ffpp | dfdc | celebdf")
    e.add_argument("--output", default="out/evaluation", help="folder for scores and the evaluation")
    options.add_model(e)
    _add_beam(e)
    e.set_defaults(func=evaluate)


def _add_beam(p: argparse.ArgumentParser) -> None:
    options.add_beam(p, workers=1)
    p.add_argument("--force", action="store_true", help="rescore inputs that already have a row")


def score(args: argparse.Namespace) -> int:
    from components.score import run_scoring
    from skyhawk_model.model_ref import resolve

    beam_args = options.beam_args(args)  # a bad profile fails first
    model = resolve(args.model)
    summary = run_scoring(args.input, model, args.output, frames=args.frames, aggregate=args.aggregate,
                          fmt=args.format, force=args.force, beam_args=beam_args, progress=True)
    print(f"videos: {summary['videos']} (ok {summary['ok']}, no face {summary['no_face']}, failed "
          f"{summary['failed']}); fake: {summary['fake']}, real: {summary['real']}")
    print(f"scored this run: {summary['scored_this_run']} in {summary['run_seconds']:.1f} s "
          f"({summary['videos_per_second']:.2f} videos/s); model {summary['model']}, threshold "
          f"{summary['threshold']:.4f}")
    print(f"results: {summary['results']}")
    if args.explain > 0:
        from components.score_pages import write_explain

        index = write_explain(args.output, args.explain, model, args.aggregate, args.frames)
        print(f"explain: {index or 'no ok video to explain'}")
    return 0


def predict(args: argparse.Namespace) -> int:
    from components.predict import predict_videos
    from skyhawk_model.model_ref import resolve

    for v in args.videos:
        if not os.path.isfile(v):
            raise FileNotFoundError(f"not a file: {v}")
    model = resolve(args.model)
    results = predict_videos(args.videos, model, frames=args.frames, aggregate=args.aggregate)
    if args.json:
        for row, _ in results:
            print(json.dumps(row))
    else:
        print(f"{'file':40s} {'verdict':8s} {'p_fake':>8s} {'faces':>5s}  top frames (frame@s:p)")
        for row, _ in results:
            top = " ".join(f"{t['frame']}@{t['seconds']:.1f}s:{t['p_fake']:.3f}" for t in row["top_frames"])
            verdict = row["verdict"] or row["status"]
            print(f"{os.path.basename(row['uri'])[:40]:40s} {verdict:8s} {row['p_fake']:8.4f} "
                  f"{row['faces_scored']:5d}  {top or row['reason']}")
    if args.explain:
        from components.score_pages import write_explain_pages

        records = sorted(({"row": r, "frames": f} for r, f in results), key=lambda r: -r["row"]["p_fake"])
        index = write_explain_pages(args.explain, records, model, args.aggregate, args.frames)
        print(f"explain: {index or 'no video with a face to explain'}")
    bad = [row for row, _ in results if row["status"] == "failed"]
    for row in bad:
        print(f"skyhawk predict: error: {row['uri']}: {row['reason']}", file=sys.stderr)
    return 1 if bad else 0


def evaluate(args: argparse.Namespace) -> int:
    from components.evaluate import EVALUATION_HTML, run_evaluation
    from skyhawk_model.model_ref import resolve

    beam_args = options.beam_args(args)  # a bad profile fails first
    model = resolve(args.model)
    ev = run_evaluation(args.input, args.labels, model, args.output, frames=args.frames, aggregate=args.aggregate,
                        beam_args=beam_args, force=args.force, progress=True)
    m = ev["metrics"]
    print(f"videos: {m['videos']} ({m['videos_real']} real, {m['videos_fake']} fake; scored {m['videos_scored']}, "
          f"no face {m['videos_no_face']}, failed {m['videos_failed']})")
    print(f"video AUC {m['video_auc']:.4f}  accuracy@{ev['threshold']:.3f} {m['video_accuracy']:.4f}  "
          f"log loss {m['video_log_loss']:.4f}  frame AUC {m['frame_auc']:.4f}")
    print(f"evaluation: {args.output}/{EVALUATION_HTML}")
    return 0
