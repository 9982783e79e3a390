"""Epoch selection on a validation slice carved from the TRAIN groups: the gate's eval split never steers
training (real run_fn, Xception at 75 px, a few steps, on crops of the shared photos)."""
from __future__ import annotations

import math

import tensorflow as tf
from test_training import _fn_args, examples  # noqa: F401  (the shared 16 + 8 example splits)
from tfx.components.trainer.fn_args_utils import FnArgs

from skyhawk import features
from skyhawk.artifact import read_history
from skyhawk.config import TrainConfig
from skyhawk_model.data import ALL, FIT, VAL, make_dataset, parse_record, select_part
from skyhawk_model.inputs import resolve, scan_split, training_inputs
from skyhawk_model.trainer import train_and_export, train_config


def _groups(files, cfg, part, held):
    """(examples make_dataset reads, their group ids) of one part of a split."""
    n = sum(int(y.shape[0]) for _, y in make_dataset(files, cfg, training=False, batch_size=64, part=part,
                                                      held_out=held))
    raw = select_part(tf.data.TFRecordDataset(tf.io.gfile.glob(files), compression_type="GZIP"), part, held)
    return n, {parse_record(r)[features.GROUP_ID].numpy().decode() for r in raw}


def test_val_groups_partition_the_train_split(examples):  # noqa: F811
    files = str(examples / "Split-train" / "*")
    cfg = TrainConfig(backbone="xception", weights="none", image_size=75, augment=False, sbi="none",
                      select_epoch="val_loss", val_fraction=0.25)
    inputs = training_inputs(files, "no-eval-split/*", cfg, one_pass=False)  # the slice: the split is scanned
    assert inputs.carve and inputs.val == inputs.train and inputs.scan is not None
    held = list(inputs.held_out)
    again = scan_split(resolve(files)).val_groups(0.25)
    assert len(held) == 4 and held == again  # 16 groups: a quarter, the same every time
    n_fit, fit_groups = _groups(files, cfg, FIT, held)
    n_val, val_part_groups = _groups(files, cfg, VAL, held)
    n_all, all_groups = _groups(files, cfg, ALL, held)
    assert {g.encode() for g in val_part_groups} == set(held)
    assert not fit_groups & val_part_groups and fit_groups | val_part_groups == all_groups
    assert (n_fit, n_val, n_all) == (12, 4, 16)
    assert inputs.scan.counts(cfg.sbi, VAL, held) == {"real": 2, "fake": 2, "pairable": 0}
    assert inputs.scan.counts(cfg.sbi, FIT, held) == {"real": 6, "fake": 6, "pairable": 0}
    assert len(inputs.scan.val_groups(0.001)) == 1 and len(inputs.scan.val_groups(0.999)) == 15  # never none/all


def test_selection_reads_no_eval_split_and_cosine_ends_near_zero(examples, tmp_path):  # noqa: F811
    """With select_epoch=val_loss the eval split is never read: training succeeds with no eval split at all."""
    args = _fn_args(examples, tmp_path, 1, select_epoch="val_loss", val_fraction=0.25, max_epochs=2,
                    lr_schedule="cosine", checkpoint_dir="none")
    args["eval_files"] = [str(tmp_path / "no-eval-split" / "*")]
    fn_args = FnArgs(**args)
    history = train_and_export(fn_args, train_config(fn_args.custom_config))
    assert history["validation"]["source"] == "train groups"
    held = set(history["validation"]["groups"])
    assert len(held) == 4 and held <= {f"g{i}" for i in range(16)}
    assert history["planned_steps"] == 2 * math.ceil(12 / 4)  # 2 epochs over the 12 fit examples, batch 4
    assert len(history["val_loss"]) == 2 and history["selected_epoch"] in (1, 2)
    exported = read_history(args["serving_model_dir"])
    assert exported["validation"]["groups"] == history["validation"]["groups"]
