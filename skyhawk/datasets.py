"""Which videos there are, their labels, groups and splits: folders, CSV manifests, FF++, DFDC, Celeb-DF.

Every file with a video extension under the input root becomes exactly one ``VideoItem`` with a unique
``video_id``; a video that the label source does not cover (or that does not exist) gets an ``error``
instead of being dropped, so the extraction report accounts for it. A malformed label source (duplicate
or conflicting manifest rows, unknown split names, paths outside the input root) is a ``LabelError``
that stops the run before any video is decoded.

The split names (``SPLITS``, ``parse_split``) and the output splits a dataset needs (``output_splits``),
which both ``skyhawk extract`` and the TFX ``FaceExampleGen`` declare, live here; the group -> split
assignment and the swap donors in ``skyhawk.splits``; the ``span-N`` folders in ``skyhawk.spans``.
"""
from __future__ import annotations

import csv
import io
import json
import os
import posixpath
import re
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Iterable

from skyhawk import fileio
from skyhawk.config import MEDIA_EXTENSIONS
from skyhawk.features import FAKE, REAL
from skyhawk.labels import LabelError, LabelSource, LabelSpec, parse_label  # noqa: F401  (LabelError: re-exported)

TRAIN, EVAL, TEST = "train", "eval", "test"
SPLITS = (TRAIN, EVAL, TEST)
_SPLIT_NAMES = {"train": TRAIN, "eval": EVAL, "val": EVAL, "validation": EVAL, "test": TEST}


@dataclass(frozen=True)
class VideoItem:
    """One input video and what is known of it before decoding."""

    uri: str
    video_id: str  # path relative to the input root, without extension (with it when two files share a stem)
    label: int = -1  # REAL, FAKE, or -1 when unknown (then error says why)
    group_id: str = ""
    split: str = ""  # forced split (e.g. a dataset's test list), else assigned by group hash
    method: str = "dataset"
    error: str = ""
    donor: str = ""  # for face-swap synthesis: a real video of another group to take the face from
    source: str = ""  # where the video comes from (a manifest's source/source_repo column), for reports


def parse_split(value: str) -> str:
    """A split name, case-insensitive: train | eval (val, validation) | test; else LabelError."""
    split = _SPLIT_NAMES.get(value.strip().lower())
    if split is None:
        raise LabelError(f"unknown split {value.strip()!r} (use train|eval|test)")
    return split


def output_splits(items: Iterable[VideoItem]) -> list[str]:
    """The splits a dataset's examples go to: train and eval always, test when an item is forced there."""
    return [TRAIN, EVAL] + ([TEST] if any(it.split == TEST and not it.error for it in items) else [])


# ---------------------------------------------------------------- paths

def _under(root: str, path: str) -> str | None:
    """path relative to root with '/' separators, or None when path is outside root."""
    try:
        return fileio.relpath(fileio.normpath(path), fileio.normpath(root)) or None
    except ValueError:
        return None


def _stem(rel: str) -> str:
    return os.path.splitext(rel)[0]


def is_media(path: str) -> bool:
    """A video, or a photo (a one-frame item: same crop, same label rules)."""
    return os.path.splitext(path)[1].lower() in MEDIA_EXTENSIONS


# ---------------------------------------------------------------- adapters

def discover(root: str, labels: str | LabelSpec, allow_outside_root: bool = False) -> list[VideoItem]:
    """The labelled video items under root for a label spec (``skyhawk.labels``: folders|folders:SUB=LABEL,...|
    csv:FILE|ffpp|dfdc|celebdf, or ``folders:SUB=LABEL,...`` and ``csv:FILE`` sources joined by ';'), its
    relative manifests resolved by ``LabelSpec.resolve`` (under root; a lone ``csv:FILE``: the working dir).

    A CSV manifest may list files outside root only with allow_outside_root. ``folders:SUB=LABEL,...``
    takes only the media under the named subfolders of root, each with its label (see ``_chosen_folders``).
    """
    spec = (labels if isinstance(labels, LabelSpec) else LabelSpec.parse(labels)).resolve(root)
    if spec.joined:
        return _unique_ids([it for source in spec.sources for it in _source(root, source, allow_outside_root)])
    source = spec.sources[0]
    if source.mode == "csv":
        return _unique_ids(_from_csv(root, source.manifest, allow_outside_root))
    if source.folders:
        return _unique_ids(_chosen_folders(root, source))
    adapter = {"folders": _folders, "ffpp": _ffpp, "dfdc": _dfdc, "celebdf": _celebdf}[source.mode]
    if not fileio.isdir(root):
        raise LabelError(f"input is not a directory: {root}")
    files = fileio.list_files(root)
    return _unique_ids(adapter(root, [p for p in files if is_media(p)], files))


def _source(root: str, source: LabelSource, allow_outside_root: bool) -> list[VideoItem]:
    """One source of a joined label spec: ``folders:SUB=LABEL,...`` or ``csv:FILE`` (resolved; only the
    manifest's own folder is checked for media it does not list)."""
    if source.manifest:
        folder = (posixpath if fileio.is_remote(source.manifest) else os.path).dirname(source.manifest)
        return _from_csv(root, source.manifest, allow_outside_root, scan=folder)
    return _chosen_folders(root, source)


def _item(root: str, path: str, **kw) -> VideoItem:
    vid = _stem(_under(root, path) or os.path.basename(path))
    kw.setdefault("group_id", vid)
    if not kw.get("error") and not fileio.is_remote(path) and not fileio.exists(path):  # listed, so remote exists
        kw.update(error="file does not exist (a broken link?)", label=-1)
    return VideoItem(uri=path, video_id=vid, **kw)


def _unique_ids(items: list[VideoItem]) -> list[VideoItem]:
    """Files that share an id (``dup.mp4`` and ``dup.mov``) keep their extension in it."""
    count: dict[str, int] = defaultdict(int)
    for it in items:
        count[it.video_id] += 1
    out = []
    for it in items:
        if count[it.video_id] > 1:
            it = replace(it, video_id=it.video_id + os.path.splitext(it.uri)[1])
        out.append(it)
    seen: set[str] = set()
    for it in out:  # the same file listed twice is rejected earlier; this is a programming error
        if it.video_id in seen:
            raise LabelError(f"two inputs with the same id {it.video_id!r}")
        seen.add(it.video_id)
    return out


def _folders(root: str, videos: list[str], _files: list[str]) -> list[VideoItem]:
    out = []
    for p in videos:
        parts = [s.lower() for s in (_under(root, p) or "").split("/")[:-1]]
        if "fake" in parts:
            out.append(_item(root, p, label=FAKE))
        elif "real" in parts:
            out.append(_item(root, p, label=REAL))
        else:
            out.append(_item(root, p, error="no label: not under a real/ or fake/ folder"))
    return out


def _chosen_folders(root: str, source: LabelSource) -> list[VideoItem]:
    """Only the media under the named subfolders of root, each with the folder's label; nothing else
    under root is listed (e.g. ``folders:real_videos=real,real_faces=real`` over a media folder that
    also holds a held-out dev set). A named folder that does not exist is a LabelError."""
    chosen, arg = source.folders, source.arg
    if not fileio.isdir(root):
        raise LabelError(f"input is not a directory: {root}")
    out = []
    for sub, label in sorted(chosen.items()):
        folder = fileio.join(root, sub)
        if not fileio.isdir(folder):
            raise LabelError(f"labels folders:{arg}: no folder {sub} under {root}")
        out.extend(_item(root, p, label=label, method="real" if label == REAL else "dataset")
                   for p in fileio.list_files(folder) if is_media(p))
    return out


def _from_csv(root: str, manifest: str, allow_outside_root: bool, scan: str | None = None) -> list[VideoItem]:
    """A manifest ``path,label[,group][,split][,method][,source|source_repo]``; paths are relative to the
    manifest's folder.

    Paths are normalised; a file listed twice, an unknown split name and (without allow_outside_root)
    a path outside root are errors naming the manifest lines. A row with an unknown label or a missing
    file becomes an item with an error.
    """
    if not manifest:
        raise LabelError("labels=csv needs a manifest: csv:FILE")
    if not fileio.isfile(manifest):
        raise LabelError(f"manifest not found: {manifest}")
    base = posixpath.dirname(manifest) if fileio.is_remote(manifest) else os.path.dirname(os.path.abspath(manifest))
    rows = list(csv.DictReader(io.StringIO(fileio.read_bytes(manifest).decode("utf-8-sig"))))  # a BOM is no header
    if rows and not {"path", "label"} <= set(rows[0]):
        raise LabelError(f"{manifest}: needs a header with at least path,label")
    problems: list[str] = []
    first_line: dict[str, tuple[int, object]] = {}
    out = []
    for n, row in enumerate(rows, start=2):
        rel = (row.get("path") or "").strip()
        if not rel:
            problems.append(f"line {n}: empty path")
            continue
        uri = fileio.normpath(rel if (fileio.is_remote(rel) or os.path.isabs(rel)) else fileio.join(base, rel))
        try:
            label_key: object = parse_label(row.get("label") or "")
        except LabelError:
            label_key = (row.get("label") or "").strip().lower()
        if uri in first_line:
            other, other_label = first_line[uri]
            kind = "conflicting labels for" if other_label != label_key else "duplicate rows for"
            problems.append(f"lines {other} and {n}: {kind} {rel}")
            continue
        first_line[uri] = (n, label_key)
        try:
            split = parse_split(row["split"]) if (row.get("split") or "").strip() else ""
        except LabelError as e:
            problems.append(f"line {n}: {e}")
            continue
        inside = _under(root, uri)
        if inside is None and not allow_outside_root:
            problems.append(f"line {n}: {rel} is outside the input root {root} (allow with --allow-outside-root)")
            continue
        vid = _stem(inside if inside is not None else fileio.without_scheme(uri).lstrip("/"))
        try:
            label = parse_label(row.get("label") or "")
            err = "" if fileio.isfile(uri) else "file listed in manifest does not exist"
        except LabelError as e:
            label, err = -1, f"manifest line {n}: {e}"
        out.append(VideoItem(
            uri=uri, video_id=vid, label=label, group_id=(row.get("group") or "").strip() or vid, split=split,
            method=(row.get("method") or "").strip() or ("real" if label == REAL else "dataset"), error=err,
            source=(row.get("source") or row.get("source_repo") or "").strip(),
        ))
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise LabelError(f"manifest {manifest}: " + "; ".join(problems[:5]) + more)
    scan = scan or root
    if fileio.isdir(scan):
        for p in fileio.list_files(scan):  # videos in the input folder that the manifest forgot
            if is_media(p) and fileio.normpath(p) not in first_line:
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


def _ffpp(root: str, videos: list[str], _files: list[str]) -> list[VideoItem]:
    splits = _ffpp_splits(root)
    out = []
    for p in videos:
        rel = _under(root, p) or ""
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
        path = fileio.join(root, "splits", fname)
        if fileio.isfile(path):
            try:
                pairs = json.loads(fileio.read_text(path))
            except json.JSONDecodeError as e:
                raise LabelError(f"{path}: not valid JSON: {e}") from e
            for pair in pairs:
                for vid in pair:
                    out["ffpp:" + str(vid)] = split
    return out


def _dfdc(root: str, videos: list[str], files: list[str]) -> list[VideoItem]:
    """DFDC ``metadata.json`` files: label, source video (group) and split.

    A ``split`` of eval/val/test is honoured as a forced split. ``train`` is not: every video of the
    public DFDC training set says ``train``, so forcing it would leave no eval split; those groups are
    assigned by ``assign_splits`` like any other.
    """
    meta: dict[str, dict] = {}
    for p in files:
        if posixpath.basename(p.replace(os.sep, "/")) == "metadata.json":
            folder = (_under(root, p) or "")[: -len("metadata.json")]
            try:
                entries = json.loads(fileio.read_text(p))
            except json.JSONDecodeError as e:
                raise LabelError(f"{p}: not valid JSON: {e}") from e
            for name, info in entries.items():
                meta[folder + name] = info
    out = []
    for p in videos:
        rel = _under(root, p) or ""
        info = meta.get(rel)
        if info is None:
            out.append(_item(root, p, error="no label: not listed in a DFDC metadata.json"))
            continue
        folder = rel.rsplit("/", 1)[0] + "/" if "/" in rel else ""
        try:
            label = parse_label(str(info.get("label", "")))
            split = parse_split(str(info["split"])) if info.get("split") else ""
        except LabelError as e:
            out.append(_item(root, p, error=f"metadata.json: {e}"))
            continue
        source = info.get("original") or posixpath.basename(rel)
        out.append(_item(root, p, label=label, group_id="dfdc:" + _stem(folder + source),
                         split="" if split == TRAIN else split, method="real" if label == REAL else "dataset"))
    return out


def _celebdf(root: str, videos: list[str], _files: list[str]) -> list[VideoItem]:
    test: set[str] = set()
    listing = fileio.join(root, "List_of_testing_videos.txt")
    if fileio.isfile(listing):
        for line in fileio.read_text(listing).splitlines():
            parts = line.split()
            if len(parts) == 2:
                test.add(parts[1])
    out = []
    for p in videos:
        rel = _under(root, p) or ""
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
