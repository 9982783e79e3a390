"""The model artifact's files: where a Skyhawk SavedModel keeps its metadata and history, and reading/writing them.

An exported model (a Trainer's ``serving_model_dir`` or a registry version folder) is a SavedModel plus::

    saved_model.pb  variables/ ...
    assets.extra/skyhawk_model.json   ModelMetadata: threshold, image size, backbone, crop settings, train config
    assets.extra/history.json         the training history

Export, model resolution, the Trainer's warm start, the report, the pusher and the registry all go through here.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

from skyhawk import fileio
from skyhawk.saved_model_vars import variables_problem, varint

SAVED_MODEL_PB = "saved_model.pb"
SAVED_MODEL_FILES = (SAVED_MODEL_PB, "saved_model.pbtxt")  # either makes a folder a SavedModel
EXTRA_DIR = "assets.extra"
META_FILE = "skyhawk_model.json"
HISTORY_FILE = "history.json"
META_PATH = f"{EXTRA_DIR}/{META_FILE}"
HISTORY_PATH = f"{EXTRA_DIR}/{HISTORY_FILE}"
META_FORMAT = "skyhawk-model/1"
# The ExtractConfig fields scoring must share with training to make identical crops.
CROP_KEYS = ("detector", "chances", "detect_size", "margin", "faces", "jpeg_quality")
INPUT_TEXT = "JPEG face crop, RGB, resized to image_size x image_size; pixels 0-255"


class ArtifactError(ValueError):
    """A model folder's metadata is missing fields or unreadable (the message names the file)."""


@dataclass(frozen=True)
class ModelMetadata:
    """assets.extra/skyhawk_model.json: how to feed an exported model and what it was trained with."""

    threshold: float
    image_size: int
    backbone: str = ""
    crop: dict[str, Any] = field(default_factory=dict)  # CROP_KEYS only
    train_config: dict[str, Any] = field(default_factory=dict)
    signatures: dict[str, Any] = field(default_factory=dict)
    input: str = INPUT_TEXT
    format: str = META_FORMAT
    history_file: str = HISTORY_PATH

    def __post_init__(self) -> None:
        object.__setattr__(self, "crop", {k: v for k, v in dict(self.crop or {}).items() if k in CROP_KEYS})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = META_FILE) -> ModelMetadata:
        """Unknown keys are ignored; a missing or bad threshold/image_size is an ArtifactError naming ``where``."""
        if not isinstance(data, Mapping):
            raise ArtifactError(f"{where}: not a JSON object")
        try:
            threshold, image_size = float(data["threshold"]), int(data["image_size"])
        except (KeyError, TypeError, ValueError) as e:
            raise ArtifactError(f"{where}: missing or bad threshold/image_size ({e!r})") from None
        known = {f.name for f in dataclasses.fields(cls)} - {"threshold", "image_size"}
        return cls(threshold=threshold, image_size=image_size, **{k: data[k] for k in known if k in data})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def meta_path(model_dir: str) -> str:
    return fileio.join(model_dir, *META_PATH.split("/"))


def history_path(model_dir: str) -> str:
    return fileio.join(model_dir, *HISTORY_PATH.split("/"))


def has_saved_model(model_dir: str) -> bool:
    """True when model_dir holds a SavedModel graph (saved_model.pb or .pbtxt)."""
    return any(fileio.isfile(fileio.join(model_dir, name)) for name in SAVED_MODEL_FILES)


def saved_model_problem(model_dir: str) -> str | None:
    """Why model_dir cannot be served (one line), or None: no graph file, an unreadable one, a saved_model.pb
    that is not a serialized SavedModel with a MetaGraph (e.g. truncated), or variables TF Serving's loader could
    not restore (``saved_model_vars``: index vs data files). Reads the graph and the variables index, only the
    sizes of the data files, and needs no TensorFlow."""
    pb = fileio.join(model_dir, SAVED_MODEL_PB)
    if not fileio.isfile(pb):
        text = fileio.join(model_dir, SAVED_MODEL_FILES[1])
        if fileio.isfile(text):
            return None
        return f"no {SAVED_MODEL_PB} in {model_dir}"
    try:
        data = fileio.read_bytes(pb)
    except OSError as e:
        return f"{pb} is unreadable ({e.strerror or e})"
    if not _is_saved_model_proto(data):
        return f"{pb} is not a SavedModel graph (empty, truncated or corrupt)"
    return variables_problem(model_dir, data)


def _is_saved_model_proto(data: bytes) -> bool:
    """The protobuf wire format of ``tensorflow.SavedModel``: field 1 (schema version, varint) and at least one
    field 2 (a MetaGraphDef, length-delimited), nothing else, every length inside the data."""
    i, graphs = 0, 0
    try:
        while i < len(data):
            key, i = varint(data, i)
            if key == (1 << 3 | 0):
                _, i = varint(data, i)
            elif key == (2 << 3 | 2):
                length, i = varint(data, i)
                i += length
                graphs += 1
            else:
                return False
    except IndexError:
        return False
    return i == len(data) and graphs > 0


def write_metadata(model_dir: str, meta: ModelMetadata) -> None:
    fileio.write_json(meta_path(model_dir), meta.to_dict())


def read_metadata(model_dir: str) -> ModelMetadata:
    """FileNotFoundError when the model has no metadata file, ArtifactError when it is unreadable or incomplete."""
    path = meta_path(model_dir)
    try:
        data = fileio.read_json(path)
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as e:
        raise ArtifactError(f"{path}: unreadable model metadata ({e})") from e
    return ModelMetadata.from_dict(data, where=path)


def write_history(model_dir: str, history: Mapping[str, Any]) -> None:
    fileio.write_json(history_path(model_dir), dict(history))


def read_history(model_dir: str) -> dict[str, Any]:
    """assets.extra/history.json (older exports: the ``history`` inside skyhawk_model.json); FileNotFoundError
    when neither is there."""
    try:
        return dict(fileio.read_json(history_path(model_dir)))
    except FileNotFoundError:
        legacy = fileio.read_json(meta_path(model_dir)).get("history")
        if legacy is None:
            raise
        return dict(legacy)
