"""Which detection stage found each face: a timing wrapper of the FaceDetector and the ``--audit`` of
``bench/bench_extract.py`` (split out of it to keep files short)."""
from __future__ import annotations

import time
from pathlib import Path

import cv2

from skyhawk.faces import FaceTracker, crop_face
from skyhawk.video import iter_sampled_frames


class Timed:
    """Wraps a FaceDetector, timing and counting the tracked-window search and each chance (``<name>_calls``,
    ``_hits``, ``_s``); ``last`` names the one that gave the latest faces (tracked or a chance's name)."""

    def __init__(self, det):
        self.det = det
        self.kind, self.detect_size = det.kind, det.detect_size
        self.names = ["near", "around", *(c.name for c in det.chances)]
        self.stats = {f"{n}_{k}": 0 if k != "s" else 0.0 for n in self.names for k in ("calls", "hits", "s")}
        self.last = ""

    def _timed(self, name: str, call, *args):
        t = time.perf_counter()
        faces = call(*args)
        self.stats[f"{name}_s"] += time.perf_counter() - t
        self.stats[f"{name}_calls"] += 1
        self.stats[f"{name}_hits"] += bool(faces)
        self.last = {"near": "tracked", "around": "retry"}.get(name, name) if faces else self.last
        return faces

    def detect_near(self, frame, prev):
        return self._timed("near", self.det.detect_near, frame, prev)

    def detect_around(self, frame, prev):
        return self._timed("around", self.det.detect_around, frame, prev)

    def search(self, frame):
        for chance in self.det.chances:
            faces = self._timed(chance.name, chance.find, frame)
            if faces:
                return faces
        return []


def audit_chances(videos: list[str], frames: int, sheet: str | None) -> None:
    """Which chance found each frame's face (tracked window, full frame, 2x, Haar) over ``videos``; the
    Haar-found crops (the kept face, 128 px, labelled video:frame) go to a contact sheet PNG for review."""
    import numpy as np

    from bench.bench_extract import project_settings

    cfg, detector = project_settings(frames)
    det = Timed(detector)
    found: dict[str, int] = {}
    crops: list = []
    n = 0
    for v in videos:
        tracker = FaceTracker(det)
        try:
            for idx, frame in iter_sampled_frames(v, frames):
                n += 1
                det.last = ""
                faces = tracker.find(frame)
                key = det.last if faces else "none"
                found[key] = found.get(key, 0) + 1
                if key == "haar":  # the Haar cascade's finds go to the contact sheet
                    crop = crop_face(frame, faces[0].box(), cfg.margin, 128).copy()
                    cv2.putText(crop, f"{len(crops)} {Path(v).stem[:10]}:{idx}", (2, 12), cv2.FONT_HERSHEY_SIMPLEX,
                                0.35, (0, 255, 0), 1)
                    crops.append(crop)
                    print(f"  haar #{len(crops) - 1}: {v} frame {idx} score {faces[0].score:.2f}")
        except Exception as e:  # noqa: BLE001  (a bad video is reported, not fatal)
            print(f"  {v}: {e}")
    print(f"\nwhich chance found the face, {len(videos)} videos, {n} sampled frames: "
          + ", ".join(f"{k} {found.get(k, 0)}" for k in ("tracked", "retry", *(c.name for c in detector.chances),
                                                         "none")))
    if sheet and crops:
        while len(crops) % 10:
            crops.append(np.zeros_like(crops[0]))
        cv2.imwrite(sheet, np.vstack([np.hstack(crops[i:i + 10]) for i in range(0, len(crops), 10)]))
        print(f"Haar-found crops: {sheet}")
