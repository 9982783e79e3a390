"""MesoNet-4 and MesoInception-4 (Afchar et al., WIFS 2018), written from the paper, as Skyhawk backbones.

Each network is built as the paper's whole classifier: a 256x256 RGB input in [0, 1] and one sigmoid
output, P(real) (the released ``Meso4_*.h5``/``MesoInception_*.h5`` files were trained with the
classes ``df`` = 0, ``real`` = 1). Its layers are created in the order of the authors' code, so Keras'
HDF5 loader (layers with weights, in topological order) loads the released weight files as they are.
``skyhawk_model.model`` wraps it into Skyhawk's interface: [0, 255] pixels in, [P(real), P(fake)] out.
"""
from __future__ import annotations

from typing import Any

MESO_SIZE = 256  # the only input size: four poolings (2, 2, 2, 4) leave 4x4x16 = 1024 features for the head


def _conv_block(layers: Any, x: Any, filters: int, kernel: int, pool: int) -> Any:
    x = layers.Conv2D(filters, (kernel, kernel), padding="same", activation="relu")(x)
    x = layers.BatchNormalization()(x)
    return layers.MaxPooling2D(pool_size=(pool, pool), padding="same")(x)


def _inception(layers: Any, x: Any, a: int, b: int, c: int, d: int) -> Any:
    """The paper's inception module: 1x1 | 1x1-3x3 | 1x1-3x3 dilated 2 | 1x1-3x3 dilated 3, concatenated."""
    x1 = layers.Conv2D(a, (1, 1), padding="same", activation="relu")(x)
    x2 = layers.Conv2D(b, (1, 1), padding="same", activation="relu")(x)
    x2 = layers.Conv2D(b, (3, 3), padding="same", activation="relu")(x2)
    x3 = layers.Conv2D(c, (1, 1), padding="same", activation="relu")(x)
    x3 = layers.Conv2D(c, (3, 3), dilation_rate=2, padding="same", activation="relu")(x3)
    x4 = layers.Conv2D(d, (1, 1), padding="same", activation="relu")(x)
    x4 = layers.Conv2D(d, (3, 3), dilation_rate=3, padding="same", activation="relu")(x4)
    return layers.Concatenate(axis=-1)([x1, x2, x3, x4])


def build_mesonet(tf_keras: Any, name: str, inception: bool, dropout: float = 0.5, seed: int | None = None) -> Any:
    """The paper's network, Meso-4 or (``inception``) MesoInception-4, as Keras model ``name``: [0, 1] RGB
    256x256 -> P(real), shape [None, 1]. Which backbone name is which variant is the backbone table's
    (``skyhawk_model.backbones``)."""
    layers = tf_keras.layers
    inputs = tf_keras.Input(shape=(MESO_SIZE, MESO_SIZE, 3), name="meso_input")
    if inception:
        x = layers.BatchNormalization()(_inception(layers, inputs, 1, 4, 4, 2))
        x = layers.MaxPooling2D(pool_size=(2, 2), padding="same")(x)
        x = layers.BatchNormalization()(_inception(layers, x, 2, 4, 4, 2))
        x = layers.MaxPooling2D(pool_size=(2, 2), padding="same")(x)
    else:
        x = _conv_block(layers, inputs, 8, 3, 2)
        x = _conv_block(layers, x, 8, 5, 2)
    x = _conv_block(layers, x, 16, 5, 2)
    x = _conv_block(layers, x, 16, 5, 4)
    x = layers.Flatten()(x)
    x = layers.Dropout(dropout, seed=seed)(x)
    x = layers.Dense(16)(x)
    x = layers.LeakyReLU(alpha=0.1)(x)
    x = layers.Dropout(dropout, seed=seed)(x)
    p_real = layers.Dense(1, activation="sigmoid")(x)
    return tf_keras.Model(inputs, p_real, name=name)

