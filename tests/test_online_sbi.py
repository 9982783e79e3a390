"""Online SBI: extraction stores landmarks in crop pixels; the Trainer's tf.data pipeline makes a fresh
self-blended fake of each real face every time it is drawn, next to its real; the CPU recipe's data
selection (real videos + real photos only, never the dev videos)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from media import IN_MEMORY

from components import extract
from skyhawk import datasets, features
from skyhawk.config import ConfigError, ExtractConfig, TrainConfig, from_dict, load
from skyhawk.synth import sbi

SIZE = 96
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def extracted(tmp_path_factory, real_faces: list[Path], real_videos: list[Path]) -> Path:
    """Real dlib extraction (with pre-made SBI fakes) of 8 real photos and one real video."""
    root = tmp_path_factory.mktemp("data")
    (root / "real").mkdir()
    for p in [*real_faces[:8], real_videos[0]]:
        (root / "real" / p.name).symlink_to(p)
    out = tmp_path_factory.mktemp("out") / "examples"
    cfg = ExtractConfig(frames_per_video=3, image_size=SIZE, eval_fraction=0.3, synthesize="sbi")
    extract.run_extraction(str(root), str(out), cfg, IN_MEMORY)
    return out


def _examples(out: Path, split: str) -> list[dict]:
    import tensorflow as tf

    files = [str(p) for p in sorted((out / f"Split-{split}").glob("*.gz"))]
    return [{k: v.numpy() for k, v in tf.io.parse_single_example(r, features.parse_spec()).items()}
            for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]


def test_extraction_writes_landmarks_in_crop_pixels(extracted: Path):
    import cv2

    from skyhawk.faces import Face, LandmarkPredictor

    rows = _examples(extracted, "train") + _examples(extracted, "eval")
    reals = [r for r in rows if r[features.LABEL] == features.REAL]
    assert len(reals) >= 8 and any(r[features.METHOD] == b"sbi" for r in rows)
    predictor = LandmarkPredictor()
    for r in reals:
        pts = r[features.LANDMARKS].reshape(68, 2)
        assert pts.min() >= 0.0 and pts.max() <= SIZE - 1  # inside the crop
        assert np.ptp(pts[:, 0]) > SIZE / 3  # a face, not a clipped corner
        # dlib on the stored crop finds the same points (the coordinate mapping is right)
        crop = cv2.imdecode(np.frombuffer(r[features.IMAGE], np.uint8), cv2.IMREAD_COLOR)
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        again = predictor(crop, Face(float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]), 1.0))
        assert np.median(np.linalg.norm(again - pts, axis=1)) < 0.06 * SIZE
    fakes = {(r[features.VIDEO_ID].decode().split("#")[0], r[features.FRAME_INDEX]): r[features.LANDMARKS]
             for r in rows if r[features.METHOD] == b"sbi"}
    for r in reals:  # a pre-made fake carries its real's landmarks
        key = (r[features.VIDEO_ID].decode(), r[features.FRAME_INDEX])
        if key in fakes:
            np.testing.assert_array_equal(fakes[key], r[features.LANDMARKS])


def _batches(extracted: Path, epochs: int = 1, **train) -> list[tuple[np.ndarray, np.ndarray]]:
    from skyhawk_model.data import make_dataset

    cfg = from_dict(TrainConfig, {"image_size": SIZE, "batch_size": 4, "weights": "none", "sbi": "online",
                                  "augment": False, "seed": 5, **train})
    ds = make_dataset(str(extracted / "Split-train" / "*"), cfg, training=True)
    return [[(x.numpy(), y.numpy()) for x, y in ds] for _ in range(epochs)]


def _key(img: np.ndarray) -> bytes:
    return np.round(img).astype(np.uint8).tobytes()


def test_online_sbi_pairs_each_real_with_a_fresh_fake(extracted: Path):
    n_reals = sum(r[features.LABEL] == features.REAL for r in _examples(extracted, "train"))
    first, second = _batches(extracted, epochs=2)
    fakes_of: dict[bytes, list[np.ndarray]] = {}
    for epoch in (first, second):
        labels = np.concatenate([y for _, y in epoch])
        assert len(labels) == 2 * n_reals  # pre-made fakes left out, one fresh fake per real
        for x, y in epoch:
            assert list(y) == [0, 1] * (len(y) // 2)  # each real next to its fake, in the same batch
            for real, fake in zip(x[0::2], x[1::2], strict=True):
                diff = np.abs(real - fake).max(axis=-1)
                # the face was blended (at SBI's smallest blend ratio, 0.25, with mild source jitter, the
                # largest change can be under 20 grey levels: 19 was seen)
                assert diff.max() > 5
                assert (diff > 0).mean() < 0.8  # ... inside the face mask; the crop's border is untouched
                assert diff[:4, :4].max() == 0 and diff[-4:, -4:].max() == 0
                fakes_of.setdefault(_key(real), []).append(fake)
    assert len(fakes_of) == n_reals
    for fakes in fakes_of.values():
        assert len(fakes) == 2
        assert np.abs(fakes[0] - fakes[1]).max() > 10  # a different fake of the same face each epoch


def test_online_sbi_with_augmentation_keeps_pairs(extracted: Path):
    (epoch,) = _batches(extracted, augment=True, batch_size=6)
    for x, y in epoch:
        assert x.shape[1:] == (SIZE, SIZE, 3) and 0 <= x.min() and x.max() <= 255
        assert list(y) == [0, 1] * (len(y) // 2)


def test_sbi_modes_offline_and_none(extracted: Path):
    from skyhawk_model.data import make_dataset

    rows = _examples(extracted, "train")
    counts = {}
    for mode in ("offline", "none"):
        cfg = TrainConfig(image_size=SIZE, batch_size=4, weights="none", sbi=mode, augment=False)
        counts[mode] = np.concatenate([y.numpy() for _, y in make_dataset(
            str(extracted / "Split-train" / "*"), cfg, training=True)])
    assert len(counts["offline"]) == len(rows) and counts["offline"].sum() > 0
    assert len(counts["none"]) == sum(r[features.METHOD] != b"sbi" for r in rows)
    assert counts["none"].sum() == 0  # only reals are left in this data


def test_blend_crop_clips_landmarks_into_the_crop(extracted: Path):
    import cv2

    r = next(r for r in _examples(extracted, "train") if r[features.LABEL] == features.REAL)
    crop = cv2.imdecode(np.frombuffer(r[features.IMAGE], np.uint8), cv2.IMREAD_COLOR)
    pts = r[features.LANDMARKS].reshape(68, 2).copy()
    pts[8] = (SIZE / 2, SIZE + 40)  # a chin below the crop
    fake = sbi.blend_crop(crop, pts, seed=1)
    assert fake.shape == crop.shape and fake.dtype == np.uint8 and (fake != crop).any()
    np.testing.assert_array_equal(sbi.blend_crop(crop, pts, seed=1), fake)  # a seed is one fake


def _one_group_copy(extracted: Path, tmp: Path) -> Path:
    """The train split again, with every example in one group (one identity)."""
    import tensorflow as tf

    out = tmp / "Split-train"
    out.mkdir(parents=True)
    files = [str(p) for p in sorted((extracted / "Split-train").glob("*.gz"))]
    with tf.io.TFRecordWriter(str(out / "one-group.gz"), options="GZIP") as w:
        for r in tf.data.TFRecordDataset(files, compression_type="GZIP"):
            ex = tf.train.Example.FromString(r.numpy())
            ex.features.feature[features.GROUP_ID].bytes_list.value[:] = [b"everyone"]
            w.write(ex.SerializeToString())
    return tmp


def test_online_swaps_take_the_face_of_another_identity(extracted: Path, tmp_path: Path):
    (plain,) = _batches(extracted)
    (swapped,) = _batches(extracted, swap_fraction=1.0)
    assert len(plain) == len(swapped)
    changed = 0
    for (xa, ya), (xb, yb) in zip(plain, swapped, strict=True):
        np.testing.assert_array_equal(ya, yb)
        np.testing.assert_array_equal(xa[0::2], xb[0::2])  # the same reals, in the same order
        for real, fake, sbi_fake in zip(xb[0::2], xb[1::2], xa[1::2], strict=True):
            diff = np.abs(real - fake).max(axis=-1)
            assert diff.max() > 20 and diff[:4, :4].max() == 0 and diff[-4:, -4:].max() == 0
            changed += not np.array_equal(fake, sbi_fake)
    assert changed >= len(np.concatenate([y for _, y in swapped])) // 4  # most fakes are swaps now
    # every face of one identity: no donor of another group exists, each draw falls back to the same SBI
    one_group = _one_group_copy(extracted, tmp_path)
    (plain1,) = _batches(one_group)
    (swapped1,) = _batches(one_group, swap_fraction=1.0)
    for (xa, _), (xb, _) in zip(plain1, swapped1, strict=True):
        np.testing.assert_array_equal(xa, xb)


def test_train_sbi_is_validated():
    with pytest.raises(ConfigError, match="sbi must be one of"):
        from_dict(TrainConfig, {"sbi": "sometimes"})
    with pytest.raises(ConfigError, match="batch_size must be even"):
        from_dict(TrainConfig, {"sbi": "online", "batch_size": 7})
    assert TrainConfig().sbi == "offline"
    with pytest.raises(ConfigError, match="swap_fraction > 0 needs sbi=online"):
        from_dict(TrainConfig, {"swap_fraction": 0.5})
    with pytest.raises(ConfigError, match="swap_fraction must be in"):
        from_dict(TrainConfig, {"sbi": "online", "swap_fraction": 1.5})
    with pytest.raises(ConfigError, match="select_epoch must be one of"):
        from_dict(TrainConfig, {"select_epoch": "best"})


def test_folder_labels_take_only_the_named_folders(tmp_path: Path):
    for sub in ("a/x", "b", "held_out/real"):
        (tmp_path / sub).mkdir(parents=True)
        (tmp_path / sub / "v.mp4").write_bytes(b"")
    items = datasets.discover(str(tmp_path), "folders:a/x=real,b=fake")
    assert {(it.video_id, it.label) for it in items} == {("a/x/v", features.REAL), ("b/v", features.FAKE)}
    for bad, msg in (("folders:a", "SUBFOLDER=real"), ("folders:../b=real", "SUBFOLDER"),
                     ("folders:a=maybe", "unknown label"), ("folders:c=real", "no folder c"),
                     ("folders:b=real,b/=fake", "named twice")):
        with pytest.raises(datasets.LabelError, match=msg):
            datasets.discover(str(tmp_path), bad)


def test_cpu_recipe_trains_on_real_videos_and_photos_only(shared_media: Path, monkeypatch):
    from importlib import resources

    packaged = resources.files("skyhawk") / "configs" / "sbi_cpu.json"
    assert json.loads(packaged.read_text())["train"]["sbi"] == "online"
    monkeypatch.chdir(REPO)  # the recipe's paths are relative to the project folder (../shared/media)
    cfg = load(str(packaged))
    assert cfg.train.sbi == "online" and cfg.extract.synthesize == "sbi"
    assert cfg.train.time_budget_minutes > 0 and cfg.train.weights == "none"
    items = extract.prepare_items(cfg.data_root, cfg.extract)
    folders = {Path(it.uri).parent.name for it in items}
    assert folders == {"real_videos", "real_faces"}
    assert not [it for it in items if "dev_videos" in it.uri]
    assert len(items) == len(list((shared_media / "real_videos").iterdir())) + len(
        [p for p in (shared_media / "real_faces").iterdir() if datasets.is_media(str(p))])
    assert {it.label for it in items} == {features.REAL} and not [it for it in items if it.error]
