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


def augment(image: tf.Tensor, seed: tf.Tensor, nuisance: bool = False) -> tf.Tensor:
    """Stateless (seeded) train-time augmentation of one [S, S, 3] image in [0, 255].

    Horizontal flip, brightness/contrast/saturation/hue jitter, a small zoom-in and shift (scale 1-1.12,
    then a random S x S window: up to ~6 % of the side either way), ``nuisance``: the capture nuisances
    (``nuisance_augment``), then JPEG re-compression at a random quality in [40, 100].
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
    if nuisance:
        x = nuisance_augment(x, tf.random.experimental.stateless_split(s[7], num=1)[0])
    x = tf.image.stateless_random_jpeg_quality(x, min_jpeg_quality=40, max_jpeg_quality=100, seed=s[5])
    return tf.ensure_shape(x * 255.0, size)


NUISANCE_P = 0.5  # each nuisance is applied with this probability, at a random strength
SCALE_RANGE = (0.25, 1.0)  # down-scaling to this share of the side, then back up
BLUR_SIGMA = (0.3, 2.0)  # Gaussian blur sigma in pixels
NOISE_SD = (1.0, 8.0)  # Gaussian noise sd in 0-255 levels
JPEG_RANGE = (20, 90)  # an extra JPEG re-compression at this quality


def _gaussian_blur(x: tf.Tensor, sigma: tf.Tensor) -> tf.Tensor:
    """[S, S, 3] blurred by a separable Gaussian of ``sigma`` pixels (7 taps)."""
    taps = tf.range(-3.0, 4.0)
    k = tf.exp(-0.5 * tf.square(taps / sigma))
    k = k / tf.reduce_sum(k)
    img = x[tf.newaxis]
    kx = tf.tile(tf.reshape(k, [1, 7, 1, 1]), [1, 1, 3, 1])
    ky = tf.tile(tf.reshape(k, [7, 1, 1, 1]), [1, 1, 3, 1])
    img = tf.pad(img, [[0, 0], [3, 3], [3, 3], [0, 0]], mode="REFLECT")
    img = tf.nn.depthwise_conv2d(img, kx, [1, 1, 1, 1], "VALID")
    img = tf.nn.depthwise_conv2d(img, ky, [1, 1, 1, 1], "VALID")
    return img[0]


def nuisance_augment(x: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """The capture nuisances at random strength, the same for both classes, on one [S, S, 3] image in [0, 1]:
    down- and back up-scaling (area down, bilinear up), Gaussian blur, Gaussian noise and a JPEG re-compression,
    each with probability ``NUISANCE_P`` (in that order, as a camera and an encoder would)."""
    side = int(x.shape[0])
    s = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=9)

    def draw(i: int, lo: float, hi: float) -> tf.Tensor:
        return tf.random.stateless_uniform([], seed=s[i], minval=lo, maxval=hi)

    def maybe(i: int) -> tf.Tensor:
        return tf.random.stateless_uniform([], seed=s[i + 4]) < NUISANCE_P

    small = tf.maximum(8, tf.cast(tf.round(side * draw(0, *SCALE_RANGE)), tf.int32))
    x = tf.cond(maybe(0), lambda: tf.image.resize(tf.image.resize(x, tf.stack([small, small]), method="area"),
                                                  [side, side], method="bilinear"), lambda: x)
    x = tf.cond(maybe(1), lambda: _gaussian_blur(x, draw(1, *BLUR_SIGMA)), lambda: x)
    noise = tf.random.stateless_normal(tf.shape(x), seed=s[8]) * draw(2, *NOISE_SD) / 255.0
    x = tf.cond(maybe(2), lambda: x + noise, lambda: x)
    x = tf.clip_by_value(x, 0.0, 1.0)
    quality = tf.cast(tf.round(draw(3, *JPEG_RANGE)), tf.int32)
    x = tf.cond(maybe(3), lambda: tf.image.adjust_jpeg_quality(x, quality), lambda: x)
    return tf.ensure_shape(x, [side, side, 3])


def augment_seeds(seed: int, fixed: bool = False) -> tf.data.Dataset:
    """Endless int64 [2] seeds, deterministic for a seed and different every epoch (``fixed``: the same every epoch)."""
    return tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=not fixed).batch(2)


__all__ = ["augment", "augment_seeds", "decode_batch", "decode_image", "nuisance_augment", "parse_record", "to_size"]
