"""One typed configuration for every Skyhawk stage: the dataclasses, their checks, and loading a config file
(the generic self-checking dataclass machinery is ``skyhawk.typed``).

The CLI, the TFX components and the pipelines all read their defaults from these dataclasses (the ``score``
section: ``skyhawk.config_score``); nothing else defines a default, and a default two sections share is one
constant (``FRAMES_PER_VIDEO``, ``IMAGE_SIZE``). A config file is JSON with the same nested shape (see
``skyhawk/configs/``); ``extract.image_size`` is the one image size (``train.image_size`` follows it).
A config object is checked when it is built (``__post_init__``: field types, ranges, cross-field rules), so
every config section in existence is valid, however it was made (constructor, ``from_dict``, ``replace``,
``load``); nothing else re-validates. ``load`` is the one way
from a file plus ``--set`` overrides to a config with absolute paths. Whether the files a config names exist
is not part of validation: ``check_inputs`` checks that once, before a run starts.
"""
from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Mapping, TypeVar

from skyhawk import backbone_specs, fileio
from skyhawk.aggregate import AGGREGATIONS
from skyhawk.config_score import FRAMES_PER_VIDEO, SCORE_FORMATS, ScoreConfig  # noqa: F401  (re-exported)
from skyhawk.labels import LabelError, LabelSpec
from skyhawk.typed import Checked, ConfigError, from_dict, need, to_dict  # noqa: F401  (ConfigError, to_dict: re-exported)

T = TypeVar("T")

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")  # photos: one-frame items
MEDIA_EXTENSIONS = VIDEO_EXTENSIONS + IMAGE_EXTENSIONS
DETECTORS = ("hog", "cnn")
FACE_MODES = ("largest", "all")
SYNTH_METHODS = ("none", "sbi", "swap")
BACKBONES = backbone_specs.names()  # the packaged backbones (the table: skyhawk/backbone_specs.py)
MESO_BACKBONES = backbone_specs.released_weight_backbones()  # released detector weights load into these
SBI_MODES = ("online", "offline", "none")  # train.sbi
SELECT_EPOCH = ("last", "val_loss")  # train.select_epoch
LR_SCHEDULES = ("exponential", "cosine")  # train.lr_schedule
IMAGE_SIZE = 299  # side of the square face crops = the model's input (extract.image_size; train.image_size follows)


NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")  # model and pipeline names (fullmatch; no path parts)


@dataclass(frozen=True)
class ExtractConfig(Checked):
    """Video -> face-crop extraction."""

    frames_per_video: int = FRAMES_PER_VIDEO
    detector: str = "hog"  # hog | cnn: the model of the tracking window and of the default chances
    chances: tuple[str, ...] = ()  # full-frame detectors tried in order (skyhawk.detectors.CHANCES); (): the
    # detector's default chain (hog: hog, hog_2x, haar; cnn: cnn, cnn_2x)
    detect_size: int = 640  # longest side of the frame the full-frame detector sees
    margin: float = 1.3  # detector box enlarged by this factor, then squared
    image_size: int = IMAGE_SIZE  # face crops are resized to image_size x image_size (the owner of image_size)
    faces: str = "largest"  # keep the largest face per frame, or all of them
    jpeg_quality: int = 95
    labels: str = "folders"  # a label spec (skyhawk.labels): folders[:SUB=LABEL,...] | csv:FILE | ffpp | dfdc | celebdf
    allow_outside_root: bool = False  # a CSV manifest may list files outside the input root
    eval_fraction: float = 0.2  # share of groups in the eval split
    split_seed: str = "skyhawk"  # salt of the group -> split hash
    synthesize: str = "none"  # none | sbi | swap: add synthetic fakes next to each real video
    synth_seed: int = 0

    def _check(self) -> None:
        need(self.frames_per_video >= 1, f"frames_per_video must be >= 1, got {self.frames_per_video}")
        need(self.detector in DETECTORS, f"detector must be one of {DETECTORS}, got {self.detector!r}")
        if self.chances:  # names only: the table is skyhawk.detectors (cv2 and dlib load only when it is read)
            from skyhawk.detectors import CHANCES

            unknown = [c for c in self.chances if c not in CHANCES]
            need(not unknown, f"chances: unknown face detector {unknown[0] if unknown else ''!r} "
                 f"(one of {', '.join(CHANCES)})")
        need(self.faces in FACE_MODES, f"faces must be one of {FACE_MODES}, got {self.faces!r}")
        need(1.0 <= self.margin <= 3.0, f"margin must be in [1, 3], got {self.margin}")
        need(self.image_size >= 32, f"image_size must be >= 32, got {self.image_size}")
        need(self.detect_size >= 64, f"detect_size must be >= 64, got {self.detect_size}")
        problem = label_spec_problem(self.labels)
        need(not problem, problem)
        need(0.0 < self.eval_fraction < 1.0, f"eval_fraction must be in (0, 1), got {self.eval_fraction}")
        need(bool(self.split_seed), "split_seed must not be empty")
        need(self.synthesize in SYNTH_METHODS, f"synthesize must be one of {SYNTH_METHODS}, got {self.synthesize!r}")
        need(1 <= self.jpeg_quality <= 100, f"jpeg_quality must be in [1, 100], got {self.jpeg_quality}")
        need(self.synth_seed >= 0, f"synth_seed must be >= 0, got {self.synth_seed}")


@dataclass(frozen=True)
class TrainConfig(Checked):
    """The frame classifier and its training loop."""

    backbone: str = "inception_resnet_v2"
    weights: str = "imagenet"  # imagenet | none | a weights file or TF checkpoint prefix (local or gs://)
    image_size: int = IMAGE_SIZE  # in a pipeline config: follows extract.image_size (``load``)
    dropout: float = 0.5
    batch_size: int = 80
    learning_rate: float = 1e-4
    decay_steps: int = 1000
    decay_rate: float = 0.9
    target_accuracy: float = 0.997  # stop once training accuracy reaches this
    max_epochs: int = 20
    span_window: int = 0  # with use_spans: train on the newest K spans (TFX RollingRange); 0: all spans
    warm_start: bool = False  # start from the latest blessed model (if any) and fine-tune it
    warm_start_epochs: int = 2  # epochs of a warm-started training (max_epochs applies from scratch)
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
    sbi: str = "offline"  # online: a fresh self-blended fake of each real face per draw | offline | none
    swap_fraction: float = 0.0  # sbi=online: this share of the fresh fakes are swaps with another identity's face
    select_epoch: str = "last"  # last | val_loss: export the epoch with the lowest validation loss
    export_epochs: bool = False  # also export every epoch's model to <model_run_dir>/epochs/<N> (learning curves)
    frozen_layers: int = 0  # fine-tuning: the backbone's first N layers with weights stay as loaded
    val_fraction: float = 0.15  # select_epoch=val_loss: share of TRAIN groups (>= 1) held out to select the epoch on
    data_share: float = 0.0  # sbi=online: share of training pairs that are a real + a dataset fake (vs real + SBI)
    lr_schedule: str = "exponential"  # exponential (decay_steps/decay_rate) | cosine: to 0 over the planned steps
    face_pixels: int = 0  # canonical face resolution: every face brought to this many pixels across in-graph; 0 off
    nuisance_augment: bool = False  # JPEG re-compression, down/up-scaling, blur, noise at random strength, both classes
    matched_pairs: bool = False  # data_share pairs: each dataset fake next to a real of its own group where one exists
    pairs_only: bool = False  # train on matched pairs only (a real + its SBI fake, a real + a fake of its group)
    rank_loss_weight: float = 0.0  # + weight x softplus(logit(real) - logit(fake)) over the batch's matched pairs

    def _check(self) -> None:
        spec = backbone_specs.SPECS.get(self.backbone)
        need(spec is not None, f"backbone must be one of {backbone_specs.names()}, got {self.backbone!r}")
        need(bool(self.weights), "weights must be imagenet, none or a weights file (checked before a run)")
        need(not spec.size_error(self.image_size), spec.size_error(self.image_size))
        need(spec.imagenet or self.weights != "imagenet",
             f"backbone {self.backbone} has no ImageNet weights: weights must be none or a file")
        need(self.face_pixels == 0 or 16 <= self.face_pixels < self.image_size,
             f"face_pixels must be 0 (off) or in [16, image_size), got {self.face_pixels}")
        need(not self.matched_pairs or self.data_share > 0.0,
             "matched_pairs needs data_share > 0 (it pairs the dataset's fakes with reals of their group)")
        need(not self.pairs_only or self.matched_pairs, "pairs_only needs matched_pairs")
        need(not self.nuisance_augment or self.augment, "nuisance_augment needs augment (it is part of augmentation)")
        need(self.rank_loss_weight >= 0.0, f"rank_loss_weight must be >= 0, got {self.rank_loss_weight}")
        need(self.rank_loss_weight == 0.0 or self.matched_pairs,
             "rank_loss_weight > 0 needs matched_pairs (a batch's adjacent (real, fake) pairs then share a group)")
        need(self.frozen_layers >= 0, f"frozen_layers must be >= 0, got {self.frozen_layers}")
        need(0.0 < self.val_fraction < 1.0, f"val_fraction must be in (0, 1), got {self.val_fraction}")
        need(0.0 <= self.data_share <= 1.0, f"data_share must be in [0, 1], got {self.data_share}")
        need(self.data_share == 0.0 or self.sbi == "online",
             f"data_share > 0 needs sbi=online (it mixes dataset fakes with online ones), got sbi={self.sbi!r}")
        need(self.lr_schedule in LR_SCHEDULES,
             f"lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        need(0.0 <= self.dropout < 1.0, f"dropout must be in [0, 1), got {self.dropout}")
        need(self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}")
        need(self.max_epochs >= 1, f"max_epochs must be >= 1, got {self.max_epochs}")
        need(self.span_window >= 0, f"span_window must be >= 0 (0: all spans), got {self.span_window}")
        need(self.warm_start_epochs >= 1, f"warm_start_epochs must be >= 1, got {self.warm_start_epochs}")
        need(self.learning_rate > 0.0, f"learning_rate must be > 0, got {self.learning_rate}")
        need(self.decay_steps >= 1, f"decay_steps must be >= 1, got {self.decay_steps}")
        need(0.0 < self.decay_rate <= 1.0, f"decay_rate must be in (0, 1], got {self.decay_rate}")
        need(self.target_accuracy >= 0.0,
             f"target_accuracy must be >= 0 (above 1: never stop early), got {self.target_accuracy}")
        need(self.steps_per_epoch >= 0, f"steps_per_epoch must be >= 0, got {self.steps_per_epoch}")
        need(self.eval_steps >= 0, f"eval_steps must be >= 0, got {self.eval_steps}")
        need(0.0 < self.threshold < 1.0, f"threshold must be in (0, 1), got {self.threshold}")
        need(self.mixed_precision in ("auto", "on", "off"),
             f"mixed_precision must be auto|on|off, got {self.mixed_precision!r}")
        need(self.max_steps >= 0, f"max_steps must be >= 0 (0: no limit), got {self.max_steps}")
        need(self.time_budget_minutes >= 0,
             f"time_budget_minutes must be >= 0 (0: no limit), got {self.time_budget_minutes}")
        need(bool(self.checkpoint_dir), "checkpoint_dir must be auto, none or a folder")
        need(0.0 <= self.bn_momentum < 1.0,
             f"bn_momentum must be in [0, 1) (0: the backbone's own), got {self.bn_momentum}")
        need(self.sbi in SBI_MODES, f"sbi must be one of {SBI_MODES}, got {self.sbi!r}")
        need(0.0 <= self.swap_fraction <= 1.0, f"swap_fraction must be in [0, 1], got {self.swap_fraction}")
        need(self.swap_fraction == 0.0 or self.sbi == "online",
             f"swap_fraction > 0 needs sbi=online (swaps are made online), got sbi={self.sbi!r}")
        need(self.select_epoch in SELECT_EPOCH,
             f"select_epoch must be one of {SELECT_EPOCH}, got {self.select_epoch!r}")
        need(self.sbi != "online" or self.batch_size % 2 == 0,
             f"batch_size must be even with sbi=online (each real next to its fake), got {self.batch_size}")


@dataclass(frozen=True)
class GateConfig(Checked):
    """When the Evaluator blesses a model."""

    accuracy_floor: float = 0.90
    max_regression: float = 1e-10  # how much worse than the last blessed model a candidate may be
    video_level: bool = False  # also gate on video-level accuracy
    video_aggregation: str = "mean"  # mean | confident
    golden_root: str = ""  # a fixed labelled folder every candidate is also scored on ("": none)
    golden_labels: str = "folders"  # its label spec (skyhawk.labels: folders | csv:FILE | ffpp | dfdc | celebdf)
    drift_linf: float = 0.1  # L-infinity drift threshold (label / method shares) vs the previous span
    drift_jsd: float = 0.3  # Jensen-Shannon drift threshold (detector score, face box, face index)
    block_on_drift: bool = False  # a drift anomaly keeps the candidate from being blessed
    confound_warn: float = 0.65  # ConfoundCheck warns when capture facts alone predict the label at this AUC
    confound_fail: float = 0.80  # ... and fails the run at this AUC (skyhawk.confound)

    def _check(self) -> None:
        need(0.0 <= self.accuracy_floor <= 1.0, f"accuracy_floor must be in [0, 1], got {self.accuracy_floor}")
        need(self.max_regression >= 0.0, f"max_regression must be >= 0, got {self.max_regression}")
        need(self.video_aggregation in AGGREGATIONS,
             f"video_aggregation must be {'|'.join(AGGREGATIONS)}, got {self.video_aggregation!r}")
        problem = label_spec_problem(self.golden_labels)
        need(not problem, f"golden_labels: {problem}")
        need(self.drift_linf > 0.0 and self.drift_jsd > 0.0,
             f"drift_linf and drift_jsd must be > 0, got {self.drift_linf}, {self.drift_jsd}")
        need(0.5 <= self.confound_warn <= self.confound_fail <= 1.0, "confound thresholds must satisfy "
             f"0.5 <= confound_warn <= confound_fail <= 1, got {self.confound_warn}, {self.confound_fail}")


@dataclass(frozen=True)
class PipelineConfig(Checked):
    """A whole Skyhawk pipeline: where things live and every stage's settings."""

    pipeline_name: str = "skyhawk"
    data_root: str = "data/videos"  # videos (or span-N/ folders of videos)
    pipeline_root: str = "out/pipeline"
    metadata_path: str = "out/metadata.sqlite"
    registry: str = "out/registry"
    model_name: str = "skyhawk"
    use_spans: bool = False  # data_root/span-{SPAN}/: ingest the newest span, train on train.span_window spans
    runner: str = "direct"  # Beam runner profile: direct | portable | flink | spark | dataflow (skyhawk.runners)
    beam_args: tuple[str, ...] = ("--direct_running_mode=multi_processing", "--direct_num_workers=0")
    schedule: str = "@weekly"  # when a scheduler (Airflow) starts a run: cron "m h dom mon dow", @daily..., "": manual
    extract: ExtractConfig = field(default_factory=ExtractConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    gate: GateConfig = field(default_factory=GateConfig)
    score: ScoreConfig = field(default_factory=ScoreConfig)

    def _check(self) -> None:
        for name in ("pipeline_name", "model_name"):
            value = getattr(self, name)
            need(NAME_RE.fullmatch(value) is not None,
                  f"{name} must be letters, digits, '.', '_', '-' (no path), got {value!r}")
        for name in ("data_root", "pipeline_root", "metadata_path", "registry"):
            need(bool(getattr(self, name)), f"{name} must not be empty")
        bad = [a for a in self.beam_args if not a.startswith("--")]
        need(not bad, f"beam_args must be flags like --runner=..., got {bad[0]!r}" if bad else "")
        self.beam_pipeline_args()
        need(_valid_schedule(self.schedule), "schedule must be a cron line (5 fields, e.g. '0 3 * * 1'), one of "
             f"{', '.join(SCHEDULE_PRESETS)} or \"\" (manual runs only), got {self.schedule!r}")
        for name in _SECTIONS:  # each section checked itself when it was built
            need(isinstance(getattr(self, name), _SECTIONS[name]), f"{name} must be a {_SECTIONS[name].__name__}")
        need(self.extract.image_size == self.train.image_size, f"train.image_size ({self.train.image_size}) must "
             f"equal extract.image_size ({self.extract.image_size}): set extract.image_size only, train's follows it")

    def beam_pipeline_args(self) -> list[str]:
        """The Beam flags of every Beam-powered step: the runner profile's, then beam_args."""
        from skyhawk.runners import RunnerError, runner_args

        try:
            return runner_args(self.runner, self.beam_args)
        except RunnerError as e:
            raise ConfigError(f"runner: {e}") from None


SCHEDULE_PRESETS = ("@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly")


def _valid_schedule(schedule: str) -> bool:
    """"" (manual only), an Airflow preset, or a 5-field cron line croniter accepts."""
    if schedule in ("", *SCHEDULE_PRESETS):
        return True
    from croniter import croniter  # Airflow's own cron parser (in the pinned set)

    return len(schedule.split()) == 5 and croniter.is_valid(schedule)


_SECTIONS: dict[str, type] = {"extract": ExtractConfig, "train": TrainConfig, "gate": GateConfig,
                              "score": ScoreConfig}


def replace(config: T, **changes: Any) -> T:
    """dataclasses.replace (the new config is checked when it is built, like every config)."""
    return dataclasses.replace(config, **changes)


DEMO_CONFIG = "demo.json"


def packaged_config(name: str = DEMO_CONFIG) -> str:
    """Path of a config shipped in skyhawk/configs/."""
    return str(resources.files("skyhawk").joinpath("configs", name))


def load(path: str | None = None, overrides: Mapping[str, Any] | None = None,
         base: str | None = None) -> PipelineConfig:
    """The one way to a PipelineConfig: a JSON file (or the defaults), dotted overrides (``--set``), checked, and
    every local path made absolute relative to ``base`` (default: the working directory)."""
    data: dict[str, Any] = {}
    if path:
        try:
            data = fileio.read_json(path)
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except ValueError as e:
            raise ConfigError(f"{path}: not valid JSON: {e}") from e
        need(isinstance(data, dict), f"{path}: a config must be a JSON object, got a JSON {type(data).__name__}")
    for key, value in (overrides or {}).items():
        node = data
        *parents, leaf = key.split(".")
        for i, p in enumerate(parents):
            node = node.setdefault(p, {})
            need(isinstance(node, dict), f"cannot set {key}: {'.'.join(parents[:i + 1])} is not an object in the "
                                         f"config (it is {node!r})")
        node[leaf] = value
    return _absolute_paths(from_dict(PipelineConfig, _derived(data)), base)


def _derived(data: dict[str, Any]) -> dict[str, Any]:
    """A config dict with its derived keys filled in: ``train.image_size`` follows ``extract.image_size`` (one
    owner; a file that still sets both must set them equal) and ``score.frames`` defaults to
    ``extract.frames_per_video`` (the golden set is scored with the frame count the model was trained on)."""
    extract = data.get("extract")
    if not isinstance(extract, dict):  # absent (defaults), or a wrong type from_dict names
        return data
    for section, key, source in (("train", "image_size", "image_size"), ("score", "frames", "frames_per_video")):
        node = data.get(section, {})
        if source in extract and isinstance(node, dict) and key not in node:
            data = {**data, section: {**node, key: extract[source]}}
    return data


def _absolute(path: str, base: str) -> str:
    if not path or fileio.is_remote(path) or os.path.isabs(path):
        return path
    return os.path.normpath(os.path.join(base, path))


def _absolute_paths(cfg: PipelineConfig, base: str | None = None) -> PipelineConfig:
    """Every local path of the config made absolute (relative to base, default the working dir).

    With ``use_spans`` a relative ``csv:FILE`` manifest stays relative: each span folder has its own."""
    base = os.path.abspath(base or os.getcwd())
    labels = cfg.extract.labels if cfg.use_spans else _lone_manifest_at(cfg.extract.labels, base)
    golden = _lone_manifest_at(cfg.gate.golden_labels, base)
    weights = cfg.train.weights if cfg.train.weights in ("imagenet", "none") else _absolute(cfg.train.weights, base)
    return replace(
        cfg,
        data_root=_absolute(cfg.data_root, base),
        pipeline_root=_absolute(cfg.pipeline_root, base),
        metadata_path=_absolute(cfg.metadata_path, base),
        registry=_absolute(cfg.registry, base),
        extract=replace(cfg.extract, labels=labels),
        train=replace(cfg.train, weights=weights),
        gate=replace(cfg.gate, golden_root=_absolute(cfg.gate.golden_root, base), golden_labels=golden),
    )


def label_spec_problem(text: str) -> str:
    """"" when text is a label spec, else why not (``LabelSpec.parse``'s one line)."""
    try:
        LabelSpec.parse(text)
    except LabelError as e:
        return str(e)
    return ""


def _lone_manifest_at(labels: str, base: str) -> str:
    """labels with a lone relative csv:FILE made absolute against base (``LabelSpec.lone_at``), else as written."""
    spec = LabelSpec.parse(labels)
    moved = spec.lone_at(base)
    return labels if moved == spec else str(moved)


def check_inputs(cfg: PipelineConfig) -> None:
    """The inputs a run reads exist; else one ConfigError naming the key (``config: data_root: no such folder:
    ...``). Called once, before a run starts (validation itself never touches the disk)."""
    def need(key: str, path: str, folder: bool, found: bool | None = None, hint: str = "") -> None:
        if not (found if found is not None else fileio.isdir(path) if folder else fileio.isfile(path)):
            raise ConfigError(f"config: {key}: no such {'folder' if folder else 'file'}: {path}{hint}")

    need("data_root", cfg.data_root, folder=True)
    spec = LabelSpec.parse(cfg.extract.labels)  # with use_spans a relative manifest is per span: checked then
    for manifest in spec.absolute_manifests if cfg.use_spans else spec.resolve(cfg.data_root).manifests:
        need("extract.labels", manifest, folder=False)
    if cfg.gate.golden_root:
        need("gate.golden_root", cfg.gate.golden_root, folder=True)
        for manifest in LabelSpec.parse(cfg.gate.golden_labels).resolve(cfg.gate.golden_root).manifests:
            need("gate.golden_labels", manifest, folder=False)
    weights = cfg.train.weights
    if weights not in ("imagenet", "none"):  # a weights file, or a TF checkpoint prefix (weights.index)
        need("train.weights", weights, False, fileio.isfile(weights) or fileio.isfile(weights + ".index"),
             " (imagenet, none or a weights file)")
