"""Bulk-scoring results: the row per video, the committed part files and the merged result views.

A scoring destination ``DEST/`` holds

- ``_parts/<run>-<uuid>.jsonl``: committed records, one per scored input (the row, the input key
  ``uri|size|mtime``, the model and the per-frame scores). Each part is written whole (local: temp file +
  rename; gs://: one object upload, which is atomic; ``skyhawk.fileio.write_bytes``), so a killed run
  leaves no half file; a record that
  appears twice (a retried bundle) is the same input, and the views keep one.
- ``results.<jsonl|csv|parquet>``: the view a user reads, one row per input URI (the newest record),
  with exactly the columns of ``ROW_KEYS``; ``frames.jsonl``: the per-frame scores of the same rows;
  ``summary.json``. Views are rewritten whole (temp + rename) after every run.
"""
from __future__ import annotations

import csv
import io
import json
import os
import posixpath
import uuid
from typing import Any, Iterable, Iterator, Sequence

from skyhawk import fileio
from skyhawk.aggregate import NO_FACE_SCORE, video_score

ROW_KEYS = ("uri", "status", "reason", "p_fake", "verdict", "frames_sampled", "faces_scored", "top_frames",
            "model", "seconds")
OK, NO_FACE, FAILED = "ok", "no_face", "failed"
FORMATS = ("jsonl", "csv", "parquet")
PARTS_DIR = "_parts"
FRAMES_FILE = "frames.jsonl"
SUMMARY_FILE = "summary.json"
TOP_FRAMES = 3


# ----------------------------------------------------------------- rows

def make_row(video: dict[str, Any], face_scores: Iterable[tuple[int, float, float]], model: str, threshold: float,
             aggregate: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(result row, per-frame scores) of one video.

    ``video``: the sampling record (uri, status, reason, frames_sampled, faces, seconds);
    ``face_scores``: (frame_index, seconds, p_fake) per scored face. A frame's score is the max over its
    faces; the video's is ``aggregate`` (mean | confident) over its frames.
    """
    per_frame: dict[int, tuple[float, float]] = {}
    for frame, seconds, p in face_scores:
        if frame not in per_frame or p > per_frame[frame][1]:
            per_frame[frame] = (seconds, p)
    frames = [{"frame": f, "seconds": s, "p_fake": round(p, 6)} for f, (s, p) in sorted(per_frame.items())]
    status = video["status"]
    if status == OK and not frames:  # faces were found but none came back scored: never silently "ok"
        status, video = FAILED, {**video, "reason": "no face scores returned by the model"}
    p_fake = round(video_score([f["p_fake"] for f in frames], aggregate), 6) if status == OK else NO_FACE_SCORE
    top = sorted(frames, key=lambda f: (-f["p_fake"], f["frame"]))[:TOP_FRAMES] if status == OK else []
    row = {
        "uri": video["uri"],
        "status": status,
        "reason": "" if status == OK else video.get("reason", ""),
        "p_fake": p_fake,
        "verdict": ("fake" if p_fake >= threshold else "real") if status == OK else "",
        "frames_sampled": int(video.get("frames_sampled", 0)),
        "faces_scored": int(video.get("faces", 0)) if status == OK else 0,
        "top_frames": top,
        "model": model,
        "seconds": round(float(video.get("seconds", 0.0)), 3),
    }
    return row, frames if status == OK else []


def record(row: dict[str, Any], key: str, frames: list[dict[str, Any]]) -> dict[str, Any]:
    """The committed record of one scored input."""
    return {"row": row, "key": key, "model": row["model"], "frames": frames}


# ----------------------------------------------------------------- files

join = fileio.join
write_whole = fileio.write_bytes  # whole or not at all: local temp + rename, remote one upload


def _read_lines(path: str) -> Iterator[str]:
    return (line for line in fileio.read_text(path).splitlines() if line.strip())


def part_files(dest: str) -> list[str]:
    """Committed part files of DEST, oldest run first (names start with the run's UTC time)."""
    return [p for p in fileio.glob(join(dest, PARTS_DIR, "*.jsonl")) if not posixpath.basename(p).startswith(".")]


def new_part_path(dest: str, run_id: str) -> str:
    return join(dest, PARTS_DIR, f"{run_id}-{uuid.uuid4().hex[:12]}.jsonl")


def read_records(dest: str) -> Iterator[dict[str, Any]]:
    """Every committed record of DEST, oldest first."""
    for path in part_files(dest):
        for line in _read_lines(path):
            yield json.loads(line)


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


# ----------------------------------------------------------------- views

def latest_records(dest: str) -> list[dict[str, Any]]:
    """The newest committed record per input URI, sorted by URI."""
    latest: dict[str, dict[str, Any]] = {}
    for rec in read_records(dest):
        latest[rec["row"]["uri"]] = rec
    return [latest[u] for u in sorted(latest)]


def encode_rows(rows: Sequence[dict[str, Any]], fmt: str) -> bytes:
    """Rows as JSON lines, CSV (top_frames as a JSON string) or Parquet, columns in ROW_KEYS order."""
    rows = [{**{k: r[k] for k in ROW_KEYS},
             "top_frames": [{k: t[k] for k in ("frame", "seconds", "p_fake")} for t in r["top_frames"]]}
            for r in rows]
    if fmt == "jsonl":
        return "".join(json.dumps(r) + "\n" for r in rows).encode()
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=ROW_KEYS, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({**r, "top_frames": json.dumps(r["top_frames"])})
        return buf.getvalue().encode()
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        top = pa.list_(pa.struct([("frame", pa.int64()), ("seconds", pa.float64()), ("p_fake", pa.float64())]))
        schema = pa.schema([("uri", pa.string()), ("status", pa.string()), ("reason", pa.string()),
                            ("p_fake", pa.float64()), ("verdict", pa.string()), ("frames_sampled", pa.int64()),
                            ("faces_scored", pa.int64()), ("top_frames", top), ("model", pa.string()),
                            ("seconds", pa.float64())])
        table = pa.Table.from_pylist(rows, schema=schema)
        buf = io.BytesIO()
        pq.write_table(table, buf)
        return buf.getvalue()
    raise ValueError(f"unknown format {fmt!r} ({' | '.join(FORMATS)})")


def results_path(dest: str, fmt: str) -> str:
    return join(dest, f"results.{fmt}")


def summarize(rows: Sequence[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """Counts per status, fakes, and whatever the caller adds (throughput, model, paths)."""
    out: dict[str, Any] = {
        "videos": len(rows),
        "ok": sum(r["status"] == OK for r in rows),
        "no_face": sum(r["status"] == NO_FACE for r in rows),
        "failed": sum(r["status"] == FAILED for r in rows),
        "fake": sum(r["verdict"] == "fake" for r in rows),
        "real": sum(r["verdict"] == "real" for r in rows),
    }
    out.update(extra)
    return out


def write_views(dest: str, fmt: str, **summary_extra: Any) -> dict[str, Any]:
    """Rewrites results.<fmt>, frames.jsonl and summary.json from the committed parts; returns the summary."""
    records = latest_records(dest)
    rows = [r["row"] for r in records]
    write_whole(results_path(dest, fmt), encode_rows(rows, fmt))
    write_whole(join(dest, FRAMES_FILE), "".join(
        json.dumps({"uri": r["row"]["uri"], "frames": r["frames"]}) + "\n" for r in records).encode())
    summary = summarize(rows, results=results_path(dest, fmt), **summary_extra)
    write_whole(join(dest, SUMMARY_FILE), (json.dumps(summary, indent=2, sort_keys=True) + "\n").encode())
    return summary


def read_frames_view(dest: str) -> dict[str, list[dict[str, Any]]]:
    """uri -> per-frame scores, from DEST/frames.jsonl."""
    path = join(dest, FRAMES_FILE)
    if not fileio.exists(path):
        return {}
    return {d["uri"]: d["frames"] for d in (json.loads(line) for line in _read_lines(path))}
