"""TFX generic-Trainer module: ``run_fn(fn_args)`` trains the Skyhawk classifier and exports it.

The training run itself: datasets, model, ``fit`` and export. Its parts live next to it: the stop rules and
history in ``callbacks``, the tf.distribute strategy in ``distribution``, resume checkpoints and the warm
start in ``checkpoints``.

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
import json
import logging
import math
import os
import shutil
import tempfile
from typing import Any, Mapping, Sequence

import tensorflow as tf
import tf_keras

import skyhawk  # noqa: F401  (applies skyhawk/env.py: legacy Keras before TensorFlow loads)
from skyhawk import fileio
from skyhawk.config import TrainConfig, from_dict, to_dict
from skyhawk_model.callbacks import BestEpoch, BudgetStop, EpochExporter, HistoryWriter, TargetAccuracyStop
from skyhawk_model.checkpoints import PROGRESS_FILE, checkpoint_dir, remove_finished_backup, warm_start_base
from skyhawk_model.data import make_dataset
from skyhawk_model.distribution import global_batch, is_chief, make_strategy, shardable
from skyhawk_model.export import export_model
from skyhawk_model.inputs import TrainingInputs, training_inputs
from skyhawk_model.model import CROP_MARGIN, build_model, use_mixed_precision

log = logging.getLogger(__name__)


def train_config(custom_config: Mapping[str, Any] | None) -> TrainConfig:
    """The TrainConfig in ``custom_config["train"]`` (checked when built), defaults when absent."""
    raw = (custom_config or {}).get("train")
    if raw is None:
        return TrainConfig()
    if isinstance(raw, TrainConfig):
        return raw
    if isinstance(raw, str):
        raw = json.loads(raw)
    return from_dict(TrainConfig, raw)


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
        fileio.makedirs(run_dir)
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
        remove_finished_backup(backup_dir, progress)
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


def _planned_steps(inputs: TrainingInputs, cfg: TrainConfig, steps_per_epoch: int | None, batch: int) -> int | None:
    """Optimizer steps the run plans (for lr_schedule=cosine; None otherwise): epochs x steps per epoch,
    counting one pass over the train part (from the inputs' one read) when no step count is set, capped by
    max_steps."""
    if cfg.lr_schedule != "cosine":
        return None
    if not steps_per_epoch:
        assert inputs.scan is not None  # inputs.needs_scan: a cosine one-pass epoch is counted
        n = inputs.scan.counts(cfg.sbi, inputs.fit_part, inputs.held_out)
        images = n["real"] + n["fake"]
        if cfg.sbi == "online" and not cfg.data_share:  # each pairable real also brings its online fake
            images += n["pairable"]
        steps_per_epoch = max(1, math.ceil(images / batch))
    total = steps_per_epoch * cfg.max_epochs
    return min(total, cfg.max_steps) if cfg.max_steps else total


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
    batch = global_batch(cfg, strategy)
    # select_epoch=val_loss selects on a slice of the TRAIN groups: the gate's eval split never steers training.
    # Each split globbed once, the train split read once for its groups and counts when inputs.needs_scan.
    inputs = training_inputs(fn_args.train_files, fn_args.eval_files, cfg, one_pass=not steps_per_epoch)
    carve, held_out = inputs.carve, list(inputs.held_out)
    train_ds = shardable(make_dataset(inputs.train, cfg, training=True, batch_size=batch, repeat=bool(steps_per_epoch),
                                      part=inputs.fit_part, held_out=held_out, scan=inputs.scan))
    eval_ds = shardable(make_dataset(inputs.val, cfg, training=False, batch_size=batch, repeat=bool(validation_steps),
                                     part=inputs.val_part, held_out=held_out))
    planned_steps = _planned_steps(inputs, cfg, steps_per_epoch, batch)
    base, warm = warm_start_base(fn_args, cfg)
    backup_dir = checkpoint_dir(cfg, fn_args.model_run_dir, {
        "train": list(inputs.train.files), "eval": list(inputs.val.files), "held_out": held_out,
        "config": to_dict(cfg), "steps": [steps_per_epoch, validation_steps], "replicas": batch // cfg.batch_size,
        **({"base_model": base} if base else {}),
    })
    margin = float((crop or {}).get("margin") or CROP_MARGIN)  # places train.face_pixels in crop pixels
    with strategy.scope():
        if base:  # the weights come from the blessed model: no ImageNet download
            planned_steps = planned_steps and planned_steps // cfg.max_epochs * cfg.warm_start_epochs
            cfg = dataclasses.replace(cfg, max_epochs=cfg.warm_start_epochs)
            model = build_model(dataclasses.replace(cfg, weights="none"), planned_steps, margin)
            model.set_weights(tf_keras.models.load_model(base, compile=False).get_weights())
        else:
            model = build_model(cfg, planned_steps, margin)
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


__all__: Sequence[str] = ("fit", "run_fn", "train_and_export", "train_config")
