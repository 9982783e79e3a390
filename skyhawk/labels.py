"""Which videos there are, their labels, groups and splits: folders, CSV manifests, FF++, DFDC, Celeb-DF.

Every file with a video extension under the input root becomes exactly one ``VideoItem``; a video that
the label source does not cover gets an ``error`` instead of being dropped, so the extraction report
accounts for it.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import posixpath
import re
from dataclasses import dataclass, replace
from typing import Iterable

from skyhawk.config import VIDEO_EXTENSIONS
from skyhawk.features import FAKE, REAL

TRAIN, EVAL, TEST = "train", "eval", "test"


@dataclass(frozen=True)
class VideoItem:
    """One input video and what is known of it before decoding."""

    uri: str
    video_id: str  # path relative to the input root, without extension
    label: int = -1  # REAL, FAKE, or -1 when unknown (then error says why)
    group_id: str = ""
    split: str = ""  # forced split (e.g. a dataset's test list), else assigned by group hash
    method: str = "dataset"
    error: str = ""
    donor: str = ""  # for face-swap synthesis: a real video of another group to take the face from


class LabelError(ValueError):
    """The label source is missing or malformed (a one-line reason)."""


# ---------------------------------------------------------------- file system helpers

def _is_remote(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def join(root: str, *parts: str) -> str:
    return posixpath.join(root, *parts) if _is_remote(root) else os.path.join(root, *parts)


def list_files(root: str) -> list[str]:
    """All files below root (local or any Beam FileSystems scheme), sorted."""
    root = root.removeprefix("file://")
    if not _is_remote(root):
        if not os.path.isdir(root):
            raise LabelError(f"input is not a directory: {root}")
        out = []
        for d, dirs, files in os.walk(root):
            dirs.sort()
            out.extend(os.path.join(d, f) for f in files)
        return sorted(out)
    from apache_beam.io.filesystems import FileSystems

    result = FileSystems.match([root.rstrip("/") + "/**"])[0]
    return sorted(m.path for m in result.metadata_list)


def read_text(path: str) -> str:
    if not _is_remote(path):
        with open(path.removeprefix("file://"), encoding="utf-8") as f:
            return f.read()
    from apache_beam.io.filesystems import FileSystems

    with FileSystems.open(path) as f:
        return f.read().decode("utf-8")


def exists(path: str) -> bool:
    if not _is_remote(path):
        return os.path.exists(path.removeprefix("file://"))
    from apache_beam.io.filesystems import FileSystems

    return FileSystems.exists(path)


def _rel(root: str, path: str) -> str:
    root = root.removeprefix("file://").rstrip("/")
    path = path.removeprefix("file://")
    return path[len(root) + 1:] if path.startswith(root + "/") else os.path.basename(path)


def _stem(rel: str) -> str:
    return os.path.splitext(rel)[0]


def is_video(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in VIDEO_EXTENSIONS


# ---------------------------------------------------------------- adapters

def discover(root: str, labels: str) -> list[VideoItem]:
    """The labelled video items under root for a label mode (folders|csv:FILE|ffpp|dfdc|celebdf)."""
    mode, _, arg = labels.partition(":")
    if mode == "csv":
        return _from_csv(root, arg)
    videos = [p for p in list_files(root) if is_video(p)]
    adapter = {"folders": _folders, "ffpp": _ffpp, "dfdc": _dfdc, "celebdf": _celebdf}.get(mode)
    if adapter is None:
        raise LabelError(f"unknown label mode {labels!r}")
    return adapter(root, videos)


def _item(root: str, path: str, **kw) -> VideoItem:
    vid = _stem(_rel(root, path))
    kw.setdefault("group_id", vid)
    return VideoItem(uri=path, video_id=vid, **kw)


def _folders(root: str, videos: list[str]) -> list[VideoItem]:
    out = []
    for p in videos:
        parts = [s.lower() for s in _rel(root, p).split("/")[:-1]]
        if "fake" in parts:
            out.append(_item(root, p, label=FAKE))
        elif "real" in parts:
            out.append(_item(root, p, label=REAL))
        else:
            out.append(_item(root, p, error="no label: not under a real/ or fake/ folder"))
    return out


def _parse_label(value: str) -> int:
    v = value.strip().lower()
    if v in ("0", "real", "original", "pristine"):
        return REAL
    if v in ("1", "fake", "manipulated", "synthetic"):
        return FAKE
    raise LabelError(f"unknown label {value!r} (use real|fake|0|1)")


def _from_csv(root: str, manifest: str) -> list[VideoItem]:
    """A manifest ``path,label[,group][,split][,method]``; paths are relative to the manifest's folder."""
    if not manifest:
        raise LabelError("labels=csv needs a manifest: csv:FILE")
    if not exists(manifest):
        raise LabelError(f"manifest not found: {manifest}")
    base = posixpath.dirname(manifest) if _is_remote(manifest) else os.path.dirname(os.path.abspath(manifest))
    rows = list(csv.DictReader(io.StringIO(read_text(manifest))))
    if rows and not {"path", "label"} <= set(rows[0]):
        raise LabelError(f"{manifest}: needs a header with at least path,label")
    out = []
    listed = set()
    for n, row in enumerate(rows, start=2):
        rel = (row.get("path") or "").strip()
        uri = rel if ("://" in rel or os.path.isabs(rel)) else join(base, rel)
        listed.add(uri)
        vid = _stem(_rel(root, uri)) if uri.startswith(root.rstrip("/") + "/") else _stem(rel)
        try:
            label = _parse_label(row.get("label") or "")
            err = "" if exists(uri) else "file listed in manifest does not exist"
        except LabelError as e:
            label, err = -1, f"manifest line {n}: {e}"
        split = (row.get("split") or "").strip().lower()
        out.append(VideoItem(
            uri=uri, video_id=vid, label=label, group_id=(row.get("group") or "").strip() or vid,
            split={"val": EVAL, "validation": EVAL}.get(split, split),
            method=(row.get("method") or "").strip() or ("real" if label == REAL else "dataset"), error=err,
        ))
    if not _is_remote(root) and os.path.isdir(root):
        for p in list_files(root):  # videos in the input folder that the manifest forgot
            if is_video(p) and p not in listed and os.path.abspath(p) not in listed:
                out.append(_item(root, p, error="no label: not listed in the manifest"))
    return out


_FFPP_REAL = re.compile(r"(^|/)original_sequences/(?P<kind>[^/]+)/[^/]+/videos/(?P<name>[^/]+)$")
_FFPP_FAKE = re.compile(r"(^|/)manipulated_sequences/(?P<method>[^/]+)/[^/]+/videos/(?P<name>[^/]+)$")


def _ffpp_group(name: str, actors: bool) -> str:
    """FF++ groups: a youtube video NNN / a fake TTT_SSS follow target NNN; DFD follows the actor id."""
    stem = _stem(name)
    if actors or "__" in stem:
        return "ffpp-actor:" + stem.split("_")[0]
    return "ffpp:" + stem.split("_")[0]


def _ffpp(root: str, videos: list[str]) -> list[VideoItem]:
    splits = _ffpp_splits(root)
    out = []
    for p in videos:
        rel = _rel(root, p)
        m_real, m_fake = _FFPP_REAL.search(rel), _FFPP_FAKE.search(rel)
        if m_real:
            g = _ffpp_group(m_real["name"], m_real["kind"] == "actors")
            out.append(_item(root, p, label=REAL, group_id=g, method="real", split=splits.get(g, "")))
        elif m_fake:
            g = _ffpp_group(m_fake["name"], m_fake["method"] == "DeepFakeDetection")
            out.append(_item(root, p, label=FAKE, group_id=g, method=m_fake["method"], split=splits.get(g, "")))
        else:
            out.append(_item(root, p, error="no label: not in a FaceForensics++ videos/ folder"))
    return out


def _ffpp_splits(root: str) -> dict[str, str]:
    """Official FF++ split files (splits/{train,val,test}.json: lists of [target, source]) if present."""
    out: dict[str, str] = {}
    for fname, split in (("train.json", TRAIN), ("val.json", EVAL), ("test.json", TEST)):
        path = join(root, "splits", fname)
        if exists(path):
            try:
                pairs = json.loads(read_text(path))
            except json.JSONDecodeError as e:
                raise LabelError(f"{path}: not valid JSON: {e}") from e
            for pair in pairs:
                for vid in pair:
                    out["ffpp:" + str(vid)] = split
    return out


def _dfdc(root: str, videos: list[str]) -> list[VideoItem]:
    meta: dict[str, dict] = {}
    for p in list_files(root):
        if posixpath.basename(p) == "metadata.json":
            folder = _rel(root, p)[: -len("metadata.json")]
            try:
                entries = json.loads(read_text(p))
            except json.JSONDecodeError as e:
                raise LabelError(f"{p}: not valid JSON: {e}") from e
            for name, info in entries.items():
                meta[folder + name] = info
    out = []
    for p in videos:
        rel = _rel(root, p)
        info = meta.get(rel)
        if info is None:
            out.append(_item(root, p, error="no label: not listed in a DFDC metadata.json"))
            continue
        folder = rel.rsplit("/", 1)[0] + "/" if "/" in rel else ""
        try:
            label = _parse_label(str(info.get("label", "")))
        except LabelError as e:
            out.append(_item(root, p, error=f"metadata.json: {e}"))
            continue
        source = info.get("original") or posixpath.basename(rel)
        out.append(_item(root, p, label=label, group_id="dfdc:" + _stem(folder + source),
                         method="real" if label == REAL else "dataset"))
    return out


def _celebdf(root: str, videos: list[str]) -> list[VideoItem]:
    test: set[str] = set()
    listing = join(root, "List_of_testing_videos.txt")
    if exists(listing):
        for line in read_text(listing).splitlines():
            parts = line.split()
            if len(parts) == 2:
                test.add(parts[1])
    out = []
    for p in videos:
        rel = _rel(root, p)
        folder, name = (rel.rsplit("/", 1) + [""])[:2] if "/" in rel else ("", rel)
        stem = _stem(name)
        if folder.endswith("Celeb-real"):
            item = _item(root, p, label=REAL, group_id="celeb:" + stem, method="real")
        elif folder.endswith("YouTube-real"):
            item = _item(root, p, label=REAL, group_id="youtube:" + stem, method="real")
        elif folder.endswith("Celeb-synthesis"):
            parts = stem.split("_")  # idT_idS_NNNN: target idT's video NNNN with idS's face
            target = f"{parts[0]}_{parts[-1]}" if len(parts) >= 3 else stem
            item = _item(root, p, label=FAKE, group_id="celeb:" + target)
        else:
            item = _item(root, p, error="no label: not in Celeb-real/, YouTube-real/ or Celeb-synthesis/")
        out.append(replace(item, split=TEST) if rel in test else item)
    return out


# ---------------------------------------------------------------- splits

def _unit(group: str, salt: str) -> float:
    digest = hashlib.sha256(f"{salt}:{group}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_splits(items: Iterable[VideoItem], eval_fraction: float, salt: str = "skyhawk") -> list[VideoItem]:
    """Gives every labelled item a split so that no group spans two splits.

    A group with a forced split (a dataset's own test list) takes it for all its members. The rest go
    to eval when hash(salt, group) < eval_fraction, else train: stable as data is added. With at least
    two free groups, neither train nor eval is left empty.
    """
    items = list(items)
    forced: dict[str, str] = {}
    for it in items:
        if it.split and not it.error:
            if forced.get(it.group_id, it.split) != it.split:
                forced[it.group_id] = TEST if TEST in (it.split, forced[it.group_id]) else it.split
            else:
                forced[it.group_id] = it.split
    free = sorted({it.group_id for it in items if not it.error and it.group_id not in forced},
                  key=lambda g: _unit(g, salt))
    chosen = {g: (EVAL if _unit(g, salt) < eval_fraction else TRAIN) for g in free}
    if len(free) >= 2:
        if EVAL not in chosen.values():
            chosen[free[0]] = EVAL
        if TRAIN not in chosen.values():
            chosen[free[-1]] = TRAIN
    chosen.update(forced)
    return [it if it.error else replace(it, split=chosen[it.group_id]) for it in items]


def assign_donors(items: Iterable[VideoItem]) -> list[VideoItem]:
    """Gives each real item the next real item (sorted by id) of another group as its swap donor."""
    items = list(items)
    reals = sorted((it for it in items if it.label == REAL and not it.error), key=lambda it: it.video_id)
    donors = {}
    for i, it in enumerate(reals):
        ring = reals[i + 1:] + reals[:i]
        donors[it.video_id] = next((r.uri for r in ring if r.group_id != it.group_id), "")
    return [replace(it, donor=donors[it.video_id]) if it.video_id in donors else it for it in items]


def split_names(items: Iterable[VideoItem]) -> list[str]:
    """The splits present, in train, eval, test order."""
    present = {it.split for it in items if not it.error}
    return [s for s in (TRAIN, EVAL, TEST) if s in present]


def find(items: Iterable[VideoItem], video_id: str) -> VideoItem | None:
    return next((it for it in items if it.video_id == video_id), None)
