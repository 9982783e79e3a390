"""Fake videos/photos from a folder of real ones, with a manifest and a contact sheet (``skyhawk synth``).

For each real video the first ``--frames`` frames are decoded in order, the face is tracked and its
68 landmarks found in each frame, and the frame is faked (SBI or a face swap); frames without a face
are copied unchanged. Outputs: ``DIR/fake/<name>_<method>.mp4|.png`` (``<name>``: the input's path
under --input with ``/`` as ``__``, plus its extension when two inputs would share a name), ``DIR/manifest.csv``
(``path,label,group,method,source``) and ``DIR/errors.csv`` (``source,reason``).
"""
from __future__ import annotations

import csv
import hashlib
import io
import os
import time
from collections import Counter
from dataclasses import dataclass, field

import cv2
import numpy as np

from skyhawk import fileio
from skyhawk.config import VIDEO_EXTENSIONS
from skyhawk.datasets import is_media
from skyhawk.faces import FaceDetector, FaceTracker, LandmarkPredictor
from skyhawk.synth import METHODS, Donor, SynthError, donor_from_image, make_synthesizer
from skyhawk.synth.sheet import SheetPair, make_contact_sheet
from skyhawk.video import VideoError, read_frames, write_image, write_video

MANIFEST_FIELDS = ("path", "label", "group", "method", "source")
DONOR_SEARCH_FRAMES = 16  # frames of a donor video searched for a face
SHEET_MAX = 24  # pairs on the contact sheet
DEFAULT_FPS = 25.0


@dataclass(frozen=True)
class Item:
    path: str  # absolute input path
    rel: str  # path relative to the input root (posix)

    @property
    def group(self) -> str:
        return os.path.splitext(self.rel)[0]

    @property
    def is_video(self) -> bool:
        return self.path.lower().endswith(VIDEO_EXTENSIONS)


@dataclass
class SynthReport:
    method: str
    ok: list[dict] = field(default_factory=list)  # manifest rows
    failed: list[tuple[str, str]] = field(default_factory=list)  # (source, reason)
    frames: int = 0  # frames written
    unchanged_frames: int = 0  # frames without a (fakeable) face, copied unchanged
    seconds: float = 0.0
    manifest: str = ""
    errors: str = ""
    sheet: str | None = None

    def summary(self) -> str:
        lines = [f"  FAILED {src}: {reason}" for src, reason in self.failed]
        lines.append(
            f"synth {self.method}: {len(self.ok)} ok, {len(self.failed)} failed, {self.frames} frames "
            f"({self.unchanged_frames} without a face copied unchanged) in {self.seconds:.1f} s"
        )
        lines.append(f"manifest: {self.manifest}" + (f"; contact sheet: {self.sheet}" if self.sheet else ""))
        return "\n".join(lines)


def list_inputs(input_path: str, exclude: str | None = None) -> list[Item]:
    """Videos and photos at input_path (a file or a folder, searched recursively), sorted."""
    root = os.path.abspath(input_path)
    if os.path.isfile(root):
        if not is_media(root):
            raise SynthError(f"not a video or photo: {input_path}")
        return [Item(root, os.path.basename(root))]
    if not os.path.isdir(root):
        raise SynthError(f"input not found: {input_path}")
    skip = os.path.abspath(exclude) + os.sep if exclude else None
    items = [Item(p, fileio.relpath(p, root)) for p in fileio.list_files(root)
             if is_media(p) and not (skip and p.startswith(skip))]
    if not items:
        raise SynthError(f"no videos or photos under {input_path}")
    return sorted(items, key=lambda it: it.rel)


def output_names(items: list[Item]) -> dict[str, str]:
    """A unique output file stem per input (keyed by its rel path): ``a/b.jpg`` -> ``a__b``.

    Inputs whose stems collide (``x.jpg`` and ``x.png``; ``a/b.jpg`` and ``a__b.png``) keep their
    extension (``x-jpg``, ``x-png``); if that still collides, a hash of the rel path is added.
    """
    base = {it.rel: it.group.replace("/", "__") for it in items}
    count = Counter(base.values())
    names = {}
    for it in items:
        name = base[it.rel]
        if count[name] > 1:
            name += "-" + os.path.splitext(it.rel)[1].lstrip(".").lower()
        names[it.rel] = name
    count = Counter(names.values())
    for rel, name in names.items():
        if count[name] > 1:
            names[rel] = f"{name}-{hashlib.sha1(rel.encode()).hexdigest()[:8]}"
    return names


def load_frames(item: Item, max_frames: int) -> tuple[list[np.ndarray], float]:
    """(frames, fps): a photo, or a video's first max_frames frames in order. Raises VideoError."""
    if not item.is_video:
        img = cv2.imread(item.path, cv2.IMREAD_COLOR)
        if img is None:
            raise VideoError("not a readable image")
        return [img], 0.0
    frames, fps = read_frames(item.path, max_frames)
    return frames, fps if fps > 0 else DEFAULT_FPS


class _Runner:
    def __init__(self, items: list[Item], output: str, method: str, frames: int, seed: int,
                 detector: FaceDetector, predictor: LandmarkPredictor):
        self.items, self.output, self.method = items, output, method
        self.max_frames, self.seed = frames, seed
        self.detector, self.predictor = detector, predictor
        self.names = output_names(items)
        self._donors: dict[int, Donor | None] = {}

    def _donor_of(self, j: int) -> Donor | None:
        """The first face found in item j (a photo, or one of a video's first frames), else None."""
        if j not in self._donors:
            self._donors[j] = None
            try:
                frames, _ = load_frames(self.items[j], min(self.max_frames, DONOR_SEARCH_FRAMES))
            except VideoError:
                return None
            for f in frames:
                try:
                    self._donors[j] = donor_from_image(f, self.detector, self.predictor)
                    break
                except SynthError:
                    continue
        return self._donors[j]

    def donor_for(self, i: int) -> tuple[Donor, Item]:
        """The next other item (in sorted order, wrapping) with a face."""
        n = len(self.items)
        for step in range(1, n):
            donor = self._donor_of((i + step) % n)
            if donor is not None:
                return donor, self.items[(i + step) % n]
        raise SynthError("no other input item with a face to take a donor face from")

    def run_item(self, i: int, report: SynthReport) -> tuple[dict, SheetPair | None]:
        item = self.items[i]
        frames, fps = load_frames(item, self.max_frames)
        tracker = FaceTracker(self.detector)
        synth = make_synthesizer(self.method, self.seed, item.rel)
        donor: Donor | None = None
        out: list[np.ndarray] = []
        faked: list[tuple[int, tuple[float, float, float, float]]] = []
        last_error = ""
        for k, frame in enumerate(frames):
            faces = tracker.find(frame)
            if not faces:
                out.append(frame)
                continue
            if self.method == "swap" and donor is None:
                donor, _ = self.donor_for(i)
            try:
                fake, _ = synth(frame, self.predictor(frame, faces[0]), donor)
            except SynthError as e:
                last_error = str(e)
                out.append(frame)
                continue
            out.append(fake)
            faked.append((k, faces[0].box()))
        if not faked:
            raise SynthError(f"no frame could be faked: {last_error}" if last_error else "no face found")

        rel_out = f"fake/{self.names[item.rel]}_{self.method}" + (".mp4" if item.is_video else ".png")
        dest = os.path.join(self.output, rel_out)
        fileio.makedirs(os.path.dirname(dest))
        if item.is_video:  # whole files or none (temp + rename); a full disk stops the run naming dest
            write_video(dest, out, fps)
        else:
            write_image(dest, out[0])
        report.frames += len(out)
        report.unchanged_frames += len(out) - len(faked)
        k, box = faked[len(faked) // 2]
        pair = SheetPair(f"{item.rel} ({self.method})", frames[k], out[k], box)
        return {"path": rel_out, "label": "fake", "group": item.group, "method": self.method,
                "source": item.path}, pair


def synthesize_folder(input_path: str, output: str, method: str, frames: int = 64, seed: int = 0,
                      contact_sheet: str | None = None, detector: FaceDetector | None = None,
                      predictor: LandmarkPredictor | None = None) -> SynthReport:
    """Fakes every video/photo under input_path into output; a bad item is reported, the rest produced."""
    if method not in METHODS:
        raise SynthError(f"unknown method {method!r} (sbi|swap)")
    if frames < 1:
        raise SynthError(f"--frames must be >= 1, got {frames}")
    start = time.monotonic()
    items = list_inputs(input_path, exclude=output)
    fileio.makedirs(output)
    runner = _Runner(items, output, method, frames, seed, detector or FaceDetector(), predictor or LandmarkPredictor())
    report = SynthReport(method=method)
    pairs: list[SheetPair] = []
    for i, item in enumerate(items):
        try:
            row, pair = runner.run_item(i, report)
        except (SynthError, VideoError) as e:
            report.failed.append((item.path, str(e)))
            continue
        report.ok.append(row)
        if pair is not None and len(pairs) < SHEET_MAX:
            pairs.append(pair)

    report.manifest = os.path.join(output, "manifest.csv")
    _write_csv(report.manifest, MANIFEST_FIELDS, report.ok)
    report.errors = os.path.join(output, "errors.csv")
    _write_csv(report.errors, ("source", "reason"), [{"source": s, "reason": r} for s, r in report.failed])
    if contact_sheet and pairs:
        report.sheet = make_contact_sheet(pairs, contact_sheet)
    report.seconds = time.monotonic() - start
    return report


def _write_csv(path: str, fields: tuple[str, ...], rows: list[dict]) -> None:
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=list(fields))
    w.writeheader()
    w.writerows(rows)
    fileio.write_text(path, buf.getvalue())

