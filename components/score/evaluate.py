"""``skyhawk evaluate``: score labelled videos with one or several models and measure each.

Labels come from the same adapters as training data (``folders`` | ``csv:FILE``, ...; label words:
real|original|pristine|0 and fake|manipulated|synthetic|1, any case). A manifest row with another word
is an error naming its line; a labelled file missing from disk is counted and listed (console, page,
``missing`` in evaluation.json), never silently dropped. Models whose crop settings agree share one
scoring job (decode + faces once, ``job.run_shared_scoring``); each scores into ``OUTPUT/scores/<model>/``
(a video without a face scores 0.5, as in DFDC). ``OUTPUT/evaluation.json`` holds every model's metrics
and tables (``models``), ``evaluation.html`` shows them side by side.
"""
from __future__ import annotations

import json
import re
from typing import Any, Sequence

from components.score import commit as out
from components.score.job import run_shared_scoring
from components.score.metrics import model_report
from components.score.pages import evaluation_html
from components.score.rows import FAILED
from skyhawk import fileio
from skyhawk.config import to_dict
from skyhawk_model.model_ref import ModelRef

SCORES_DIR = "scores"
LISTING = "inputs.txt"
EVALUATION_JSON = "evaluation.json"
EVALUATION_HTML = "evaluation.html"


def _source(item) -> str:
    """The manifest's source, else the video's top folder ('-' when it has none)."""
    parts = item.video_id.split("/")
    return item.source or (parts[0] if len(parts) > 1 else "-")


def _kind(item) -> str:
    """'ok', 'missing' (labelled, not on disk), 'bad_label' (a manifest's unknown word) or 'unlabelled'."""
    if not item.error:
        return "ok"
    if item.label in (0, 1) or "does not exist" in item.error:
        return "missing"
    return "bad_label" if item.error.startswith("manifest line") else "unlabelled"


def score_dirs(output: str, models: Sequence[ModelRef]) -> list[str]:
    """OUTPUT/scores/<model name> per model (registry NAME-VERSION, else the folder's name), unique."""
    dirs: list[str] = []
    for m in models:
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", m.label.rstrip("/")[-60:]).strip("-.") or "model"
        name, n = slug, 2
        while fileio.join(output, SCORES_DIR, name) in dirs:
            name, n = f"{slug}-{n}", n + 1
        dirs.append(fileio.join(output, SCORES_DIR, name))
    return dirs


def evaluate_models(input_root: str, labels: str, models: Sequence[ModelRef], output: str, *, frames: int = 32,
                    aggregate: str = "mean", beam_args: Sequence[str] | None = None, force: bool = False,
                    progress: bool = False, allow_outside_root: bool = False) -> dict[str, Any]:
    """Scores the labelled videos under input_root with each model; writes OUTPUT/evaluation.{json,html}.

    Returns the evaluation: the run's context, ``missing`` / ``unlabelled`` inputs, and ``models``
    (one report per model, in the order given: metrics, per-source and per-group tables, videos).
    """
    from skyhawk import datasets

    if not models:
        raise ValueError("evaluate needs at least one model")
    items = datasets.discover(input_root, labels, allow_outside_root)
    kinds = [_kind(i) for i in items]

    def of_kind(kind: str) -> list[Any]:
        return [i for i, k in zip(items, kinds, strict=True) if k == kind]

    bad = of_kind("bad_label")
    if bad:
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise datasets.LabelError(f"labels {labels}: {bad[0].error}{more}")
    labelled = of_kind("ok")
    missing = [{"uri": i.uri, "label": i.label, "reason": i.error} for i in of_kind("missing")]
    if not labelled:
        raise datasets.LabelError(f"no labelled videos under {input_root} (labels: {labels}; "
                                  f"{len(missing)} listed but missing from disk)")
    listing = fileio.join(output, LISTING)
    out.write_whole(listing, "".join(i.uri + "\n" for i in labelled).encode())
    dests = score_dirs(output, models)
    summaries: dict[str, dict[str, Any]] = {}
    groups: dict[str, list[int]] = {}  # models that crop alike share one scoring job
    for i, m in enumerate(models):
        groups.setdefault(json.dumps(to_dict(m.extract_config(frames)), sort_keys=True), []).append(i)
    for members in groups.values():
        done = run_shared_scoring(listing, [(models[i], dests[i]) for i in members], frames=frames,
                                  aggregate=aggregate, force=force, beam_args=beam_args, progress=progress)
        summaries.update({dests[i]: s for i, s in zip(members, done, strict=True)})
    reports = [_report(labelled, m, d, summaries[d]) for m, d in zip(models, dests, strict=True)]
    ev = {"input": input_root, "labels": labels, "frames_per_video": frames, "aggregate": aggregate,
          "videos_listed": len(labelled) + len(missing), "videos_missing": len(missing), "missing": missing,
          "unlabelled": [{"uri": i.uri, "reason": i.error} for i in of_kind("unlabelled")],
          "shared_scoring_jobs": len(groups), "models": reports}
    out.write_json(fileio.join(output, EVALUATION_JSON), ev)
    out.write_whole(fileio.join(output, EVALUATION_HTML), evaluation_html(ev).encode())
    return ev


def _report(labelled: Sequence[Any], model: ModelRef, dest: str, summary: dict[str, Any]) -> dict[str, Any]:
    records = {r["row"]["uri"]: r for r in out.latest_records(dest)}
    videos, frame_scores = [], []
    for item in labelled:
        rec = records.get(item.uri)
        row = rec["row"] if rec else {"status": FAILED, "reason": "no result row", "p_fake": 0.5}
        videos.append({"uri": item.uri, "video_id": item.video_id, "label": item.label, "group": item.group_id,
                       "source": _source(item), "p_fake": row["p_fake"],
                       "status": row["status"], "reason": row["reason"]})
        frame_scores.extend((item.label, f["p_fake"]) for f in (rec["frames"] if rec else []))
    return model_report(videos, frame_scores, model.threshold, model=model.label, scores=dest, scoring=summary)


def run_evaluation(input_root: str, labels: str, model: ModelRef, output: str, **kwargs: Any) -> dict[str, Any]:
    """``evaluate_models`` with one model; that model's report plus the run's context (no ``models``)."""
    ev = evaluate_models(input_root, labels, [model], output, **kwargs)
    return {**{k: v for k, v in ev.items() if k != "models"}, **ev["models"][0]}


def _fmt(v: Any, spec: str = ".4f") -> str:
    return "n/a" if v is None else format(v, spec)


def console_lines(ev: dict[str, Any]) -> list[str]:
    """What ``skyhawk evaluate`` prints: counts (missing files included) and each model's headline metrics."""
    m0 = ev["models"][0]["metrics"]
    lines = [f"videos: {m0['videos']} ({m0['videos_real']} real, {m0['videos_fake']} fake); "
             f"missing from disk: {ev['videos_missing']}; without a label: {len(ev['unlabelled'])}"]
    for rep in ev["models"]:
        m = rep["metrics"]
        ci = m["video_auc_ci95"]
        ci_text = f" (95% CI {ci[0]:.4f}-{ci[1]:.4f})" if ci else ""
        lines.append(f"{rep['model']}: video AUC {_fmt(m['video_auc'])}{ci_text}  accuracy@{rep['threshold']:.3f} "
                     f"{_fmt(m['video_accuracy'])}  log loss {_fmt(m['video_log_loss'])}  frame AUC "
                     f"{_fmt(m['frame_auc'])}  (scored {m['videos_scored']}, no face {m['videos_no_face']}, "
                     f"failed {m['videos_failed']})")
        lines += [f"  {key}: n/a, {why}" for key, why in m["undefined"].items()]
    return lines
