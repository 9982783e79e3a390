"""TFX generic-Trainer module: ``run_fn(fn_args)`` trains the Skyhawk classifier and exports it.

Config: ``fn_args.custom_config["train"]`` is a ``TrainConfig`` dict (a JSON string or a TrainConfig
also work); absent -> defaults. Unknown keys / bad values raise ``skyhawk.config.ConfigError``.

Steps: an epoch is ``fn_args.train_steps`` steps when set (TrainArgs.num_steps), else
``cfg.steps_per_epoch`` when > 0, else one pass over the train split; likewise validation uses
``fn_args.eval_steps``, else ``cfg.eval_steps`` when > 0, else one pass over the eval split.
Training stops at the end of the first epoch whose training accuracy reaches ``cfg.target_accuracy``
or after ``cfg.max_epochs`` epochs.
"""
from __future__ import annotations

import json
import logging
import os
import time
from typing import Any, Mapping

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402

from skyhawk.config import TrainConfig, from_dict  # noqa: E402
from skyhawk_model.data import make_dataset  # noqa: E402
from skyhawk_model.export import HISTORY_FILE, export_model, write_json  # noqa: E402
from skyhawk_model.model import build_model, use_mixed_precision  # noqa: E402

log = logging.getLogger(__name__)

HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")


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


class HistoryWriter(tf_keras.callbacks.Callback):
    """Collects per-epoch metrics and rewrites history.json after every epoch (survives a crash)."""

    def __init__(self, path: str | None):
        super().__init__()
        self.path = path
        self.history: dict[str, list[float | None]] = {k: [] for k in HISTORY_KEYS}
        self.epoch_seconds: list[float] = []
        self._t0 = 0.0

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self._t0 = time.monotonic()

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
        logs = dict(logs or {})
        for k in HISTORY_KEYS:
            self.history[k].append(float(logs[k]) if k in logs else None)
        self.epoch_seconds.append(round(time.monotonic() - self._t0, 3))
        if self.path:
            write_json(self.path, self.summary())

    def summary(self, **extra: Any) -> dict[str, Any]:
        out: dict[str, Any] = {k: list(v) for k, v in self.history.items()}
        out["epochs"] = len(self.epoch_seconds)
        out["epoch_seconds"] = list(self.epoch_seconds)
        out.update(extra)
        return out


def run_fn(fn_args) -> None:
    """TFX generic Trainer entry point: ``Trainer(run_fn="skyhawk_model.trainer.run_fn", ...)``."""
    cfg = train_config(fn_args.custom_config)
    if not fn_args.serving_model_dir:
        raise ValueError("fn_args.serving_model_dir is required")
    tf_keras.utils.set_random_seed(cfg.seed)

    steps_per_epoch = fn_args.train_steps or cfg.steps_per_epoch or None
    validation_steps = fn_args.eval_steps or cfg.eval_steps or None
    train_ds = make_dataset(fn_args.train_files, cfg, training=True, repeat=bool(steps_per_epoch))
    eval_ds = make_dataset(fn_args.eval_files, cfg, training=False, repeat=bool(validation_steps))

    model = build_model(cfg)
    run_dir = fn_args.model_run_dir
    history_path = None
    stop = TargetAccuracyStop(cfg.target_accuracy)
    callbacks: list[Any] = [stop]
    if run_dir:
        tf.io.gfile.makedirs(run_dir)
        history_path = os.path.join(run_dir, HISTORY_FILE)
        callbacks.append(tf_keras.callbacks.TensorBoard(log_dir=run_dir, update_freq="epoch", profile_batch=0))
    writer = HistoryWriter(history_path)
    callbacks.append(writer)

    log.info(
        "training %s (image_size=%d, weights=%s, mixed_precision=%s) for <= %d epochs, steps/epoch=%s",
        cfg.backbone, cfg.image_size, cfg.weights, use_mixed_precision(cfg), cfg.max_epochs,
        steps_per_epoch or "one pass",
    )
    model.fit(
        train_ds,
        epochs=cfg.max_epochs,
        steps_per_epoch=steps_per_epoch,
        validation_data=eval_ds,
        validation_steps=validation_steps,
        callbacks=callbacks,
        verbose=2,
    )
    history = writer.summary(
        stop_reason="target_accuracy" if stop.stopped_epoch is not None else "max_epochs",
        target_accuracy=cfg.target_accuracy,
        max_epochs=cfg.max_epochs,
        steps_per_epoch=steps_per_epoch,
        validation_steps=validation_steps,
    )
    if history_path:
        write_json(history_path, history)
    export_model(model, fn_args.serving_model_dir, cfg, history, crop=(fn_args.custom_config or {}).get("extract"))
    log.info("exported %s (%d epochs, stop: %s)", fn_args.serving_model_dir, history["epochs"], history["stop_reason"])
