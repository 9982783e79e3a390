"""Who is in a face crop: dlib's face descriptor, and the same person on both sides of a split.

``FaceDescriber`` maps a face to dlib's 128-d descriptor (``dlib_face_recognition_resnet_model_v1`` from
``face-recognition-models``; about 75 ms of CPU per face); two faces of one person lie within
``SAME_PERSON`` (0.6, dlib's own threshold) of each other. ``identity_overlap`` compares a few faces per
video: two videos show the same person when the median distance between their faces is below it.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

SAME_PERSON = 0.6  # dlib's descriptor distance for "the same person"
FACES_PER_VIDEO = 3  # faces described per video


class FaceDescriber:
    """dlib's face descriptor of a face in an RGB image, from its 68 landmarks or (else) its box."""

    def __init__(self) -> None:
        import dlib
        import face_recognition_models as frm

        self._dlib = dlib
        self._net = dlib.face_recognition_model_v1(frm.face_recognition_model_location())
        self._shape5 = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())

    def __call__(self, image_rgb: np.ndarray, box: Sequence[float],
                 landmarks: np.ndarray | None = None) -> np.ndarray:
        """The (128,) descriptor; ``box`` (x0, y0, x1, y1) in image pixels, ``landmarks`` (68, 2) if known."""
        dlib = self._dlib
        img = np.ascontiguousarray(image_rgb, dtype=np.uint8)
        rect = dlib.rectangle(*(int(round(v)) for v in box))
        if landmarks is not None and len(landmarks) == 68:
            points = dlib.points([dlib.point(int(round(x)), int(round(y))) for x, y in landmarks])
            shape = dlib.full_object_detection(rect, points)
        else:
            shape = self._shape5(img, rect)
        return np.asarray(self._net.compute_face_descriptor(img, shape), dtype=np.float32)


def video_distance(a: np.ndarray, b: np.ndarray) -> float:
    """The median Euclidean distance between the faces (rows) of two videos' descriptors."""
    d = np.linalg.norm(np.asarray(a)[:, None, :] - np.asarray(b)[None, :, :], axis=-1)
    return float(np.median(d))


def identity_overlap(train: Mapping[str, np.ndarray], other: Mapping[str, np.ndarray],
                     threshold: float = SAME_PERSON) -> list[tuple[str, str, float]]:
    """(train video, other video, distance) for each pair of videos showing the same person, closest first.

    ``train`` and ``other`` map a video id to its faces' descriptors (an (n, 128) array, n >= 1); videos
    without a face are skipped."""
    pairs = []
    for t, dt in sorted(train.items()):
        for o, do in sorted(other.items()):
            if len(dt) and len(do):
                dist = video_distance(dt, do)
                if dist < threshold:
                    pairs.append((t, o, round(dist, 4)))
    return sorted(pairs, key=lambda p: (p[2], p[0], p[1]))
