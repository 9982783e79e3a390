"""Where the Trainer's state lives between runs: per-epoch checkpoints for resuming a killed training, and the
warm start from the latest blessed model."""
from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Mapping

from skyhawk import artifact, fileio
from skyhawk.config import TrainConfig

PROGRESS_FILE = "progress.json"  # per-epoch history next to the checkpoint (resume), deleted at the end


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


def remove_finished_backup(backup_dir: str, progress: str) -> None:
    """After training: BackupAndRestore deleted its checkpoint; the progress file and the emptied folder go too."""
    fileio.remove(progress)
    try:
        if not fileio.listdir(backup_dir):
            fileio.remove(backup_dir, recursive=True)
    except OSError:  # another worker's temporary folder is still there, or already gone
        pass


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
    try:
        meta = artifact.read_metadata(base)
        backbone, image_size = meta.backbone, meta.image_size
    except (FileNotFoundError, artifact.ArtifactError):
        backbone = image_size = None
    if backbone != cfg.backbone or image_size != cfg.image_size:
        return None, {"enabled": True, "base_model": None, "reason": (
            f"blessed model {base} is {backbone}/{image_size} px, the config "
            f"{cfg.backbone}/{cfg.image_size} px: trained from scratch")}
    return base, {"enabled": True, "base_model": base, "epochs": cfg.warm_start_epochs,
                  "reason": f"fine-tuned from the latest blessed model for <= {cfg.warm_start_epochs} epoch(s)"}
