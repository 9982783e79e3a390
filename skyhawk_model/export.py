"""SavedModel export (Keras 2 'tf' format) with two serving signatures, plus the bulk-scoring loader.

Signatures (both return the same four outputs):

- ``serving_default``: ``examples`` tf.string [None], serialized face-crop tf.Examples (only
  ``image/encoded`` is read; TFMA feeds this one and reads ``p_fake``).
- ``serving_jpeg``: ``images`` tf.string [None], encoded JPEG face crops (bulk scoring).

Outputs: ``p_fake`` float32 [None] (P(fake)), ``probabilities`` float32 [None, 2] ([P(real), P(fake)]),
``is_fake`` int64 [None] (1 if p_fake >= threshold else 0), ``threshold`` float32 [None] (the exported
threshold, repeated per row).

The threshold is a constant inside both signature graphs and is also written, with image_size,
backbone and train config, to the model's metadata file; the training history is written once, to its
history file (both in ``assets.extra/``, see ``skyhawk.artifact``).
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np
import tensorflow as tf

from skyhawk import artifact, features
from skyhawk.config import TrainConfig, to_dict
from skyhawk_model.preprocess import decode_batch

SERVING_DEFAULT = "serving_default"
SERVING_JPEG = "serving_jpeg"
EXAMPLES_INPUT = "examples"
IMAGES_INPUT = "images"
OUTPUT_KEYS = ("p_fake", "probabilities", "is_fake", "threshold")


def make_signatures(model, image_size: int, threshold: float) -> dict[str, Any]:
    """The two serving tf.functions (with input signatures) around a trained Keras model."""
    thr = tf.constant(float(threshold), tf.float32, name="threshold")

    def outputs(encoded: tf.Tensor) -> dict[str, tf.Tensor]:
        images = decode_batch(encoded, image_size)
        # An empty batch never reaches the network: TF 2.16's oneDNN fused convolutions reject it.
        probs = tf.cond(
            tf.size(encoded) > 0,
            lambda: tf.cast(model(images, training=False), tf.float32),
            lambda: tf.zeros([0, 2], tf.float32),
        )
        p_fake = probs[:, 1]
        return {
            "p_fake": p_fake,
            "probabilities": probs,
            "is_fake": tf.cast(p_fake >= thr, tf.int64),
            "threshold": tf.fill(tf.shape(p_fake), thr),
        }

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=EXAMPLES_INPUT)])
    def serve_examples(examples):
        parsed = tf.io.parse_example(examples, {features.IMAGE: tf.io.FixedLenFeature([], tf.string)})
        return outputs(parsed[features.IMAGE])

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=IMAGES_INPUT)])
    def serve_jpeg(images):
        return outputs(images)

    # tf.functions with an input signature, not concrete functions: only those can be saved when the
    # model's variables are distributed (MultiWorkerMirroredStrategy).
    return {SERVING_DEFAULT: serve_examples, SERVING_JPEG: serve_jpeg}


def export_model(
    model,
    serving_model_dir: str,
    cfg: TrainConfig,
    history: Mapping[str, Any] | None = None,
    crop: Mapping[str, Any] | None = None,
) -> str:
    """Saves ``model`` with both signatures and writes its metadata and history (``skyhawk.artifact``).

    ``crop``: the ExtractConfig (dict) the training crops were made with; its detector, margin, faces and
    JPEG settings (``artifact.CROP_KEYS``) are recorded so that scoring makes identical crops.

    The optimizer is not saved (smaller artifact; a re-loaded Keras model is uncompiled, so TFMA
    computes only the metrics of its EvalConfig, from the ``serving_default`` outputs).
    """
    signatures = make_signatures(model, cfg.image_size, cfg.threshold)
    # save_traces=False: the model is rebuilt from its config on Keras load (stock layers only), which
    # skips tracing every layer's call -- for Inception-ResNet-V2 on CPU ~80 s -> ~13 s.
    model.save(serving_model_dir, save_format="tf", include_optimizer=False, signatures=signatures,
               save_traces=False)
    artifact.write_metadata(serving_model_dir, artifact.ModelMetadata(
        threshold=float(cfg.threshold),
        image_size=int(cfg.image_size),
        backbone=cfg.backbone,
        signatures={
            SERVING_DEFAULT: {"inputs": {EXAMPLES_INPUT: "string [None] serialized tf.Example"},
                              "outputs": list(OUTPUT_KEYS)},
            SERVING_JPEG: {"inputs": {IMAGES_INPUT: "string [None] encoded JPEG"}, "outputs": list(OUTPUT_KEYS)},
        },
        train_config=to_dict(cfg),
        crop=dict(crop or {}),
    ))
    artifact.write_history(serving_model_dir, dict(history or {}))
    return serving_model_dir


class Scorer:
    """Callable: list of encoded JPEG face crops -> float32 numpy array of P(fake) (``serving_jpeg``)."""

    def __init__(self, saved_model_dir: str, batch_size: int = 64):
        self.saved_model_dir = saved_model_dir
        self.batch_size = int(batch_size)
        self._loaded = tf.saved_model.load(saved_model_dir)
        self._fn: Callable[..., Mapping[str, tf.Tensor]] = self._loaded.signatures[SERVING_JPEG]
        self.metadata = artifact.read_metadata(saved_model_dir)
        self.threshold = self.metadata.threshold
        self.image_size = self.metadata.image_size

    def __call__(self, jpegs: Sequence[bytes]) -> np.ndarray:
        out = [np.zeros([0], np.float32)]
        for i in range(0, len(jpegs), self.batch_size):
            chunk = tf.constant(list(jpegs[i : i + self.batch_size]), dtype=tf.string)
            out.append(self._fn(**{IMAGES_INPUT: chunk})["p_fake"].numpy().astype(np.float32))
        return np.concatenate(out)


def load_scorer(saved_model_dir: str, batch_size: int = 64) -> Scorer:
    """The bulk-scoring callable of an exported Skyhawk model (also has .threshold, .metadata)."""
    return Scorer(saved_model_dir, batch_size=batch_size)
