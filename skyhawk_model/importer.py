"""Publishes a released detector's weights (MesoNet) into the registry without training.

The published version is the same artifact the Trainer exports (``export.export_model``: SavedModel,
both serving signatures, assets.extra metadata with the crop settings), so ``score``, ``predict`` and
``evaluate`` use it unchanged. Its registry ``VersionRecord`` records where it came from (the file,
its sha256, the backbone) instead of a training run.
"""
from __future__ import annotations

import hashlib
import os
import tempfile

from skyhawk import fileio
from skyhawk.config import MESO_BACKBONES, ExtractConfig, TrainConfig, to_dict
from skyhawk.registry import Registry, VersionRecord
from skyhawk_model.export import export_model
from skyhawk_model.meso import MESO_SIZE
from skyhawk_model.model import build_model

# MesoNet's own face crops are ~1.5x the dlib box: on the authors' four test images (their crops) the
# image side over Skyhawk's HOG box is 1.59, 1.47, 1.43 and 1.40. Scoring crops the same way.
MESO_MARGIN = 1.5


def sha256_of(path: str) -> str:
    """Hex sha256 of a file (local or remote)."""
    return hashlib.sha256(fileio.read_bytes(path)).hexdigest()


def import_model(backbone: str, weights: str, registry: str, name: str, threshold: float = TrainConfig.threshold,
                 crop: ExtractConfig | None = None) -> VersionRecord:
    """Builds ``backbone`` with the released ``weights`` file and publishes it as the next version of
    ``name`` in ``registry``; returns the version's record.

    ``crop``: the face-crop settings scoring must use (default: Skyhawk's extraction defaults with the
    network's input size and MesoNet's crop margin).
    """
    if backbone not in MESO_BACKBONES:
        raise ValueError(f"import-model: backbone must be one of {MESO_BACKBONES}, got {backbone!r}")
    if not fileio.isfile(weights):
        raise ValueError(f"import-model: weights file not found: {weights}")
    cfg = TrainConfig(backbone=backbone, weights=weights, image_size=MESO_SIZE, threshold=threshold)
    crop = crop or ExtractConfig(image_size=MESO_SIZE, margin=MESO_MARGIN)
    provenance = {"file": os.path.basename(weights), "path": weights, "sha256": sha256_of(weights),
                  "backbone": backbone, "output": "released P(real), exported as p_fake = 1 - P(real)"}
    model = build_model(cfg)
    with tempfile.TemporaryDirectory(prefix="skyhawk-import-") as tmp:
        export_dir = os.path.join(tmp, "saved_model")
        export_model(model, export_dir, cfg, history={"imported": provenance}, crop=to_dict(crop))
        return Registry(registry).publish(name, export_dir, VersionRecord(
            threshold=cfg.threshold, image_size=cfg.image_size, backbone=backbone, blessed=None,
            config={"train": to_dict(cfg), "extract": to_dict(crop)}, extra={"imported": provenance}))
