"""tf.data input: gzipped TFRecords of face-crop tf.Examples -> (pixels in [0, 255], label) batches."""
from __future__ import annotations

from typing import Sequence

import tensorflow as tf

from skyhawk import features
from skyhawk.config import TrainConfig
from skyhawk_model.inputs import ALL, FIT, VAL, Split, SplitScan, counted_epoch, read_records, record_files, resolve
from skyhawk_model.online_sbi import online_sbi_dataset
from skyhawk_model.preprocess import augment, augment_seeds, decode_image, parse_record

AUTOTUNE = tf.data.AUTOTUNE
Source = Split | Sequence[str] | str  # a resolved split, or file patterns (globbed here once)


def select_part(ds: tf.data.Dataset, part: str, held_out: Sequence[bytes] = ()) -> tf.data.Dataset:
    """Serialized records of one part of a split: ALL, VAL (the ``held_out`` groups) or FIT (the others)."""
    if part == ALL:
        return ds
    held = tf.constant(list(held_out) or [b""], tf.string)
    want_val = tf.constant(part == VAL)

    def keep(r):
        return tf.equal(tf.reduce_any(tf.equal(parse_record(r)[features.GROUP_ID], held)), want_val)

    return ds.filter(keep)


def make_dataset(
    source: Source,
    cfg: TrainConfig,
    training: bool,
    batch_size: int | None = None,
    repeat: bool = False,
    part: str = ALL,
    held_out: Sequence[bytes] = (),
    scan: SplitScan | None = None,
) -> tf.data.Dataset:
    """Batches of (float32 [B, S, S, 3] pixels in [0, 255], int64 [B] label 0 real / 1 fake).

    ``source``: a ``Split`` resolved once (the Trainer's ``TrainingInputs``), or file patterns.
    ``training``: shuffle (seeded, reshuffled every epoch) and, if ``cfg.augment``, augment; with
    ``cfg.sbi`` online or none, the pre-made SBI fakes (``method == "sbi"``) are left out, and online
    SBI puts a fresh fake of each real face right after it (``skyhawk_model.online_sbi``).
    ``repeat``: repeat forever (for a fixed number of steps per epoch); otherwise one pass.
    Evaluation (``training=False``) reads every example as written, except that with online SBI the VAL
    part gets the same SBI fake of each real every epoch (a fixed selection signal, no augmentation).
    ``part``: FIT / VAL reads only the groups outside / inside ``held_out`` (``SplitScan.val_groups``,
    ``select_part``).
    ``scan``: the split's one counting read (``TrainingInputs.scan``), required when the epoch is counted
    (``inputs.counted_epoch``: a one-pass online SBI epoch with ``train.data_share`` is as many pairs as the
    part has examples, halved); the split is never read here to count it: without the scan that is an error.
    """
    split = resolve(source)
    size = cfg.image_size
    batch_size = batch_size or cfg.batch_size
    ds = select_part(read_records(split, cfg.seed if training else None, parallel=True), part, held_out)
    if training:
        ds = ds.shuffle(max(4 * batch_size, 256), seed=cfg.seed, reshuffle_each_iteration=True)
    if cfg.sbi == "online" and (training or part == VAL):
        epoch_pairs = None
        if training and counted_epoch(cfg, repeat):
            if scan is None:
                raise ValueError("a one-pass online SBI epoch with train.data_share is counted from the split's scan: "
                                 "pass scan= (TrainingInputs.scan, inputs.scan_split)")
            epoch_pairs = scan.online_records(cfg.swap_fraction > 0.0, part, held_out) // 2
        return online_sbi_dataset(ds, cfg, batch_size, repeat, fixed=not training, epoch_pairs=epoch_pairs)
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


__all__ = ["ALL", "FIT", "VAL", "make_dataset", "parse_record", "record_files", "select_part"]
