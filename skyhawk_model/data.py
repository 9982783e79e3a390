"""tf.data input: gzipped TFRecords of face-crop tf.Examples -> (pixels in [0, 255], label) batches."""
from __future__ import annotations

import random
from typing import Sequence

import tensorflow as tf

from skyhawk import features
from skyhawk.config import TrainConfig
from skyhawk_model.online_sbi import online_sbi_dataset
from skyhawk_model.preprocess import augment, augment_seeds, decode_image, parse_record

AUTOTUNE = tf.data.AUTOTUNE


def record_files(file_patterns: Sequence[str] | str) -> list[str]:
    """Expands file patterns (TFX passes ``<split uri>/*``); sorted, de-duplicated; error when empty."""
    if isinstance(file_patterns, str):
        file_patterns = [file_patterns]
    files: set[str] = set()
    for pattern in file_patterns:
        files.update(p for p in tf.io.gfile.glob(pattern) if not tf.io.gfile.isdir(p))
    if not files:
        raise FileNotFoundError(f"no TFRecord files match {list(file_patterns)}")
    return sorted(files)


def _compression(files: Sequence[str]) -> str:
    gz = [f.endswith(".gz") for f in files]
    if all(gz):
        return "GZIP"
    if not any(gz):
        return ""
    raise ValueError("mixed gzipped and plain TFRecord files in one split")


def make_dataset(
    file_patterns: Sequence[str] | str,
    cfg: TrainConfig,
    training: bool,
    batch_size: int | None = None,
    repeat: bool = False,
) -> tf.data.Dataset:
    """Batches of (float32 [B, S, S, 3] pixels in [0, 255], int64 [B] label 0 real / 1 fake).

    ``training``: shuffle (seeded, reshuffled every epoch) and, if ``cfg.augment``, augment; with
    ``cfg.sbi`` online or none, the pre-made SBI fakes (``method == "sbi"``) are left out, and online
    SBI puts a fresh fake of each real face right after it (``skyhawk_model.online_sbi``).
    ``repeat``: repeat forever (for a fixed number of steps per epoch); otherwise one pass.
    Evaluation (``training=False``) reads every example as written.
    """
    files = record_files(file_patterns)
    size = cfg.image_size
    batch_size = batch_size or cfg.batch_size
    if training:
        files = list(files)
        random.Random(cfg.seed).shuffle(files)
    ds = tf.data.TFRecordDataset(files, compression_type=_compression(files), num_parallel_reads=min(4, len(files)))
    if training:
        ds = ds.shuffle(max(4 * batch_size, 256), seed=cfg.seed, reshuffle_each_iteration=True)
    if training and cfg.sbi == "online":
        return online_sbi_dataset(ds, cfg, batch_size, repeat)
    if training and cfg.sbi == "none":
        def not_premade(serialized: tf.Tensor) -> tf.Tensor:
            return tf.not_equal(parse_record(serialized)[features.METHOD], b"sbi")

        ds = ds.filter(not_premade)
    if repeat:
        ds = ds.repeat()

    def parse(serialized):
        ex = parse_record(serialized)
        return decode_image(ex[features.IMAGE], size), ex[features.LABEL]

    if training and cfg.augment:
        ds = tf.data.Dataset.zip((ds, augment_seeds(cfg.seed)))

        def parse_augment(serialized, seed):
            image, label = parse(serialized)
            return augment(image, seed), label

        ds = ds.map(parse_augment, num_parallel_calls=AUTOTUNE, deterministic=True)
    else:
        ds = ds.map(parse, num_parallel_calls=AUTOTUNE, deterministic=True)
    return ds.batch(batch_size).prefetch(AUTOTUNE)


__all__ = ["make_dataset", "record_files"]
