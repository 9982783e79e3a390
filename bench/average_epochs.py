"""Epoch-weight averaging, checked offline on the epoch models of a ``train.export_epochs`` training.

Builds two models from the epoch-end weights (every variable, BatchNorm statistics included): an
exponential moving average over the epochs (decay 0.8, about the last five epochs) and the uniform mean
of the last half of the epochs (SWA-style), exports both next to each other and prints the frame AUC and
accuracy of the last epoch and of both averages on an eval split. Score them on outside data with
``skyhawk evaluate --model OUT/ema`` (``OUT/swa``).

    .venv/bin/python bench/average_epochs.py EPOCHS_DIR OUT 'EXAMPLES/Split-eval/*'

Not a test: it prints numbers, it asserts nothing.
"""
from __future__ import annotations

import glob
import os
import sys

import numpy as np

import skyhawk  # noqa: F401  (legacy Keras before TensorFlow loads)


def main(ep_dir: str, out: str, eval_glob: str, decay: float = 0.8) -> None:
    import tensorflow as tf
    import tf_keras
    from sklearn.metrics import roc_auc_score

    from skyhawk import features
    from skyhawk.artifact import read_metadata
    from skyhawk.config import TrainConfig, from_dict
    from skyhawk_model.export import export_model, load_scorer

    epochs = sorted(d for d in os.listdir(ep_dir) if d.isdigit())
    meta = read_metadata(os.path.join(ep_dir, epochs[-1]))
    cfg = from_dict(TrainConfig, meta.train_config)
    half = len(epochs) // 2
    ema = total = model = None
    for i, e in enumerate(epochs):
        model = tf_keras.models.load_model(os.path.join(ep_dir, e), compile=False)
        w = [np.asarray(x, np.float64) for x in model.get_weights()]
        ema = w if ema is None else [decay * a + (1 - decay) * b for a, b in zip(ema, w, strict=True)]
        if i >= len(epochs) - half:
            total = w if total is None else [a + b for a, b in zip(total, w, strict=True)]
    for name, ws in (("ema", ema), ("swa", [a / half for a in total])):
        model.set_weights([x.astype(np.float32) for x in ws])
        export_model(model, os.path.join(out, name), cfg, {"averaged": name, "epochs": epochs}, crop=meta.crop)
    jpegs, labels = [], []
    for r in tf.data.TFRecordDataset(glob.glob(eval_glob), compression_type="GZIP"):
        f = tf.train.Example.FromString(r.numpy()).features.feature
        jpegs.append(f[features.IMAGE].bytes_list.value[0])
        labels.append(f[features.LABEL].int64_list.value[0])
    y = np.array(labels)
    for name, path in (("last", os.path.join(ep_dir, epochs[-1])), ("ema", os.path.join(out, "ema")),
                       ("swa", os.path.join(out, "swa"))):
        p = load_scorer(path)(jpegs)
        print(f"{name}: eval-split frame AUC {roc_auc_score(y, p):.3f}, accuracy {np.mean((p >= 0.5) == y):.3f}")


if __name__ == "__main__":
    main(*sys.argv[1:4])
