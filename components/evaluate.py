"""``skyhawk evaluate``: score a labelled folder through the bulk-scoring job and measure the model.

Labels come from the same adapters as training data (``folders`` | ``csv:FILE``, ...). Every labelled
video is scored by ``components.score.run_scoring`` (a video without a face scores 0.5, as in DFDC);
metrics and the per-source / per-group tables are written as ``evaluation.json`` and an HTML page.
"""
from __future__ import annotations

import json
from typing import Any, Sequence

from components import score_output as out
from components.score import run_scoring
from components.score_pages import evaluation_html, evaluation_report
from skyhawk import fileio
from skyhawk_model.model_ref import ModelRef

SCORES_DIR = "scores"
LISTING = "inputs.txt"
EVALUATION_JSON = "evaluation.json"
EVALUATION_HTML = "evaluation.html"


def _source(item) -> str:
    """The manifest's source, else the video's top folder ('-' when it has none)."""
    parts = item.video_id.split("/")
    return item.source or (parts[0] if len(parts) > 1 else "-")


def run_evaluation(input_root: str, labels: str, model: ModelRef, output: str, *, frames: int = 32,
                   aggregate: str = "mean", beam_args: Sequence[str] | None = None, force: bool = False,
                   progress: bool = False) -> dict[str, Any]:
    """Scores the labelled videos under input_root and writes OUTPUT/evaluation.{json,html}."""
    from skyhawk import datasets

    items = datasets.discover(input_root, labels)
    labelled = [i for i in items if not i.error]
    if not labelled:
        raise datasets.LabelError(f"no labelled videos under {input_root} (labels: {labels})")
    listing = fileio.join(output, LISTING)
    out.write_whole(listing, "".join(i.uri + "\n" for i in labelled).encode())
    scores_dir = fileio.join(output, SCORES_DIR)
    summary = run_scoring(listing, model, scores_dir, frames=frames, aggregate=aggregate, force=force,
                          beam_args=beam_args, progress=progress)
    records = {r["row"]["uri"]: r for r in out.latest_records(scores_dir) if r["model"] == model.label}
    videos, frame_scores = [], []
    for item in labelled:
        rec = records.get(item.uri)
        row = rec["row"] if rec else {"status": out.FAILED, "reason": "no result row", "p_fake": 0.5}
        videos.append({"uri": item.uri, "video_id": item.video_id, "label": item.label, "group": item.group_id,
                       "source": _source(item), "p_fake": row["p_fake"],
                       "status": row["status"], "reason": row["reason"]})
        frame_scores.extend((item.label, f["p_fake"]) for f in (rec["frames"] if rec else []))
    ev = evaluation_report(videos, frame_scores, model.threshold, input=input_root, labels=labels,
                           model=model.label, frames_per_video=frames, aggregate=aggregate,
                           unlabelled=[{"uri": i.uri, "reason": i.error} for i in items if i.error],
                           scoring=summary)
    out.write_whole(fileio.join(output, EVALUATION_JSON), (json.dumps(ev, indent=2, sort_keys=True) + "\n").encode())
    out.write_whole(fileio.join(output, EVALUATION_HTML), evaluation_html(ev).encode())
    return ev
