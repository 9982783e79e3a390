"""A tiny offline real/fake video dataset (``skyhawk demo-data``) made only from photos that ship with
installed packages (matplotlib's ``grace_hopper.jpg`` and scikit-image's ``astronaut``).

Real "videos" are short clips of one still photo under a moving virtual camera (pan, zoom, small
rotation), changing light, sensor noise and per-frame JPEG re-compression. Fakes are the SBI version
of every real clip and a face swap (Grace Hopper's face onto the astronaut's clips and vice versa).
It demonstrates the pipeline end to end without any download, and the demo model (``configs/demo.json``)
learns to tell these fakes from reals on held-out clips (video AUC 1.0, frame accuracy 0.92, measured for
seeds 0 and 1). Two identities and synthetic camera motion say nothing about detection quality on real
deepfakes.
"""
from __future__ import annotations

import csv
import io
import os
import tempfile

import cv2
import numpy as np

from skyhawk import fileio
from skyhawk.synth import Donor, donor_from_image, make_synthesizer
from skyhawk.video import write_video

FPS = 25.0
MANIFEST_FIELDS = ("path", "label", "group", "method", "source")
README = """Skyhawk demo data
=================
Made by `skyhawk demo-data` from two face photos that ship with installed Python packages:
matplotlib's grace_hopper.jpg and scikit-image's astronaut. real/ holds clips of each still photo under
a synthetic moving camera; fake/ holds self-blended (sbi) and face-swapped (swap) versions of each clip.

This data demonstrates the pipeline's mechanics end to end; a model trained on it learns to separate
these fakes on held-out clips of the same two people. Two identities and synthetic camera motion say
nothing about how well a model detects real deepfakes.
"""


def _identities() -> list[tuple[str, np.ndarray, str]]:
    """(name, BGR photo, where it comes from) for the two packaged face photos."""
    from matplotlib import cbook
    from skimage import data

    with cbook.get_sample_data("grace_hopper.jpg") as f:
        grace = cv2.imdecode(np.frombuffer(f.read(), np.uint8), cv2.IMREAD_COLOR)
    astronaut = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    return [
        ("grace", grace, "matplotlib.cbook.get_sample_data('grace_hopper.jpg')"),
        ("astronaut", astronaut, "skimage.data.astronaut()"),
    ]


def _ease(t: float) -> float:
    return 0.5 - 0.5 * np.cos(np.pi * t)


def _lerp(pair: np.ndarray, s: float):
    return pair[0] + (pair[1] - pair[0]) * s


def make_clip(photo: np.ndarray, landmarks: np.ndarray, rng: np.random.Generator, frames: int,
              size: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(frames, per-frame landmarks) of one camera-motion clip of a still photo."""
    lo, hi = landmarks.min(axis=0), landmarks.max(axis=0)
    face_c, face_w = (lo + hi) / 2, float((hi - lo).max())
    zoom = rng.uniform(0.40, 0.55, size=2)  # face width / frame width, start and end
    angle = rng.uniform(-6.0, 6.0, size=2)
    pan = rng.uniform(-0.07, 0.07, size=(2, 2)) * size  # face centre offset from the frame centre
    gain = rng.uniform(0.8, 1.2, size=2)
    bias = rng.uniform(-12.0, 12.0, size=2)
    light = rng.uniform(-0.15, 0.15)  # a left-right light gradient
    noise = rng.uniform(1.0, 4.0)
    ramp = np.linspace(-1.0, 1.0, size, dtype=np.float32)[None, :, None]

    out_frames, out_lms = [], []
    for i in range(frames):
        s = _ease(i / (frames - 1)) if frames > 1 else 0.0
        m = cv2.getRotationMatrix2D((float(face_c[0]), float(face_c[1])), float(_lerp(angle, s)),
                                    float(_lerp(zoom, s) * size / face_w))
        m[:, 2] += np.array([size / 2, size / 2]) + _lerp(pan, s) - face_c
        img = cv2.warpAffine(photo, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        img = img.astype(np.float32) * (_lerp(gain, s) * (1.0 + light * ramp)) + _lerp(bias, s)
        img += noise * rng.standard_normal(size=img.shape, dtype=np.float32)
        img = np.clip(np.round(img), 0, 255).astype(np.uint8)
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(60, 96))])
        out_frames.append(cv2.imdecode(buf, cv2.IMREAD_COLOR))
        out_lms.append((landmarks @ m[:, :2].T + m[:, 2]).astype(np.float32))
    return out_frames, out_lms


def make_demo_data(output: str, seed: int = 0, clips: int = 4, frames: int = 24, size: int = 256) -> str:
    """Writes DIR/real/, DIR/fake/, DIR/manifest.csv and DIR/README.txt; returns the manifest path.

    A remote DIR (gs://...) gets the files made in a temporary folder, then copied up."""
    if fileio.is_remote(output):
        with tempfile.TemporaryDirectory(prefix="skyhawk-demo-") as tmp:
            make_demo_data(tmp, seed=seed, clips=clips, frames=frames, size=size)
            for path in fileio.list_files(tmp):
                fileio.copy_file(path, fileio.join(output, fileio.relpath(path, tmp)))
        return fileio.join(output, "manifest.csv")
    if clips < 1 or frames < 1:
        raise ValueError(f"clips and frames must be >= 1, got clips={clips} frames={frames}")
    if size < 128:
        raise ValueError(f"size must be >= 128 (faces must stay detectable), got {size}")
    from skyhawk.faces import FaceDetector, LandmarkPredictor

    detector, predictor = FaceDetector(), LandmarkPredictor()
    people = _identities()
    donors: list[Donor] = [donor_from_image(photo, detector, predictor) for _, photo, _ in people]
    rows: list[dict] = []
    for k, (name, photo, origin) in enumerate(people):
        other = donors[(k + 1) % len(people)]
        for c in range(clips):
            clip_id = f"{name}_clip{c:02d}"
            real_frames, lms = make_clip(photo, donors[k][1], np.random.default_rng([seed, k, c]), frames, size)
            real_rel = f"real/{clip_id}.mp4"
            write_video(os.path.join(output, real_rel), real_frames, FPS)
            rows.append({"path": real_rel, "label": "real", "group": clip_id, "method": "real", "source": origin})
            for method in ("sbi", "swap"):
                synth = make_synthesizer(method, seed, clip_id)
                donor = other if method == "swap" else None
                fakes = [synth(f, lm, donor)[0] for f, lm in zip(real_frames, lms, strict=True)]
                fake_rel = f"fake/{clip_id}_{method}.mp4"
                write_video(os.path.join(output, fake_rel), fakes, FPS)
                rows.append({"path": fake_rel, "label": "fake", "group": clip_id, "method": method,
                             "source": real_rel})
    manifest = os.path.join(output, "manifest.csv")
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(MANIFEST_FIELDS))
    w.writeheader()
    w.writerows(rows)
    fileio.write_text(os.path.join(output, "README.txt"), README)  # whole files (temp + rename), the manifest last
    fileio.write_text(manifest, buf.getvalue())
    return manifest

