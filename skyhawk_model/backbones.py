"""The backbone table: per backbone its builder, in-graph preprocessing and head kind (DeepfakeBench style).

Each entry is keyed by the name of its facts in ``skyhawk.backbone_specs`` (allowed input sizes, ImageNet or
released weights, crop defaults), which is what ``skyhawk.config`` checks; ``skyhawk_model.model`` looks the
entry up and has no branch on a backbone name. Adding a backbone: one ``Backbone`` here (or ``register`` from
outside, e.g. a test, which also registers its facts); see docs/model.md, "Adding a backbone".

Head kinds: ``pooled`` (global average pooling, dropout, a 2-way softmax) and ``p_real`` (the network is a
whole classifier ending in one sigmoid P(real); Skyhawk outputs [P(real), 1 - P(real)]).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from skyhawk import backbone_specs
from skyhawk.backbone_specs import BackboneSpec
from skyhawk.config import ConfigError, TrainConfig
from skyhawk_model.meso import build_mesonet

POOLED, P_REAL = "pooled", "p_real"  # head kinds (skyhawk_model.model.HEADS)

# build(tf_keras, cfg, weights) -> the backbone Keras model; weights: "imagenet" or None
Builder = Callable[[Any, TrainConfig, Any], Any]
# preprocess(tf_keras, x) -> x: the backbone's own input scaling from [0, 255] pixels, as layers (no Lambda)
Preprocess = Callable[[Any, Any], Any]


@dataclass(frozen=True)
class Backbone:
    """One backbone: its facts (``spec``), how to build it, its input scaling and its head kind."""

    spec: BackboneSpec
    build: Builder
    preprocess: Preprocess
    head: str = POOLED


def _shape(cfg: TrainConfig) -> tuple[int, int, int]:
    return (cfg.image_size, cfg.image_size, 3)


def _plus_minus_one(tf_keras: Any, x: Any) -> Any:
    """x / 127.5 - 1 (tf_keras.applications.{inception_resnet_v2,xception}.preprocess_input)."""
    return tf_keras.layers.Rescaling(scale=1.0 / 127.5, offset=-1.0, name="preprocess")(x)


def _unit(tf_keras: Any, x: Any) -> Any:
    """x / 255 (MesoNet was trained on that)."""
    return tf_keras.layers.Rescaling(scale=1.0 / 255.0, name="preprocess")(x)


def _as_is(tf_keras: Any, x: Any) -> Any:
    """[0, 255] unchanged (the backbone carries its own rescaling, e.g. EfficientNet)."""
    return x


def _app(name: str) -> Builder:
    """A tf_keras.applications network without its top."""
    def build(tf_keras: Any, cfg: TrainConfig, weights: Any) -> Any:
        return getattr(tf_keras.applications, name)(include_top=False, weights=weights, input_shape=_shape(cfg))

    return build


def _meso(inception: bool) -> Builder:
    """The paper's whole classifier: [0, 1] in, P(real) out (released weights load by topological order)."""
    def build(tf_keras: Any, cfg: TrainConfig, weights: Any) -> Any:
        return build_mesonet(tf_keras, cfg.backbone, inception, dropout=cfg.dropout, seed=cfg.seed)

    return build


_S = backbone_specs.SPECS
# Szegedy et al., "Inception-v4, Inception-ResNet and the Impact of Residual Connections on Learning", AAAI 2017
# Chollet, "Xception: Deep Learning with Depthwise Separable Convolutions", CVPR 2017
# Tan & Le, "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks", ICML 2019
# Afchar et al., "MesoNet: a Compact Facial Video Forgery Detection Network", WIFS 2018 (Meso-4, MesoInception-4)
TABLE: dict[str, Backbone] = {b.spec.name: b for b in (
    Backbone(_S["inception_resnet_v2"], _app("InceptionResNetV2"), _plus_minus_one),
    Backbone(_S["xception"], _app("Xception"), _plus_minus_one),
    Backbone(_S["efficientnet_b4"], _app("EfficientNetB4"), _as_is),
    Backbone(_S["meso4"], _meso(inception=False), _unit, P_REAL),
    Backbone(_S["mesoinception4"], _meso(inception=True), _unit, P_REAL),
)}


def register(backbone: Backbone) -> Backbone:
    """Adds (or replaces) a backbone: its builder here and its facts in ``skyhawk.backbone_specs``."""
    backbone_specs.register(backbone.spec)
    TABLE[backbone.spec.name] = backbone
    return backbone


def get(name: str) -> Backbone:
    """The table entry of ``name``; a ConfigError names the known ones."""
    try:
        return TABLE[name]
    except KeyError:
        raise ConfigError(f"backbone must be one of {tuple(TABLE)}, got {name!r}") from None


__all__ = ["P_REAL", "POOLED", "TABLE", "Backbone", "get", "register"]
