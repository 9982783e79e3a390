"""Per-example preprocessing shared by training, online SBI and the exported signatures: parse, decode, resize,
augment."""
from __future__ import annotations

import tensorflow as tf

from skyhawk import features


def decode_image(encoded: tf.Tensor, image_size: int) -> tf.Tensor:
    """One encoded face crop (JPEG; PNG/BMP also work) -> float32 [image_size, image_size, 3] in [0, 255].

    Shared by training, the exported signatures and bulk scoring so every path sees identical pixels.
    """
    return to_size(tf.io.decode_image(encoded, channels=3, expand_animations=False), image_size)


def to_size(img: tf.Tensor, image_size: int) -> tf.Tensor:
    """uint8 [H, W, 3] -> float32 [image_size, image_size, 3]; resized (bilinear, antialiased) only if needed."""
    shape = tf.shape(img)
    same = tf.logical_and(tf.equal(shape[0], image_size), tf.equal(shape[1], image_size))
    img = tf.cond(
        same,
        lambda: tf.cast(img, tf.float32),
        lambda: tf.image.resize(img, [image_size, image_size], method="bilinear", antialias=True),
    )
    return tf.ensure_shape(img, [image_size, image_size, 3])


def decode_batch(encoded: tf.Tensor, image_size: int) -> tf.Tensor:
    """[N] encoded images -> float32 [N, image_size, image_size, 3]."""
    return tf.map_fn(
        lambda b: decode_image(b, image_size),
        encoded,
        fn_output_signature=tf.TensorSpec([image_size, image_size, 3], tf.float32),
    )


def parse_record(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
    """The features training reads: image, label, method, group and landmarks (-1s when absent)."""
    spec = features.parse_spec()
    keys = (features.IMAGE, features.LABEL, features.METHOD, features.GROUP_ID, features.LANDMARKS)
    return tf.io.parse_single_example(serialized, {k: spec[k] for k in keys})


def augment(image: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Stateless (seeded) train-time augmentation of one [S, S, 3] image in [0, 255].

    Horizontal flip, brightness/contrast/saturation/hue jitter, a small zoom-in and shift (scale 1-1.12,
    then a random S x S window: up to ~6 % of the side either way), then JPEG re-compression at a random
    quality in [40, 100].
    """
    size = image.shape
    side = int(size[0])
    s = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=8)
    x = image / 255.0
    x = tf.image.stateless_random_flip_left_right(x, seed=s[0])
    x = tf.image.stateless_random_brightness(x, max_delta=0.1, seed=s[1])
    x = tf.image.stateless_random_contrast(x, lower=0.8, upper=1.2, seed=s[2])
    x = tf.image.stateless_random_saturation(x, lower=0.8, upper=1.2, seed=s[3])
    x = tf.image.stateless_random_hue(x, max_delta=0.03, seed=s[4])
    scale = tf.random.stateless_uniform([], seed=s[6], minval=1.0, maxval=1.12)
    grown = tf.cast(tf.round(side * scale), tf.int32)
    x = tf.image.resize(x, tf.stack([grown, grown]), method="bilinear")
    x = tf.image.stateless_random_crop(x, [side, side, 3], seed=s[7])
    x = tf.clip_by_value(x, 0.0, 1.0)
    x = tf.image.stateless_random_jpeg_quality(x, min_jpeg_quality=40, max_jpeg_quality=100, seed=s[5])
    return tf.ensure_shape(x * 255.0, size)


def augment_seeds(seed: int, fixed: bool = False) -> tf.data.Dataset:
    """Endless int64 [2] seeds, deterministic for a seed and different every epoch (``fixed``: the same every epoch)."""
    return tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=not fixed).batch(2)


__all__ = ["augment", "augment_seeds", "decode_batch", "decode_image", "parse_record", "to_size"]
