"""``skyhawk score`` (archives, Beam), ``skyhawk predict`` (a few files, in-process), ``skyhawk evaluate``."""
from __future__ import annotations

import argparse
import json
import os
import sys

from pipelines.commands import options
from skyhawk.config import SCORE_FORMATS, ExtractConfig, ScoreConfig
from skyhawk.labels import LABEL_HELP

OUTPUT_FLAGS = (  # skyhawk score's own settings of the config's score section
    options.FieldFlag("--format", "output_format", "results file format", SCORE_FORMATS),
    options.FieldFlag("--flush-every", "flush_every",
                      "commit a part file every N rows (a killed run loses at most N rows per worker)"),
)


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("score", help="score an archive of videos: one result row per video (Beam)",
                       description="Samples frames, crops faces exactly as the model's training data was "
                                   "cropped, scores them with Beam RunInference and writes one row per input "
                                   "to OUTPUT/results.<format>. Re-running skips inputs already scored.")
    options.add_io(s, "folder (recursive), glob, or a text file of URIs; local or gs://",
                   "destination folder (local or gs://)")
    options.add_model(s)
    options.add_field_flags(s, ScoreConfig(), OUTPUT_FLAGS)
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
    e.add_argument("--labels", default=ExtractConfig.labels, help=LABEL_HELP)
    e.add_argument("--output", default="out/evaluation", help="folder for scores and the evaluation")
    e.add_argument("--allow-outside-root", action="store_true",
                   help="a CSV manifest may list videos outside --input")
    options.add_model(e, many=True)
    _add_beam(e)
    e.set_defaults(func=evaluate)


def _add_beam(p: argparse.ArgumentParser) -> None:
    options.add_beam(p, workers=1)
    p.add_argument("--force", action="store_true",
                   help="rescore inputs that already have a row; rows made with another model or "
                   "other settings are deleted first")


def _busy(command: str, e: Exception) -> int:
    """Another run holds an output folder's lock: one line, EXIT_LOCKED (as retrain's)."""
    from pipelines.retrain import EXIT_LOCKED

    print(f"skyhawk {command}: error: another run is writing into this output ({e}): wait for it to finish, "
          f"or use another --output", file=sys.stderr)
    return EXIT_LOCKED


def score(args: argparse.Namespace) -> int:
    from components.score.job import run_scoring
    from skyhawk.fileio.lock import LockHeld
    from skyhawk_model.model_ref import resolve

    options.at_least(args.explain, 0, "--explain")
    settings = options.score_settings(args, OUTPUT_FLAGS)
    beam_args = options.beam_args(args)  # a bad profile fails first
    model = resolve(args.model, settings.threshold)
    try:
        summary = run_scoring(args.input, model, args.output, settings, force=args.force, beam_args=beam_args,
                              progress=True)
    except LockHeld as e:
        return _busy(args.command, e)
    for line in summary["quarantined"]:
        print(f"skyhawk score: warning: {line}", file=sys.stderr)
    print(f"videos: {summary['videos']} (ok {summary['ok']}, no face {summary['no_face']}, failed "
          f"{summary['failed']}); predicted fake: {summary['predicted_fake']}, predicted real: "
          f"{summary['predicted_real']}")
    print(f"scored this run: {summary['scored_this_run']} in {summary['run_seconds']:.1f} s "
          f"({summary['videos_per_second']:.2f} videos/s); model {summary['model']}, threshold "
          f"{summary['threshold']:.4f}")
    print(f"results: {summary['results']}")
    if args.explain > 0:
        from components.score.pages import write_explain

        index = write_explain(args.output, args.explain, model, settings)
        print(f"explain: {index or 'no ok video to explain'}")
    return 0


def predict(args: argparse.Namespace) -> int:
    from components.score.discover import stat_input
    from components.score.predict import predict_table, predict_videos
    from skyhawk_model.model_ref import resolve

    settings = options.score_settings(args)
    for v in args.videos:  # local or gs://, as score's inputs
        if stat_input(v).error:
            raise FileNotFoundError(f"not a file: {v}")
    model = resolve(args.model, settings.threshold)
    results = predict_videos(args.videos, model, settings)
    if args.json:
        for row, _ in results:
            print(json.dumps(row))
    else:
        print("\n".join(predict_table(results)))
    if args.explain:
        from components.score.pages import write_explain_pages

        records = sorted(({"row": r, "frames": f} for r, f in results), key=lambda r: -r["row"]["p_fake"])
        index = write_explain_pages(args.explain, records, model, settings)
        print(f"explain: {index or 'no video with a face to explain'}")
    bad = [row for row, _ in results if row["status"] == "failed"]
    for row in bad:
        print(f"skyhawk predict: error: {row['uri']}: {row['reason']}", file=sys.stderr)
    return 1 if bad else 0


def evaluate(args: argparse.Namespace) -> int:
    """Exit 0, or 1 when some model scored no video at all (the page and JSON say why), 5 when busy."""
    from components.score.evaluate import EVALUATION_HTML, console_lines, evaluate_models
    from skyhawk.fileio.lock import LockHeld
    from skyhawk_model.model_ref import resolve

    settings = options.score_settings(args)
    beam_args = options.beam_args(args)  # a bad profile fails first
    models = [resolve(m, settings.threshold) for m in args.model]
    try:
        ev = evaluate_models(args.input, args.labels, models, args.output, settings, beam_args=beam_args,
                             force=args.force, progress=True, allow_outside_root=args.allow_outside_root)
    except LockHeld as e:
        return _busy(args.command, e)
    print("\n".join(console_lines(ev)))
    print(f"evaluation: {os.path.join(args.output, EVALUATION_HTML)}")
    unscored = [m for m in ev["models"] if not m["metrics"]["videos_scored"]]
    for m in unscored:
        print(f"skyhawk evaluate: error: {m['model']} scored no video ({m['metrics']['videos_failed']} failed, "
              f"{m['metrics']['videos_no_face']} without a face): no AUC; the reasons are on the page",
              file=sys.stderr)
    return 1 if unscored else 0
