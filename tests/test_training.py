"""Training loop: resume after a killed training (real SIGKILL), budgets, strategies, ImageNet-style weights.

The resume and distribution tests run the real ``run_fn`` in subprocesses (Xception at 75 px, a few
steps) on crops of the shared real photos.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402

import skyhawk  # noqa: E402,F401  (applies skyhawk/env.py: legacy Keras before TensorFlow loads)
from skyhawk import features  # noqa: E402
from skyhawk.artifact import read_history, read_metadata  # noqa: E402
from skyhawk.config import ConfigError, TrainConfig  # noqa: E402
from skyhawk_model.checkpoints import PROGRESS_FILE, checkpoint_dir  # noqa: E402
from skyhawk_model.distribution import strategy_kind  # noqa: E402
from skyhawk_model.model import build_model, skip_autograph_for_tf_keras  # noqa: E402
from skyhawk_model.trainer import fit, train_config  # noqa: E402

SIZE = 75
REPO = Path(__file__).resolve().parents[1]
RUNNER = """
import json, sys
from tfx.components.trainer.fn_args_utils import FnArgs
from skyhawk_model.trainer import run_fn
run_fn(FnArgs(**json.loads(sys.argv[1])))
"""
MIRRORED_RUNNER = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from tfx.components.trainer.fn_args_utils import FnArgs
from skyhawk_model.trainer import train_and_export, train_config
args = FnArgs(**json.loads(sys.argv[1]))
train_and_export(args, train_config(args.custom_config), tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
"""


def _write_split(path: Path, photos: list[Path], n: int, offset: int = 0) -> None:
    path.mkdir(parents=True)
    with tf.io.TFRecordWriter(str(path / "data_tfrecord-00000-of-00001.gz"), options="GZIP") as w:
        for i in range(n):
            img = cv2.resize(cv2.imread(str(photos[(i + offset) % len(photos)])), (SIZE, SIZE))
            label = i % 2
            if label:
                img = cv2.add(cv2.GaussianBlur(img, (7, 7), 3), (20, 0, 0, 0))
            jpeg = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
            rec = features.FaceRecord(jpeg, label, f"v{i}", f"g{i}", 0, 0, [0, 0, 1, 1], 0.9, "test")
            w.write(features.to_example(rec).SerializeToString())


@pytest.fixture(scope="module")
def examples(tmp_path_factory, real_faces) -> Path:
    root = tmp_path_factory.mktemp("examples")
    _write_split(root / "Split-train", real_faces, 16)
    _write_split(root / "Split-eval", real_faces, 8, offset=50)
    return root


def _fn_args(examples: Path, out: Path, execution: int, **train) -> dict:
    """FnArgs fields as TFX lays them out: <root>/Trainer/{model,model_run}/<execution id>/."""
    cfg = {"backbone": "xception", "weights": "none", "image_size": SIZE, "batch_size": 4, "augment": False,
           "target_accuracy": 1.01, "seed": 3, **train}
    return {
        "train_files": [str(examples / "Split-train" / "*")],
        "eval_files": [str(examples / "Split-eval" / "*")],
        "serving_model_dir": str(out / "Trainer" / "model" / str(execution) / "Format-Serving"),
        "model_run_dir": str(out / "Trainer" / "model_run" / str(execution)),
        "custom_config": {"train": cfg},
    }


def _env(**extra: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2", **extra)
    env.pop("TF_CONFIG", None)
    env.update(extra)
    return env


# --- resume after SIGKILL -----------------------------------------------------------------------------


def test_killed_training_resumes_from_its_last_epoch(examples, tmp_path):
    epochs, steps = 3, 6
    first = _fn_args(examples, tmp_path, 1, max_epochs=epochs, steps_per_epoch=steps, eval_steps=2)
    proc = subprocess.Popen([sys.executable, "-c", RUNNER, json.dumps(first)], env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    ckpt_root = tmp_path / "Trainer" / "checkpoints"
    deadline = time.monotonic() + 600
    try:
        while not list(ckpt_root.glob("*/chief/checkpoint")):
            assert proc.poll() is None, f"training ended before its first checkpoint:\n{proc.stdout.read().decode()}"
            assert time.monotonic() < deadline, "no checkpoint within 10 minutes"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not Path(first["serving_model_dir"]).exists()  # killed before the end: nothing exported
    (backup,) = ckpt_root.iterdir()
    saved = json.loads((backup / PROGRESS_FILE).read_text())
    done = saved["epochs"]
    assert 1 <= done < epochs

    # The re-run is a new TFX execution (new output folders) of the same training: it finds the checkpoint.
    second = _fn_args(examples, tmp_path, 2, max_epochs=epochs, steps_per_epoch=steps, eval_steps=2)
    assert checkpoint_dir(train_config(second["custom_config"]), second["model_run_dir"], {}) != str(backup)
    out = subprocess.run([sys.executable, "-c", RUNNER, json.dumps(second)], env=_env(),
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    history = read_history(second["serving_model_dir"])
    assert history["resumed_from_epoch"] == done
    assert history["epochs"] == epochs and history["stop_reason"] == "max_epochs"
    # the optimizer state came back with the weights: steps of the killed run count, none are repeated
    assert history["optimizer_steps"] == epochs * steps
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert history[key][:done] == pytest.approx(saved[key][:done])
        assert len(history[key]) == epochs and all(np.isfinite(history[key]))
    assert f"Epoch {done + 1}/{epochs}" in out.stdout + out.stderr
    assert "Epoch 1/" not in out.stdout + out.stderr
    assert not backup.exists()  # a finished training deletes its checkpoint


def test_checkpoint_dir_rules(tmp_path):
    cfg = TrainConfig()
    run = str(tmp_path / "Trainer" / "model_run" / "7")
    auto = checkpoint_dir(cfg, run, {"train": ["a"]})
    assert auto.startswith(str(tmp_path / "Trainer" / "checkpoints") + os.sep)
    assert auto == checkpoint_dir(cfg, str(tmp_path / "Trainer" / "model_run" / "8"), {"train": ["a"]})
    assert auto != checkpoint_dir(cfg, run, {"train": ["b"]})
    assert checkpoint_dir(TrainConfig(checkpoint_dir="none"), run, {}) is None
    assert checkpoint_dir(TrainConfig(checkpoint_dir="/x/y"), run, {}) == "/x/y"
    assert checkpoint_dir(cfg, None, {}) is None
    for bad in ({"max_steps": -1}, {"time_budget_minutes": -0.5}, {"checkpoint_dir": ""}):
        with pytest.raises(ConfigError):
            train_config({"train": bad})


# --- inputs resolved once -----------------------------------------------------------------------------


@pytest.fixture()
def record_reads(monkeypatch):
    """Records read from each split, counted by a wrapper around the real ``tf.data.TFRecordDataset`` (every
    reader of a split goes through it), and the patterns globbed through ``skyhawk.fileio``."""
    from collections import Counter

    from skyhawk import fileio

    reads, globs = Counter(), []
    real_reader, real_glob = tf.data.TFRecordDataset, fileio.glob

    def reader(files, *args, **kwargs):
        split = {Path(f).parent.name for f in files}
        assert len(split) == 1, files
        (name,) = split

        def count():
            reads[name] += 1
            return np.int64(0)

        def counted(record):
            with tf.control_dependencies([tf.py_function(count, [], tf.int64)]):
                return tf.identity(record)

        return real_reader(files, *args, **kwargs).map(counted)

    monkeypatch.setattr(tf.data, "TFRecordDataset", reader)
    monkeypatch.setattr(fileio, "glob", lambda pattern: globs.append(pattern) or real_glob(pattern))
    return reads, globs


def test_trainer_resolves_its_inputs_once(examples, tmp_path, record_reads):
    """One glob of the train split, one read of it for the validation groups and the cosine step count, then
    one pass each for the fit part and the validation slice; the eval split is neither globbed nor read."""
    from tfx.components.trainer.fn_args_utils import FnArgs

    from skyhawk_model.trainer import train_and_export

    reads, globs = record_reads
    args = FnArgs(**_fn_args(examples, tmp_path, 1, select_epoch="val_loss", val_fraction=0.25, max_epochs=1,
                             lr_schedule="cosine", checkpoint_dir="none"))
    history = train_and_export(args, train_config(args.custom_config))
    assert globs == args.train_files
    assert dict(reads) == {"Split-train": 3 * 16}  # 16 examples: the scan, the fit epoch, the validation pass
    assert history["planned_steps"] == 3 and len(history["validation"]["groups"]) == 4  # 12 fit examples, batch 4


@pytest.mark.parametrize("train,one_pass,scanned", [
    ({}, True, False),
    ({"lr_schedule": "cosine"}, True, True),
    ({"lr_schedule": "cosine"}, False, False),  # a step count: nothing to count
    ({"sbi": "online", "data_share": 1.0}, True, True),
    ({"sbi": "online", "data_share": 1.0}, False, False),
    ({"sbi": "online"}, True, False),
    ({"select_epoch": "val_loss"}, False, True),
])
def test_inputs_scan_the_train_split_only_when_needed(examples, record_reads, train, one_pass, scanned):
    """``training_inputs`` reads the train split once when ``needs_scan`` and never otherwise; the eval split is
    globbed once and never read."""
    from skyhawk_model.inputs import training_inputs

    reads, globs = record_reads
    cfg = TrainConfig(backbone="xception", weights="none", image_size=SIZE, batch_size=4, **train)
    patterns = [str(examples / "Split-train" / "*"), str(examples / "Split-eval" / "*")]
    inputs = training_inputs(*patterns, cfg, one_pass=one_pass)
    assert (inputs.scan is not None) == scanned and dict(reads) == ({"Split-train": 16} if scanned else {})
    assert globs == (patterns[:1] if inputs.carve else patterns)


def test_online_sbi_epoch_is_counted_from_the_scan(examples, record_reads):
    """A one-pass online SBI epoch with ``data_share`` is counted from the inputs' one scan: building the
    dataset reads nothing more; without the scan it is an error, never a second read."""
    from skyhawk_model.data import make_dataset
    from skyhawk_model.inputs import training_inputs

    reads, _ = record_reads
    cfg = TrainConfig(backbone="xception", weights="none", image_size=SIZE, batch_size=4, sbi="online",
                      data_share=1.0)
    inputs = training_inputs(str(examples / "Split-train" / "*"), str(examples / "Split-eval" / "*"), cfg, True)
    assert dict(reads) == {"Split-train": 16}
    make_dataset(inputs.train, cfg, training=True, part=inputs.fit_part, scan=inputs.scan)
    assert dict(reads) == {"Split-train": 16}
    with pytest.raises(ValueError, match="counted from the split's scan"):
        make_dataset(inputs.train, cfg, training=True)
    make_dataset(inputs.train, cfg, training=True, repeat=True)  # a step count: nothing to count
    assert dict(reads) == {"Split-train": 16}


# --- budgets ------------------------------------------------------------------------------------------


def _tiny_model():
    tf_keras.utils.set_random_seed(0)
    model = tf_keras.Sequential([tf_keras.Input((3,)), tf_keras.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _tiny_data() -> tf.data.Dataset:
    x, y = np.random.default_rng(0).random((8, 3)).astype("float32"), np.array([0, 1] * 4)
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(2).repeat()


@pytest.mark.parametrize("budget,epochs,steps,reason", [
    ({"max_steps": 5}, 2, 5, "max_steps"),  # 3 steps/epoch: cut inside epoch 2, which is still recorded
    ({"time_budget_minutes": 1e-9}, 1, 1, "time_budget"),
    ({}, 4, 12, "max_epochs"),
])
def test_budget_stops_training(budget, epochs, steps, reason):
    cfg = TrainConfig(max_epochs=4, target_accuracy=1.01, **budget)
    history = fit(_tiny_model(), _tiny_data(), _tiny_data(), cfg, steps_per_epoch=3, validation_steps=1)
    assert history["epochs"] == epochs and history["optimizer_steps"] == steps
    assert history["stop_reason"] == reason and len(history["val_loss"]) == epochs


# --- strategies ---------------------------------------------------------------------------------------


def test_strategy_kind():
    two_workers = json.dumps({"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 0}})
    chief_and_worker = json.dumps({"cluster": {"chief": ["a:1"], "worker": ["b:2"]}})
    one_worker = json.dumps({"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 0}})
    assert strategy_kind(two_workers, 0) == "multi_worker"
    assert strategy_kind(chief_and_worker, 8) == "multi_worker"
    assert strategy_kind(one_worker, 0) == "default"
    assert strategy_kind(None, 2) == "mirrored"
    assert strategy_kind("", 1) == "default"


def test_mirrored_strategy_trains_and_exports(examples, tmp_path):
    """MirroredStrategy over two logical CPUs: the GPU code path (replicas, global batch) without a GPU."""
    args = _fn_args(examples, tmp_path, 1, max_epochs=1, steps_per_epoch=2, eval_steps=1)
    out = subprocess.run([sys.executable, "-c", MIRRORED_RUNNER, json.dumps(args)], env=_env(),
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    history = read_history(args["serving_model_dir"])
    assert history["replicas"] == 2 and history["global_batch"] == 8  # batch_size 4 per replica
    assert history["epochs"] == 1 and history["optimizer_steps"] == 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@pytest.mark.e2e  # two TF processes training together: ~1.5 min on a 2-core machine
def test_multi_worker_only_the_chief_exports(examples, tmp_path):
    """Two real worker processes (MultiWorkerMirroredStrategy from TF_CONFIG) train together."""
    workers = [f"localhost:{_free_port()}", f"localhost:{_free_port()}"]
    procs, args = [], []
    for index in range(2):
        a = _fn_args(examples, tmp_path, 1, max_epochs=1, steps_per_epoch=2, eval_steps=1)
        a["serving_model_dir"] += f"-worker{index}"  # the non-chief's folder must stay absent
        args.append(a)
        tf_config = json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})
        procs.append(subprocess.Popen([sys.executable, "-c", RUNNER, json.dumps(a)], env=_env(TF_CONFIG=tf_config),
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = []
    for p in procs:
        try:
            outputs.append(p.communicate(timeout=900)[0])
        finally:
            p.kill()
    assert [p.returncode for p in procs] == [0, 0], "\n".join(o[-3000:] for o in outputs)
    chief, other = args
    assert read_history(chief["serving_model_dir"])["replicas"] == 2
    assert read_metadata(chief["serving_model_dir"]).image_size == SIZE
    assert not Path(other["serving_model_dir"]).exists()


# --- weights, graph-mode preparation ------------------------------------------------------------------


def test_keras_notop_weights_file(tmp_path):
    """train.weights = a Keras `..._notop.h5` (the offline copy of the ImageNet weights) initialises the
    backbone; the file here is written the way Keras wrote it, from a random InceptionResNetV2."""
    source = tf_keras.applications.InceptionResNetV2(include_top=False, weights=None, input_shape=(SIZE, SIZE, 3))
    path = tmp_path / "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels_notop.h5"
    source.save_weights(str(path))
    model = build_model(TrainConfig(weights=str(path), image_size=SIZE))
    x = np.random.default_rng(4).uniform(-1, 1, (2, SIZE, SIZE, 3)).astype("float32")
    backbone = model.get_layer("inception_resnet_v2")
    np.testing.assert_allclose(backbone(x, training=False).numpy(), source(x, training=False).numpy(), atol=1e-5)
    fresh = build_model(TrainConfig(weights="none", image_size=SIZE)).get_layer("inception_resnet_v2")
    assert not np.allclose(fresh(x, training=False).numpy(), source(x, training=False).numpy(), atol=1e-3)


def test_bn_momentum():
    model = build_model(TrainConfig(backbone="xception", weights="none", image_size=SIZE, bn_momentum=0.9))
    bns = [lay for lay in model.get_layer("xception").layers if isinstance(lay, tf_keras.layers.BatchNormalization)]
    assert bns and all(lay.momentum == 0.9 for lay in bns)
    default = build_model(TrainConfig(backbone="xception", weights="none", image_size=SIZE))
    assert all(lay.momentum == 0.99 for lay in default.get_layer("xception").layers
               if isinstance(lay, tf_keras.layers.BatchNormalization))
    with pytest.raises(ConfigError, match="bn_momentum"):
        train_config({"train": {"bn_momentum": 1.0}})


def test_graph_training_is_prepared_before_tracing():
    """The train step is traced once (no variable is created while tracing it), also under mixed
    precision, and AutoGraph leaves tf_keras's own code alone."""
    from tensorflow.python.autograph.impl import conversion

    assert skip_autograph_for_tf_keras()
    assert conversion.is_allowlisted(tf_keras.layers.Dense.call)
    model = build_model(TrainConfig(backbone="xception", weights="none", image_size=SIZE, mixed_precision="on"))
    assert isinstance(model.optimizer, tf_keras.mixed_precision.LossScaleOptimizer)
    assert [m.name for m in model.metrics] == ["loss", "accuracy"]
    before = len(model.optimizer.weights)
    step = tf.function(lambda x, y: model.train_step((x, y)))
    step.get_concrete_function(tf.zeros([2, SIZE, SIZE, 3]), tf.constant([0, 1], tf.int64))
    assert step.experimental_get_tracing_count() == 1
    assert len(model.optimizer.weights) == before
