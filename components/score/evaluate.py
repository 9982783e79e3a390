"""``skyhawk evaluate``: score labelled videos with one or several models and measure each.

Labels come from the same adapters as training data (``folders`` | ``csv:FILE``, ...; label words:
real|original|pristine|0 and fake|manipulated|synthetic|1, any case). A manifest row with another word
is an error naming its line; a labelled file missing from disk is counted and listed (console, page,
``missing`` in evaluation.json), never silently dropped; files without a label are counted by kind and
listed in ``OUTPUT/unlabelled.txt``. The labelled URIs (absolute, so a relative ``--input`` works from
any folder) go to the scoring job as a list, so a name with a newline stays one input. Models whose
crop settings agree share one scoring job (decode + faces once, ``job.run_shared_scoring``); each
scores into ``OUTPUT/scores/<model>/`` (a video without a face scores 0.5, as in DFDC).
``OUTPUT/evaluation.json`` holds every model's metrics, tables and matched-pair accuracy (``models``),
``evaluation.html`` shows them side by side.
"""
from __future__ import annotations

import json
import re
from typing import Any, Sequence

from components.score import commit as out
from components.score.job import run_shared_scoring
from components.score.metrics import model_report
from components.score.pages import NAMED_UNLABELLED, evaluation_html
from components.score.predict import printable
from components.score.rows import FAILED, OK
from skyhawk import fileio
from skyhawk.config import ScoreConfig, to_dict
from skyhawk_model.model_ref import ModelRef

SCORES_DIR = "scores"
UNLABELLED_LISTING = "unlabelled.txt"
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


def media_counts(uris: Sequence[str]) -> dict[str, int]:
    """{"videos": n, "photos": m} of a list of media files."""
    from skyhawk.video import is_image

    photos = sum(1 for u in uris if is_image(u))
    return {"videos": len(uris) - photos, "photos": photos}


def nuisance_audit(videos: Sequence[dict[str, Any]], model: str) -> dict[str, Any]:
    """The confound audit (``skyhawk.confound.audit``) of the evaluation set: how well capture and encoding
    facts alone (frame size, fps, bitrate proxy, face size in source pixels, ...) separate its labels,
    each feature alone and all together (group-CV). Over the videos scored ``ok`` (their facts are whole),
    from the scoring rows of ``model`` (face sizes depend on its crop settings)."""
    from skyhawk.confound import audit

    ok = [v for v in videos if v["status"] == OK]
    result = audit([v["nuisance"] for v in ok], [v["label"] for v in ok], [v["group"] for v in ok])
    return {**result.to_dict(), "table": result.table(), "videos_from": model, "videos_left_out": len(videos) - len(ok)}


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


def evaluate_models(input_root: str, labels: str, models: Sequence[ModelRef], output: str,
                    score: ScoreConfig = ScoreConfig(), *, beam_args: Sequence[str] | None = None,
                    force: bool = False, progress: bool = False, allow_outside_root: bool = False) -> dict[str, Any]:
    """Scores the labelled videos under input_root with each model and the ``score`` settings; writes
    OUTPUT/evaluation.{json,html}.

    Returns the evaluation: the run's context, ``missing`` / ``unlabelled`` inputs, and ``models``
    (one report per model, in the order given: metrics, per-source and per-group tables, videos).
    """
    from skyhawk import datasets

    if not models:
        raise ValueError("evaluate needs at least one model")
    input_root = input_root if fileio.is_remote(input_root) else fileio.normpath(input_root)
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
    uris = [i.uri for i in labelled]
    unlabelled = of_kind("unlabelled")
    label_counts = {"real": sum(i.label == 0 for i in labelled), "fake": sum(i.label == 1 for i in labelled)}
    dests = score_dirs(output, models)
    summaries: dict[str, dict[str, Any]] = {}
    groups: dict[str, list[int]] = {}  # models that crop alike share one scoring job
    for i, m in enumerate(models):
        groups.setdefault(json.dumps(to_dict(m.extract_config(score.frames)), sort_keys=True), []).append(i)
    for members in groups.values():
        done = run_shared_scoring(uris, [(models[i], dests[i]) for i in members], score, force=force,
                                  beam_args=beam_args, progress=progress, summary_extra={"labels": label_counts})
        summaries.update({dests[i]: s for i, s in zip(members, done, strict=True)})
    reports = [_report(labelled, m, d, summaries[d]) for m, d in zip(models, dests, strict=True)]
    nuisance = nuisance_audit(reports[0]["videos"], reports[0]["model"])
    listing = fileio.join(output, UNLABELLED_LISTING)
    if unlabelled:
        out.write_whole(listing, "".join(printable(i.uri) + "\n" for i in unlabelled).encode())
    else:  # none this time: an earlier run's list would be stale
        fileio.remove(listing)
        listing = None
    ev = {"input": input_root, "labels": labels, "frames_per_video": score.frames, "aggregate": score.aggregate,
          "videos_listed": len(labelled) + len(missing), "videos_missing": len(missing), "missing": missing,
          "labelled_media": {**media_counts(uris), **label_counts},
          "unlabelled": [{"uri": i.uri, "reason": i.error} for i in unlabelled],
          "unlabelled_media": media_counts([i.uri for i in unlabelled]), "unlabelled_listing": listing,
          "shared_scoring_jobs": len(groups), "nuisance": nuisance, "models": reports}
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
                       "status": row["status"], "reason": row["reason"], "nuisance": row.get("nuisance") or {}})
        frame_scores.extend((item.label, f["p_fake"]) for f in (rec["frames"] if rec else []))
    return model_report(videos, frame_scores, model.threshold, model=model.label, scores=dest, scoring=summary)


def run_evaluation(input_root: str, labels: str, model: ModelRef, output: str, score: ScoreConfig = ScoreConfig(),
                   **kwargs: Any) -> dict[str, Any]:
    """``evaluate_models`` with one model; that model's report plus the run's context (no ``models``)."""
    ev = evaluate_models(input_root, labels, [model], output, score, **kwargs)
    return {**{k: v for k, v in ev.items() if k != "models"}, **ev["models"][0]}


def _fmt(v: Any, spec: str = ".4f") -> str:
    return "n/a" if v is None else format(v, spec)


def _kinds(counts: dict[str, int]) -> str:
    return f"{counts['videos']} videos, {counts['photos']} photos"


def _ci(ci: Sequence[float] | None) -> str:
    return f" (95% CI {ci[0]:.4f}-{ci[1]:.4f})" if ci else ""


def pair_lines(pairs: dict[str, Any]) -> list[str]:
    """The matched-pair accuracy, in all and per source, as printed under a model's line."""
    if not pairs["pairs"]:
        return ["  matched pairs: none (no group holds both a real and a fake video)"]
    if pairs["accuracy"] is None:
        return [f"  matched-pair accuracy n/a, {pairs['undefined']} ({pairs['pairs']} pairs)"]
    lines = [f"  matched-pair accuracy {pairs['accuracy']:.4f}{_ci(pairs['ci95'])}: the fake scores higher in "
             f"{pairs['fake_higher']:g} of {pairs['pairs']} (real, fake) pairs in {pairs['groups']} groups "
             f"(CI: {pairs['ci_method']})"]
    lines += [f"    {s['name']}: {s['accuracy']:.4f}{_ci(s['ci95'])}, {s['fake_higher']:g} of {s['pairs']} pairs in "
              f"{s['groups']} groups" for s in pairs["per_source"]]
    return lines


def console_lines(ev: dict[str, Any]) -> list[str]:
    """What ``skyhawk evaluate`` prints: counts by kind (missing and unlabelled files included) and each model's
    headline metrics and matched-pair accuracy."""
    media, unl = ev["labelled_media"], ev["unlabelled"]
    lines = [f"labelled: {_kinds(media)} ({media['real']} real, {media['fake']} fake); "
             f"missing from disk: {ev['videos_missing']}; without a label: {len(unl)}"
             + (f" ({_kinds(ev['unlabelled_media'])})" if unl else "")]
    if unl:
        named = ", ".join(printable(u["uri"]) for u in unl[:NAMED_UNLABELLED])
        lines.append(f"  without a label: {named}{', ...' if len(unl) > NAMED_UNLABELLED else ''} "
                     f"(all in {ev['unlabelled_listing']})")
    for rep in ev["models"]:
        m = rep["metrics"]
        lines.append(f"{rep['model']}: video AUC {_fmt(m['video_auc'])}{_ci(m['video_auc_ci95'])}  "
                     f"accuracy@{rep['threshold']:.3f} {_fmt(m['video_accuracy'])}  "
                     f"log loss {_fmt(m['video_log_loss'])}  frame AUC "
                     f"{_fmt(m['frame_auc'])}  (scored {m['videos_scored']}, no face {m['videos_no_face']}, "
                     f"failed {m['videos_failed']})")
        lines += [f"  {key}: n/a, {why}" for key, why in m["undefined"].items()]
        lines += pair_lines(rep["matched_pairs"])
    return lines + nuisance_lines(ev["nuisance"])


def nuisance_lines(nu: dict[str, Any]) -> list[str]:
    """The nuisance-only AUC of the evaluation set: all capture facts together, then each alone."""
    value = "n/a" if nu["combined_auc"] is None else f"{nu['combined_auc']:.4f} (sd {nu['combined_sd']:.3f})"
    lines = [f"nuisance-only AUC of these videos: {value} (capture and encoding facts together: group-CV "
             f"logistic regression over {nu['n_videos']} scored videos in {nu['n_groups']} groups)"]
    if nu["features"]:
        lines.append("  each alone (label AUC): " + ", ".join(f"{f['name']} {f['auc']:.3f}" for f in nu["features"]))
    return lines + ([f"  {nu['note']}"] if nu["note"] else [])
