"""The Skyhawk frame classifier: a backbone + dropout + 2-way softmax (Keras 2, ``tf_keras``).

Backbones come from the table in ``skyhawk_model.backbones`` (builder, input scaling, head kind); this module
has no branch on a backbone name. Options: canonical face resolution in the graph (``train.face_pixels``) and
a pairwise ranking loss on matched (real, fake) pairs (``train.rank_loss_weight``).

The model takes raw RGB pixels in [0, 255] (float32, ``image_size x image_size x 3``) and applies the
backbone's own preprocessing inside the graph, so every consumer (training, the exported signatures,
bulk scoring) feeds the same thing: decoded JPEG pixels.
"""
from __future__ import annotations

from skyhawk import fileio
from skyhawk.config import ConfigError, ExtractConfig, TrainConfig
from skyhawk_model import backbones

INPUT_NAME = "image"
OUTPUT_NAME = "probabilities"
CROP_MARGIN = ExtractConfig().margin  # the crops' margin when the caller does not say (extraction's default)


def _tf_keras():
    import tf_keras

    skip_autograph_for_tf_keras()
    return tf_keras


def skip_autograph_for_tf_keras() -> bool:
    """Makes AutoGraph call ``tf_keras``'s own code as written, as TF already does for ``keras``.

    TF's AutoGraph never converts the libraries on its list (``tensorflow``, ``keras``, numpy, ...): their
    code is graph-ready. The Keras-2 fork ``tf_keras`` is missing from that list, so every trace of a
    Keras train step re-parses and re-writes Keras' own internals through AutoGraph (for
    Inception-ResNet-V2 ~60,000 conversions: tracing the train step took 52.8 s instead of 11.4 s at
    75 px, measured). Keras itself only needs AutoGraph for user-subclassed layers, which stay converted
    (their modules are not ``tf_keras``). Idempotent; returns False if TF's rule table is not found.
    """
    try:
        from tensorflow.python.autograph.core import config as ag_config
    except ImportError:  # pragma: no cover - TF moved its private AutoGraph config
        return False
    rules = tuple(getattr(ag_config, "CONVERSION_RULES", ()))
    if not any(isinstance(r, ag_config.DoNotConvert) and r._prefix == "tf_keras" for r in rules):
        ag_config.CONVERSION_RULES = (ag_config.DoNotConvert("tf_keras"), *rules)
    return True


def use_mixed_precision(cfg: TrainConfig) -> bool:
    """'on' always, 'auto' only when a GPU is visible, 'off' never."""
    if cfg.mixed_precision == "on":
        return True
    if cfg.mixed_precision == "auto":
        return _has_gpu()
    return False


def _has_gpu() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def _weights_mode(cfg: TrainConfig) -> str:
    """'imagenet', 'none' or 'file' (cfg.weights is a weights file or a TF checkpoint prefix, local or gs://;
    that it exists is checked once, before a run, by ``skyhawk.config.check_inputs``)."""
    return cfg.weights if cfg.weights in ("imagenet", "none") else "file"


def _head(kind: str, cfg: TrainConfig, x):
    """Backbone features -> [P(real), P(fake)] (float32 even under mixed precision: a stable loss)."""
    layers = _tf_keras().layers
    if kind == backbones.P_REAL:  # the network ends in P(real): P(fake) = 1 - P(real)
        p_real = layers.Activation("linear", dtype="float32", name="p_real")(x)
        p_fake = layers.Rescaling(scale=-1.0, offset=1.0, dtype="float32", name="p_fake")(p_real)
        return layers.Concatenate(dtype="float32", name=OUTPUT_NAME)([p_real, p_fake])
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = layers.Dropout(cfg.dropout, seed=cfg.seed, name="dropout")(x)
    return layers.Dense(2, activation="softmax", dtype="float32", name=OUTPUT_NAME)(x)


def canonical_side(cfg: TrainConfig, margin: float) -> int:
    """The crop side at which the face is ``cfg.face_pixels`` across (crop = margin x face), at most the input."""
    return min(cfg.image_size, max(1, round(cfg.face_pixels * margin)))


def _canonical(cfg: TrainConfig, margin: float, x):
    """Canonical face resolution, in the graph (it travels with the exported model): down to the face-pixel
    budget with area interpolation, then back up to the input size, so how much a crop was upscaled from its
    source no longer tells the classes apart."""
    if not cfg.face_pixels:
        return x
    layers = _tf_keras().layers
    side = canonical_side(cfg, margin)
    x = layers.Resizing(side, side, interpolation="area", name="canonical_down")(x)
    return layers.Resizing(cfg.image_size, cfg.image_size, interpolation="bilinear", name="canonical_up")(x)


def canonical_model(cfg: TrainConfig, margin: float = CROP_MARGIN):
    """The model's input stage alone (canonical face resolution when ``cfg.face_pixels``, else the identity):
    [N, S, S, 3] pixels in, the pixels the backbone's preprocessing receives out (``skyhawk_model.input_audit``)."""
    tf_keras = _tf_keras()
    inputs = tf_keras.Input(shape=(cfg.image_size, cfg.image_size, 3), dtype="float32", name=INPUT_NAME)
    return tf_keras.Model(inputs, _canonical(cfg, margin, inputs), name="canonical_input")


def rank_loss(weight: float):
    """Cross-entropy + ``weight`` x the pairwise ranking loss: over the batch's adjacent pairs (2i, 2i+1) that are
    (real, fake), softplus(logit_real - logit_fake), where logit = log P(fake) - log P(real): the fake must score
    above its own real. With ``matched_pairs`` every such pair shares a group (a real and its SBI fake, or a fake
    of the real's group; unmatched pairs come fake first), so any nuisance the two share cancels."""
    import tensorflow as tf

    ce = _tf_keras().losses.SparseCategoricalCrossentropy()

    def loss(y_true, y_pred):
        y_true = tf.reshape(tf.cast(y_true, tf.int64), [-1])
        y_pred = tf.cast(y_pred, tf.float32)
        n = tf.shape(y_true)[0] // 2 * 2
        p = tf.clip_by_value(y_pred[:n], 1e-7, 1.0)
        logit = tf.reshape(tf.math.log(p[:, 1]) - tf.math.log(p[:, 0]), [-1, 2])
        labels = tf.reshape(y_true[:n], [-1, 2])
        valid = tf.cast(tf.logical_and(tf.equal(labels[:, 0], 0), tf.equal(labels[:, 1], 1)), tf.float32)
        ranking = tf.math.divide_no_nan(tf.reduce_sum(valid * tf.nn.softplus(logit[:, 0] - logit[:, 1])),
                                        tf.reduce_sum(valid))
        return ce(y_true, y_pred) + weight * ranking

    loss.__name__ = "ce_plus_rank"
    return loss


def learning_rate(cfg: TrainConfig, planned_steps: int | None = None):
    """The LR schedule: exponential decay, or (lr_schedule=cosine) a cosine from learning_rate to 0 over
    ``planned_steps``, so that the last epochs take small steps and the run ends where it settled."""
    schedules = _tf_keras().optimizers.schedules
    if cfg.lr_schedule == "cosine":
        if not planned_steps:
            raise ConfigError("lr_schedule=cosine needs the planned number of steps")
        return schedules.CosineDecay(initial_learning_rate=cfg.learning_rate, decay_steps=int(planned_steps))
    return schedules.ExponentialDecay(initial_learning_rate=cfg.learning_rate, decay_steps=cfg.decay_steps,
                                      decay_rate=cfg.decay_rate)


def build_model(cfg: TrainConfig, planned_steps: int | None = None, margin: float = CROP_MARGIN):
    """Builds and compiles the classifier described by ``cfg``.

    ``cfg.weights``: 'imagenet' (Keras downloads/caches the ImageNet no-top weights), 'none' (random
    init) or a local file. A local file is first loaded into the whole model (weights saved with
    ``model.save_weights``); if its layout does not match, into the backbone alone (e.g. an offline copy
    of the Keras ``*_notop.h5`` ImageNet file). ``margin``: the crops' margin around the face box (extraction's),
    which places ``cfg.face_pixels`` in crop pixels.
    """
    tf_keras = _tf_keras()
    mode = _weights_mode(cfg)
    mixed = use_mixed_precision(cfg)
    previous_policy = tf_keras.mixed_precision.global_policy()
    tf_keras.mixed_precision.set_global_policy("mixed_float16" if mixed else "float32")
    try:
        entry = backbones.get(cfg.backbone)
        backbone = entry.build(tf_keras, cfg, "imagenet" if mode == "imagenet" else None)
        backbone.trainable = True
        if cfg.bn_momentum:
            _set_bn_momentum(backbone, cfg.bn_momentum)
        inputs = tf_keras.Input(shape=(cfg.image_size, cfg.image_size, 3), dtype="float32", name=INPUT_NAME)
        x = entry.preprocess(tf_keras, _canonical(cfg, margin, inputs))
        outputs = _head(entry.head, cfg, backbone(x))
        model = tf_keras.Model(inputs, outputs, name=f"skyhawk_{cfg.backbone}")
    finally:
        tf_keras.mixed_precision.set_global_policy(previous_policy)

    if mode == "file" and fileio.is_remote(cfg.weights) and fileio.isfile(cfg.weights):
        with fileio.local_copy(cfg.weights) as path:  # an HDF5 file is read locally (a checkpoint prefix: by TF)
            _load_local_weights(model, backbone, path)
    elif mode == "file":
        _load_local_weights(model, backbone, cfg.weights)
    if cfg.frozen_layers:
        _freeze(backbone, cfg.frozen_layers)

    schedule = learning_rate(cfg, planned_steps)
    model.compile(
        # The legacy (OptimizerV2) Adam updates each variable with one fused kernel: on this CPU its
        # update of Inception-ResNet-V2's 54M parameters takes 37 ms (the new Adam: 182 ms, with XLA
        # 164 ms), it adds 1 op per variable to the train graph instead of ~13 (tracing 1.5 s vs 11.8 s)
        # and Grappler's first pass over it 1.4 s instead of 14.7 s (measured).
        optimizer=tf_keras.optimizers.legacy.Adam(learning_rate=schedule),
        loss=(rank_loss(cfg.rank_loss_weight) if cfg.rank_loss_weight
              else tf_keras.losses.SparseCategoricalCrossentropy()),
        metrics=["accuracy"],
        # Graph mode is the default and the right choice: the first step costs ~20 s (see
        # build_training_state and skip_autograph_for_tf_keras). run_eagerly is for debugging.
        run_eagerly=cfg.run_eagerly,
    )
    build_training_state(model)
    return model


def build_training_state(model) -> None:
    """Creates the optimizer's slots and the compiled loss/metric variables now, outside any graph.

    Otherwise the first ``fit`` step creates them while tracing, and a ``tf.function`` that created
    variables is traced a second time: the whole train step traced twice (measured 34 s -> 16 s for the
    first step at 75 px). Call it inside the distribution strategy's scope, like ``compile``.
    """
    import tensorflow as tf

    optimizer = model.optimizer
    if hasattr(optimizer, "_create_all_weights"):  # legacy optimizers (and their LossScaleOptimizer)
        optimizer._create_all_weights(model.trainable_variables)
    else:
        optimizer.build(model.trainable_variables)
    y_pred = tf.zeros([1, 2], tf.float32)
    y_true = tf.zeros([1], tf.int64)  # sparse labels, as make_dataset yields them
    if not model.compiled_loss.built:
        model.compiled_loss.build(y_pred)
    if not model.compiled_metrics.built:
        model.compiled_metrics.build(y_pred, y_true)


def _set_bn_momentum(backbone, momentum: float) -> None:
    """A faster BatchNorm moving average for short trainings from scratch: with the default 0.99 the
    inference statistics lag the weights for hundreds of steps, and a model trained for ~100 steps
    predicts the same score for every input (measured on the demo)."""
    tf_keras = _tf_keras()
    for layer in backbone.layers:
        if isinstance(layer, tf_keras.layers.BatchNormalization):
            layer.momentum = float(momentum)


def _freeze(backbone, count: int) -> None:
    """Freezes the backbone's first ``count`` layers that have weights (a frozen BatchNorm also keeps its
    moving statistics: it runs in inference mode): fine-tuning that keeps what released weights learned."""
    for layer in [layer for layer in backbone.layers if layer.weights][:count]:
        layer.trainable = False


def _load_local_weights(model, backbone, path: str) -> None:
    try:
        model.load_weights(path)
        return
    except Exception as whole_error:  # noqa: BLE001 - fall back to the backbone-only layout
        try:
            backbone.load_weights(path)
            return
        except Exception as backbone_error:  # noqa: BLE001
            raise ConfigError(
                f"weights file {path!r} fits neither the whole model ({whole_error}) "
                f"nor the {backbone.name} backbone ({backbone_error})"
            ) from backbone_error
