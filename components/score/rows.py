"""The result row of one scored video: status, P(fake) over its frames, verdict, top frames, nuisance facts."""
from __future__ import annotations

from typing import Any, Iterable

from skyhawk.aggregate import NO_FACE_SCORE, video_score

ROW_KEYS = ("uri", "status", "reason", "p_fake", "verdict", "frames_sampled", "faces_scored", "top_frames",
            "model", "seconds", "nuisance")
OK, NO_FACE, FAILED = "ok", "no_face", "failed"
TOP_FRAMES = 3


def make_row(video: dict[str, Any], face_scores: Iterable[tuple[int, float, float]], model: str, threshold: float,
             aggregate: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(result row, per-frame scores) of one video.

    ``video``: the sampling record (uri, status, reason, frames_sampled, faces, seconds, nuisance);
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
        "nuisance": dict(video.get("nuisance") or {}),
    }
    return row, frames if status == OK else []


def record(row: dict[str, Any], key: str, frames: list[dict[str, Any]]) -> dict[str, Any]:
    """The committed record of one scored input."""
    return {"row": row, "key": key, "model": row["model"], "frames": frames}
