"""The Trainer's Keras callbacks: stop rules (target accuracy, step/time budget), best-epoch selection, per-epoch
export and the history record."""
from __future__ import annotations

import logging
import math
import os
import time
from typing import Any, Mapping

import tf_keras

import skyhawk  # noqa: F401  (applies skyhawk/env.py: legacy Keras before TensorFlow loads)
from skyhawk import fileio
from skyhawk.config import TrainConfig
from skyhawk_model.export import export_model

log = logging.getLogger(__name__)

HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")


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
        if self.progress_path and fileio.exists(self.progress_path):
            saved = fileio.read_json(self.progress_path)
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
            fileio.write_json(self.progress_path, self.summary())

    def summary(self, **extra: Any) -> dict[str, Any]:
        out: dict[str, Any] = {k: list(v) for k, v in self.history.items()}
        out["epochs"] = len(self.epoch_seconds)
        out["epoch_seconds"] = list(self.epoch_seconds)
        out["resumed_from_epoch"] = self.resumed_from_epoch
        out.update(extra)
        return out
