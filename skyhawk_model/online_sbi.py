"""Online self-blended images (SBI) in the Trainer's tf.data pipeline.

Every time a real face with landmarks is drawn, ``skyhawk.synth.sbi.blend_crop`` (the one SBI
implementation, shared with ``skyhawk synth`` and extraction) makes a fresh fake of it with newly drawn
parameters (mask deformation, blend ratio, colour and frequency transforms), through
``tf.numpy_function``. The real and its fake travel as one pair, so they always sit next to each other
in the same batch (``batch_size`` is even; pairs are never split, also not across replicas).

With ``train.swap_fraction`` > 0 that share of the fakes are instead landmark face swaps
(``skyhawk.synth.swap.swap_crop``, the swap of ``skyhawk synth``): the real face gets the face of
another training face of a **different group** (identity), drawn from a second, independently shuffled
pass over the train split; a draw whose donor is of the same group, or that cannot be swapped, falls
back to SBI. Pre-made swap fakes are then left out as well.

With ``train.data_share`` > 0 that share of the pairs is a real next to a fake of the dataset; with
``train.matched_pairs`` that real is one of the fake's own group where one exists (``matched_dataset_pairs``),
and ``train.pairs_only`` leaves out the fakes whose group has no real.

Examples that cannot be paired (labelled fakes of the dataset, reals without landmarks) are paired
with each other (two at a time; an odd one out per epoch is dropped). Pre-made SBI fakes
(``method == "sbi"``) are left out: online SBI replaces them. Both images of a pair are augmented
independently (``data.augment``) after blending, so the fake and its real share no augmentation cue.
"""
from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import tensorflow as tf

from skyhawk import features
from skyhawk.config import TrainConfig
from skyhawk_model.preprocess import augment, augment_seeds, parse_record, to_size

AUTOTUNE = tf.data.AUTOTUNE
TRIES = 3  # fresh parameter draws before a face that cannot be blended is paired with itself as real


def blend_rgb(image_rgb: np.ndarray, landmarks: np.ndarray, seed: np.int64, donor_rgb: np.ndarray | None = None,
              donor_landmarks: np.ndarray | None = None, swap: np.bool_ = False) -> tuple[np.ndarray, np.bool_]:
    """(fake uint8 RGB crop, ok) for ``tf.numpy_function``; not ok: the input back (the face was too small).

    ``swap``: a landmark swap with the donor's face, falling back to SBI when it cannot be made.
    """
    from skyhawk.synth import sbi
    from skyhawk.synth import swap as face_swap

    bgr = np.ascontiguousarray(image_rgb[..., ::-1])
    if swap and donor_rgb is not None and donor_landmarks is not None:
        try:
            donor = np.ascontiguousarray(donor_rgb[..., ::-1])
            fake = face_swap.swap_crop(bgr, landmarks, donor, donor_landmarks, int(seed))
            return np.ascontiguousarray(fake[..., ::-1]), np.bool_(True)
        except (ValueError, cv2.error):
            pass
    for k in range(TRIES):
        try:
            fake = sbi.blend_crop(bgr, landmarks, int(seed) + k)
            return np.ascontiguousarray(fake[..., ::-1]), np.bool_(True)
        except (ValueError, cv2.error):
            continue
    return image_rgb, np.bool_(False)


def make_pair(images: tf.Tensor, labels: tf.Tensor, landmarks: tf.Tensor, is_pair: tf.Tensor, seed: tf.Tensor,
              cfg: TrainConfig, donor: tf.Tensor, donor_landmarks: tf.Tensor, may_swap: tf.Tensor
              ) -> tuple[tf.Tensor, tf.Tensor]:
    """(float32 [2, S, S, 3], int64 [2]): a real and its fresh fake (SBI, or a swap with the donor's face when
    ``may_swap`` and a ``cfg.swap_fraction`` draw say so), or two unpaired examples."""
    size = cfg.image_size
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=4)
    first = tf.io.decode_image(images[0], channels=3, expand_animations=False)

    def fake():
        if cfg.swap_fraction <= 0.0:
            args = [first, landmarks, seeds[0][0]]
        else:
            draw = tf.random.stateless_uniform([], seed=seeds[3]) < cfg.swap_fraction
            donor_rgb = tf.io.decode_image(donor, channels=3, expand_animations=False)
            args = [first, landmarks, seeds[0][0], donor_rgb, donor_landmarks, tf.logical_and(may_swap, draw)]
        out, ok = tf.numpy_function(blend_rgb, args, [tf.uint8, tf.bool], stateful=False)
        out, ok = tf.ensure_shape(out, [None, None, 3]), tf.ensure_shape(ok, [])
        return to_size(out, size), tf.where(ok, tf.constant(features.FAKE, tf.int64), features.REAL)

    def other():
        return to_size(tf.io.decode_image(images[1], channels=3, expand_animations=False), size), labels[1]

    second, second_label = tf.cond(is_pair, fake, other)
    first = to_size(first, size)
    if cfg.augment:
        first, second = augment(first, seeds[1], cfg.nuisance_augment), augment(second, seeds[2], cfg.nuisance_augment)
    return tf.stack([first, second]), tf.stack([labels[0], second_label])


def matched_dataset_pairs(parsed: tf.data.Dataset, any_reals: tf.data.Dataset, cfg: TrainConfig) -> tf.data.Dataset:
    """Endless pairs (as ``make_pair`` takes them) of a dataset fake next to a real of **its own group** (e.g. the
    real half of a side-by-side video): each epoch's fakes of a group take its reals in turn, in that epoch's
    shuffled order. A fake whose group has no real gets a real from ``any_reals``, placed after the fake (so the
    ranking loss, which takes adjacent (real, fake) pairs, skips it), or, with ``cfg.pairs_only``, is left out.
    One pass is grouped at a time (``group_by_window`` holds a pass's records)."""
    n_points = 2 * features.N_LANDMARKS

    def group_key(ex) -> tf.Tensor:
        return tf.strings.to_hash_bucket_fast(ex[features.GROUP_ID], 1 << 40)

    def of_group(ex) -> tf.data.Dataset:  # ex: one group's examples, [n] each
        real = tf.equal(ex[features.LABEL], features.REAL)
        reals, fakes = tf.boolean_mask(ex[features.IMAGE], real), tf.boolean_mask(ex[features.IMAGE], ~real)
        n_real, n_fake = tf.shape(reals)[0], tf.shape(fakes)[0]
        own = tf.gather(tf.concat([reals, tf.constant([b""])], 0), tf.range(n_fake) % tf.maximum(n_real, 1))
        return tf.data.Dataset.from_tensor_slices((own, fakes, tf.fill([n_fake], n_real > 0)))

    grouped = parsed.group_by_window(group_key, lambda _, window: window.batch(1 << 30).flat_map(of_group),
                                     window_size=1 << 30)
    if cfg.pairs_only:
        grouped = grouped.filter(lambda own, fake, matched: matched)
    grouped = grouped.shuffle(1024, seed=cfg.seed + 3, reshuffle_each_iteration=True).repeat()

    def as_pair(elem, other):  # an unmatched pair comes fake first: the ranking loss takes (real, fake) pairs only
        own, fake, matched = elem
        real = tf.where(matched, own, other[features.IMAGE])
        order = tf.where(matched, tf.constant([0, 1]), tf.constant([1, 0]))
        return (tf.gather(tf.stack([real, fake]), order),
                tf.gather(tf.constant([features.REAL, features.FAKE], tf.int64), order),
                tf.zeros([n_points], tf.float32), tf.constant(False), tf.constant(b""),
                tf.zeros([n_points], tf.float32), tf.constant(False))

    return tf.data.Dataset.zip((grouped, any_reals)).map(as_pair)


def online_sbi_dataset(records: tf.data.Dataset, cfg: TrainConfig, batch_size: int, repeat: bool,
                       fixed: bool = False, epoch_pairs: int | None = None) -> tf.data.Dataset:
    """Serialized (shuffled) train records -> batches of (pixels, labels), each real next to its fake.

    ``cfg.data_share`` > 0: that share of the pairs is a real next to a fake of the dataset (real
    deepfakes), the rest a real next to its online fake; one epoch is then as many pairs as there are
    examples, halved (``epoch_pairs``, counted by the caller from its one read of the split; required then
    unless ``repeat``). ``fixed``: the same fakes every epoch and no augmentation (a validation slice).
    """
    if batch_size % 2:
        raise ValueError(f"online SBI needs an even batch size (real + fake pairs), got {batch_size}")
    if fixed:
        cfg = dataclasses.replace(cfg, augment=False, nuisance_augment=False, swap_fraction=0.0, data_share=0.0,
                                  matched_pairs=False, pairs_only=False, rank_loss_weight=0.0)
    n_points = 2 * features.N_LANDMARKS
    swaps = cfg.swap_fraction > 0.0

    def not_premade(ex) -> tf.Tensor:
        premade = tf.equal(ex[features.METHOD], b"sbi")
        if swaps:
            premade = tf.logical_or(premade, tf.equal(ex[features.METHOD], b"swap"))
        return tf.logical_not(premade)

    parsed = records.map(parse_record, num_parallel_calls=AUTOTUNE, deterministic=True).filter(not_premade)

    def is_real(ex) -> tf.Tensor:
        return tf.equal(ex[features.LABEL], features.REAL)

    def pairable(ex) -> tf.Tensor:
        return tf.logical_and(is_real(ex), tf.reduce_min(ex[features.LANDMARKS]) >= 0.0)

    def as_pair(ex, donor):
        labels = tf.constant([features.REAL, features.FAKE], tf.int64)
        return (tf.stack([ex[features.IMAGE], ex[features.IMAGE]]), labels, ex[features.LANDMARKS], tf.constant(True),
                donor[features.IMAGE], donor[features.LANDMARKS],
                tf.not_equal(ex[features.GROUP_ID], donor[features.GROUP_ID]))

    def unpaired(ex) -> tf.Tensor:
        return tf.logical_not(pairable(ex))

    def as_two(first, second):
        return (tf.stack([first[features.IMAGE], second[features.IMAGE]]),
                tf.stack([first[features.LABEL], second[features.LABEL]]), tf.zeros([n_points], tf.float32),
                tf.constant(False), tf.constant(b""), tf.zeros([n_points], tf.float32), tf.constant(False))

    def two_at_a_time(ds: tf.data.Dataset) -> tf.data.Dataset:
        return ds.batch(2, drop_remainder=True).map(
            lambda ex: as_two({k: v[0] for k, v in ex.items()}, {k: v[1] for k, v in ex.items()}))

    reals = parsed.filter(pairable)
    if swaps:  # donors: a second pass over the train faces, shuffled independently, endless
        donors = reals.shuffle(1024, seed=cfg.seed + 1, reshuffle_each_iteration=True).repeat()
    else:  # never used (no swaps): a constant stands in
        donors = tf.data.Dataset.from_tensors({features.IMAGE: tf.constant(b""), features.GROUP_ID: tf.constant(b""),
                                               features.LANDMARKS: tf.zeros([n_points], tf.float32)}).repeat()
    pairs = tf.data.Dataset.zip((reals, donors)).map(as_pair)
    if cfg.data_share > 0.0:  # endless: reals + online fakes, and reals + dataset fakes, mixed at data_share
        fakes = parsed.filter(lambda ex: tf.logical_not(is_real(ex)))
        any_reals = parsed.filter(is_real).shuffle(1024, seed=cfg.seed + 2).repeat()
        if cfg.matched_pairs:
            dataset_pairs = matched_dataset_pairs(parsed, any_reals, cfg)
        else:
            dataset_pairs = tf.data.Dataset.zip((any_reals, fakes.shuffle(1024, seed=cfg.seed + 3).repeat())).map(
                as_two)
        mixed = [pairs.repeat(), dataset_pairs] if cfg.data_share < 1.0 else [dataset_pairs]
        weights = [1.0 - cfg.data_share, cfg.data_share] if cfg.data_share < 1.0 else [1.0]
        ds = tf.data.Dataset.sample_from_datasets(mixed, weights=weights, seed=cfg.seed)
        if not repeat and epoch_pairs is None:
            raise ValueError("online SBI with train.data_share needs epoch_pairs for a one-pass epoch")
        ds = ds if repeat else ds.take(epoch_pairs)
    else:
        singles = two_at_a_time(parsed.filter(unpaired))
        ds = tf.data.Dataset.sample_from_datasets([pairs, singles], weights=[0.5, 0.5], seed=cfg.seed,
                                                  stop_on_empty_dataset=False)
        if repeat:
            ds = ds.repeat()
    ds = tf.data.Dataset.zip((ds, augment_seeds(cfg.seed, fixed=fixed)))
    size = cfg.image_size

    def build(elem, seed):
        images, labels, landmarks, is_pair, donor, donor_landmarks, may_swap = elem
        return make_pair(images, labels, landmarks, is_pair, seed, cfg, donor, donor_landmarks, may_swap)

    def flatten(x, y):
        return tf.reshape(x, [-1, size, size, 3]), tf.reshape(y, [-1])

    ds = ds.map(build, num_parallel_calls=AUTOTUNE, deterministic=True)
    return ds.batch(batch_size // 2).map(flatten, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)


__all__ = ["blend_rgb", "make_pair", "matched_dataset_pairs", "online_sbi_dataset"]
