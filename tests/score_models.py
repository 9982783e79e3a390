"""Test helpers: tiny real SavedModels with Skyhawk's serving contract that read their P(fake) from a feature
of the example, and TFRecords of such examples, so a real TFMA run scores known predictions."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import tensorflow as tf

from skyhawk import features
from skyhawk_model.evaluation import DECISION_OUTPUT, SCORE_OUTPUT


def save_score_model(path: Path, feature: str, threshold: float) -> None:
    """A SavedModel whose serving_default maps serialized tf.Examples to p_fake = the float ``feature``,
    is_fake = p_fake >= threshold and threshold."""
    module = tf.Module()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve(examples):
        parsed = tf.io.parse_example(examples, {feature: tf.io.FixedLenFeature([], tf.float32)})
        p_fake = parsed[feature]
        return {SCORE_OUTPUT: p_fake, DECISION_OUTPUT: tf.cast(p_fake >= threshold, tf.int64),
                "threshold": tf.fill(tf.shape(p_fake), tf.constant(threshold))}

    module.serve = serve
    tf.saved_model.save(module, str(path), signatures={"serving_default": serve.get_concrete_function()})


def write_examples(path: Path, rows: Iterable[tuple[str, int, dict[str, float]]]) -> None:
    """One tf.Example per (video_id, label, {score feature: value}) row."""
    with tf.io.TFRecordWriter(str(path)) as w:
        for video, label, scores in rows:
            feats = {
                features.LABEL: tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
                features.VIDEO_ID: tf.train.Feature(bytes_list=tf.train.BytesList(value=[video.encode()])),
            }
            for name, value in scores.items():
                feats[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[value]))
            w.write(tf.train.Example(features=tf.train.Features(feature=feats)).SerializeToString())
