"""The face-crop tf.Example: feature names shared by extraction, training, evaluation and scoring."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

from skyhawk.nuisance import CODEC, NUISANCE_FEATURES, UNKNOWN

IMAGE = "image/encoded"  # JPEG bytes of the square face crop
LABEL = "label"  # 0 real, 1 fake
VIDEO_ID = "video_id"
GROUP_ID = "group_id"  # source video / identity: the unit of split disjointness
FRAME_INDEX = "frame_index"
FACE_INDEX = "face_index"
BOX = "box"  # [x0, y0, x1, y1] of the crop in full-resolution frame pixels
DETECTOR_SCORE = "detector_score"
SOURCE_URI = "source_uri"
METHOD = "method"  # how the video was made: real | dataset | sbi | swap
LANDMARKS = "landmarks"  # 136 floats: the 68 dlib points (x0, y0, x1, y1, ...) in crop pixels, inside the crop
N_LANDMARKS = 68
# How the face's source was captured and encoded (``skyhawk.nuisance``): one float feature per name in
# NUISANCE_FEATURES (frame_width, ..., jpeg_quality) plus CODEC (bytes); absent in older data (parsed as UNKNOWN).
NUISANCE = NUISANCE_FEATURES

REAL, FAKE = 0, 1


@dataclass(frozen=True)
class FaceRecord:
    """One face crop of one sampled frame, before serialisation."""

    jpeg: bytes
    label: int
    video_id: str
    group_id: str
    frame_index: int
    face_index: int
    box: Sequence[float]
    detector_score: float
    source_uri: str
    method: str = "real"
    landmarks: Sequence[float] = ()  # 136 floats in crop pixels (empty: none, e.g. older data)
    nuisance: Mapping[str, float] = field(default_factory=dict)  # NUISANCE_FEATURES values (empty: not recorded)
    codec: str = ""  # the source's fourcc or image format ("": not recorded)


def to_example(rec: FaceRecord):
    """Serialisable tf.train.Example of a face record."""
    import tensorflow as tf

    def b(v: bytes | str) -> tf.train.Feature:
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[v.encode() if isinstance(v, str) else v]))

    def i(v: int) -> tf.train.Feature:
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v)]))

    def f(vs: Sequence[float]) -> tf.train.Feature:
        return tf.train.Feature(float_list=tf.train.FloatList(value=[float(v) for v in vs]))

    return tf.train.Example(
        features=tf.train.Features(
            feature={
                IMAGE: b(rec.jpeg),
                LABEL: i(rec.label),
                VIDEO_ID: b(rec.video_id),
                GROUP_ID: b(rec.group_id),
                FRAME_INDEX: i(rec.frame_index),
                FACE_INDEX: i(rec.face_index),
                BOX: f(rec.box),
                DETECTOR_SCORE: f([rec.detector_score]),
                SOURCE_URI: b(rec.source_uri),
                METHOD: b(rec.method),
                **({LANDMARKS: f(rec.landmarks)} if len(rec.landmarks) else {}),
                **{name: f([rec.nuisance[name]]) for name in NUISANCE_FEATURES if name in rec.nuisance},
                **({CODEC: b(rec.codec)} if rec.codec else {}),
            }
        )
    )


def parse_spec():
    """tf.io feature spec for parsing face-crop examples."""
    import tensorflow as tf

    return {
        IMAGE: tf.io.FixedLenFeature([], tf.string),
        LABEL: tf.io.FixedLenFeature([], tf.int64),
        VIDEO_ID: tf.io.FixedLenFeature([], tf.string),
        GROUP_ID: tf.io.FixedLenFeature([], tf.string),
        FRAME_INDEX: tf.io.FixedLenFeature([], tf.int64),
        FACE_INDEX: tf.io.FixedLenFeature([], tf.int64),
        BOX: tf.io.FixedLenFeature([4], tf.float32),
        DETECTOR_SCORE: tf.io.FixedLenFeature([], tf.float32),
        SOURCE_URI: tf.io.FixedLenFeature([], tf.string),
        METHOD: tf.io.FixedLenFeature([], tf.string, default_value=b"real"),
        LANDMARKS: tf.io.FixedLenFeature([2 * N_LANDMARKS], tf.float32, default_value=[-1.0] * (2 * N_LANDMARKS)),
        **{name: tf.io.FixedLenFeature([], tf.float32, default_value=UNKNOWN) for name in NUISANCE_FEATURES},
        CODEC: tf.io.FixedLenFeature([], tf.string, default_value=b""),
    }
