"""Label sources and group-disjoint splits (skyhawk.datasets), on small directory trees of each dataset's real shape."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from skyhawk import datasets, spans, splits
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
    items = by_id(datasets.discover(str(tmp_path), "folders"))
    assert set(items) == {"real/a", "Fake/b", "nested/real/c", "misc/d"}  # notes.txt is no video
    assert items["real/a"].label == REAL and items["Fake/b"].label == FAKE and items["nested/real/c"].label == REAL
    assert "not under a real/ or fake/" in items["misc/d"].error


def test_csv_manifest(tmp_path: Path):
    touch(tmp_path, "v/one.mp4", "v/two.mp4", "v/three.mp4", "v/extra.mp4")
    (tmp_path / "m.csv").write_text(
        "path,label,group,method\nv/one.mp4,real,g1,\nv/two.mp4,fake,g1,sbi\nv/three.mp4,maybe,,\nv/gone.mp4,0,,\n")
    items = by_id(datasets.discover(str(tmp_path), f"csv:{tmp_path / 'm.csv'}"))
    assert items["v/one"].label == REAL and items["v/two"].label == FAKE
    assert items["v/one"].group_id == items["v/two"].group_id == "g1"
    assert items["v/two"].method == "sbi"
    assert "line 4" in items["v/three"].error and "unknown label" in items["v/three"].error
    assert "does not exist" in items["v/gone"].error
    assert "not listed in the manifest" in items["v/extra"].error
    with pytest.raises(datasets.LabelError, match="manifest not found"):
        datasets.discover(str(tmp_path), "csv:/nonexistent.csv")


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
    items = by_id(datasets.discover(str(tmp_path), "ffpp"))
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
    items = by_id(datasets.discover(str(tmp_path), "dfdc"))
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
    items = splits.assign_splits(datasets.discover(str(tmp_path), "celebdf"), 0.3)
    d = by_id(items)
    assert d["Celeb-synthesis/id0_id1_0000"].group_id == d["Celeb-real/id0_0000"].group_id
    assert d["Celeb-real/id0_0000"].split == "test"
    assert d["Celeb-synthesis/id0_id1_0000"].split == "test"  # follows its source video into test
    assert d["Celeb-synthesis/id1_id0_0001"].split == d["Celeb-real/id1_0001"].split == "test"
    assert d["YouTube-real/00001"].split in ("train", "eval")


def test_splits_are_group_disjoint_stable_and_nonempty():
    items = [datasets.VideoItem(uri=f"/v/{g}_{k}.mp4", video_id=f"{g}_{k}", label=k % 2, group_id=f"g{g}")
             for g in range(40) for k in range(3)]
    split = splits.assign_splits(items, 0.25)
    groups: dict[str, set[str]] = {}
    for it in split:
        groups.setdefault(it.group_id, set()).add(it.split)
    assert all(len(s) == 1 for s in groups.values())
    n_eval = sum(s == {"eval"} for s in groups.values())
    assert 4 <= n_eval <= 18  # ~25 % of 40 groups
    # Stable: adding groups does not move existing ones.
    more = split + [datasets.VideoItem(uri="/v/new.mp4", video_id="new", label=0, group_id="gnew")]
    again = {it.video_id: it.split for it in splits.assign_splits(more, 0.25)}
    assert all(again[it.video_id] == it.split for it in split)
    # Tiny data: both splits get a group.
    two = splits.assign_splits(items[:6], 0.01)
    assert {it.split for it in two} == {"train", "eval"}


def test_config_validation_and_overrides(tmp_path: Path):
    with pytest.raises(ConfigError, match="detector"):
        ExtractConfig(detector="mtcnn")
    with pytest.raises(ConfigError, match="csv:FILE"):
        ExtractConfig(labels="csv")
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"extract": {"frames_per_video": 4, "image_size": 96}, "train": {"image_size": 96}}))
    cfg = load(str(path), {"gate.accuracy_floor": 0.5})
    assert cfg.extract.frames_per_video == 4 and cfg.gate.accuracy_floor == 0.5
    path.write_text(json.dumps({"extract": {"frames": 4}}))
    with pytest.raises(ConfigError, match="unknown ExtractConfig keys: frames"):
        load(str(path))


# ---------------------------------------------------------------- bad input (issue 9, items 1, 2, 3, 4, 7, 11)

def _manifest(tmp_path: Path, body: str) -> str:
    path = tmp_path / "m.csv"
    path.write_text("path,label,split\n" + body)
    return f"csv:{path}"


def test_csv_same_file_written_two_ways_is_an_error_naming_the_lines(tmp_path: Path):
    touch(tmp_path, "vids/a.mp4", "vids/b.mp4")
    with pytest.raises(datasets.LabelError, match=r"lines 3 and 4: duplicate rows for \./vids/b\.mp4"):
        datasets.discover(str(tmp_path), _manifest(tmp_path, "vids/a.mp4,real,\nvids/b.mp4,fake,\n"
                                                             "./vids/b.mp4,fake,\n"))
    with pytest.raises(datasets.LabelError, match=r"lines 2 and 4: conflicting labels for vids/x/\.\./a\.mp4"):
        datasets.discover(str(tmp_path), _manifest(tmp_path, "vids/a.mp4,real,\nvids/b.mp4,fake,\n"
                                                             "vids/x/../a.mp4,fake,\n"))


def test_csv_split_names_are_checked(tmp_path: Path):
    touch(tmp_path, "a.mp4", "b.mp4", "c.mp4", "d.mp4")
    items = by_id(datasets.discover(str(tmp_path), _manifest(
        tmp_path, "a.mp4,real,TEST\nb.mp4,fake,Val\nc.mp4,real,train\nd.mp4,fake,\n")))
    assert [items[k].split for k in "abcd"] == ["test", "eval", "train", ""]
    with pytest.raises(datasets.LabelError) as e:
        datasets.discover(str(tmp_path), _manifest(tmp_path, "a.mp4,real,training\nb.mp4,fake,holdout\n"))
    msg = str(e.value)
    assert "line 2: unknown split 'training'" in msg and "line 3: unknown split 'holdout'" in msg and "\n" not in msg


def test_csv_paths_outside_the_input_root(tmp_path: Path):
    root = tmp_path / "root"
    touch(tmp_path, "root/in.mp4", "outside/o.mp4")
    spec = _manifest(root.parent, "root/in.mp4,real,\noutside/o.mp4,fake,\n")  # manifest beside root
    with pytest.raises(datasets.LabelError, match=r"line 3: outside/o\.mp4 is outside the input root"):
        datasets.discover(str(root), spec)
    (root / "m.csv").write_text(f"path,label\nin.mp4,real\n../outside/o.mp4,fake\n{tmp_path}/outside/o.mp4,1\n")
    with pytest.raises(datasets.LabelError, match="lines 3 and 4: duplicate rows"):
        datasets.discover(str(root), f"csv:{root / 'm.csv'}", allow_outside_root=True)
    (root / "m.csv").write_text("path,label\nin.mp4,real\n../outside/o.mp4,fake\n/etc/hostname,fake\n")
    with pytest.raises(datasets.LabelError, match=r"line 3: .*outside.*; line 4: /etc/hostname is outside"):
        datasets.discover(str(root), f"csv:{root / 'm.csv'}")
    items = datasets.discover(str(root), f"csv:{root / 'm.csv'}", allow_outside_root=True)
    assert sorted(it.video_id for it in items) == sorted(["in", "etc/hostname", str(tmp_path / "outside/o")[1:]])
    assert not any(it.video_id.startswith(("..", "/")) for it in items)


def test_two_videos_with_one_stem_get_distinct_ids(tmp_path: Path):
    touch(tmp_path, "real/dup.mp4", "real/dup.mov", "real/solo.mp4")
    items = datasets.discover(str(tmp_path), "folders")
    assert sorted(it.video_id for it in items) == ["real/dup.mov", "real/dup.mp4", "real/solo"]
    assert len({it.group_id for it in items}) == 2  # the two formats of one clip stay in one group


def test_broken_link_fails_before_it_takes_a_split(tmp_path: Path):
    touch(tmp_path, "real/a.mp4", "fake/b.mp4")
    (tmp_path / "real" / "gone.mp4").symlink_to(tmp_path / "nowhere.mp4")
    items = by_id(splits.assign_splits(datasets.discover(str(tmp_path), "folders"), 0.5))
    assert "does not exist" in items["real/gone"].error and items["real/gone"].split == ""
    assert {items["real/a"].split, items["fake/b"].split} == {"train", "eval"}


def test_dfdc_metadata_split_is_honoured_except_train(tmp_path: Path):
    touch(tmp_path, "p/a.mp4", "p/b.mp4", "p/c.mp4", "p/d.mp4")
    (tmp_path / "p" / "metadata.json").write_text(json.dumps({
        "a.mp4": {"label": "REAL", "split": "train"}, "b.mp4": {"label": "FAKE", "split": "test", "original": "c.mp4"},
        "c.mp4": {"label": "REAL", "split": "test"}, "d.mp4": {"label": "REAL", "split": "bogus"}}))
    items = by_id(datasets.discover(str(tmp_path), "dfdc"))
    assert items["p/a"].split == "" and items["p/b"].split == items["p/c"].split == "test"
    assert "unknown split 'bogus'" in items["p/d"].error
    assert datasets.output_splits(items.values()) == ["train", "eval", "test"]
    assert datasets.output_splits([items["p/a"]]) == ["train", "eval"]


# ---------------------------------------------------------------- splits on small data (issue 8)

def _groups(n: int, label: int, prefix: str) -> list:
    return [datasets.VideoItem(uri=f"/v/{prefix}{i}.mp4", video_id=f"{prefix}{i}", label=label,
                               group_id=f"{prefix}{i}") for i in range(n)]


def _split_of(items) -> dict[str, str]:
    return {it.group_id: it.split for it in items}


def test_eval_share_matches_the_fraction_on_small_data(shared_media: Path):
    reals = [p.stem for p in sorted((shared_media / "real_videos").glob("*.mp4"))]
    assert len(reals) == 34
    items = [datasets.VideoItem(uri=f"/v/{r}.mp4", video_id=r, label=REAL, group_id=r) for r in reals]
    plain = sum(splits._unit(r, "skyhawk") < 0.2 for r in reals)
    split = _split_of(splits.assign_splits(items, 0.2))
    assert 6 <= sum(s == "eval" for s in split.values()) <= 8, f"plain hash rule alone: {plain}"
    for n, f in ((5, 0.2), (10, 0.2), (34, 0.2), (34, 0.5), (100, 0.1)):
        for salt in ("a", "b", "c"):
            got = sum(s == "eval" for s in _split_of(splits.assign_splits(_groups(n, REAL, "g"), f, salt)).values())
            lo, hi = splits.eval_band(n, f)
            assert lo <= got <= hi and abs(got - f * n) <= max(1, 0.1 * f * n) + 0.5, (n, f, salt, got)


def test_eval_holds_both_classes():
    for salt in ("a", "b", "c", "d"):
        items = _groups(30, REAL, "r") + _groups(4, FAKE, "f")
        out = splits.assign_splits(items, 0.2, salt)
        assert {it.label for it in out if it.split == "eval"} == {REAL, FAKE}
        assert {it.label for it in out if it.split == "train"} == {REAL, FAKE}


def test_splits_stay_put_when_groups_are_added():
    # Large data: the plain per-group rule is inside the band before and after, so nothing moves.
    base, more = _groups(400, REAL, "g"), _groups(100, REAL, "h")
    for items in (base, base + more):
        plain = sum(splits._unit(it.group_id, "s0") < 0.25 for it in items)
        lo, hi = splits.eval_band(len(items), 0.25)
        assert lo <= plain <= hi  # precondition of this case
    before = _split_of(splits.assign_splits(base, 0.25, "s0"))
    after = _split_of(splits.assign_splits(base + more, 0.25, "s0"))
    assert all(after[g] == s for g, s in before.items())
    # Small data (the clamp is active): only boundary groups move, one way, exactly |k_old - k_new + b|.
    for salt in ("a", "b", "c", "d", "e"):
        small, extra = _groups(12, REAL, "g"), _groups(9, REAL, "n")
        before = _split_of(splits.assign_splits(small, 0.2, salt))
        after = _split_of(splits.assign_splits(small + extra, 0.2, salt))
        moved = {g: (before[g], after[g]) for g in before if before[g] != after[g]}
        assert len(set(moved.values())) <= 1  # all in the same direction
        k_old = sum(s == "eval" for s in before.values())
        k_new = sum(s == "eval" for s in after.values())
        b = sum(after[it.group_id] == "eval" for it in extra)
        assert len(moved) == abs(k_old - k_new + b)
        rank = sorted(before, key=lambda g: splits._unit(g, salt))
        evals = [g for g in rank if after[g] == "eval"]
        assert evals == rank[:len(evals)]  # old eval groups are still the lowest-ranked ones


def test_swap_donors_come_from_the_same_split_and_another_group():
    items = splits.assign_splits(_groups(20, REAL, "r") + _groups(3, FAKE, "f"), 0.2, "donors")
    by_uri = {it.uri: it for it in items}
    reals = [it for it in splits.assign_donors(items) if it.label == REAL]
    assert {it.split for it in reals} == {"train", "eval"}
    for it in reals:
        donor = by_uri[it.donor]
        assert donor.label == REAL and donor.group_id != it.group_id
        assert donor.split == it.split  # a train fake never shows an eval identity's face
    # a lone eval or test group borrows from train; a lone train item never borrows (extraction uses SBI)
    lone = [datasets.VideoItem(uri=f"/v/{n}.mp4", video_id=n, label=REAL, group_id=n, split=s)
            for n, s in (("a", "eval"), ("b", "train"), ("c", "test"))]
    assert [it.donor for it in splits.assign_donors(lone)] == ["/v/b.mp4", "", "/v/b.mp4"]
    two_eval = lone[:2] + [datasets.VideoItem(uri="/v/e.mp4", video_id="e", label=REAL, group_id="e", split="eval")]
    assert [it.donor for it in splits.assign_donors(two_eval)] == ["/v/e.mp4", "", "/v/a.mp4"]


def test_span_folders_are_span_n_without_leading_zeros(tmp_path: Path):
    """One span parser (retrain's pre-check and the pipeline's): ``span-N`` folders, empty ones too."""
    assert spans.list_spans(str(tmp_path / "missing")) == []
    for name in ("span-0", "span-2", "span-10", "notes"):
        (tmp_path / name).mkdir()
    (tmp_path / "span-10" / "a.mp4").write_bytes(b"\0")
    (tmp_path / "span-3.csv").write_text("a file is no span folder")
    assert spans.list_spans(str(tmp_path)) == [0, 2, 10]
    assert spans.span_number("span-7") == 7 and spans.span_number("videos") is None
    for bad in ("span-04", "span-x", "span--1", "span-1a"):
        with pytest.raises(ValueError, match=f"^{bad}: not a span folder"):
            spans.span_number(bad)
    (tmp_path / "span-04").mkdir()
    with pytest.raises(ValueError, match="^span-04: not a span folder"):
        spans.list_spans(str(tmp_path))


def test_composite_label_sources(tmp_path):
    """``folders:...;csv:FILE``: each source lists its own items; a relative manifest is under the root and only
    its own folder is checked for media it forgets; media elsewhere under the root (a dev set) is never listed."""
    for rel in ("real_videos/a.mp4", "fakes/fake/x.mp4", "fakes/real/y.mp4", "fakes/fake/forgotten.mp4",
                "dev_videos/fake/never.mp4"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    (tmp_path / "fakes" / "labels.csv").write_text("path,label,group\nfake/x.mp4,fake,g1\nreal/y.mp4,real,g1\n")
    items = {it.video_id: it for it in
             datasets.discover(str(tmp_path), "folders:real_videos=real ; csv:fakes/labels.csv")}
    assert set(items) == {"real_videos/a", "fakes/fake/x", "fakes/real/y", "fakes/fake/forgotten"}
    assert (items["real_videos/a"].label, items["fakes/fake/x"].label, items["fakes/real/y"].label) == (0, 1, 0)
    assert items["fakes/fake/x"].group_id == items["fakes/real/y"].group_id == "g1"
    assert "not listed in the manifest" in items["fakes/fake/forgotten"].error
    with pytest.raises(datasets.LabelError, match="a source of a ';'-joined list"):
        datasets.discover(str(tmp_path), "folders:real_videos=real;ffpp")


# ---------------------------------------------------------------- LabelSpec (skyhawk.labels): parsed once, one rule

def test_label_spec_parses_every_mode_once():
    from skyhawk.labels import LabelSource, LabelSpec

    spec = LabelSpec.parse("folders:real_videos=real,real_faces=real ; csv:train_fakes/labels.csv")
    assert spec.joined and spec.sources == (LabelSource("folders", "real_videos=real,real_faces=real"),
                                            LabelSource("csv", "train_fakes/labels.csv"))
    assert spec.sources[0].folders == {"real_videos": REAL, "real_faces": REAL}
    assert spec.manifests == ["train_fakes/labels.csv"] and spec.lone_manifest == ""
    assert str(spec) == "folders:real_videos=real,real_faces=real;csv:train_fakes/labels.csv"
    for text in ("folders", "ffpp", "dfdc", "celebdf", "csv:m.csv", "folders:a=fake"):
        assert str(LabelSpec.parse(text)) == text and not LabelSpec.parse(text).joined
    assert LabelSpec.parse("csv:m.csv").lone_manifest == "m.csv"
    for bad, msg in (("", "labels must be"), ("mtcnn", "labels must be"), ("csv", "csv:FILE"),
                     ("csv:", "csv:FILE"), ("ffpp:x", "ffpp takes no argument"),
                     ("folders;csv:m.csv", "a source of a ';'-joined list"),
                     ("csv:m.csv;celebdf", "a source of a ';'-joined list"), ("folders:a", "SUBFOLDER=real"),
                     ("folders:a=real;csv:m.csv;folders:b=maybe", "unknown label")):
        with pytest.raises(datasets.LabelError, match=msg):
            LabelSpec.parse(bad)
        with pytest.raises(ConfigError, match=msg):  # config checks with the same parser and message
            ExtractConfig(labels=bad)


def test_relative_manifests_follow_one_rule(tmp_path: Path, monkeypatch):
    """A relative manifest is read from the input folder (the span's folder with spans); a lone csv:FILE outside
    spans is a path like any other: relative to the working directory (or a config's base)."""
    from skyhawk.labels import LabelSpec

    monkeypatch.chdir(tmp_path)
    joined = LabelSpec.parse("folders:r=real;csv:f/m.csv;csv:/abs/m.csv")
    assert joined.resolve("/in").manifests == ["/in/f/m.csv", "/abs/m.csv"]
    assert joined.resolve("/in/span-3", spans=True).manifests == ["/in/span-3/f/m.csv", "/abs/m.csv"]
    assert joined.resolve("gs://b/in").manifests == ["gs://b/in/f/m.csv", "/abs/m.csv"]
    lone = LabelSpec.parse("csv:f/m.csv")
    assert lone.resolve("/in").manifests == [str(tmp_path / "f" / "m.csv")]
    assert lone.resolve("/in", base="/cfg").manifests == ["/cfg/f/m.csv"]
    assert lone.resolve("/in/span-3", spans=True).manifests == ["/in/span-3/f/m.csv"]
    assert LabelSpec.parse("csv:gs://b/m.csv").resolve("/in").manifests == ["gs://b/m.csv"]
    # The config applies the same rule: loading makes only a lone manifest absolute (against its base) ...
    cfg = load(None, {"data_root": "in", "extract.labels": "csv:f/m.csv"}, base="/cfg")
    assert cfg.extract.labels == "csv:/cfg/f/m.csv"
    joined_cfg = load(None, {"data_root": "in", "extract.labels": str(joined)}, base="/cfg")
    assert joined_cfg.extract.labels == str(joined)  # ... a joined spec is read under data_root, at run time


def test_a_lone_manifest_and_a_joined_one_list_the_same_videos(tmp_path: Path, monkeypatch):
    """discover resolves by the rule: csv:FILE from the working dir, the same file joined with ';' under root."""
    touch(tmp_path, "in/fakes/fake/x.mp4", "in/real_videos/a.mp4")
    (tmp_path / "in" / "fakes" / "labels.csv").write_text("path,label\nfake/x.mp4,fake\n")
    monkeypatch.chdir(tmp_path)
    lone = by_id(datasets.discover(str(tmp_path / "in"), "csv:in/fakes/labels.csv"))
    joined = by_id(datasets.discover(str(tmp_path / "in"), "folders:real_videos=real;csv:fakes/labels.csv"))
    assert lone["fakes/fake/x"].label == joined["fakes/fake/x"].label == FAKE
    assert "no label" in lone["real_videos/a"].error and joined["real_videos/a"].label == REAL
    with pytest.raises(datasets.LabelError, match=f"manifest not found: {tmp_path / 'in' / 'nope.csv'}"):
        datasets.discover(str(tmp_path / "in"), "folders:real_videos=real;csv:nope.csv")


def test_span_manifests_are_read_from_the_span_folder(tmp_path: Path):
    """With spans, a relative manifest (lone or joined) is the newest span's own: its test rows add a test split."""
    from components.example_gen import data_splits, span_labels

    touch(tmp_path, "span-1/a.mp4", "span-2/real/r.mp4", "span-2/f/b.mp4")
    (tmp_path / "span-1" / "m.csv").write_text("path,label\na.mp4,fake\n")
    (tmp_path / "span-2" / "f" / "m.csv").write_text("path,label,split\nb.mp4,fake,test\n")
    (tmp_path / "span-2" / "m.csv").write_text("path,label,split\nf/b.mp4,fake,test\nreal/r.mp4,real,\n")
    for labels in ("csv:m.csv", "folders:real=real;csv:f/m.csv"):
        cfg = ExtractConfig(labels=labels)
        assert data_splits(str(tmp_path), cfg, use_spans=True) == ["train", "eval", "test"]
        assert str(tmp_path / "span-2") in span_labels(cfg, str(tmp_path / "span-2")).labels
    assert span_labels(ExtractConfig(labels="ffpp"), str(tmp_path)) == ExtractConfig(labels="ffpp")
