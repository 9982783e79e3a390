"""A scoring destination: its settings, resume, committed part files, the result views and summary.json.

``DEST/`` holds

- ``.score.lock``: held (``dest_lock``) by the one run writing into DEST; a second run is refused at once.
- ``settings.json``: the one model and settings its rows were made with (model, threshold, frames,
  aggregate, image size, crop settings). A run with other settings is refused (``check_settings``) unless
  ``--force``, which deletes the old rows first: a folder never mixes models or settings. A damaged
  settings file is an error naming it.
- ``_parts/<run>-<uuid>.jsonl``: committed records, one per scored input (the row, the input key
  ``uri|size|mtime``, the model and the per-frame scores). Each part is written whole (local: temp file +
  rename; gs://: one object upload, which is atomic; ``skyhawk.fileio.write_bytes``), so a killed run
  leaves no half file; a record that appears twice (a retried bundle) is the same input, and the views
  keep one. A part damaged anyway (truncated or edited by hand) is moved to ``_quarantine/`` before a
  run (``quarantine_damaged``), so its videos are scored again.
- ``results.<jsonl|csv|parquet>``: the view a user reads, one row per input URI (the newest record),
  with exactly the columns of ``ROW_KEYS``; ``frames.jsonl``: the per-frame scores of the same rows;
  ``summary.json`` (counts plus the settings). Views are rewritten whole after every run.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import posixpath
import tempfile
import uuid
from typing import Any, Iterator, Sequence

import apache_beam as beam
from apache_beam.io import fileio as beam_fileio
from apache_beam.metrics import Metrics

from components.score import ScoreError
from components.score.rows import FAILED, NO_FACE, OK, ROW_KEYS
from components.score.sample import NAMESPACE
from skyhawk import fileio
from skyhawk.config_score import SCORE_FORMATS, ScoreConfig

PARTS_DIR = "_parts"
QUARANTINE_DIR = "_quarantine"
LOCK_FILE = ".score.lock"
FRAMES_FILE = "frames.jsonl"
SUMMARY_FILE = "summary.json"
SETTINGS_FILE = "settings.json"
EXPLAIN_DIR = "explain"

join = fileio.join
write_whole = fileio.write_bytes  # whole or not at all: local temp + rename, remote one upload


def write_json(path: str, data: Any) -> None:
    """Strict JSON (no NaN), indented, keys sorted, written whole."""
    write_whole(path, (json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n").encode())


# ----------------------------------------------------------------- lock

@contextlib.contextmanager
def dest_lock(dest: str) -> Iterator[str]:
    """Holds DEST's writer lock for the with-block (``skyhawk.fileio.lock``; ``LockHeld`` at once when another
    run holds it). A remote DEST is locked on this machine only, by a temp file named after it."""
    from skyhawk.fileio.lock import folder_lock

    if fileio.is_remote(dest):
        key = hashlib.sha1(dest.rstrip("/").encode()).hexdigest()[:16]
        with folder_lock(tempfile.gettempdir(), f"skyhawk-score-{key}.lock") as path:
            yield path
    else:
        with folder_lock(fileio.local_path(dest), LOCK_FILE) as path:
            yield path


# ----------------------------------------------------------------- settings

def read_settings(dest: str) -> dict[str, Any] | None:
    """DEST/settings.json (None when absent); ScoreError naming the file when it is damaged."""
    path = join(dest, SETTINGS_FILE)
    if not fileio.exists(path):
        return None
    try:
        settings = json.loads(fileio.read_text(path))
    except (ValueError, UnicodeDecodeError) as e:
        settings, why = None, f"not JSON: {e}"
    else:
        why = "not a JSON object"
    if not isinstance(settings, dict):
        raise ScoreError(f"{path} is damaged ({why}), so it cannot say which settings the rows of {dest} were "
                         f"made with: use a new --output folder, or --force to delete the rows and score again")
    return settings

def settings_of(model: Any, score: ScoreConfig) -> dict[str, Any]:
    """What a destination's rows depend on: the model (and its threshold), frames, aggregate, crop settings."""
    return {"model": model.label, "threshold": model.threshold, "frames_per_video": score.frames,
            "aggregate": score.aggregate, "image_size": model.image_size, "crop": dict(sorted(model.crop.items()))}


def _differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    out = []
    for key in new:
        if key == "crop":
            out += [f"crop {k} {old.get('crop', {}).get(k)} -> {new['crop'].get(k)}"
                    for k in sorted(set(old.get("crop", {})) | set(new["crop"]))
                    if old.get("crop", {}).get(k) != new["crop"].get(k)]
        elif old.get(key) != new[key]:
            out.append(f"{key} {old.get(key)} -> {new[key]}")
    return out


def check_settings(dest: str, settings: dict[str, Any], force: bool) -> None:
    """Makes DEST belong to ``settings``: refuses (ScoreError, one line) rows made otherwise, unless force,
    which deletes them. Records the settings in DEST/settings.json."""
    path = join(dest, SETTINGS_FILE)
    if part_files(dest):
        try:
            old = read_settings(dest)
        except ScoreError:
            if not force:
                raise
            old = {}
        diff = ["it records no settings (made by an older Skyhawk)"] if old is None else _differences(old, settings)
        if diff and not force:
            raise ScoreError(f"{dest} holds rows made with other settings ({'; '.join(diff)}): use a new "
                             f"--output folder, or --force to delete them and score again")
        if diff:
            for name in (PARTS_DIR, QUARANTINE_DIR, EXPLAIN_DIR, FRAMES_FILE, SUMMARY_FILE,
                         *(f"results.{f}" for f in SCORE_FORMATS)):
                fileio.remove(join(dest, name), recursive=True)
    write_json(path, settings)


# ----------------------------------------------------------------- parts

def part_files(dest: str) -> list[str]:
    """Committed part files of DEST, oldest run first (names start with the run's UTC time)."""
    return [p for p in fileio.glob(join(dest, PARTS_DIR, "*.jsonl")) if not posixpath.basename(p).startswith(".")]


def new_part_path(dest: str, run_id: str) -> str:
    return join(dest, PARTS_DIR, f"{run_id}-{uuid.uuid4().hex[:12]}.jsonl")


def _read_lines(path: str) -> Iterator[str]:
    return (line for line in fileio.read_text(path).splitlines() if line.strip())


def read_records(dest: str) -> Iterator[dict[str, Any]]:
    """Every committed record of DEST, oldest first."""
    for path in part_files(dest):
        for line in _read_lines(path):
            yield json.loads(line)


def _damage(path: str) -> str:
    """Why a part file is damaged ('' when every line is a whole record)."""
    try:
        lines = list(_read_lines(path))
    except UnicodeDecodeError as e:
        return f"not UTF-8: {e}"
    for n, line in enumerate(lines, 1):
        try:
            rec = json.loads(line)
        except ValueError as e:
            return f"line {n}: {e}"
        if not (isinstance(rec, dict) and isinstance(rec.get("row"), dict) and "key" in rec
                and "uri" in rec["row"]):
            return f"line {n}: not a scoring record"
    return ""


def quarantine_damaged(dest: str) -> list[str]:
    """Moves each damaged part file of DEST to DEST/_quarantine/ (its videos have no record, so they are
    scored again); one line per file moved, naming it and the damage."""
    moved = []
    for path in part_files(dest):
        why = _damage(path)
        if why:
            target = join(dest, QUARANTINE_DIR, posixpath.basename(path))
            fileio.copy_file(path, target)
            fileio.remove(path)
            moved.append(f"damaged part {path} ({why}) moved to {target}: its videos are scored again")
    return moved


def clean_leftovers(dest: str) -> int:
    """Deletes temporary files a killed run left in DEST/_parts (local only: object stores never have any)."""
    parts = join(dest, PARTS_DIR)
    if fileio.is_remote(dest) or not os.path.isdir(parts):
        return 0
    n = 0
    for name in os.listdir(parts):
        if name.endswith(".tmp"):  # fileio.write_bytes' temporary file, left by a killed run
            os.unlink(os.path.join(parts, name))
            n += 1
    return n


class SkipScored(beam.PTransform):
    """VideoInput -> (VideoInput, indices of the DESTs with no committed record of it); one input per key.

    ``force`` scores every input again in every DEST. The join also drops an input listed twice.
    """

    def __init__(self, dests: Sequence[str], force: bool):
        super().__init__()
        self._dests, self._force = list(dests), force

    def expand(self, inputs):
        keyed = inputs | "ByKey" >> beam.Map(lambda v: (v.key, v))
        joined: dict[str, Any] = {"input": keyed}
        if not self._force:
            for i, dest in enumerate(self._dests):
                joined[f"done{i}"] = (
                    keyed.pipeline
                    | f"PartsPattern{i}" >> beam.Create([join(dest, PARTS_DIR, "*.jsonl")])
                    | f"MatchParts{i}" >> beam_fileio.MatchAll(beam_fileio.EmptyMatchTreatment.ALLOW)
                    | f"OpenParts{i}" >> beam_fileio.ReadMatches()
                    | f"Records{i}" >> beam.FlatMap(lambda f: f.read_utf8().splitlines())
                    | f"DoneKeys{i}" >> beam.Map(lambda line: (json.loads(line)["key"], True)))
        n = len(self._dests)

        def todo(kv):
            grouped = kv[1]
            need = tuple(i for i in range(n) if not list(grouped.get(f"done{i}", [])))
            return [(list(grouped["input"])[0], need)] if need else []

        return joined | "Join" >> beam.CoGroupByKey() | "Todo" >> beam.FlatMap(todo)


class CommitPartsFn(beam.DoFn):
    """Writes records as whole part files under DEST/_parts (one per bundle, or per `flush_every` records)."""

    def __init__(self, dest: str, run_id: str, flush_every: int):
        self._dest, self._run_id, self._flush_every = dest, run_id, max(1, int(flush_every))
        self._committed = Metrics.counter(NAMESPACE, f"rows_committed:{dest}")

    def start_bundle(self) -> None:
        self._buf: list[str] = []

    def process(self, rec: dict[str, Any]) -> None:
        self._buf.append(json.dumps(rec, sort_keys=True))
        if len(self._buf) >= self._flush_every:
            self._flush()

    def finish_bundle(self) -> None:
        self._flush()

    def _flush(self) -> None:
        if not self._buf:
            return
        write_whole(new_part_path(self._dest, self._run_id), ("\n".join(self._buf) + "\n").encode())
        self._committed.inc(len(self._buf))
        self._buf = []


# ----------------------------------------------------------------- views

def latest_records(dest: str) -> list[dict[str, Any]]:
    """The newest committed record per input URI, sorted by URI."""
    latest: dict[str, dict[str, Any]] = {}
    for rec in read_records(dest):
        latest[rec["row"]["uri"]] = rec
    return [latest[u] for u in sorted(latest)]


def encode_rows(rows: Sequence[dict[str, Any]], fmt: str) -> bytes:
    """Rows as JSON lines, CSV (top_frames as a JSON string) or Parquet, columns in ROW_KEYS order."""
    import csv
    import io

    from skyhawk.nuisance import CODEC, NUISANCE_FEATURES

    facts = (*NUISANCE_FEATURES, CODEC)
    rows = [{**{k: r.get(k) for k in ROW_KEYS},  # a record committed before a column existed gets it empty
             "top_frames": [{k: t[k] for k in ("frame", "seconds", "p_fake")} for t in r["top_frames"]],
             "nuisance": {k: (r.get("nuisance") or {}).get(k) for k in facts}}
            for r in rows]
    if fmt == "jsonl":
        return "".join(json.dumps(r) + "\n" for r in rows).encode()
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=ROW_KEYS, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({**r, "top_frames": json.dumps(r["top_frames"]), "nuisance": json.dumps(r["nuisance"])})
        return buf.getvalue().encode()
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        top = pa.list_(pa.struct([("frame", pa.int64()), ("seconds", pa.float64()), ("p_fake", pa.float64())]))
        schema = pa.schema([("uri", pa.string()), ("status", pa.string()), ("reason", pa.string()),
                            ("p_fake", pa.float64()), ("verdict", pa.string()), ("frames_sampled", pa.int64()),
                            ("faces_scored", pa.int64()), ("top_frames", top), ("model", pa.string()),
                            ("seconds", pa.float64()),
                            ("nuisance", pa.struct([(k, pa.string() if k == CODEC else pa.float64()) for k in facts]))])
        buf = io.BytesIO()
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), buf)
        return buf.getvalue()
    raise ValueError(f"unknown format {fmt!r} ({' | '.join(SCORE_FORMATS)})")


def results_path(dest: str, fmt: str) -> str:
    return join(dest, f"results.{fmt}")


def summarize(rows: Sequence[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """Counts per status, verdicts (``predicted_fake``, ``predicted_real``), and whatever the caller adds
    (throughput, settings, paths; ``skyhawk evaluate`` adds the label counts)."""
    out: dict[str, Any] = {
        "videos": len(rows),
        "ok": sum(r["status"] == OK for r in rows),
        "no_face": sum(r["status"] == NO_FACE for r in rows),
        "failed": sum(r["status"] == FAILED for r in rows),
        "predicted_fake": sum(r["verdict"] == "fake" for r in rows),
        "predicted_real": sum(r["verdict"] == "real" for r in rows),
    }
    out.update(extra)
    return out


def write_views(dest: str, fmt: str, **summary_extra: Any) -> dict[str, Any]:
    """Rewrites results.<fmt>, frames.jsonl and summary.json from the committed parts (and deletes a
    results file of another format, which would be stale); returns the summary."""
    records = latest_records(dest)
    rows = [r["row"] for r in records]
    write_whole(results_path(dest, fmt), encode_rows(rows, fmt))
    for other in SCORE_FORMATS:
        if other != fmt and fileio.exists(results_path(dest, other)):
            fileio.remove(results_path(dest, other))
    write_whole(join(dest, FRAMES_FILE), "".join(
        json.dumps({"uri": r["row"]["uri"], "frames": r["frames"]}) + "\n" for r in records).encode())
    summary = summarize(rows, results=results_path(dest, fmt), **summary_extra)
    write_json(join(dest, SUMMARY_FILE), summary)
    return summary


def read_frames_view(dest: str) -> dict[str, list[dict[str, Any]]]:
    """uri -> per-frame scores, from DEST/frames.jsonl."""
    path = join(dest, FRAMES_FILE)
    if not fileio.exists(path):
        return {}
    return {d["uri"]: d["frames"] for d in (json.loads(line) for line in _read_lines(path))}
