"""The face-detector table (skyhawk.detectors.CHANCES): a detector registered from a test file alone runs
through the normal paths (config check, FaceDetector.from_config, the tracker, sample_faces)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from media import FACE_VIDEOS

from skyhawk.config import ConfigError, ExtractConfig
from skyhawk.detectors import CHANCES, DEFAULT_CHANCES, Chance, Face, FaceDetector, register_chance
from skyhawk.faces import sample_faces


class Alt2Chance(Chance):
    """A toy detector: OpenCV's alternative frontal Haar cascade (alt2), boxes as they come, no HOG scoring."""

    def __init__(self, detector: FaceDetector):
        super().__init__(detector)
        self.cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_alt2.xml")
        self.calls = 0

    def detect(self, frame_bgr: np.ndarray) -> list[Face]:
        self.calls += 1
        grey = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY)
        boxes = self.cascade.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(40, 40))
        faces = [Face(float(x), float(y), float(x + w), float(y + h), 1.0) for x, y, w, h in boxes]
        return sorted(faces, key=lambda f: f.area, reverse=True)


@pytest.fixture
def alt2():
    register_chance("toy_alt2")(Alt2Chance)
    yield "toy_alt2"
    CHANCES.pop("toy_alt2")


def test_a_detector_registered_in_a_test_detects_through_the_normal_paths(alt2: str, shared_media: Path):
    cfg = ExtractConfig(frames_per_video=6, image_size=64, chances=(alt2,))
    detector = FaceDetector.from_config(cfg)
    assert [c.name for c in detector.chances] == [alt2] and detector.kind == "hog"  # HOG still tracks
    hog = FaceDetector.from_config(ExtractConfig(frames_per_video=6))
    path = str(shared_media / "real_videos" / FACE_VIDEOS[0])
    frames = list(sample_faces(path, cfg, detector))
    assert len(frames) == 6 and all(f.faces for f in frames)
    assert detector.chances[0].calls >= 1  # the first frame: no face to track yet, so the chance ran
    first = frames[0]
    reference = hog.detect(first.frame)[0]
    found = first.faces[0]
    overlap = Face(max(found.x0, reference.x0), max(found.y0, reference.y0), min(found.x1, reference.x1),
                   min(found.y1, reference.y1), 0.0).area
    assert overlap / max(found.area, reference.area) > 0.3  # the same face as HOG's
    assert all(c.shape == (64, 64, 3) for f in frames for c in f.crops)


def test_unknown_detectors_are_refused_in_one_line(alt2: str):
    with pytest.raises(ConfigError, match="chances: unknown face detector 'nope'"):
        ExtractConfig(chances=("hog", "nope"))
    ExtractConfig(chances=(alt2, "hog"))  # a registered one is accepted
    with pytest.raises(ValueError, match="unknown face detector 'nope'"):
        FaceDetector("hog", 640, ("nope",))


def test_the_cnn_chain_upsamples_only_small_frames(shared_media: Path):
    """detector=cnn: the CNN, then the CNN on the frame up-sampled 2x only where the frame is at most half
    detect_size (it costs seconds a frame); the HOG chain is hog, hog_2x, haar."""
    assert [c.name for c in FaceDetector("hog").chances] == list(DEFAULT_CHANCES["hog"]) == ["hog", "hog_2x", "haar"]
    det = FaceDetector.from_config(ExtractConfig(detector="cnn"))
    assert [c.name for c in det.chances] == ["cnn", "cnn_2x"] and det.kind == "cnn"
    frame = next(f.frame for f in sample_faces(str(shared_media / "real_videos" / FACE_VIDEOS[0]),
                                               ExtractConfig(frames_per_video=1), FaceDetector("hog")))
    small = frame if max(frame.shape[:2]) * 2 <= det.detect_size else cv2.resize(frame, (256, 256))
    big = cv2.resize(small, (det.detect_size, det.detect_size))
    assert det.chances[1].detect(big) == []  # not up-sampled: skipped without running the CNN
    assert det.chances[1].detect(small)  # up-sampled: the face is found


def test_the_chances_travel_with_the_model_crop_settings():
    """A model trained with its own chances is scored with the same ones (crop settings in its metadata)."""
    from skyhawk.artifact import ModelMetadata
    from skyhawk.config import from_dict, to_dict
    from skyhawk_model.model_ref import ModelRef

    cfg = ExtractConfig(chances=("hog", "haar"), margin=1.5)
    meta = ModelMetadata.from_dict(ModelMetadata(threshold=0.5, image_size=96, crop=to_dict(cfg)).to_dict())
    assert list(meta.crop["chances"]) == ["hog", "haar"]
    ref = ModelRef(uri="m", label="m", threshold=0.5, image_size=96, crop=meta.crop, registry_version={})
    scored = ref.extract_config(8)
    assert scored.chances == ("hog", "haar") and scored.margin == 1.5
    assert from_dict(ExtractConfig, {**meta.crop, "chances": []}).chances == ()  # older models: the default chain
