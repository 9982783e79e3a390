"""The Trainer's inputs resolved once: each split's TFRecord files (one glob through ``skyhawk.fileio``) and, when
anything needs them, the train split's groups and example counts from one read.

``TrainingInputs`` is built once per training (``training_inputs``) and handed to every user: the datasets,
the planned step count, the validation slice and the checkpoint key read it instead of the file patterns.
"""
from __future__ import annotations

import dataclasses
import hashlib
import random
from typing import Sequence

import numpy as np
import tensorflow as tf

from skyhawk import features, fileio
from skyhawk.config import TrainConfig

AUTOTUNE = tf.data.AUTOTUNE
FIT, VAL, ALL = "fit", "val", "all"  # parts of a split: train groups minus the validation slice, the slice, all
PREMADE = (b"sbi", b"swap")  # methods counted apart (rows 1, 2 of a group's counts); every other method is row 0
REAL, FAKE, PAIRABLE = 0, 1, 2  # columns of a group's counts: reals, fakes, reals with landmarks


def record_files(file_patterns: Sequence[str] | str) -> list[str]:
    """Expands file patterns (TFX passes ``<split uri>/*``) through ``skyhawk.fileio``: sorted, de-duplicated;
    error when empty."""
    if isinstance(file_patterns, str):
        file_patterns = [file_patterns]
    files = {f for pattern in file_patterns for f in fileio.glob(pattern)}
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


@dataclasses.dataclass(frozen=True)
class Split:
    """One split's TFRecord files (sorted) and their compression, resolved once."""

    files: tuple[str, ...]
    compression: str


def resolve(source: Split | Sequence[str] | str) -> Split:
    """A Split as is; file patterns globbed (``record_files``)."""
    if isinstance(source, Split):
        return source
    files = record_files(source)
    return Split(tuple(files), _compression(files))


def read_records(split: Split, seed: int | None = None, parallel: bool = False) -> tf.data.Dataset:
    """The one reader of a split: its serialized records, the files in sorted order or, with ``seed``, in a
    seeded shuffled order; ``parallel``: up to 4 files at a time (the datasets), else one after another."""
    files = list(split.files)
    if seed is not None:
        random.Random(seed).shuffle(files)
    return tf.data.TFRecordDataset(files, compression_type=split.compression,
                                   num_parallel_reads=min(4, len(files)) if parallel else None)


def _group_hash(group: bytes) -> str:
    return hashlib.sha256(b"skyhawk-val:" + group).hexdigest()


@dataclasses.dataclass(frozen=True)
class SplitScan:
    """One read of a split: per group (identity / source video) its examples counted as [method row (other,
    pre-made SBI, pre-made swap), column (REAL, FAKE, PAIRABLE)]."""

    groups: dict[bytes, np.ndarray]

    def val_groups(self, fraction: float) -> list[bytes]:
        """The groups of the validation slice carved from a train split: the ``fraction`` of its groups with the
        smallest stable hash, at least one, and never all of them (a split of one group has no slice)."""
        groups = sorted(self.groups, key=_group_hash)
        n = min(max(1, round(fraction * len(groups))), len(groups) - 1)
        return groups[:n]

    def part(self, part: str, held_out: Sequence[bytes] = ()) -> np.ndarray:
        """The [3, 3] counts of one part of the split: ALL, VAL (the ``held_out`` groups) or FIT (the others)."""
        held = set(held_out)
        rows = [c for g, c in self.groups.items() if part == ALL or (g in held) == (part == VAL)]
        return np.sum(rows, axis=0, dtype=np.int64) if rows else np.zeros([3, 3], np.int64)

    def counts(self, sbi: str, part: str = ALL, held_out: Sequence[bytes] = ()) -> dict[str, int]:
        """{"real", "fake", "pairable"} of a part as training reads it (pre-made SBI fakes left out unless
        ``sbi`` is offline)."""
        c = self.part(part, held_out)
        kept = c.sum(axis=0) if sbi == "offline" else c[0] + c[2]
        return {"real": int(kept[REAL]), "fake": int(kept[FAKE]), "pairable": int(kept[PAIRABLE])}

    def online_records(self, swaps: bool, part: str = ALL, held_out: Sequence[bytes] = ()) -> int:
        """Examples online SBI reads of a part: pre-made SBI fakes left out, pre-made swaps too with ``swaps``."""
        c = self.part(part, held_out)
        kept = c[0] if swaps else c[0] + c[2]
        return int(kept[REAL] + kept[FAKE])


def scan_split(split: Split) -> SplitScan:
    """Reads the split once: every group's counts (``SplitScan``)."""
    spec = features.parse_spec()
    keys = (features.LABEL, features.METHOD, features.GROUP_ID, features.LANDMARKS)

    def row(r):
        ex = tf.io.parse_single_example(r, {k: spec[k] for k in keys})
        method = ex[features.METHOD]
        kind = tf.where(tf.equal(method, PREMADE[0]), 1, tf.where(tf.equal(method, PREMADE[1]), 2, 0))
        real = tf.equal(ex[features.LABEL], features.REAL)
        pairable = tf.logical_and(real, tf.reduce_min(ex[features.LANDMARKS]) >= 0.0)
        return ex[features.GROUP_ID], kind, tf.cast(tf.stack([real, ~real, pairable]), tf.int64)

    totals: dict[bytes, np.ndarray] = {}
    for groups, kinds, cols in read_records(split).map(row, num_parallel_calls=AUTOTUNE).batch(4096) \
            .as_numpy_iterator():
        names, index = np.unique(groups, return_inverse=True)
        acc = np.zeros([len(names), 3, 3], np.int64)
        np.add.at(acc, (index, kinds), cols)
        for name, c in zip(names, acc, strict=True):
            totals[bytes(name)] = totals.get(bytes(name), 0) + c
    return SplitScan(totals)


@dataclasses.dataclass(frozen=True)
class TrainingInputs:
    """What a training reads, resolved once: the train split, the split it validates on (the train split itself
    when the validation slice is carved from it: the eval split is then never resolved), the slice's groups and
    the train split's one counting read (None when nothing needs counts)."""

    train: Split
    val: Split
    carve: bool
    held_out: tuple[bytes, ...]
    scan: SplitScan | None

    @property
    def fit_part(self) -> str:
        return FIT if self.carve else ALL

    @property
    def val_part(self) -> str:
        return VAL if self.carve else ALL


def counted_epoch(cfg: TrainConfig, repeat: bool) -> bool:
    """Whether a training epoch is cut at a count of the split: a one-pass (not ``repeat``) online SBI epoch with
    ``train.data_share`` draws its pairs endlessly and stops at the part's examples, halved (``SplitScan``)."""
    return not repeat and cfg.sbi == "online" and cfg.data_share > 0.0


def needs_scan(cfg: TrainConfig, one_pass: bool) -> bool:
    """The one rule for reading the train split to count it: the validation slice (``select_epoch=val_loss``),
    or a one-pass epoch whose length comes from the data (the cosine schedule's planned steps,
    ``counted_epoch``)."""
    return cfg.select_epoch == "val_loss" or (one_pass and cfg.lr_schedule == "cosine") \
        or counted_epoch(cfg, repeat=not one_pass)


def training_inputs(train_patterns: Sequence[str] | str, eval_patterns: Sequence[str] | str, cfg: TrainConfig,
                    one_pass: bool) -> TrainingInputs:
    """Globs each split once and, when ``needs_scan`` (``one_pass``: an epoch is one pass over the fit part, no
    step count), reads the train split once for its groups and counts."""
    train = resolve(train_patterns)
    carve = cfg.select_epoch == "val_loss"
    scan = scan_split(train) if needs_scan(cfg, one_pass) else None
    held_out = tuple(scan.val_groups(cfg.val_fraction)) if carve and scan else ()
    return TrainingInputs(train, train if carve else resolve(eval_patterns), carve, held_out, scan)


__all__ = ["ALL", "FIT", "VAL", "Split", "SplitScan", "TrainingInputs", "counted_epoch", "needs_scan", "read_records",
           "record_files", "resolve", "scan_split", "training_inputs"]
