"""tf.data input: gzipped TFRecords of face-crop tf.Examples -> (pixels in [0, 255], label) batches."""
from __future__ import annotations

from typing import Sequence

import tensorflow as tf

from skyhawk import features
from skyhawk.config import TrainConfig
from skyhawk_model.inputs import ALL, FIT, VAL, Split, SplitScan, read_records, record_files, resolve, scan_split
from skyhawk_model.online_sbi import online_sbi_dataset
from skyhawk_model.preprocess import augment, augment_seeds, decode_image, parse_record

AUTOTUNE = tf.data.AUTOTUNE
Source = Split | Sequence[str] | str  # a resolved split, or file patterns (globbed here once)


def val_groups(source: Source, fraction: float) -> list[bytes]:
    """The validation slice's groups of a train split (``SplitScan.val_groups``), from one read of it."""
    return scan_split(resolve(source)).val_groups(fraction)


def select_part(ds: tf.data.Dataset, part: str, held_out: Sequence[bytes] = ()) -> tf.data.Dataset:
    """Serialized records of one part of a split: ALL, VAL (the ``held_out`` groups) or FIT (the others)."""
    if part == ALL:
        return ds
    held = tf.constant(list(held_out) or [b""], tf.string)
    want_val = tf.constant(part == VAL)

    def keep(r):
        return tf.equal(tf.reduce_any(tf.equal(parse_record(r)[features.GROUP_ID], held)), want_val)

    return ds.filter(keep)


def count_examples(source: Source, cfg: TrainConfig, part: str = ALL, held_out: Sequence[bytes] = ()) -> dict[str, int]:
    """{"real", "fake", "pairable"} counts of a split's part as training reads it (pre-made SBI fakes left out
    with online SBI; pairable: reals with landmarks), from one read of it (``SplitScan.counts``)."""
    return scan_split(resolve(source)).counts(cfg.sbi, part, held_out)


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
    ``part``: FIT / VAL reads only the groups outside / inside ``held_out`` (``val_groups``, ``select_part``).
    ``scan``: the split's counting read, when already made (an online SBI epoch with ``train.data_share`` is
    as many pairs as the part has examples, halved); otherwise the split is read once to count them.
    """
    split = resolve(source)
    size = cfg.image_size
    batch_size = batch_size or cfg.batch_size
    ds = select_part(read_records(split, cfg.seed if training else None, parallel=True), part, held_out)
    if training:
        ds = ds.shuffle(max(4 * batch_size, 256), seed=cfg.seed, reshuffle_each_iteration=True)
    if cfg.sbi == "online" and (training or part == VAL):
        epoch_pairs = None
        if training and cfg.data_share > 0.0 and not repeat:
            epoch_pairs = (scan or scan_split(split)).online_records(cfg.swap_fraction > 0.0, part, held_out) // 2
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


__all__ = ["ALL", "FIT", "VAL", "count_examples", "make_dataset", "parse_record", "record_files", "select_part",
           "val_groups"]
