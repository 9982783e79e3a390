"""Synthetic fakes (SBI, face swap) and `skyhawk synth` on real face photos and videos."""
from __future__ import annotations

import csv
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipelines import main as cli
from skyhawk import datasets
from skyhawk.faces import FaceDetector, FaceTracker, LandmarkPredictor
from skyhawk.features import FAKE
from skyhawk.synth import SynthError, donor_from_image, make_synthesizer
from skyhawk.synth import folder as synth_folder
from skyhawk.video import open_capture, read_frames, write_video

PHOTOS = (0, 13, 16)  # real_faces indices with one face HOG finds (720 px, 400 px, 394 px)
VIDEOS = (0, 5)  # real_videos indices: a 256 px and a 512 px clip


@pytest.fixture(scope="module")
def models() -> tuple[FaceDetector, LandmarkPredictor]:
    return FaceDetector(), LandmarkPredictor()


@pytest.fixture(scope="module")
def faces(real_faces, models):
    """[(path, image, landmarks)] of the chosen photos."""
    out = []
    for i in PHOTOS:
        img, lms = donor_from_image(cv2.imread(str(real_faces[i])), *models)
        out.append((real_faces[i], img, lms))
    return out


def far_from_face(landmarks: np.ndarray, shape: tuple[int, ...], pad: float = 0.25) -> np.ndarray:
    """True where a pixel is more than pad face sizes away from the landmarks' convex hull."""
    hull = np.zeros(shape[:2], np.uint8)
    cv2.fillConvexPoly(hull, cv2.convexHull(np.round(landmarks).astype(np.int32)), 1)
    size = float((landmarks.max(0) - landmarks.min(0)).max())
    k = 2 * int(pad * size) + 1
    return cv2.dilate(hull, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))) == 0


def iou(a, b) -> float:
    x0, y0, x1, y1 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])  # noqa: E731
    return inter / (area(a) + area(b) - inter)


def decode(path: str) -> tuple[list[np.ndarray], float, int]:
    _, header, _ = open_capture(path)
    frames, fps = read_frames(path)
    return frames, fps, header


@pytest.mark.parametrize("method", ["sbi", "swap"])
def test_fakes_change_only_the_face_and_keep_a_detectable_face(method, faces, models):
    detector, _ = models
    for i, (path, img, lms) in enumerate(faces):
        donor = faces[(i + 1) % len(faces)][1:]
        fake, mask = make_synthesizer(method, 0, path.name)(img, lms, donor)
        assert fake.shape == img.shape and fake.dtype == img.dtype
        assert mask.shape == img.shape[:2] and mask.dtype == np.float32
        assert 0.0 <= mask.min() and mask.max() <= 1.0 and mask.max() > 0.5
        changed = (fake != img).any(axis=2)
        face_px = float(np.prod(lms.max(0) - lms.min(0)))
        assert changed.sum() > 0.2 * face_px, f"{method} barely changed {path.name}"
        assert not (changed & (mask == 0)).any(), f"{method} changed pixels outside its mask in {path.name}"
        assert not (changed & far_from_face(lms, img.shape)).any(), f"{method} changed pixels far from the face"
        found = detector.detect(fake)
        assert found, f"dlib finds no face in the {method} fake of {path.name}"
        assert iou(found[0].box(), detector.detect(img)[0].box()) > 0.5


def test_synthesizer_is_deterministic_for_seed_and_key(faces):
    _, img, lms = faces[0]
    donor = faces[1][1:]
    for method in ("sbi", "swap"):
        a, _ = make_synthesizer(method, 3, "video-a")(img, lms, donor)
        b, _ = make_synthesizer(method, 3, "video-a")(img, lms, donor)
        assert np.array_equal(a, b)
    a, _ = make_synthesizer("sbi", 3, "video-a")(img, lms)
    assert not np.array_equal(a, make_synthesizer("sbi", 3, "video-b")(img, lms)[0])
    assert not np.array_equal(a, make_synthesizer("sbi", 4, "video-a")(img, lms)[0])


def test_clear_errors(faces, models):
    _, img, lms = faces[0]
    with pytest.raises(SynthError, match="donor"):
        make_synthesizer("swap", 0, "k")(img, lms)
    with pytest.raises(SynthError, match="68, 2"):
        make_synthesizer("sbi", 0, "k")(img, lms[:10])
    with pytest.raises(SynthError, match="unknown synthesis method"):
        make_synthesizer("deepfacelab", 0, "k")
    gradient = np.tile(np.linspace(0, 255, 320, dtype=np.float32), (240, 1)).astype(np.uint8)
    with pytest.raises(SynthError, match="no face found"):
        donor_from_image(cv2.merge([gradient] * 3), *models)
    far = lms + np.float32(10 * max(img.shape))  # a face entirely outside the frame
    with pytest.raises(SynthError, match="outside the frame"):
        make_synthesizer("sbi", 0, "k")(img, far)


def _input_dir(tmp: Path, photos: list[Path], videos: list[Path], bad: bool) -> Path:
    """A folder of symlinks to the shared media (never copies), plus optional bad items."""
    d = tmp / "in"
    d.mkdir()
    for p in photos + videos:
        (d / p.name).symlink_to(p)
    if bad:
        g = np.tile(np.linspace(0, 255, 300, dtype=np.float32), (200, 1)).astype(np.uint8)
        cv2.imwrite(str(d / "gradient.png"), cv2.merge([g] * 3))
        (d / "broken.mp4").write_text("this is not a video\n")
    return d


def _rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_cli_sbi_videos_photos_and_bad_items(tmp_path, real_faces, real_videos, faces, models, capsys):
    detector, _ = models
    photos = [real_faces[i] for i in PHOTOS[1:]]
    videos = [real_videos[i] for i in VIDEOS]
    inp = _input_dir(tmp_path, photos, videos, bad=True)
    out, sheet = tmp_path / "out", tmp_path / "sheet.png"
    code = cli.main(["synth", "--input", str(inp), "--output", str(out), "--method", "sbi",
                     "--frames", "6", "--seed", "1", "--contact-sheet", str(sheet)])
    printed = capsys.readouterr().out
    assert code == 0
    assert "4 ok, 2 failed" in printed and "broken.mp4" in printed and "gradient.png" in printed

    errors = {os.path.basename(r["source"]): r["reason"] for r in _rows(out / "errors.csv")}
    assert errors == {"broken.mp4": "not a readable video (OpenCV/FFmpeg could not open it)",
                      "gradient.png": "no face found"}

    rows = _rows(out / "manifest.csv")
    assert list(rows[0]) == ["path", "label", "group", "method", "source"]
    by_group = {r["group"]: r for r in rows}
    assert set(by_group) == {p.stem for p in photos + videos}
    for p in photos + videos:
        r = by_group[p.stem]
        assert r["label"] == "fake" and r["method"] == "sbi" and r["source"] == str(inp / p.name)
        assert r["path"] == f"fake/{p.stem}_sbi" + (".mp4" if p.suffix == ".mp4" else ".png")

    for v in videos:
        frames, fps, header = decode(str(out / by_group[v.stem]["path"]))
        src = cv2.VideoCapture(str(v))
        assert len(frames) == 6 and header == 6
        assert fps == pytest.approx(src.get(cv2.CAP_PROP_FPS), abs=0.01)
        assert frames[0].shape[:2] == (int(src.get(cv2.CAP_PROP_FRAME_HEIGHT)), int(src.get(cv2.CAP_PROP_FRAME_WIDTH)))
        src.release()
        assert detector.detect(frames[0], upsample=1), f"no face in the fake of {v.name}"

    # photos are lossless PNGs: the fake equals the real photo away from the face, bit for bit
    for path, img, lms in faces[1:]:
        fake = cv2.imread(str(out / by_group[path.stem]["path"]))
        assert fake.shape == img.shape
        changed = (fake != img).any(axis=2)
        assert changed.any() and not (changed & far_from_face(lms, img.shape)).any()

    # the manifest is a label source for extraction: labels and groups come through
    items = datasets.discover(str(out), f"csv:{out / 'manifest.csv'}")
    assert len(items) == 4 and all(not it.error and it.label == FAKE and it.method == "sbi" for it in items)
    assert {it.group_id for it in items} == {p.stem for p in photos + videos}

    grid = cv2.imread(str(sheet))
    assert grid is not None and grid.shape[0] > 160 and grid.shape[1] > 480 and grid.mean() > 40


def test_cli_swap_takes_donor_from_another_item(tmp_path, real_faces, real_videos, models):
    detector, predictor = models
    photos = [real_faces[i] for i in PHOTOS[:2]]
    video = real_videos[VIDEOS[0]]
    inp = _input_dir(tmp_path, photos, [video], bad=False)
    out = tmp_path / "out"
    assert cli.main(["synth", "--input", str(inp), "--output", str(out), "--method", "swap", "--frames", "4"]) == 0
    rows = _rows(out / "manifest.csv")
    assert sorted(r["group"] for r in rows) == sorted(p.stem for p in photos + [video])
    assert {r["method"] for r in rows} == {"swap"} and _rows(out / "errors.csv") == []
    vrow = next(r for r in rows if r["path"].endswith(".mp4"))
    fakes, _, _ = decode(str(out / vrow["path"]))
    assert len(fakes) == 4 and all(detector.detect(f, upsample=1) for f in fakes)

    # The donor is the next input (sorted, wrapping) with a face; the other photo is not it.
    items = synth_folder.list_inputs(str(inp))
    i = next(k for k, it in enumerate(items) if it.is_video)
    donor = donor_from_image(cv2.imread(items[(i + 1) % 3].path), detector, predictor)
    other = donor_from_image(cv2.imread(items[(i + 2) % 3].path), detector, predictor)
    # The source frames through the same encoder: what the output is where nothing was faked.
    sources, fps = read_frames(str(video), 4)
    write_video(str(tmp_path / "source.mp4"), sources, fps)
    reencoded, _ = read_frames(str(tmp_path / "source.mp4"))
    tracker, synth = FaceTracker(detector), make_synthesizer("swap", 0, items[i].rel)
    for src, ref, fake in zip(sources, reencoded, fakes, strict=True):
        lms = predictor(src, tracker.find(src)[0])
        with_donor, mask = synth(src, lms, donor)
        with_other, _ = synth(src, lms, other)
        inside, far = mask > 0.5, far_from_face(lms, src.shape)
        err = lambda a, b, where: float(np.abs(a.astype(np.int16) - b.astype(np.int16))[where].mean())  # noqa: E731
        # inside the mask: the donor's face (up to codec noise), not the source's nor another donor's
        assert err(fake, with_donor, inside) < 6 and err(fake, ref, inside) > 3 * err(fake, with_donor, inside)
        assert err(fake, with_other, inside) > 3 * err(fake, with_donor, inside)
        # away from the face: the source, as the same encoder writes it
        assert err(fake, ref, far) < 0.5 and np.abs(fake.astype(np.int16) - ref)[far].max() <= 8


def test_synth_output_names_never_collide(tmp_path, real_faces, capsys):
    """x.jpg + x.png and a/b.jpg + a__b.png used to map to one output file (4 ok, 2 files written)."""
    inp = tmp_path / "in"
    (inp / "a").mkdir(parents=True)
    sources = {"x.jpg": real_faces[PHOTOS[0]], "x.png": real_faces[PHOTOS[1]], "a/b.jpg": real_faces[PHOTOS[2]],
               "a__b.png": real_faces[PHOTOS[1]]}
    for rel, src in sources.items():
        (inp / rel).symlink_to(src)
    out = tmp_path / "out"
    assert cli.main(["synth", "--input", str(inp), "--output", str(out), "--method", "sbi"]) == 0
    assert "4 ok, 0 failed" in capsys.readouterr().out
    rows = _rows(out / "manifest.csv")
    assert len({r["path"] for r in rows}) == 4 and len(list((out / "fake").iterdir())) == 4
    for r in rows:  # every row's fake is the fake of that row's own source
        src = cv2.imread(r["source"])
        fake = cv2.imread(str(out / r["path"]))
        assert fake.shape == src.shape and 0 < (fake != src).any(axis=2).mean() < 0.5, r


def test_single_item_swap_has_no_donor(tmp_path, real_faces):
    out = tmp_path / "out"
    code = cli.main(["synth", "--input", str(real_faces[PHOTOS[1]]), "--output", str(out), "--method", "swap"])
    assert code == 1
    assert _rows(out / "errors.csv")[0]["reason"] == "no other input item with a face to take a donor face from"
