"""The backbone table: a backbone registered from this file alone is checked by the config, trains through the
Trainer's ``run_fn`` (with the nuisance-free input options) and exports a model that scores; no product file names
a backbone outside the table."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import tensorflow as tf
from tfx.components.trainer.fn_args_utils import FnArgs

import skyhawk  # noqa: F401  (applies skyhawk/env.py: legacy Keras before TensorFlow loads)
from skyhawk import backbone_specs, features
from skyhawk.artifact import read_history, read_metadata
from skyhawk.config import ConfigError, TrainConfig
from skyhawk_model import backbones
from skyhawk_model.export import load_scorer
from skyhawk_model.trainer import run_fn

REPO = Path(__file__).resolve().parents[1]
SIZE = 64
TOY = "toy_cnn"


def _toy_build(tf_keras, cfg: TrainConfig, weights):
    """Two small convolutions (a test backbone, not a paper's)."""
    layers = tf_keras.layers
    inputs = tf_keras.Input(shape=(cfg.image_size, cfg.image_size, 3))
    x = layers.Conv2D(4, 3, strides=2, activation="relu")(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.Conv2D(8, 3, strides=2, activation="relu")(x)
    return tf_keras.Model(inputs, x, name=TOY)


def _toy_preprocess(tf_keras, x):
    return tf_keras.layers.Rescaling(scale=1.0 / 255.0, name="preprocess")(x)


@pytest.fixture
def toy():
    """The toy backbone registered for one test, then removed from both tables."""
    with pytest.raises(ConfigError, match="backbone must be one of"):
        TrainConfig(backbone=TOY, weights="none", image_size=SIZE)
    spec = backbone_specs.BackboneSpec(TOY, "a test network (no paper)", sizes=(SIZE,), min_size=32, imagenet=False,
                                       image_size=SIZE, margin=1.3)
    yield backbones.register(backbones.Backbone(spec, _toy_build, _toy_preprocess, backbones.POOLED))
    backbones.TABLE.pop(TOY)
    backbone_specs.SPECS.pop(TOY)


def _split(path: Path, real_faces: list[Path], n: int) -> None:
    """Real photo crops in groups of (real, fake, fake): a fake is the real photo blurred and colour-shifted."""
    path.mkdir(parents=True)
    with tf.io.TFRecordWriter(str(path / "data.gz"), options="GZIP") as w:
        for i in range(n):
            img = cv2.resize(cv2.imread(str(real_faces[i // 3])), (SIZE, SIZE), interpolation=cv2.INTER_AREA)
            label = features.REAL if i % 3 == 0 else features.FAKE
            if label:
                img = cv2.add(cv2.GaussianBlur(img, (5, 5), 2), (15 * (i % 3), 0, 0, 0))
            jpeg = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
            rec = features.FaceRecord(jpeg, label, f"v{i}", f"g{i // 3}", 0, 0, [0, 0, SIZE, SIZE], 1.0, "test",
                                      method="real" if label == features.REAL else "dataset")
            w.write(features.to_example(rec).SerializeToString())


def test_a_registered_backbone_is_checked_trained_and_exported(toy, tmp_path, real_faces):
    with pytest.raises(ConfigError, match=f"backbone {TOY} needs image_size {SIZE}"):
        TrainConfig(backbone=TOY, weights="none", image_size=96)
    with pytest.raises(ConfigError, match="no ImageNet weights"):
        TrainConfig(backbone=TOY, weights="imagenet", image_size=SIZE)
    _split(tmp_path / "Split-train", real_faces, 18)
    _split(tmp_path / "Split-eval", real_faces[6:], 6)
    train = {"backbone": TOY, "weights": "none", "image_size": SIZE, "batch_size": 4, "max_epochs": 2,
             "steps_per_epoch": 3, "target_accuracy": 1.1, "seed": 1, "sbi": "online", "data_share": 1.0,
             "matched_pairs": True, "pairs_only": True, "rank_loss_weight": 1.0, "face_pixels": 24,
             "nuisance_augment": True, "checkpoint_dir": "none"}
    fn_args = FnArgs(working_dir=str(tmp_path / "work"), train_files=[str(tmp_path / "Split-train" / "*")],
                     eval_files=[str(tmp_path / "Split-eval" / "*")], train_steps=None, eval_steps=None,
                     serving_model_dir=str(tmp_path / "model"), model_run_dir=str(tmp_path / "run"),
                     custom_config={"train": train, "extract": {"margin": 1.3, "image_size": SIZE}})
    run_fn(fn_args)
    history = read_history(fn_args.serving_model_dir)
    assert history["epochs"] == 2 and history["optimizer_steps"] == 6
    assert all(np.isfinite(history["loss"]))
    meta = read_metadata(fn_args.serving_model_dir)
    assert meta.backbone == TOY and meta.train_config["rank_loss_weight"] == 1.0
    scorer = load_scorer(fn_args.serving_model_dir)
    jpegs = [cv2.imencode(".jpg", cv2.resize(cv2.imread(str(p)), (SIZE, SIZE)))[1].tobytes() for p in real_faces[:3]]
    p_fake = scorer(jpegs)
    assert p_fake.shape == (3,) and np.all((p_fake >= 0) & (p_fake <= 1))


def test_the_packaged_table_is_the_only_place_that_names_a_backbone():
    names = [n for n in backbone_specs.names() if n != TOY]
    assert set(names) == set(backbones.TABLE) - {TOY}  # one builder per spec, one spec per builder
    for path in ["skyhawk_model/model.py", "skyhawk/config.py", "skyhawk_model/trainer.py"]:
        lines = [line for line in (REPO / path).read_text().splitlines() if any(f'"{n}"' in line for n in names)]
        assert all(line.strip().startswith("backbone: str =") for line in lines), f"{path}: {lines}"  # the default
    for spec in backbone_specs.SPECS.values():
        assert spec.paper and spec.image_size and not spec.size_error(spec.image_size)
