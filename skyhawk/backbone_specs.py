"""The facts of every backbone the config accepts (names, input sizes, weights, crop defaults), one entry each.

The builders live in ``skyhawk_model.backbones`` under the same names (``skyhawk`` must not import
``skyhawk_model``); ``skyhawk.config`` checks ``train.backbone`` / ``image_size`` / ``weights`` against this
table and nothing else. Adding a backbone: one ``BackboneSpec`` here (or ``register`` from outside, e.g. a test)
and one builder entry in ``skyhawk_model/backbones.py`` (docs/model.md, "Adding a backbone").
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BackboneSpec:
    """What the config may know about a backbone without building it."""

    name: str
    paper: str  # the paper (or library) the network comes from
    min_size: int = 75  # smallest input side
    sizes: tuple[int, ...] = ()  # the only input sides allowed (empty: any side >= min_size)
    imagenet: bool = True  # tf_keras.applications' ImageNet weights apply (train.weights=imagenet)
    released: str = ""  # released detector weights that load into it (a note for import-model), "" none
    image_size: int = 299  # crop defaults: the input side a recipe usually trains at
    margin: float = 1.3  # and the crop margin around the detector box

    def size_error(self, image_size: int) -> str:
        """"" when ``image_size`` is allowed, else the reason."""
        if self.sizes and image_size not in self.sizes:
            return f"backbone {self.name} needs image_size {' or '.join(map(str, self.sizes))}, got {image_size}"
        if image_size < self.min_size:
            return f"backbone {self.name} needs image_size >= {self.min_size}, got {image_size}"
        return ""


_MESO = "Afchar et al., MesoNet: a Compact Facial Video Forgery Detection Network, WIFS 2018"
SPECS: dict[str, BackboneSpec] = {s.name: s for s in (
    BackboneSpec("inception_resnet_v2", "Szegedy et al., Inception-v4, Inception-ResNet and the Impact of "
                 "Residual Connections on Learning, AAAI 2017"),
    BackboneSpec("xception", "Chollet, Xception: Deep Learning with Depthwise Separable Convolutions, CVPR 2017"),
    BackboneSpec("efficientnet_b4", "Tan & Le, EfficientNet: Rethinking Model Scaling for CNNs, ICML 2019",
                 image_size=380),
    BackboneSpec("meso4", _MESO, sizes=(256,), imagenet=False, released="Meso4_DF.h5, Meso4_F2F.h5",
                 image_size=256, margin=1.5),
    BackboneSpec("mesoinception4", _MESO, sizes=(256,), imagenet=False,
                 released="MesoInception_DF.h5, MesoInception_F2F.h5", image_size=256, margin=1.5),
)}


def register(spec: BackboneSpec) -> BackboneSpec:
    """Adds (or replaces) one backbone's facts; ``skyhawk_model.backbones.register`` calls it with the builder."""
    SPECS[spec.name] = spec
    return spec


def names() -> tuple[str, ...]:
    """Every backbone name the config accepts now."""
    return tuple(SPECS)


def released_weight_backbones() -> tuple[str, ...]:
    """The backbones released detector weights load into (``skyhawk import-model``)."""
    return tuple(name for name, spec in SPECS.items() if spec.released)


__all__ = ["SPECS", "BackboneSpec", "names", "register", "released_weight_backbones"]
