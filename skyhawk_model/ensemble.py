"""Ensembles of registry models: one SavedModel whose P(fake) is the weighted mean of its members' P(fake).

Each member is a resolved model reference (``REG/NAME``, ``REG/NAME/N`` or a SavedModel folder). The members
are loaded as Keras models and joined into one Keras model: the same pixels go to every member, their
``[P(real), P(fake)]`` outputs are concatenated, and a fixed (non-trainable) ``Dense`` layer without bias
takes their weighted mean. Every weight is >= 0 and they sum to 1, so the output is again a probability
pair. The joined model is exported by ``export.export_model``, like the Trainer's and import-model's, so
it has the same two signatures and crop metadata, and ``score``, ``predict`` and ``evaluate`` use it
unchanged.

Members must make identical crops: the same ``image_size`` and the same crop settings
(``artifact.CROP_KEYS``). Otherwise ``EnsembleError`` names the first setting that differs and each
member's value, on one line.
"""
from __future__ import annotations

import dataclasses
import hashlib
import tempfile
from typing import Any, Sequence

import numpy as np

from skyhawk import artifact, fileio
from skyhawk.artifact import CROP_KEYS
from skyhawk.config import ExtractConfig, TrainConfig, to_dict
from skyhawk.registry import METADATA, Registry, VersionRecord
from skyhawk.typed import ConfigError
from skyhawk_model.export import export_model
from skyhawk_model.model_ref import ModelRef, ModelRefError, local_model_dir, resolve

BACKBONE = "ensemble"  # the backbone name recorded in the ensemble's model metadata
METHOD = "weighted mean of the members' P(fake)"


class EnsembleError(ValueError):
    """The members cannot be joined (the message is one line)."""


def crop_settings(ref: ModelRef) -> dict[str, Any]:
    """What a member's crops depend on: its image size and every crop setting (defaults where it records none)."""
    defaults = to_dict(ExtractConfig())
    return {"image_size": ref.image_size, **{k: ref.crop.get(k, defaults[k]) for k in CROP_KEYS}}


def check_crops(refs: Sequence[ModelRef]) -> dict[str, Any]:
    """The members' shared crop settings; EnsembleError naming the first setting that differs."""
    settings = [crop_settings(r) for r in refs]
    for key in settings[0]:
        values = [s[key] for s in settings]
        if any(v != values[0] for v in values[1:]):
            each = ", ".join(f"{r.label}={v}" for r, v in zip(refs, values, strict=True))
            raise EnsembleError(f"members differ in crop setting {key}: {each} (members must make "
                                "identical crops)")
    return settings[0]


def normalized_weights(weights: Sequence[float] | None, count: int) -> list[float]:
    """The members' weights, >= 0 and summing to 1 (default: equal); EnsembleError on a bad list."""
    if weights is None:
        return [1.0 / count] * count
    if len(weights) != count:
        raise EnsembleError(f"{len(weights)} weights for {count} members")
    if any(not np.isfinite(w) or w < 0 for w in weights) or sum(weights) <= 0:
        raise EnsembleError(f"weights must be >= 0 with a positive sum, got {list(weights)}")
    total = float(sum(weights))
    return [float(w) / total for w in weights]


def build_ensemble(members: Sequence[Any], weights: Sequence[float], image_size: int):
    """One Keras model: [N, S, S, 3] pixels in [0, 255] -> sum_i weights[i] * members[i](pixels), [N, 2]."""
    import tf_keras

    inputs = tf_keras.Input(shape=(image_size, image_size, 3), name="image")
    outputs = []
    for i, member in enumerate(members):
        member._name = f"member_{i}"  # members may share a name (two exports of one architecture)
        outputs.append(tf_keras.layers.Activation("linear", dtype="float32", name=f"p_{i}")(member(inputs)))
    joined = tf_keras.layers.Concatenate(name="members")(outputs) if len(outputs) > 1 else outputs[0]
    mean = tf_keras.layers.Dense(2, use_bias=False, trainable=False, dtype="float32", name="weighted_mean")
    probabilities = mean(joined)
    kernel = np.zeros((2 * len(members), 2), np.float32)
    for i, w in enumerate(weights):  # output j = sum_i w_i * member_i[j]
        kernel[2 * i, 0] = kernel[2 * i + 1, 1] = w
    mean.set_weights([kernel])
    return tf_keras.Model(inputs, probabilities, name="skyhawk_ensemble")


def load_member(ref: ModelRef):
    """A member's exported model as a Keras model (inference only)."""
    import tf_keras

    from skyhawk_model.model import skip_autograph_for_tf_keras

    skip_autograph_for_tf_keras()
    try:
        return tf_keras.models.load_model(local_model_dir(ref.uri), compile=False)
    except Exception as e:  # noqa: BLE001 - any load failure is one line naming the member
        raise EnsembleError(f"cannot load member {ref.label} as a Keras model ({type(e).__name__}: "
                            f"{str(e).splitlines()[0] if str(e) else ''})") from e


def model_digest(uri: str) -> str:
    """sha256 over a SavedModel folder's files (relative path and bytes, sorted), registry metadata excluded."""
    digest = hashlib.sha256()
    for path in sorted(fileio.list_files(uri)):
        rel = fileio.relpath(path, uri)
        if rel == METADATA:
            continue
        digest.update(rel.encode() + b"\0" + fileio.read_bytes(path) + b"\0")
    return digest.hexdigest()


def member_record(text: str, ref: ModelRef, weight: float) -> dict[str, Any]:
    """What the ensemble's registry metadata says of one member: where it is, which version, its provenance."""
    reg = ref.registry_version
    record = {"ref": text, "label": ref.label, "uri": ref.uri, "weight": weight, "threshold": ref.threshold,
              "model_name": reg.get("model_name"), "version": reg.get("version"),
              "backbone": reg.get("backbone") or artifact.read_metadata(ref.uri).backbone,
              "sha256": model_digest(ref.uri)}
    for key in ("imported", "pipeline_run", "ensemble"):
        if reg.get(key) is not None:
            record[key] = reg[key]
    return record


def make_ensemble(model_refs: Sequence[str], registry: str, name: str, weights: Sequence[float] | None = None,
                  threshold: float | None = None) -> VersionRecord:
    """Joins the models ``model_refs`` into one SavedModel and publishes it as the next version of ``name`` in
    ``registry``; returns the version's record.

    ``threshold``: the exported P(fake) threshold (default: the weighted mean of the members' thresholds).
    """
    if len(model_refs) < 2:
        raise EnsembleError(f"an ensemble needs at least 2 members, got {len(model_refs)}")
    try:
        refs = [resolve(r) for r in model_refs]
    except ModelRefError as e:
        raise EnsembleError(str(e)) from None
    crop = check_crops(refs)
    w = normalized_weights(weights, len(refs))
    if threshold is None:
        threshold = float(sum(wi * r.threshold for wi, r in zip(w, refs, strict=True)))
    try:  # what export reads; the config checks the threshold
        cfg = TrainConfig(image_size=crop["image_size"], threshold=threshold, weights="none")
    except ConfigError as e:
        raise EnsembleError(str(e)) from None
    members = [member_record(text, ref, wi) for text, ref, wi in zip(model_refs, refs, w, strict=True)]
    extract = {**to_dict(ExtractConfig()), **crop}
    model = build_ensemble([load_member(r) for r in refs], w, crop["image_size"])
    ensemble = {"method": METHOD, "members": members}
    with tempfile.TemporaryDirectory(prefix="skyhawk-ensemble-") as tmp:
        export_dir = fileio.join(tmp, "saved_model")
        export_model(model, export_dir, cfg, history={"ensemble": ensemble},
                     crop={k: crop[k] for k in CROP_KEYS})
        meta = artifact.read_metadata(export_dir)  # the ensemble is not one backbone: say what it is
        artifact.write_metadata(export_dir, dataclasses.replace(
            meta, backbone=BACKBONE, train_config={"ensemble": ensemble}))
        return Registry(registry).publish(name, export_dir, VersionRecord(
            threshold=threshold, image_size=crop["image_size"], backbone=BACKBONE, blessed=None,
            config={"extract": extract}, extra={"ensemble": ensemble}))
