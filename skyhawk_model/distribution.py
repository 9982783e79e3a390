"""The Trainer's distribution: which tf.distribute strategy this process trains under, and how datasets are
sharded and batched across its replicas."""
from __future__ import annotations

import json
import os

import tensorflow as tf

import skyhawk  # noqa: F401  (applies skyhawk/env.py: legacy Keras before TensorFlow loads)
from skyhawk.config import TrainConfig


def strategy_kind(tf_config: str | None, gpus: int) -> str:
    """'multi_worker' when TF_CONFIG names several workers, else 'mirrored' with >1 GPU, else 'default'."""
    cluster = (json.loads(tf_config) if tf_config else {}).get("cluster") or {}
    if len(cluster.get("chief", [])) + len(cluster.get("worker", [])) > 1:
        return "multi_worker"
    return "mirrored" if gpus > 1 else "default"


def make_strategy() -> tf.distribute.Strategy:
    """The distribution strategy for this process (see ``strategy_kind``).

    ``MultiWorkerMirroredStrategy`` must be created before the process runs other TF ops, which is
    the case for a Trainer running in its own worker process (e.g. a cluster job per worker).
    """
    kind = strategy_kind(os.environ.get("TF_CONFIG"), len(tf.config.list_physical_devices("GPU")))
    if kind == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True unless this process is a non-chief worker of a multi-worker cluster."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and int(resolver.task_id or 0) == 0 and not has_chief


def global_batch(cfg: TrainConfig, strategy: tf.distribute.Strategy) -> int:
    return cfg.batch_size * strategy.num_replicas_in_sync


def shardable(ds: tf.data.Dataset) -> tf.data.Dataset:
    """Multi-worker: shard by element (works with fewer files than workers)."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)
