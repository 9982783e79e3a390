"""tf.data input: gzipped TFRecords of face-crop tf.Examples -> (pixels in [0, 255], label) batches."""
from __future__ import annotations

import hashlib
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


FIT, VAL, ALL = "fit", "val", "all"  # parts of a split: train groups minus the validation slice, the slice, all


def _group_hash(group: bytes) -> str:
    return hashlib.sha256(b"skyhawk-val:" + group).hexdigest()


def val_groups(file_patterns: Sequence[str] | str, fraction: float) -> list[bytes]:
    """The groups (identities / source videos) of the validation slice carved from a train split: the
    ``fraction`` of its groups with the smallest stable hash, at least one, and never all of them (a split of
    one group has no slice). A group is wholly on one side."""
    files = record_files(file_patterns)
    spec = {features.GROUP_ID: features.parse_spec()[features.GROUP_ID]}
    ds = tf.data.TFRecordDataset(files, compression_type=_compression(files)).map(
        lambda r: tf.io.parse_single_example(r, spec)[features.GROUP_ID], num_parallel_calls=AUTOTUNE)
    groups = sorted(set(ds.as_numpy_iterator()), key=_group_hash)
    n = min(max(1, round(fraction * len(groups))), len(groups) - 1)
    return groups[:n]


def select_part(ds: tf.data.Dataset, part: str, held_out: Sequence[bytes] = ()) -> tf.data.Dataset:
    """Serialized records of one part of a split: ALL, VAL (the ``held_out`` groups) or FIT (the others)."""
    if part == ALL:
        return ds
    held = tf.constant(list(held_out) or [b""], tf.string)
    want_val = tf.constant(part == VAL)

    def keep(r):
        return tf.equal(tf.reduce_any(tf.equal(parse_record(r)[features.GROUP_ID], held)), want_val)

    return ds.filter(keep)


def count_examples(file_patterns: Sequence[str] | str, cfg: TrainConfig, part: str = ALL,
                   held_out: Sequence[bytes] = ()) -> dict[str, int]:
    """{"real", "fake", "pairable"} counts of a split's part as training reads it (pre-made SBI fakes left out
    with online SBI; pairable: reals with landmarks)."""
    files = record_files(file_patterns)
    ds = select_part(tf.data.TFRecordDataset(files, compression_type=_compression(files)), part, held_out)

    def row(r):
        ex = parse_record(r)
        kept = tf.logical_or(tf.equal(cfg.sbi, "offline"), tf.not_equal(ex[features.METHOD], b"sbi"))
        real = tf.equal(ex[features.LABEL], features.REAL)
        pairable = tf.logical_and(real, tf.reduce_min(ex[features.LANDMARKS]) >= 0.0)
        return tf.cast(tf.stack([kept & real, kept & ~real, kept & pairable]), tf.int64)

    total = ds.map(row, num_parallel_calls=AUTOTUNE).reduce(tf.zeros([3], tf.int64), lambda a, b: a + b).numpy()
    return {"real": int(total[0]), "fake": int(total[1]), "pairable": int(total[2])}


def make_dataset(
    file_patterns: Sequence[str] | str,
    cfg: TrainConfig,
    training: bool,
    batch_size: int | None = None,
    repeat: bool = False,
    part: str = ALL,
    held_out: Sequence[bytes] = (),
) -> tf.data.Dataset:
    """Batches of (float32 [B, S, S, 3] pixels in [0, 255], int64 [B] label 0 real / 1 fake).

    ``training``: shuffle (seeded, reshuffled every epoch) and, if ``cfg.augment``, augment; with
    ``cfg.sbi`` online or none, the pre-made SBI fakes (``method == "sbi"``) are left out, and online
    SBI puts a fresh fake of each real face right after it (``skyhawk_model.online_sbi``).
    ``repeat``: repeat forever (for a fixed number of steps per epoch); otherwise one pass.
    Evaluation (``training=False``) reads every example as written, except that with online SBI the VAL
    part gets the same SBI fake of each real every epoch (a fixed selection signal, no augmentation).
    ``part``: FIT / VAL reads only the groups outside / inside ``held_out`` (``val_groups``, ``select_part``).
    """
    files = record_files(file_patterns)
    size = cfg.image_size
    batch_size = batch_size or cfg.batch_size
    if training:
        files = list(files)
        random.Random(cfg.seed).shuffle(files)
    ds = tf.data.TFRecordDataset(files, compression_type=_compression(files), num_parallel_reads=min(4, len(files)))
    ds = select_part(ds, part, held_out)
    if training:
        ds = ds.shuffle(max(4 * batch_size, 256), seed=cfg.seed, reshuffle_each_iteration=True)
    if cfg.sbi == "online" and (training or part == VAL):
        return online_sbi_dataset(ds, cfg, batch_size, repeat, fixed=not training)
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
            return augment(image, seed, cfg.nuisance_augment), label

        ds = ds.map(parse_augment, num_parallel_calls=AUTOTUNE, deterministic=True)
    else:
        ds = ds.map(parse, num_parallel_calls=AUTOTUNE, deterministic=True)
    return ds.batch(batch_size).prefetch(AUTOTUNE)


__all__ = ["ALL", "FIT", "VAL", "count_examples", "make_dataset", "record_files", "select_part", "val_groups"]
