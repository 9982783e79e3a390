"""One typed configuration for every Skyhawk stage.

The CLI, the TFX components and the pipelines all read their defaults from these dataclasses; nothing
else defines a default. A config file is JSON with the same nested shape (see ``skyhawk/configs/``).
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Type, TypeVar

T = TypeVar("T")

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm")
LABEL_MODES = ("folders", "csv", "ffpp", "dfdc", "celebdf")
DETECTORS = ("hog", "cnn")
FACE_MODES = ("largest", "all")
SYNTH_METHODS = ("none", "sbi", "swap")
BACKBONES = ("inception_resnet_v2", "xception", "efficientnet_b4")


class ConfigError(ValueError):
    """A configuration value is invalid."""


@dataclass(frozen=True)
class ExtractConfig:
    """Video -> face-crop extraction."""

    frames_per_video: int = 32
    detector: str = "hog"
    detect_size: int = 640  # longest side of the frame the full-frame detector sees
    margin: float = 1.3  # detector box enlarged by this factor, then squared
    image_size: int = 299  # face crops are resized to image_size x image_size
    faces: str = "largest"  # keep the largest face per frame, or all of them
    jpeg_quality: int = 95
    labels: str = "folders"  # folders | csv:FILE | ffpp | dfdc | celebdf
    eval_fraction: float = 0.2  # share of groups in the eval split
    split_seed: str = "skyhawk"  # salt of the group -> split hash
    synthesize: str = "none"  # none | sbi | swap: add synthetic fakes next to each real video
    synth_seed: int = 0

    def validate(self) -> ExtractConfig:
        if self.frames_per_video < 1:
            raise ConfigError(f"frames_per_video must be >= 1, got {self.frames_per_video}")
        if self.detector not in DETECTORS:
            raise ConfigError(f"detector must be one of {DETECTORS}, got {self.detector!r}")
        if self.faces not in FACE_MODES:
            raise ConfigError(f"faces must be one of {FACE_MODES}, got {self.faces!r}")
        if not 1.0 <= self.margin <= 3.0:
            raise ConfigError(f"margin must be in [1, 3], got {self.margin}")
        if self.image_size < 32:
            raise ConfigError(f"image_size must be >= 32, got {self.image_size}")
        if self.detect_size < 64:
            raise ConfigError(f"detect_size must be >= 64, got {self.detect_size}")
        if self.labels.split(":", 1)[0] not in LABEL_MODES:
            raise ConfigError(f"labels must be one of folders|csv:FILE|ffpp|dfdc|celebdf, got {self.labels!r}")
        if self.labels.startswith("csv") and not self.labels.startswith("csv:"):
            raise ConfigError("labels=csv needs a manifest path: csv:FILE")
        if not 0.0 < self.eval_fraction < 1.0:
            raise ConfigError(f"eval_fraction must be in (0, 1), got {self.eval_fraction}")
        if self.synthesize not in SYNTH_METHODS:
            raise ConfigError(f"synthesize must be one of {SYNTH_METHODS}, got {self.synthesize!r}")
        if not 1 <= self.jpeg_quality <= 100:
            raise ConfigError(f"jpeg_quality must be in [1, 100], got {self.jpeg_quality}")
        return self


@dataclass(frozen=True)
class TrainConfig:
    """The frame classifier and its training loop."""

    backbone: str = "inception_resnet_v2"
    weights: str = "imagenet"  # imagenet | none | path to a local weights file
    image_size: int = 299
    dropout: float = 0.5
    batch_size: int = 80
    learning_rate: float = 1e-4
    decay_steps: int = 1000
    decay_rate: float = 0.9
    target_accuracy: float = 0.997  # stop once training accuracy reaches this
    max_epochs: int = 20
    steps_per_epoch: int = 0  # 0: one pass over the training split
    eval_steps: int = 0  # 0: one pass over the eval split
    augment: bool = True
    threshold: float = 0.5  # fake if P(fake) >= threshold; exported with the model
    mixed_precision: str = "auto"  # auto (only with a GPU) | on | off
    run_eagerly: bool = False  # no graph tracing: faster for a handful of steps (demo, tests), slower after
    seed: int = 42
    max_steps: int = 0  # stop after this many optimizer steps in all (resumed runs included); 0: no limit
    time_budget_minutes: float = 0.0  # stop after this much training time in one run; 0: no limit
    checkpoint_dir: str = "auto"  # per-epoch checkpoints for resuming: auto | none | a folder
    bn_momentum: float = 0.0  # BatchNorm moving-average momentum of the backbone; 0: the backbone's own (0.99)

    def validate(self) -> TrainConfig:
        if self.backbone not in BACKBONES:
            raise ConfigError(f"backbone must be one of {BACKBONES}, got {self.backbone!r}")
        if self.image_size < 75:
            raise ConfigError(f"image_size must be >= 75, got {self.image_size}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.batch_size < 1 or self.max_epochs < 1:
            raise ConfigError("batch_size and max_epochs must be >= 1")
        if not 0.0 < self.threshold < 1.0:
            raise ConfigError(f"threshold must be in (0, 1), got {self.threshold}")
        if self.mixed_precision not in ("auto", "on", "off"):
            raise ConfigError(f"mixed_precision must be auto|on|off, got {self.mixed_precision!r}")
        if self.max_steps < 0:
            raise ConfigError(f"max_steps must be >= 0 (0: no limit), got {self.max_steps}")
        if self.time_budget_minutes < 0:
            raise ConfigError(f"time_budget_minutes must be >= 0 (0: no limit), got {self.time_budget_minutes}")
        if not self.checkpoint_dir:
            raise ConfigError("checkpoint_dir must be auto, none or a folder")
        if not 0.0 <= self.bn_momentum < 1.0:
            raise ConfigError(f"bn_momentum must be in [0, 1) (0: the backbone's own), got {self.bn_momentum}")
        return self


@dataclass(frozen=True)
class GateConfig:
    """When the Evaluator blesses a model."""

    accuracy_floor: float = 0.90
    max_regression: float = 1e-10  # how much worse than the last blessed model a candidate may be
    video_level: bool = False  # also gate on video-level accuracy
    video_aggregation: str = "mean"  # mean | confident

    def validate(self) -> GateConfig:
        if not 0.0 <= self.accuracy_floor <= 1.0:
            raise ConfigError(f"accuracy_floor must be in [0, 1], got {self.accuracy_floor}")
        if self.video_aggregation not in ("mean", "confident"):
            raise ConfigError(f"video_aggregation must be mean|confident, got {self.video_aggregation!r}")
        return self


@dataclass(frozen=True)
class PipelineConfig:
    """A whole Skyhawk pipeline: where things live and every stage's settings."""

    pipeline_name: str = "skyhawk"
    data_root: str = "data/videos"  # videos (or span-N/ folders of videos)
    pipeline_root: str = "out/pipeline"
    metadata_path: str = "out/metadata.sqlite"
    registry: str = "out/registry"
    model_name: str = "skyhawk"
    use_spans: bool = False  # read data_root/span-{SPAN}/ and train on the latest span
    beam_args: tuple[str, ...] = ("--direct_running_mode=multi_processing", "--direct_num_workers=0")
    extract: ExtractConfig = field(default_factory=ExtractConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    gate: GateConfig = field(default_factory=GateConfig)

    def validate(self) -> PipelineConfig:
        self.extract.validate()
        self.train.validate()
        self.gate.validate()
        if self.extract.image_size != self.train.image_size:
            raise ConfigError(
                f"extract.image_size ({self.extract.image_size}) must equal train.image_size "
                f"({self.train.image_size})"
            )
        return self


def from_dict(cls: Type[T], data: Mapping[str, Any]) -> T:
    """Builds a config dataclass from a (nested) dict; unknown keys are an error."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{cls.__name__} expects an object, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"unknown {cls.__name__} keys: {', '.join(unknown)}")
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        sub = _NESTED.get((cls, name))
        if sub is not None:
            kwargs[name] = from_dict(sub, value)
        elif name == "beam_args":
            kwargs[name] = tuple(value)
        else:
            kwargs[name] = value
    obj = cls(**kwargs)
    return obj.validate() if hasattr(obj, "validate") else obj


def to_dict(config: Any) -> dict[str, Any]:
    """The JSON-ready dict of a config dataclass."""
    out = dataclasses.asdict(config)
    if "beam_args" in out:
        out["beam_args"] = list(out["beam_args"])
    return out


def load(path: str | None = None, overrides: Mapping[str, Any] | None = None) -> PipelineConfig:
    """Loads a PipelineConfig from a JSON file (or defaults) and applies dotted overrides."""
    data: dict[str, Any] = {}
    if path:
        with open(path, encoding="utf-8") as f:
            try:
                data = json.load(f)
            except json.JSONDecodeError as e:
                raise ConfigError(f"{path}: not valid JSON: {e}") from e
    for key, value in (overrides or {}).items():
        node = data
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return from_dict(PipelineConfig, data)


def replace(config: T, **changes: Any) -> T:
    """dataclasses.replace, validated."""
    obj = dataclasses.replace(config, **changes)
    return obj.validate() if hasattr(obj, "validate") else obj


_NESTED: dict[tuple[type, str], type] = {
    (PipelineConfig, "extract"): ExtractConfig,
    (PipelineConfig, "train"): TrainConfig,
    (PipelineConfig, "gate"): GateConfig,
}
