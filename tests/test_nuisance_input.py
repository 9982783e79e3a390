"""Training input that cannot use the capture confound: canonical face resolution (in the exported graph), nuisance
augmentation, matched (real, fake) sampling within a group, pairs only, and the pairwise ranking loss."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skyhawk import features
from skyhawk.config import ConfigError, TrainConfig, from_dict

SIZE = 96


def _jpeg(path: Path, size: int = SIZE) -> bytes:
    import cv2

    img = cv2.resize(cv2.imread(str(path)), (size, size), interpolation=cv2.INTER_AREA)
    return cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()


# group -> (reals, fakes): g_both holds both labels (a side-by-side pair), g_fake only fakes, g_real only reals
LAYOUT = {"g_both": (2, 3), "g_fake": (0, 2), "g_real": (2, 0)}


@pytest.fixture(scope="module")
def records(tmp_path_factory, real_faces: list[Path]) -> tuple[str, dict[bytes, str]]:
    """A gzipped TFRecord split of real photo crops in three groups; the crops' group by their JPEG bytes."""
    import tensorflow as tf

    out = tmp_path_factory.mktemp("split")
    path = str(out / "data.gz")
    photos = iter(real_faces)
    owner: dict[bytes, str] = {}
    with tf.io.TFRecordWriter(path, options="GZIP") as w:
        for group, (n_real, n_fake) in LAYOUT.items():
            for k in range(n_real + n_fake):
                label = features.REAL if k < n_real else features.FAKE
                jpeg = _jpeg(next(photos))
                owner[jpeg] = group
                w.write(features.to_example(features.FaceRecord(
                    jpeg=jpeg, label=label, video_id=f"{group}-{k}", group_id=group, frame_index=0, face_index=0,
                    box=[0, 0, SIZE, SIZE], detector_score=1.0, source_uri=f"{group}-{k}",
                    method="real" if label == features.REAL else "dataset")).SerializeToString())
    return path, owner


def _pairs(path: str, owner: dict[bytes, str], **train) -> list[tuple[str, str]]:
    """The (group of the real, group of the fake) of every pair the training input yields in 3 epochs' worth."""
    import tensorflow as tf

    from skyhawk_model.data import make_dataset
    from skyhawk_model.preprocess import decode_image

    by_pixels = {np.round(decode_image(tf.constant(j), SIZE).numpy()).astype(np.uint8).tobytes(): g
                 for j, g in owner.items()}
    cfg = from_dict(TrainConfig, {"image_size": SIZE, "batch_size": 4, "weights": "none", "sbi": "online",
                                  "augment": False, "seed": 3, "data_share": 1.0, **train})
    out = []
    for x, y in make_dataset(path, cfg, training=True, repeat=True).take(12):
        x, y = x.numpy(), y.numpy()
        for i in range(0, len(y), 2):
            assert sorted((y[i], y[i + 1])) == [features.REAL, features.FAKE]
            real, fake = (i, i + 1) if y[i] == features.REAL else (i + 1, i)
            groups = tuple(by_pixels[np.round(x[j]).astype(np.uint8).tobytes()] for j in (real, fake))
            # matched: (real, fake) in that order; unmatched pairs come fake first (the ranking loss skips them)
            assert not train.get("matched_pairs") or (real < fake) == (groups[0] == groups[1])
            out.append(groups)
    return out


def test_matched_pairs_put_each_fake_next_to_a_real_of_its_group(records):
    path, owner = records
    pairs = _pairs(path, owner, matched_pairs=True)
    assert {f for _, f in pairs} == {"g_both", "g_fake"}
    assert all(r == "g_both" for r, f in pairs if f == "g_both")  # a fake with reals in its group gets one of them
    assert all(r != "g_fake" for r, _ in pairs)  # a group without reals borrows a real from elsewhere
    unmatched = _pairs(path, owner)  # without matching, fakes of g_both are next to reals of any group
    assert any(r != f for r, f in unmatched if f == "g_both")


def test_pairs_only_leaves_out_fakes_without_a_real_of_their_group(records):
    path, owner = records
    pairs = _pairs(path, owner, matched_pairs=True, pairs_only=True)
    assert pairs and set(pairs) == {("g_both", "g_both")}


def test_nuisance_augmentation_changes_both_classes_deterministically(records):
    import tensorflow as tf

    from skyhawk_model.preprocess import augment, decode_image

    path, owner = records
    image = decode_image(tf.constant(next(iter(owner))), SIZE)
    seeds = [tf.constant([s, 7], tf.int64) for s in range(12)]
    plain = [augment(image, s).numpy() for s in seeds]
    nuisance = [augment(image, s, nuisance=True).numpy() for s in seeds]
    np.testing.assert_array_equal(nuisance[0], augment(image, seeds[0], nuisance=True).numpy())  # seeded
    assert all(n.min() >= 0 and n.max() <= 255 and n.shape == (SIZE, SIZE, 3) for n in nuisance)
    diffs = [float(np.abs(n - p).mean()) for n, p in zip(nuisance, plain, strict=True)]
    assert sum(d > 0.5 for d in diffs) >= 6  # most draws add a visible nuisance
    # high frequencies: blur / down-up scaling lower them in some draws, noise raises them in others
    energy = [float(np.abs(np.diff(n, axis=0)).mean() / max(np.abs(np.diff(p, axis=0)).mean(), 1e-6))
              for n, p in zip(nuisance, plain, strict=True)]
    assert min(energy) < 0.9 and max(energy) > 1.02


def test_canonical_resolution_makes_the_upscaling_unreadable_and_travels_with_the_export(records, tmp_path):
    import tensorflow as tf
    import tf_keras

    from skyhawk_model.export import export_model, load_scorer
    from skyhawk_model.model import build_model, canonical_side

    path, owner = records
    cfg = TrainConfig(backbone="xception", weights="none", image_size=SIZE, face_pixels=32, batch_size=4)
    model = build_model(cfg, margin=1.5)
    side = canonical_side(cfg, 1.5)
    assert side == 48
    canon = tf_keras.Model(model.input, model.get_layer("canonical_up").output)
    jpeg = next(iter(owner))
    sharp = tf.io.decode_jpeg(jpeg)[tf.newaxis]
    sharp = tf.cast(sharp, tf.float32)
    blurry = tf.image.resize(tf.image.resize(sharp, [side, side], method="area"), [SIZE, SIZE], method="bilinear")
    raw_gap = float(tf.reduce_mean(tf.abs(sharp - blurry)))
    canon_gap = float(tf.reduce_mean(tf.abs(canon(sharp) - canon(blurry))))
    assert raw_gap > 3.0 and canon_gap < raw_gap / 2  # the same face at two source resolutions looks alike
    export_model(model, str(tmp_path / "m"), cfg)
    scorer = load_scorer(str(tmp_path / "m"))
    jpegs = list(owner)[:4]
    pixels = tf.stack([tf.cast(tf.io.decode_jpeg(j), tf.float32) for j in jpegs])
    np.testing.assert_allclose(scorer(jpegs), model(pixels, training=False).numpy()[:, 1], atol=1e-4)
    assert "canonical_down" in {layer.name for layer in tf_keras.models.load_model(str(tmp_path / "m")).layers}


def test_rank_loss_is_softplus_of_the_log_odds_gap_over_real_fake_pairs():
    import tensorflow as tf

    from skyhawk_model.model import rank_loss

    p = np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.9, 0.1], [0.5, 0.5], [0.5, 0.5]], np.float32)
    y = np.array([0, 1, 0, 1, 0, 0])  # pairs: (real, fake), (real, fake), (real, real): the last is no pair
    ce = float(tf_ce(y, p))
    logit = np.log(p[:, 1]) - np.log(p[:, 0])
    rank = np.mean([np.log1p(np.exp(logit[0] - logit[1])), np.log1p(np.exp(logit[2] - logit[3]))])
    got = float(rank_loss(0.5)(tf.constant(y), tf.constant(p)))
    assert got == pytest.approx(ce + 0.5 * rank, rel=1e-5)


def tf_ce(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean(-np.log(p[np.arange(len(y)), y])))


def test_options_are_checked():
    for bad, words in [({"face_pixels": 8}, "face_pixels"), ({"face_pixels": SIZE}, "face_pixels"),
                       ({"matched_pairs": True}, "data_share"), ({"pairs_only": True}, "matched_pairs"),
                       ({"rank_loss_weight": 1.0}, "matched_pairs"), ({"rank_loss_weight": -1.0}, ">= 0"),
                       ({"nuisance_augment": True, "augment": False}, "augment")]:
        with pytest.raises(ConfigError, match=words):
            from_dict(TrainConfig, {"image_size": SIZE, "sbi": "online", "batch_size": 4, **bad})
    TrainConfig(image_size=SIZE, sbi="online", batch_size=4, data_share=0.5, matched_pairs=True, pairs_only=True,
                rank_loss_weight=1.0, face_pixels=32, nuisance_augment=True)


def test_pixel_audit_finds_upscaling_blur_in_raw_crops_and_not_in_the_canonical_input(tmp_path, real_faces):
    """A confounded split: the fakes are the same kind of photos as the reals but came from small faces (crops
    upscaled from 40 px). Sharpness gives the labels away in the raw crops; at face_pixels 24 (margin 1.5: crop
    side 36 px) every crop carries the same detail and it does not."""
    import cv2
    import tensorflow as tf

    from skyhawk_model.input_audit import audit_table, input_audit

    path = str(tmp_path / "data.gz")
    with tf.io.TFRecordWriter(path, options="GZIP") as w:
        for i, photo in enumerate(real_faces[:24]):
            label = i % 2
            img = cv2.resize(cv2.imread(str(photo)), (SIZE, SIZE), interpolation=cv2.INTER_AREA)
            if label:
                img = cv2.resize(cv2.resize(img, (40, 40), interpolation=cv2.INTER_AREA), (SIZE, SIZE))
            jpeg = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()
            w.write(features.to_example(features.FaceRecord(
                jpeg=jpeg, label=label, video_id=f"v{i}", group_id=f"g{i}", frame_index=0, face_index=0,
                box=[0, 0, SIZE, SIZE], detector_score=1.0, source_uri=f"v{i}",
                nuisance={"face_side_px": 40.0 if label else float(SIZE)})).SerializeToString())
    cfg = TrainConfig(backbone="xception", weights="none", image_size=SIZE, face_pixels=24, augment=False)
    result = input_audit(path, cfg, margin=1.5)
    assert result["videos"] == 24 and result["real"] == result["fake"] == 12
    raw, seen = result["views"]["raw"]["sharpness"], result["views"]["model_input"]["sharpness"]
    assert abs(raw["auc"] - 0.5) > 0.4 and raw["face_side_spearman"] > 0.5
    assert abs(seen["auc"] - 0.5) < abs(raw["auc"] - 0.5) - 0.2
    assert "model_input" in audit_table(result)


def test_nuisance_free_recipe_uses_the_options_and_never_the_dev_videos(shared_media: Path, monkeypatch):
    from components import extract
    from skyhawk.config import check_inputs, load

    monkeypatch.chdir(Path(__file__).resolve().parents[1])  # the recipe's paths are relative to the project folder
    cfg = load("skyhawk/configs/nuisance_free.json")
    check_inputs(cfg)
    t = cfg.train
    assert t.face_pixels and t.nuisance_augment and t.matched_pairs and t.rank_loss_weight > 0
    assert t.backbone == "meso4" and t.frozen_layers == 8 and t.weights.endswith("Meso4_DF.h5")
    items = extract.prepare_items(cfg.data_root, cfg.extract)
    assert {Path(it.uri).parent.name for it in items} == {"real_videos", "fake", "real"}  # train_fakes/{fake,real}
    assert not [it for it in items if "dev_videos" in it.uri or "real_faces" in it.uri]
    assert {it.label for it in items} == {features.REAL, features.FAKE}
