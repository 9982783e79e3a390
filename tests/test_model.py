"""skyhawk_model: model building, tf.data input, TFX run_fn, exported signatures, scorer (real TF, tiny).

One real ``run_fn`` (graph mode, Xception backbone: the smallest trace) is shared by the module; the
default InceptionResNetV2 and EfficientNetB4 backbones are built and run on a batch.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402
from tfx.components.trainer.fn_args_utils import FnArgs  # noqa: E402

import skyhawk  # noqa: E402,F401  (applies skyhawk/env.py: legacy Keras before TensorFlow loads)
from skyhawk import features  # noqa: E402
from skyhawk.artifact import EXTRA_DIR, HISTORY_FILE, HISTORY_PATH, META_FILE, read_history, read_metadata  # noqa: E402
from skyhawk.config import ConfigError, TrainConfig, from_dict  # noqa: E402
from skyhawk_model import data as skdata  # noqa: E402
from skyhawk_model import preprocess  # noqa: E402
from skyhawk_model.callbacks import BestEpoch, TargetAccuracyStop  # noqa: E402
from skyhawk_model.export import SERVING_DEFAULT, SERVING_JPEG, load_scorer, make_signatures  # noqa: E402
from skyhawk_model.model import build_model, use_mixed_precision  # noqa: E402
from skyhawk_model.trainer import run_fn, train_config  # noqa: E402

SIZE = 75
THRESHOLD = 0.3
TRAIN_CFG = {
    "backbone": "xception",
    "weights": "none",
    "image_size": SIZE,
    "batch_size": 4,
    "max_epochs": 5,
    "target_accuracy": 0.0,  # reached after the first epoch: the stop rule must end training there
    "threshold": THRESHOLD,
    "seed": 7,
    "export_epochs": True,
}


def _crops(real_faces: list[Path], n: int, size: int) -> list[tuple[bytes, int]]:
    """n (JPEG, label) pairs from the real photos: label 0 as is, label 1 blurred + colour-shifted."""
    out = []
    for i in range(n):
        img = cv2.imread(str(real_faces[i % len(real_faces)]))
        h, w = img.shape[:2]
        s = min(h, w)
        img = cv2.resize(img[(h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s], (size, size))
        label = i % 2
        if label:
            img = cv2.add(cv2.GaussianBlur(img, (7, 7), 3), (20, 0, 0, 0))
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
        assert ok
        out.append((buf.tobytes(), label))
    return out


def _write_split(path: Path, crops: list[tuple[bytes, int]]) -> None:
    path.mkdir(parents=True)
    with tf.io.TFRecordWriter(str(path / "data_tfrecord-00000-of-00001.gz"), options="GZIP") as w:
        for i, (jpeg, label) in enumerate(crops):
            rec = features.FaceRecord(jpeg, label, f"v{i // 2}", f"g{i // 2}", i, 0, [0, 0, 1, 1], 0.9, "test")
            w.write(features.to_example(rec).SerializeToString())


@pytest.fixture(scope="module")
def examples_dir(tmp_path_factory, real_faces) -> Path:
    root = tmp_path_factory.mktemp("examples")
    _write_split(root / "Split-train", _crops(real_faces, 12, SIZE))
    _write_split(root / "Split-eval", _crops(real_faces[5:], 6, 90))  # 90 px: the resize path
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory, examples_dir):
    out = tmp_path_factory.mktemp("trainer")
    fn_args = FnArgs(
        working_dir=str(out / "work"),
        train_files=[str(examples_dir / "Split-train" / "*")],
        eval_files=[str(examples_dir / "Split-eval" / "*")],
        train_steps=None,
        eval_steps=None,
        serving_model_dir=str(out / "Format-Serving"),
        model_run_dir=str(out / "model_run"),
        custom_config={"train": dict(TRAIN_CFG)},
    )
    run_fn(fn_args)
    return fn_args


@pytest.fixture(scope="module")
def eval_inputs(examples_dir):
    """(serialized examples, JPEG bytes) of the eval split."""
    files = skdata.record_files(str(examples_dir / "Split-eval" / "*"))
    serialized = [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]
    jpegs = [tf.train.Example.FromString(s).features.feature[features.IMAGE].bytes_list.value[0] for s in serialized]
    return serialized, jpegs


@pytest.fixture(scope="module")
def loaded(trained):
    return tf.saved_model.load(trained.serving_model_dir)


@pytest.fixture(scope="module")
def keras_model(trained):
    return tf_keras.models.load_model(trained.serving_model_dir)


# --- run_fn -------------------------------------------------------------------------------------------


def test_run_fn_writes_model_history_and_metadata(trained):
    serving = Path(trained.serving_model_dir)
    assert (serving / "saved_model.pb").is_file() and (serving / EXTRA_DIR / META_FILE).is_file()
    run_history = read_history(str(serving))
    assert run_history == json.loads((serving / EXTRA_DIR / HISTORY_FILE).read_text())
    # written once: not in model_run (TensorBoard logs only), not inside skyhawk_model.json
    assert not (Path(trained.model_run_dir) / HISTORY_FILE).exists()
    assert (Path(trained.model_run_dir) / "train").is_dir()
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert len(run_history[key]) == run_history["epochs"]
        assert all(np.isfinite(v) for v in run_history[key])
    # target_accuracy=0.0 is reached after epoch 1: the stop rule ends training before max_epochs=5.
    assert run_history["epochs"] == 1
    assert run_history["stop_reason"] == "target_accuracy"
    meta = read_metadata(str(serving))
    assert meta.threshold == pytest.approx(THRESHOLD)
    assert meta.image_size == SIZE and meta.backbone == "xception"
    raw = json.loads((serving / EXTRA_DIR / META_FILE).read_text())
    assert "history" not in raw and meta.history_file == raw["history_file"] == HISTORY_PATH
    assert run_history["resumed_from_epoch"] == 0 and run_history["optimizer_steps"] == 3  # 12 crops, batch 4
    assert meta.train_config["seed"] == 7
    assert any(Path(trained.model_run_dir).rglob("events.out.tfevents.*")), "no TensorBoard logs"


def test_signatures_match_keras_model(loaded, eval_inputs, keras_model):
    serialized, jpegs = eval_inputs
    assert {SERVING_DEFAULT, SERVING_JPEG} <= set(loaded.signatures)
    expected = keras_model(preprocess.decode_batch(tf.constant(jpegs), SIZE), training=False).numpy()
    assert expected.shape == (len(jpegs), 2)

    by_example = loaded.signatures[SERVING_DEFAULT](examples=tf.constant(serialized))
    by_jpeg = loaded.signatures[SERVING_JPEG](images=tf.constant(jpegs))
    for out in (by_example, by_jpeg):
        assert set(out) == {"p_fake", "probabilities", "is_fake", "threshold"}
        np.testing.assert_allclose(out["probabilities"].numpy(), expected, atol=1e-4)
        np.testing.assert_allclose(out["p_fake"].numpy(), expected[:, 1], atol=1e-4)
        p = out["p_fake"].numpy()
        np.testing.assert_array_equal(out["is_fake"].numpy(), (p >= THRESHOLD).astype(np.int64))
        np.testing.assert_allclose(out["threshold"].numpy(), np.full(len(p), THRESHOLD), atol=1e-7)
    empty = loaded.signatures[SERVING_JPEG](images=tf.constant([], tf.string))
    assert empty["p_fake"].shape == (0,)


def test_keras_reload_is_uncompiled_with_signatures(keras_model):
    # TFMA loads the model with tf_keras.models.load_model; uncompiled -> no default Keras metrics.
    assert isinstance(keras_model, tf_keras.Model)
    assert not keras_model.metrics
    assert {SERVING_DEFAULT, SERVING_JPEG} <= set(keras_model.signatures)


def test_threshold_is_honoured(keras_model, eval_inputs):
    _, jpegs = eval_inputs
    images = tf.constant(jpegs)
    p = keras_model(preprocess.decode_batch(images, SIZE), training=False).numpy()[:, 1]
    assert p.min() < p.max()
    threshold = float(np.sort(p)[len(p) // 2])  # half the crops on each side
    out = make_signatures(keras_model, SIZE, threshold)[SERVING_JPEG](images=images)
    is_fake = out["is_fake"].numpy()
    np.testing.assert_array_equal(is_fake, (out["p_fake"].numpy() >= threshold).astype(np.int64))
    assert 0 < is_fake.sum() < len(is_fake)
    np.testing.assert_allclose(out["threshold"].numpy(), threshold, atol=1e-7)


def test_load_scorer(trained, loaded, eval_inputs):
    serialized, jpegs = eval_inputs
    scorer = load_scorer(trained.serving_model_dir, batch_size=4)  # 6 images: two batches
    p = scorer(jpegs)
    assert p.dtype == np.float32 and p.shape == (len(jpegs),)
    ref = loaded.signatures[SERVING_DEFAULT](examples=tf.constant(serialized))["p_fake"].numpy()
    np.testing.assert_allclose(p, ref, atol=1e-5)
    assert scorer.threshold == pytest.approx(THRESHOLD) and scorer.image_size == SIZE
    assert scorer([]).shape == (0,)


def test_export_epochs_writes_each_epochs_model(trained, eval_inputs):
    """train.export_epochs: one SavedModel per epoch; the one epoch trained here is the final model."""
    _, jpegs = eval_inputs
    history = json.loads((Path(trained.serving_model_dir) / "assets.extra" / "history.json").read_text())
    epoch_dir = Path(trained.model_run_dir) / "epochs" / "001"
    assert history["epoch_models"] == [str(epoch_dir)]
    assert sorted(p.name for p in epoch_dir.parent.iterdir()) == ["001"]
    np.testing.assert_allclose(load_scorer(str(epoch_dir))(jpegs), load_scorer(trained.serving_model_dir)(jpegs),
                               atol=1e-6)


# --- stop rule ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("target,epochs", [(0.0, 1), (1.01, 4)])
def test_target_accuracy_stop(target, epochs):
    tf_keras.utils.set_random_seed(0)
    model = tf_keras.Sequential([tf_keras.Input((3,)), tf_keras.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = np.random.rand(8, 3).astype("float32"), np.array([0, 1] * 4)
    stop = TargetAccuracyStop(target)
    hist = model.fit(x, y, epochs=4, verbose=0, callbacks=[stop])
    assert len(hist.history["accuracy"]) == epochs
    assert stop.stopped_epoch == (1 if target == 0.0 else None)


def test_best_epoch_keeps_the_lowest_validation_loss():
    """Validation labels are the training labels flipped: val_loss rises as training fits, so the first
    epoch is the best one, and its weights (not the last ones) are kept."""
    tf_keras.utils.set_random_seed(0)
    model = tf_keras.Sequential([tf_keras.Input((3,)), tf_keras.layers.Dense(2, activation="softmax")])
    model.compile(tf_keras.optimizers.legacy.Adam(0.1), "sparse_categorical_crossentropy")
    x = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    after: list[list[np.ndarray]] = []
    keep = tf_keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: after.append(model.get_weights()))
    best = BestEpoch()
    hist = model.fit(x, y, validation_data=(x, 1 - y), epochs=5, verbose=0, callbacks=[best, keep])
    losses = hist.history["val_loss"]
    assert losses[-1] > losses[0]  # the set-up works: validation gets worse
    assert best.epoch == int(np.argmin(losses)) + 1 and best.best == pytest.approx(min(losses))
    for kept, want in zip(best.weights, after[best.epoch - 1], strict=True):
        np.testing.assert_array_equal(kept, want)
    assert not np.array_equal(best.weights[0], model.get_weights()[0])


# --- model --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("backbone", ["inception_resnet_v2", "efficientnet_b4"])
def test_build_other_backbones(backbone):
    model = build_model(TrainConfig(backbone=backbone, weights="none", image_size=SIZE))
    assert model.input_shape == (None, SIZE, SIZE, 3) and model.output_shape == (None, 2)
    assert model.output.dtype == tf.float32
    assert all(layer.trainable for layer in model.layers)
    out = model(np.random.default_rng(0).uniform(0, 255, (2, SIZE, SIZE, 3)).astype("float32"), training=False)
    np.testing.assert_allclose(out.numpy().sum(axis=1), 1.0, atol=1e-5)


def test_local_weights_file(tmp_path):
    cfg = TrainConfig(backbone="xception", weights="none", image_size=SIZE)
    x = np.random.default_rng(1).uniform(0, 255, (2, SIZE, SIZE, 3)).astype("float32")
    source = build_model(cfg)
    whole = str(tmp_path / "whole.h5")
    source.save_weights(whole)
    backbone_only = str(tmp_path / "xception_notop.h5")
    source.get_layer("xception").save_weights(backbone_only)
    loaded = build_model(TrainConfig(backbone="xception", weights=whole, image_size=SIZE))
    np.testing.assert_allclose(loaded(x).numpy(), source(x).numpy(), atol=1e-6)

    partial = build_model(TrainConfig(backbone="xception", weights=backbone_only, image_size=SIZE))
    np.testing.assert_allclose(
        partial.get_layer("xception")(x / 127.5 - 1).numpy(), source.get_layer("xception")(x / 127.5 - 1).numpy(),
        atol=1e-5,
    )
    # only the backbone came from the file: the classification head keeps its own random init
    head = "probabilities"
    assert not np.allclose(partial.get_layer(head).kernel.numpy(), source.get_layer(head).kernel.numpy())
    np.testing.assert_array_equal(loaded.get_layer(head).kernel.numpy(), source.get_layer(head).kernel.numpy())


def test_mixed_precision_policy():
    assert not use_mixed_precision(TrainConfig(mixed_precision="off"))
    assert use_mixed_precision(TrainConfig(mixed_precision="on"))
    assert use_mixed_precision(TrainConfig(mixed_precision="auto")) == bool(tf.config.list_physical_devices("GPU"))
    model = build_model(TrainConfig(backbone="xception", weights="none", image_size=SIZE, mixed_precision="on"))
    assert model.get_layer("xception").compute_dtype == "float16"
    assert model.output.dtype == tf.float32
    assert tf_keras.mixed_precision.global_policy().name == "float32"  # restored


def test_config_validation(tmp_path):
    assert train_config(None) == TrainConfig()
    assert train_config({}) == TrainConfig()
    assert train_config({"train": json.dumps({"image_size": 96})}).image_size == 96
    assert train_config({"train": {"dropout": 0.2}}).dropout == 0.2
    for bad in ({"backbone": "resnet50"}, {"image_size": 64}, {"dropout": 1.0}, {"threshold": 1.0},
                {"mixed_precision": "maybe"}, {"batch_size": 0}, {"learning_rat": 1e-3}):
        with pytest.raises(ConfigError):
            train_config({"train": bad})
    with pytest.raises(ConfigError, match="weights"):
        build_model(from_dict(TrainConfig, {"weights": str(tmp_path / "missing.h5"), "image_size": SIZE}))
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not weights")
    with pytest.raises(ConfigError, match="fits neither"):
        build_model(TrainConfig(backbone="xception", weights=str(junk), image_size=SIZE))


# --- data ---------------------------------------------------------------------------------------------


def test_dataset_shapes_and_determinism(examples_dir):
    cfg = TrainConfig(image_size=SIZE, batch_size=5, seed=3)
    pattern = [str(examples_dir / "Split-train" / "*")]

    def first_epoch():
        return [(x.numpy(), y.numpy()) for x, y in skdata.make_dataset(pattern, cfg, training=True)]

    a, b = first_epoch(), first_epoch()
    assert [x.shape for x, _ in a] == [(5, SIZE, SIZE, 3), (5, SIZE, SIZE, 3), (2, SIZE, SIZE, 3)]
    for (xa, ya), (xb, yb) in zip(a, b, strict=True):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    images = np.concatenate([x for x, _ in a])
    assert images.dtype == np.float32 and images.min() >= 0.0 and images.max() <= 255.0
    assert sorted(np.concatenate([y for _, y in a]).tolist()) == [0] * 6 + [1] * 6

    ds = skdata.make_dataset(pattern, cfg, training=True)
    it = iter(ds)
    epoch1 = next(it)[0].numpy()
    epoch2 = next(iter(ds))[0].numpy()
    assert not np.array_equal(epoch1, epoch2)  # reshuffled / re-augmented every epoch

    plain = skdata.make_dataset(pattern, cfg, training=False)
    again = skdata.make_dataset(pattern, cfg, training=False)
    for (xa, ya), (xb, yb) in zip(plain, again, strict=True):
        np.testing.assert_array_equal(xa.numpy(), xb.numpy())
        np.testing.assert_array_equal(ya.numpy(), yb.numpy())


def test_decode_resizes_and_repeat(examples_dir):
    cfg = TrainConfig(image_size=SIZE, batch_size=4)
    ds = skdata.make_dataset([str(examples_dir / "Split-eval" / "*")], cfg, training=False, repeat=True)
    batches = list(ds.take(3))  # 6 records, 3 x 4 only with repeat
    assert all(x.shape == (4, SIZE, SIZE, 3) for x, _ in batches)
    files = skdata.record_files(str(examples_dir / "Split-eval" / "*"))
    assert sum(1 for _ in tf.data.TFRecordDataset(files, compression_type="GZIP")) == 6
    with pytest.raises(FileNotFoundError):
        skdata.record_files([str(examples_dir / "nothing" / "*")])


def test_augment_range_and_seed():
    img = tf.constant(np.random.default_rng(2).uniform(0, 255, (SIZE, SIZE, 3)).astype("float32"))
    a = preprocess.augment(img, tf.constant([1, 2], tf.int64)).numpy()
    b = preprocess.augment(img, tf.constant([1, 2], tf.int64)).numpy()
    c = preprocess.augment(img, tf.constant([3, 4], tf.int64)).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.shape == (SIZE, SIZE, 3) and a.min() >= 0.0 and a.max() <= 255.0
