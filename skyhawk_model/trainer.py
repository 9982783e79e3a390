"""TFX generic-Trainer module: ``run_fn(fn_args)`` trains the Skyhawk classifier and exports it.

Config: ``fn_args.custom_config["train"]`` is a ``TrainConfig`` dict (a JSON string or a TrainConfig
also work); absent -> defaults. Unknown keys / bad values raise ``skyhawk.config.ConfigError``.

Steps: an epoch is ``fn_args.train_steps`` steps when set (TrainArgs.num_steps), else
``cfg.steps_per_epoch`` when > 0, else one pass over the train split; likewise validation uses
``fn_args.eval_steps``, else ``cfg.eval_steps`` when > 0, else one pass over the eval split.
Training stops at the end of the first epoch whose training accuracy reaches ``cfg.target_accuracy``,
after ``cfg.max_epochs`` epochs, or when the ``cfg.max_steps`` / ``cfg.time_budget_minutes`` budget is
spent. Each epoch is checkpointed; a killed training resumes from its last finished epoch.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
import time
from typing import Any, Mapping, Sequence

import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402

import skyhawk  # noqa: E402,F401  (applies skyhawk/env.py: legacy Keras before TensorFlow loads)
from skyhawk.config import TrainConfig, from_dict, to_dict  # noqa: E402
from skyhawk_model.data import ALL, FIT, VAL, count_examples, make_dataset, record_files, val_groups  # noqa: E402
from skyhawk_model.export import export_model, write_json  # noqa: E402
from skyhawk_model.model import build_model, use_mixed_precision  # noqa: E402

log = logging.getLogger(__name__)

HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")
PROGRESS_FILE = "progress.json"  # per-epoch history next to the checkpoint (resume), deleted at the end


def train_config(custom_config: Mapping[str, Any] | None) -> TrainConfig:
    """The TrainConfig in ``custom_config["train"]`` (validated), defaults when absent."""
    raw = (custom_config or {}).get("train")
    if raw is None:
        return TrainConfig().validate()
    if isinstance(raw, TrainConfig):
        return raw.validate()
    if isinstance(raw, str):
        raw = json.loads(raw)
    return from_dict(TrainConfig, raw)


# --- distribution -------------------------------------------------------------------------------------


def strategy_kind(tf_config: str | None, gpus: int) -> str:
    """'multi_worker' when TF_CONFIG names several workers, else 'mirrored' with >1 GPU, else 'default'."""
    cluster = (json.loads(tf_config) if tf_config else {}).get("cluster") or {}
    if len(cluster.get("chief", [])) + len(cluster.get("worker", [])) > 1:
        return "multi_worker"
    return "mirrored" if gpus > 1 else "default"


def make_strategy() -> tf.distribute.Strategy:
    """The distribution strategy for this process (see ``strategy_kind``).

    ``MultiWorkerMirroredStrategy`` must be created before the process runs other TF ops, which is
    the case for a Trainer running in its own worker process (e.g. a cluster job per worker).
    """
    kind = strategy_kind(os.environ.get("TF_CONFIG"), len(tf.config.list_physical_devices("GPU")))
    if kind == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True unless this process is a non-chief worker of a multi-worker cluster."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and int(resolver.task_id or 0) == 0 and not has_chief


# --- callbacks ----------------------------------------------------------------------------------------


class TargetAccuracyStop(tf_keras.callbacks.Callback):
    """Stops training once the epoch's training accuracy reaches the target (the seed project's rule)."""

    def __init__(self, target: float):
        super().__init__()
        self.target = float(target)
        self.stopped_epoch: int | None = None  # 1-based

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
        acc = (logs or {}).get("accuracy")
        if acc is not None and acc >= self.target:
            self.stopped_epoch = epoch + 1
            self.model.stop_training = True
            log.info("training accuracy %.4f >= target %.4f after epoch %d: stopping", acc, self.target, epoch + 1)


class BudgetStop(tf_keras.callbacks.Callback):
    """Stops after ``max_steps`` optimizer steps in all (resumed runs included) or ``seconds`` of training
    in this process (0 = no limit). The cut-off epoch still runs its validation and is recorded."""

    def __init__(self, max_steps: int = 0, seconds: float = 0.0):
        super().__init__()
        self.max_steps = int(max_steps)
        self.seconds = float(seconds)
        self.reason: str | None = None
        self._t0 = 0.0

    def on_train_begin(self, logs=None) -> None:
        self._t0 = time.monotonic()

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        if self.max_steps and int(self.model.optimizer.iterations.numpy()) >= self.max_steps:
            self.reason = "max_steps"
        elif self.seconds and time.monotonic() - self._t0 >= self.seconds:
            self.reason = "time_budget"
        if self.reason:
            self.model.stop_training = True


class BestEpoch(tf_keras.callbacks.Callback):
    """Keeps (in memory) the weights of the epoch with the lowest validation loss (``train.select_epoch``).

    Only the epochs trained in this process count: after a resume, the restored epochs are not candidates.
    """

    def __init__(self) -> None:
        super().__init__()
        self.best = float("inf")
        self.epoch: int | None = None  # 1-based
        self.weights: list[Any] | None = None

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
        loss = (logs or {}).get("val_loss")
        if loss is not None and math.isfinite(float(loss)) and float(loss) < self.best:
            self.best, self.epoch, self.weights = float(loss), epoch + 1, self.model.get_weights()


class EpochExporter(tf_keras.callbacks.Callback):
    """``train.export_epochs``: every epoch's model as a SavedModel in ``<folder>/<epoch>`` (1-based, zero-padded),
    to score outside data (e.g. ``skyhawk evaluate``) along the training; chief only."""

    def __init__(self, folder: str, cfg: TrainConfig, crop: Mapping[str, Any] | None) -> None:
        super().__init__()
        self.folder, self.cfg, self.crop = folder, cfg, crop
        self.exported: list[str] = []

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
        path = os.path.join(self.folder, f"{epoch + 1:03d}")
        export_model(self.model, path, self.cfg, {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}},
                     crop=self.crop)
        self.exported.append(path)


class HistoryWriter(tf_keras.callbacks.Callback):
    """Collects per-epoch metrics; with ``progress_path`` also saves them after every epoch, so that a
    resumed training (restored by BackupAndRestore) continues the history of the epochs it keeps."""

    def __init__(self, progress_path: str | None = None):
        super().__init__()
        self.progress_path = progress_path
        self.history: dict[str, list[float | None]] = {k: [] for k in HISTORY_KEYS}
        self.epoch_seconds: list[float | None] = []
        self.resumed_from_epoch = 0
        self._started = False
        self._t0 = 0.0

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        if not self._started:
            self._started = True
            if epoch > 0:
                self._resume(epoch)
        self._t0 = time.monotonic()

    def _resume(self, epoch: int) -> None:
        saved: dict[str, Any] = {}
        if self.progress_path and tf.io.gfile.exists(self.progress_path):
            with tf.io.gfile.GFile(self.progress_path) as f:
                saved = json.load(f)
        for key, values in [*self.history.items(), ("epoch_seconds", self.epoch_seconds)]:
            kept = list(saved.get(key) or [])[:epoch]
            values[:] = kept + [None] * (epoch - len(kept))
        self.resumed_from_epoch = epoch
        log.info("resumed from the checkpoint of epoch %d", epoch)

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
        logs = dict(logs or {})
        for k in HISTORY_KEYS:
            self.history[k].append(float(logs[k]) if k in logs else None)
        self.epoch_seconds.append(round(time.monotonic() - self._t0, 3))
        if self.progress_path:
            tf.io.gfile.makedirs(os.path.dirname(self.progress_path))
            write_json(self.progress_path, self.summary())

    def summary(self, **extra: Any) -> dict[str, Any]:
        out: dict[str, Any] = {k: list(v) for k, v in self.history.items()}
        out["epochs"] = len(self.epoch_seconds)
        out["epoch_seconds"] = list(self.epoch_seconds)
        out["resumed_from_epoch"] = self.resumed_from_epoch
        out.update(extra)
        return out


# --- checkpoints --------------------------------------------------------------------------------------


def checkpoint_dir(cfg: TrainConfig, model_run_dir: str | None, key_parts: Mapping[str, Any]) -> str | None:
    """Where the per-epoch checkpoint lives, or None (``cfg.checkpoint_dir == "none"``).

    ``auto``: ``<dir above model_run_dir's parent>/checkpoints/<key>``. TFX gives every Trainer execution
    new output folders (``<root>/Trainer/model_run/<execution id>``), so a checkpoint inside them would
    never be found again; one level up, keyed by a hash of the inputs and the config, a re-run of the
    same training finds it. Any other value is used as the folder itself.
    """
    if cfg.checkpoint_dir == "none":
        return None
    if cfg.checkpoint_dir != "auto":
        return cfg.checkpoint_dir
    if not model_run_dir:
        return None
    key = hashlib.sha256(json.dumps(key_parts, sort_keys=True, default=str).encode()).hexdigest()[:16]
    base = os.path.dirname(os.path.dirname(model_run_dir.rstrip("/")))
    return os.path.join(base, "checkpoints", key)


# --- training -----------------------------------------------------------------------------------------


def fit(
    model,
    train_ds: tf.data.Dataset,
    eval_ds: tf.data.Dataset | None,
    cfg: TrainConfig,
    steps_per_epoch: int | None = None,
    validation_steps: int | None = None,
    run_dir: str | None = None,
    backup_dir: str | None = None,
    chief: bool = True,
    extra_callbacks: Sequence[Any] = (),
) -> dict[str, Any]:
    """``model.fit`` with Skyhawk's stop rules, TensorBoard logs (chief) and per-epoch checkpoints in
    ``backup_dir`` (restored when present); returns the history summary. ``extra_callbacks`` (e.g. a
    ``BestEpoch``, an ``EpochExporter``) run after the stop rules and the history writer."""
    stop = TargetAccuracyStop(cfg.target_accuracy)
    budget = BudgetStop(cfg.max_steps, cfg.time_budget_minutes * 60.0)
    progress = os.path.join(backup_dir, PROGRESS_FILE) if backup_dir and chief else None
    writer = HistoryWriter(progress)
    callbacks: list[Any] = [stop, budget, writer]  # the writer saves progress before the checkpoint
    callbacks.extend(extra_callbacks)
    if backup_dir:
        callbacks.append(tf_keras.callbacks.BackupAndRestore(backup_dir))
    if run_dir and chief:
        tf.io.gfile.makedirs(run_dir)
        callbacks.append(tf_keras.callbacks.TensorBoard(log_dir=run_dir, update_freq="epoch", profile_batch=0))
    model.fit(
        train_ds,
        epochs=cfg.max_epochs,
        steps_per_epoch=steps_per_epoch,
        validation_data=eval_ds,
        validation_steps=validation_steps,
        callbacks=callbacks,
        verbose=2,
    )
    if progress:  # BackupAndRestore deleted its checkpoint at the end of training; the progress goes too
        _remove_finished_backup(backup_dir, progress)
    if stop.stopped_epoch is not None:
        reason = "target_accuracy"
    else:
        reason = budget.reason or "max_epochs"
    return writer.summary(
        stop_reason=reason,
        target_accuracy=cfg.target_accuracy,
        max_epochs=cfg.max_epochs,
        max_steps=cfg.max_steps,
        time_budget_minutes=cfg.time_budget_minutes,
        steps_per_epoch=steps_per_epoch,
        validation_steps=validation_steps,
        optimizer_steps=int(model.optimizer.iterations.numpy()),
    )


def _remove_finished_backup(backup_dir: str, progress: str) -> None:
    if tf.io.gfile.exists(progress):
        tf.io.gfile.remove(progress)
    try:
        if not tf.io.gfile.listdir(backup_dir):
            tf.io.gfile.rmtree(backup_dir)
    except tf.errors.OpError:  # another worker's temporary folder is still there, or already gone
        pass


def _global_batch(cfg: TrainConfig, strategy: tf.distribute.Strategy) -> int:
    return cfg.batch_size * strategy.num_replicas_in_sync


def _shardable(ds: tf.data.Dataset) -> tf.data.Dataset:
    """Multi-worker: shard by element (works with fewer files than workers)."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)


def _planned_steps(train_files: Any, cfg: TrainConfig, steps_per_epoch: int | None, batch: int,
                   part: str, held_out: Sequence[bytes]) -> int | None:
    """Optimizer steps the run plans (for lr_schedule=cosine; None otherwise): epochs x steps per epoch,
    counting one pass over the train part when no step count is set, capped by max_steps."""
    if cfg.lr_schedule != "cosine":
        return None
    if not steps_per_epoch:
        n = count_examples(train_files, cfg, part, held_out)
        images = n["real"] + n["fake"]
        if cfg.sbi == "online" and not cfg.data_share:  # each pairable real also brings its online fake
            images += n["pairable"]
        steps_per_epoch = max(1, math.ceil(images / batch))
    total = steps_per_epoch * cfg.max_epochs
    return min(total, cfg.max_steps) if cfg.max_steps else total


def warm_start_base(fn_args, cfg: TrainConfig) -> tuple[str | None, dict[str, Any]]:
    """(SavedModel to start from or None, the choice as recorded in the history).

    ``fn_args.base_model`` is the latest blessed model (the pipeline feeds the Trainer's ``base_model``
    only with ``train.warm_start``); one with another backbone or image size is not used.
    """
    base = getattr(fn_args, "base_model", None)
    if not cfg.warm_start:
        return None, {"enabled": False, "base_model": None, "reason": "train.warm_start is off"}
    if not base:
        return None, {"enabled": True, "base_model": None, "reason": "no blessed model yet: trained from scratch"}
    meta_path = os.path.join(base, "assets.extra", "skyhawk_model.json")
    meta = json.loads(tf.io.gfile.GFile(meta_path).read()) if tf.io.gfile.exists(meta_path) else {}
    if meta.get("backbone") != cfg.backbone or meta.get("image_size") != cfg.image_size:
        return None, {"enabled": True, "base_model": None, "reason": (
            f"blessed model {base} is {meta.get('backbone')}/{meta.get('image_size')} px, the config "
            f"{cfg.backbone}/{cfg.image_size} px: trained from scratch")}
    return base, {"enabled": True, "base_model": base, "epochs": cfg.warm_start_epochs,
                  "reason": f"fine-tuned from the latest blessed model for <= {cfg.warm_start_epochs} epoch(s)"}


def train_and_export(
    fn_args,
    cfg: TrainConfig,
    strategy: tf.distribute.Strategy | None = None,
) -> dict[str, Any]:
    """Trains under ``strategy`` (default: ``make_strategy()``) and exports; returns the history.

    ``cfg.batch_size`` is per replica (the global batch is that times the number of replicas). Only
    the chief writes the SavedModel and its history; other workers save to a temporary folder (saving
    is a collective operation) that is deleted afterwards.
    """
    strategy = strategy or make_strategy()
    chief = is_chief(strategy)
    crop = (fn_args.custom_config or {}).get("extract")  # recorded so scoring crops as training did
    tf_keras.utils.set_random_seed(cfg.seed)
    steps_per_epoch = fn_args.train_steps or cfg.steps_per_epoch or None
    validation_steps = fn_args.eval_steps or cfg.eval_steps or None
    batch = _global_batch(cfg, strategy)
    # select_epoch=val_loss selects on a slice of the TRAIN groups: the gate's eval split never steers training.
    carve = cfg.select_epoch == "val_loss"
    held_out = val_groups(fn_args.train_files, cfg.val_fraction) if carve else []
    val_files = fn_args.train_files if carve else fn_args.eval_files
    train_ds = _shardable(make_dataset(fn_args.train_files, cfg, training=True, batch_size=batch,
                                       repeat=bool(steps_per_epoch), part=FIT if carve else ALL, held_out=held_out))
    eval_ds = _shardable(make_dataset(val_files, cfg, training=False, batch_size=batch,
                                      repeat=bool(validation_steps), part=VAL if carve else ALL, held_out=held_out))
    planned_steps = _planned_steps(fn_args.train_files, cfg, steps_per_epoch, batch, FIT if carve else ALL,
                                   held_out)
    base, warm = warm_start_base(fn_args, cfg)
    backup_dir = checkpoint_dir(cfg, fn_args.model_run_dir, {
        "train": record_files(fn_args.train_files), "eval": record_files(val_files), "held_out": held_out,
        "config": to_dict(cfg), "steps": [steps_per_epoch, validation_steps], "replicas": batch // cfg.batch_size,
        **({"base_model": base} if base else {}),
    })
    with strategy.scope():
        if base:  # the weights come from the blessed model: no ImageNet download
            planned_steps = planned_steps and planned_steps // cfg.max_epochs * cfg.warm_start_epochs
            cfg = dataclasses.replace(cfg, max_epochs=cfg.warm_start_epochs)
            model = build_model(dataclasses.replace(cfg, weights="none"), planned_steps)
            model.set_weights(tf_keras.models.load_model(base, compile=False).get_weights())
        else:
            model = build_model(cfg, planned_steps)
    log.info("warm start: %s", warm)
    log.info(
        "training %s (image_size=%d, weights=%s, mixed_precision=%s, replicas=%d, global batch=%d) for <= %d "
        "epochs, steps/epoch=%s, checkpoints=%s", cfg.backbone, cfg.image_size, cfg.weights,
        use_mixed_precision(cfg), strategy.num_replicas_in_sync, batch, cfg.max_epochs,
        steps_per_epoch or "one pass", backup_dir or "off",
    )
    best = BestEpoch() if cfg.select_epoch == "val_loss" else None
    epochs = (EpochExporter(os.path.join(fn_args.model_run_dir, "epochs"), cfg, crop)
              if cfg.export_epochs and chief and fn_args.model_run_dir else None)
    history = fit(model, train_ds, eval_ds, cfg, steps_per_epoch, validation_steps,
                  run_dir=fn_args.model_run_dir, backup_dir=backup_dir, chief=chief,
                  extra_callbacks=[c for c in (best, epochs) if c is not None])
    if epochs:
        history["epoch_models"] = epochs.exported
    history.update(replicas=strategy.num_replicas_in_sync, global_batch=batch, warm_start=warm,
                   select_epoch=cfg.select_epoch, selected_epoch=history["epochs"], last_epoch_model=None,
                   validation={"source": "train groups" if carve else "eval split",
                               "groups": [g.decode() for g in held_out]},
                   planned_steps=planned_steps)
    if best is not None and best.weights is not None and best.epoch != history["epochs"]:
        if chief and fn_args.model_run_dir:  # the last epoch's model too, for comparison
            last_dir = os.path.join(fn_args.model_run_dir, "last_epoch")
            export_model(model, last_dir, cfg, history, crop=crop)
            history["last_epoch_model"] = last_dir
        model.set_weights(best.weights)
        history["selected_epoch"] = best.epoch
        log.info("select_epoch=val_loss: exporting epoch %d (val_loss %.4f)", best.epoch, best.best)
    if chief:
        export_model(model, fn_args.serving_model_dir, cfg, history, crop=crop)
    else:
        scratch = tempfile.mkdtemp(prefix="skyhawk-worker-export-")
        try:
            export_model(model, os.path.join(scratch, "model"), cfg, history, crop=crop)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return history


def run_fn(fn_args) -> None:
    """TFX generic Trainer entry point: ``Trainer(run_fn="skyhawk_model.trainer.run_fn", ...)``."""
    cfg = train_config(fn_args.custom_config)
    if not fn_args.serving_model_dir:
        raise ValueError("fn_args.serving_model_dir is required")
    history = train_and_export(fn_args, cfg)
    log.info("exported %s (%d epochs, stop: %s)", fn_args.serving_model_dir, history["epochs"],
             history["stop_reason"])


__all__: Sequence[str] = (
    "BestEpoch", "BudgetStop", "EpochExporter", "HistoryWriter", "TargetAccuracyStop", "checkpoint_dir", "fit",
    "is_chief", "make_strategy", "run_fn", "strategy_kind", "train_and_export", "train_config",
)
