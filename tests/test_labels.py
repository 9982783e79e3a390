"""Label sources and group-disjoint splits, on small directory trees of each dataset's real shape."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from skyhawk import labels
from skyhawk.config import ConfigError, ExtractConfig, load
from skyhawk.features import FAKE, REAL


def touch(root: Path, *rels: str) -> None:
    for rel in rels:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"\0")


def by_id(items):
    return {it.video_id: it for it in items}


def test_folders(tmp_path: Path):
    touch(tmp_path, "real/a.mp4", "Fake/b.MOV", "nested/real/c.webm", "misc/d.mkv", "real/notes.txt")
    items = by_id(labels.discover(str(tmp_path), "folders"))
    assert set(items) == {"real/a", "Fake/b", "nested/real/c", "misc/d"}  # notes.txt is no video
    assert items["real/a"].label == REAL and items["Fake/b"].label == FAKE and items["nested/real/c"].label == REAL
    assert "not under a real/ or fake/" in items["misc/d"].error


def test_csv_manifest(tmp_path: Path):
    touch(tmp_path, "v/one.mp4", "v/two.mp4", "v/three.mp4", "v/extra.mp4")
    (tmp_path / "m.csv").write_text(
        "path,label,group,method\nv/one.mp4,real,g1,\nv/two.mp4,fake,g1,sbi\nv/three.mp4,maybe,,\nv/gone.mp4,0,,\n")
    items = by_id(labels.discover(str(tmp_path), f"csv:{tmp_path / 'm.csv'}"))
    assert items["v/one"].label == REAL and items["v/two"].label == FAKE
    assert items["v/one"].group_id == items["v/two"].group_id == "g1"
    assert items["v/two"].method == "sbi"
    assert "line 4" in items["v/three"].error and "unknown label" in items["v/three"].error
    assert "does not exist" in items["v/gone"].error
    assert "not listed in the manifest" in items["v/extra"].error
    with pytest.raises(labels.LabelError, match="manifest not found"):
        labels.discover(str(tmp_path), "csv:/nonexistent.csv")


def test_ffpp_layout(tmp_path: Path):
    touch(tmp_path,
          "original_sequences/youtube/c23/videos/000.mp4",
          "original_sequences/youtube/c23/videos/001.mp4",
          "manipulated_sequences/Deepfakes/c23/videos/000_003.mp4",
          "manipulated_sequences/FaceSwap/c40/videos/001_000.mp4",
          "original_sequences/actors/c23/videos/01__talking.mp4",
          "manipulated_sequences/DeepFakeDetection/c23/videos/01_02__talking__ABC.mp4",
          "stray/x.mp4")
    (tmp_path / "splits").mkdir()
    (tmp_path / "splits" / "test.json").write_text(json.dumps([["001", "000"]]))
    items = by_id(labels.discover(str(tmp_path), "ffpp"))
    real0 = items["original_sequences/youtube/c23/videos/000"]
    fake0 = items["manipulated_sequences/Deepfakes/c23/videos/000_003"]
    assert real0.label == REAL and fake0.label == FAKE and fake0.method == "Deepfakes"
    assert real0.group_id == fake0.group_id == "ffpp:000"  # a fake follows its target video
    assert items["manipulated_sequences/FaceSwap/c40/videos/001_000"].group_id == "ffpp:001"
    assert items["manipulated_sequences/FaceSwap/c40/videos/001_000"].split == "test"
    assert (items["original_sequences/actors/c23/videos/01__talking"].group_id
            == items["manipulated_sequences/DeepFakeDetection/c23/videos/01_02__talking__ABC"].group_id)
    assert items["stray/x"].error


def test_dfdc_layout(tmp_path: Path):
    touch(tmp_path, "dfdc_train_part_0/aaa.mp4", "dfdc_train_part_0/bbb.mp4", "dfdc_train_part_0/zzz.mp4",
          "dfdc_train_part_1/ccc.mp4")
    (tmp_path / "dfdc_train_part_0" / "metadata.json").write_text(json.dumps({
        "aaa.mp4": {"label": "REAL", "split": "train", "original": None},
        "bbb.mp4": {"label": "FAKE", "split": "train", "original": "aaa.mp4"},
    }))
    (tmp_path / "dfdc_train_part_1" / "metadata.json").write_text(json.dumps({
        "ccc.mp4": {"label": "FAKE", "split": "train", "original": "ddd.mp4"}}))
    items = by_id(labels.discover(str(tmp_path), "dfdc"))
    a, b = items["dfdc_train_part_0/aaa"], items["dfdc_train_part_0/bbb"]
    assert (a.label, b.label) == (REAL, FAKE)
    assert a.group_id == b.group_id == "dfdc:dfdc_train_part_0/aaa"
    assert items["dfdc_train_part_1/ccc"].group_id == "dfdc:dfdc_train_part_1/ddd"
    assert "metadata.json" in items["dfdc_train_part_0/zzz"].error


def test_celebdf_layout(tmp_path: Path):
    touch(tmp_path, "Celeb-real/id0_0000.mp4", "Celeb-real/id1_0001.mp4", "YouTube-real/00001.mp4",
          "Celeb-synthesis/id0_id1_0000.mp4", "Celeb-synthesis/id1_id0_0001.mp4")
    (tmp_path / "List_of_testing_videos.txt").write_text(
        "1 Celeb-real/id0_0000.mp4\n0 Celeb-synthesis/id1_id0_0001.mp4\n")
    items = labels.assign_splits(labels.discover(str(tmp_path), "celebdf"), 0.3)
    d = by_id(items)
    assert d["Celeb-synthesis/id0_id1_0000"].group_id == d["Celeb-real/id0_0000"].group_id
    assert d["Celeb-real/id0_0000"].split == "test"
    assert d["Celeb-synthesis/id0_id1_0000"].split == "test"  # follows its source video into test
    assert d["Celeb-synthesis/id1_id0_0001"].split == d["Celeb-real/id1_0001"].split == "test"
    assert d["YouTube-real/00001"].split in ("train", "eval")


def test_splits_are_group_disjoint_stable_and_nonempty():
    items = [labels.VideoItem(uri=f"/v/{g}_{k}.mp4", video_id=f"{g}_{k}", label=k % 2, group_id=f"g{g}")
             for g in range(40) for k in range(3)]
    split = labels.assign_splits(items, 0.25)
    groups: dict[str, set[str]] = {}
    for it in split:
        groups.setdefault(it.group_id, set()).add(it.split)
    assert all(len(s) == 1 for s in groups.values())
    n_eval = sum(s == {"eval"} for s in groups.values())
    assert 4 <= n_eval <= 18  # ~25 % of 40 groups
    # Stable: adding groups does not move existing ones.
    more = split + [labels.VideoItem(uri="/v/new.mp4", video_id="new", label=0, group_id="gnew")]
    again = {it.video_id: it.split for it in labels.assign_splits(more, 0.25)}
    assert all(again[it.video_id] == it.split for it in split)
    # Tiny data: both splits get a group.
    two = labels.assign_splits(items[:6], 0.01)
    assert {it.split for it in two} == {"train", "eval"}


def test_config_validation_and_overrides(tmp_path: Path):
    with pytest.raises(ConfigError, match="detector"):
        ExtractConfig(detector="mtcnn").validate()
    with pytest.raises(ConfigError, match="csv:FILE"):
        ExtractConfig(labels="csv").validate()
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"extract": {"frames_per_video": 4, "image_size": 96}, "train": {"image_size": 96}}))
    cfg = load(str(path), {"gate.accuracy_floor": 0.5})
    assert cfg.extract.frames_per_video == 4 and cfg.gate.accuracy_floor == 0.5
    path.write_text(json.dumps({"extract": {"frames": 4}}))
    with pytest.raises(ConfigError, match="unknown ExtractConfig keys: frames"):
        load(str(path))
