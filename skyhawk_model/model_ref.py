"""Which model to score with: a registry reference or a SavedModel folder, and the settings it was trained with.

A reference is one of

- ``REG/NAME``: model NAME of the registry rooted at REG, at its serving version (pinned, else newest);
- ``REG/NAME/N``: version N;
- a SavedModel folder (a Trainer's ``serving_model_dir``, or a registry version folder).

REG may be local or ``gs://``. The threshold, image size and crop settings (detector, margin, faces,
JPEG quality) come from the model itself (its ``skyhawk.artifact`` metadata), then from the registry's
``VersionRecord`` (the pipeline config it was trained with), never from flags that could disagree with
training. Only the decision threshold may be set at scoring time (``score.threshold``, ``resolve``'s
``threshold``); 0 keeps the exported one.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import posixpath
import tempfile
from dataclasses import dataclass, field
from typing import Any, Mapping

from skyhawk import artifact, fileio
from skyhawk.artifact import CROP_KEYS
from skyhawk.config import ExtractConfig, ScoreConfig, from_dict, to_dict
from skyhawk.registry import Registry, RegistryError, VersionRecord, record_in

_log = logging.getLogger(__name__)


class ModelRefError(ValueError):
    """A model reference does not resolve; the message is one line."""


@dataclass(frozen=True)
class ModelRef:
    """A resolved model: where its SavedModel is and how to feed it."""

    uri: str  # the SavedModel folder (local path or gs://...)
    label: str  # NAME/VERSION for registry models, else the folder
    threshold: float
    image_size: int
    crop: dict[str, Any] = field(default_factory=dict)  # ExtractConfig fields the crops must be made with
    registry_version: Mapping[str, Any] = field(default_factory=dict)  # its VersionRecord, when from a registry

    def extract_config(self, frames_per_video: int) -> ExtractConfig:
        """The ExtractConfig that reproduces the training crops, sampling frames_per_video frames."""
        return from_dict(ExtractConfig, {**self.crop, "image_size": self.image_size,
                                         "frames_per_video": frames_per_video})


def _from_folder(uri: str, label: str, record: VersionRecord | None = None) -> ModelRef:
    problem = artifact.saved_model_problem(uri)
    if problem:
        raise ModelRefError(f"cannot score with {label}: unusable model ({problem})")
    try:
        meta = artifact.read_metadata(uri)
    except FileNotFoundError:
        raise ModelRefError(f"{uri} has no {artifact.META_PATH}: not a Skyhawk model export") from None
    except artifact.ArtifactError as e:
        raise ModelRefError(str(e)) from e
    if record is None:
        try:
            record = record_in(uri)  # a registry version folder named directly
        except RegistryError as e:
            raise ModelRefError(str(e)) from None
        if record is not None and record.model_name and record.version:
            label = f"{record.model_name}/{record.version}"
    crop = dict(meta.crop)
    if not crop:
        trained = (record.config.get("extract") if record is not None else None) or {}
        crop = {k: trained[k] for k in CROP_KEYS if k in trained}
    if not crop:
        _log.warning("%s records no crop settings; using the defaults %s", uri,
                     {k: to_dict(ExtractConfig())[k] for k in CROP_KEYS})
    return ModelRef(uri=uri, label=label, threshold=meta.threshold, image_size=meta.image_size, crop=crop,
                    registry_version=record if record is not None else {})


def resolve(ref: str, threshold: float = ScoreConfig.threshold) -> ModelRef:
    """Resolves REG/NAME, REG/NAME/N or a SavedModel folder, to score at ``threshold`` (``score.threshold``;
    0 keeps the threshold exported with the model). Raises ModelRefError (one line)."""
    model = _resolve(ref)
    return dataclasses.replace(model, threshold=threshold) if threshold else model


def _resolve(ref: str) -> ModelRef:
    ref = ref.rstrip("/")
    if not ref:
        raise ModelRefError("empty model reference")
    if artifact.has_saved_model(ref):
        return _from_folder(ref, ref)
    head, tail = (posixpath.split(ref) if fileio.is_remote(ref) else os.path.split(ref))
    version: int | None = None
    if tail.isdigit():
        version = int(tail)
        head, tail = (posixpath.split(head) if fileio.is_remote(head) else os.path.split(head))
    root, name = head, tail
    missing = ModelRefError(f"model not found: {ref} (expected REGISTRY/NAME, REGISTRY/NAME/VERSION or a "
                            f"SavedModel folder)")
    if not root or not name or (not fileio.is_remote(root) and not fileio.isdir(fileio.join(root, name))):
        raise missing
    try:
        reg = Registry(root)
        if name not in reg.models():
            raise missing
        record = reg.show(name, version)
    except RegistryError as e:
        raise ModelRefError(str(e)) from e
    return _from_folder(record.uri, f"{name}/{record.version}", record=record)


def local_model_dir(uri: str) -> str:
    """A local folder holding the SavedModel at uri: itself when local, else a copy cached per process."""
    if not fileio.is_remote(uri):
        return fileio.local_path(uri)
    cached = _LOCAL_COPIES.get(uri)
    if cached and fileio.isdir(cached):
        return cached
    tmp = tempfile.mkdtemp(prefix="skyhawk-model-")
    for path in fileio.list_files(uri):
        fileio.copy_file(path, os.path.join(tmp, *fileio.relpath(path, uri).split("/")))
    _LOCAL_COPIES[uri] = tmp
    return tmp


_LOCAL_COPIES: dict[str, str] = {}
