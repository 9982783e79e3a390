"""Versioned model registry in TF Serving layout, on a local path or any Beam filesystem (gs:// ...).

Layout (see docs/registry.md)::

    REGISTRY/
      models.config                  TF Serving model_config_list, rewritten on every change
      <model_name>/
        1/                           a published version: SavedModel files + metadata.json
          saved_model.pb  fingerprint.pb  variables/...  assets/...
          metadata.json              written last; a version exists only if this file does
        2/ ...
        serving.json                 the pin (absent = serve the latest published version)
        .staging/<uuid>/             uploads in progress (ignored by readers and by TF Serving)
        .claims/<N>                  create-if-absent marker reserving version N (never reused)

A version is *usable* when its SavedModel graph is readable (``artifact.saved_model_problem``); listings carry
``usable``/``problem``, and pin, models.config and model resolution refuse an unusable version with one line.

All I/O goes through ``skyhawk.fileio``, and one publish algorithm serves every scheme: stage, claim the
next version number with ``fileio.create_if_absent``, then ``fileio.move_tree`` the staged folder into place
(each backend makes those steps as atomic as its store allows: see docs/registry.md).
"""
from __future__ import annotations

import json
import logging
import os
import uuid
from typing import Any, Mapping

from skyhawk import artifact, fileio
from skyhawk.config import NAME_RE
from skyhawk.fileio import use_emulator_credentials  # noqa: F401  (re-exported: infra/gcs_emulator.py uses it)
from skyhawk.registry_layout import (  # noqa: F401  (RegistryError, MODELS_CONFIG, finite_or_none: re-exported)
    CHECK_FIELDS,
    CLAIMS,
    METADATA,
    MODELS_CONFIG,
    REGISTRY_FIELDS,
    SERVING,
    STAGING,
    RegistryError,
    VersionRecord,
    dumps,
    finite_or_none,
    now,
)
from skyhawk.registry_serving import Serving

logger = logging.getLogger(__name__)

_ATTEMPTS = 1000  # version numbers tried before a publish gives up


def read_record(path: str) -> VersionRecord | None:
    """The record in the registry metadata file ``path``, None when there is none; RegistryError (one line) when it
    is unreadable (not JSON, not an object, a typed field of the wrong type). The one reader of ``metadata.json``."""
    try:
        return VersionRecord.from_json(json.loads(fileio.read_bytes(path)))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise RegistryError(f"unreadable registry metadata {path}: {e}") from None


def record_in(folder: str) -> VersionRecord | None:
    """The record of the registry version folder ``folder`` (e.g. one a model reference names directly), None
    when the folder holds none; RegistryError (one line) when it is unreadable."""
    return read_record(fileio.join(folder, METADATA))


class Registry(Serving):
    """A registry rooted at ``root`` (a local directory, ``gs://bucket/prefix`` or another Beam filesystem URI)."""

    def __init__(self, root: str):
        if not root:
            raise RegistryError("registry root is empty")
        self.root = fileio.normpath(root)

    # --- paths
    def _join(self, *parts: str) -> str:
        return fileio.join(self.root, *parts)

    def model_dir(self, model_name: str) -> str:
        return self._join(model_name)

    def version_dir(self, model_name: str, version: int) -> str:
        return self._join(model_name, str(int(version)))

    def _rel(self, path: str) -> list[str]:
        """Path components of ``path`` below the registry root."""
        try:
            return fileio.relpath(path, self.root).split("/")
        except ValueError:
            return []

    def _glob(self, *parts: str) -> list[str]:
        return fileio.glob(self._join(*parts))

    def exists(self) -> bool:
        """True when the registry root is a folder (or a non-empty prefix)."""
        return fileio.isdir(self.root)

    @staticmethod
    def _check_name(model_name: str) -> None:
        if not isinstance(model_name, str) or not NAME_RE.fullmatch(model_name):
            raise RegistryError(f"invalid model name {model_name!r} (use letters, digits, '.', '_', '-')")

    # --- readers
    def models(self) -> list[str]:
        """Names of models with at least one published version whose metadata is readable."""
        return list(self._listing())

    def _scan(self, model_name: str = "*") -> dict[str, dict[int, str]]:
        """{model: {version: its metadata.json}} of every version folder holding one (of ``model_name``, or of
        every model): one listing, no file read."""
        found: dict[str, dict[int, str]] = {}
        for p in self._glob(model_name, "*", METADATA):
            rel = self._rel(p)
            if len(rel) == 3 and rel[1].isdigit() and NAME_RE.fullmatch(rel[0]):
                found.setdefault(rel[0], {})[int(rel[1])] = p
        return found

    def _listing(self) -> dict[str, dict[int, VersionRecord]]:
        """{model: {version: record}} of every model with a readable published version, sorted by name: one
        listing of the registry and one read of each metadata.json."""
        listing = {name: self._records(name, paths) for name, paths in sorted(self._scan().items())}
        return {name: published for name, published in listing.items() if published}

    def _published(self, model_name: str) -> dict[int, VersionRecord]:
        self._check_name(model_name)
        return self._records(model_name, self._scan(model_name).get(model_name, {}))

    def _records(self, model_name: str, paths: dict[int, str]) -> dict[int, VersionRecord]:
        """{version: record} of the metadata files ``paths`` ({version: path}); an unreadable one is skipped with
        a warning."""
        out: dict[int, VersionRecord] = {}
        for v, path in sorted(paths.items()):
            try:
                record = read_record(path)
            except RegistryError as e:
                logger.warning("ignoring %s@%d: %s", model_name, v, e)
                continue
            if record is None:  # removed since the listing
                continue
            record.uri, record.version = self.version_dir(model_name, v), v  # where it is, whatever it says
            out[v] = record
        return out

    def _require(self, model_name: str) -> dict[int, VersionRecord]:
        published = self._published(model_name)
        if not published:
            known = ", ".join(self.models()) or "none"
            raise RegistryError(f"unknown model '{model_name}' in {self.root} (known: {known})")
        return published

    def versions(self, model_name: str) -> list[VersionRecord]:
        """The record of every published version, ascending, each with ``usable`` (bool) and ``problem`` (why it
        cannot be served, or None)."""
        published = self._require(model_name)
        return [self._checked(published[v]) for v in sorted(published)]

    @staticmethod
    def _checked(record: VersionRecord) -> VersionRecord:
        """record with ``usable``/``problem`` from its version folder's SavedModel graph."""
        record.problem = artifact.saved_model_problem(record.uri)
        record.usable = record.problem is None
        return record

    @classmethod
    def _require_usable(cls, model_name: str, record: VersionRecord, action: str) -> None:
        if not cls._checked(record).usable:
            raise RegistryError(f"cannot {action} {model_name}@{record.version}: unusable version ({record.problem})")

    def _pin_bytes(self, model_name: str) -> bytes | None:
        """The raw ``serving.json`` of model_name, None when it is not pinned."""
        try:
            return fileio.read_bytes(self._join(model_name, SERVING))
        except FileNotFoundError:
            return None

    def _pin(self, model_name: str) -> dict | None:
        """The pin of model_name, None when not pinned."""
        return self._parse_pin(model_name, self._pin_bytes(model_name))

    def _parse_pin(self, model_name: str, raw: bytes | None) -> dict | None:
        """The pin in model_name's ``serving.json`` as read (``raw``; None: not pinned)."""
        if raw is None:
            return None
        try:
            pin = json.loads(raw)
            int(pin["version"])
            return pin
        except (ValueError, KeyError, TypeError) as e:
            raise RegistryError(f"corrupt pin file {self._join(model_name, SERVING)} ({type(e).__name__}: {e}); "
                                f"`skyhawk registry unpin {model_name}` removes it (then pin again)") from None

    def pinned(self, model_name: str) -> int | None:
        pin = self._pin(model_name)
        return int(pin["version"]) if pin else None

    def serving(self, model_name: str, published: dict[int, VersionRecord] | None = None) -> int | None:
        """The pinned version if pinned, else the latest published one (None if nothing is published);
        ``published``: a listing the caller already has (else the model's versions are listed)."""
        pin = self._pin(model_name)
        if pin is None and published is None:
            published = self._published(model_name)
        return self._serving_of(pin, published or {})

    @staticmethod
    def _serving_of(pin: dict | None, published: dict[int, VersionRecord]) -> int | None:
        """The serving version: the pin's, else the latest of the listing ``published`` (None when it is empty)."""
        if pin is not None:
            return int(pin["version"])
        return max(published) if published else None

    @staticmethod
    def _pick(model_name: str, published: dict[int, VersionRecord], version: int | None) -> VersionRecord:
        """The record of ``version`` in the listing ``published``; RegistryError when it is not there."""
        if version not in published:
            have = ", ".join(str(v) for v in sorted(published))
            raise RegistryError(f"unknown version {model_name}@{version} (published: {have})")
        return published[version]

    def show(self, model_name: str, version: int | None = None) -> VersionRecord:
        """The record of ``version`` (default: the serving version), with ``usable`` and ``problem``."""
        published = self._require(model_name)
        if version is None:  # from this listing, not a second one that may hold a version published since
            version = self.serving(model_name, published)
        return self._checked(self._pick(model_name, published, version))

    def download(self, model_name: str, version: int | None, dest_dir: str) -> str:
        """Copy a published version's files (SavedModel + metadata.json) to ``dest_dir``; returns ``dest_dir``."""
        record = self.show(model_name, version)
        src = record.uri
        for f in [*record.files, {"path": METADATA}]:
            fileio.copy_file(fileio.join(src, *f["path"].split("/")), fileio.join(dest_dir, *f["path"].split("/")))
        return dest_dir

    # --- publish
    def publish(self, model_name: str, saved_model_dir: str,
                record: VersionRecord | Mapping[str, Any]) -> VersionRecord:
        """Publish the SavedModel in ``saved_model_dir`` as the next version of ``model_name``.

        ``record``: what the publisher knows (threshold, image_size, backbone, blessed, config, extra; a plain
        dict's other keys become ``extra``). Returns the record written to ``<version>/metadata.json``, with what
        the registry sets (model_name, version, created_at, files, size_bytes, uri, and source unless given).
        Readers never see a partial version; concurrent publishers get distinct versions (see docs/registry.md
        for the limits on object stores other than gs://).
        """
        self._check_name(model_name)
        if not isinstance(record, Mapping):
            raise RegistryError("metadata must be a VersionRecord or a dict")
        owned = (*REGISTRY_FIELDS, *CHECK_FIELDS)
        if isinstance(record, VersionRecord):  # its own registry fields are simply replaced
            given: Mapping[str, Any] = {k: v for k, v in record.to_json().items() if k not in owned}
            clash = {k for k in record.extra if k in owned}
        else:
            given, clash = record, {k for k in owned if k in record and k != "uri"}
        if clash:
            logger.warning("publish: metadata keys %s are set by the registry; caller values ignored", sorted(clash))
        src = fileio.normpath(saved_model_dir)
        files = self._source_files(src)
        try:
            meta = VersionRecord.from_json({k: v for k, v in given.items() if k not in clash | {"uri"}})
        except ValueError as e:
            raise RegistryError(f"invalid metadata: {e}") from None
        meta.model_name, meta.created_at, meta.source = model_name, now(), meta.source or src
        meta.files = [{"path": rel, "size": size} for rel, _, size in files]
        meta.size_bytes = sum(size for _, _, size in files)
        try:
            dumps(meta.to_json())
        except (TypeError, ValueError) as e:
            raise RegistryError(f"metadata is not JSON-serializable: {e}") from e

        staging_root = self._join(model_name, STAGING)
        staging = fileio.join(staging_root, uuid.uuid4().hex)
        version = None
        try:
            with fileio.disk_full_names(self.model_dir(model_name)):  # a full registry disk names the registry
                for rel, path, _ in files:
                    fileio.copy_file(path, fileio.join(staging, *rel.split("/")))
                version = self._place(model_name, staging, meta, [rel for rel, _, _ in files])
        finally:
            if version is None:  # once placed, the staged folder is gone: move_tree renamed or deleted it
                self._delete_quietly(staging)
            fileio.prune_dir(staging_root)  # no empty .staging/ left behind (a publisher making it again retries)
        try:
            self.write_models_config()
        except Exception as e:  # the version is published; the derived config is refreshed by the next change
            logger.warning("published %s@%d but could not refresh %s: %s", model_name, version, MODELS_CONFIG, e)
        return meta

    def _source_files(self, src: str) -> list[tuple[str, str, int]]:
        """(relative path with '/', full path, size) of every file under ``src``; requires a SavedModel."""
        try:
            found = fileio.list_files(src)
        except Exception as e:
            raise RegistryError(f"cannot list SavedModel dir {src}: {e}") from e
        out = []
        for path in found:
            rel = fileio.relpath(path, src)
            if rel and not rel.endswith("/") and not rel.startswith("../"):
                out.append((rel, path, fileio.size(path)))
        out.sort()
        rels = {rel for rel, _, _ in out}
        if not rels & {"saved_model.pb", "saved_model.pbtxt"}:
            raise RegistryError(f"no SavedModel in {src} (saved_model.pb not found)")
        if METADATA in rels:  # e.g. promoting a version from another registry: ours replaces it
            logger.info("publish: not copying %s from %s; the registry writes its own", METADATA, src)
        return [f for f in out if f[0] != METADATA]

    def _next_candidate(self, model_name: str) -> int:
        """1 + the highest version number in use (a version folder, complete or not, or a claim)."""
        highest = 0
        for folder in (self.model_dir(model_name), self._join(model_name, CLAIMS)):
            try:
                names = fileio.listdir(folder)
            except FileNotFoundError:
                continue
            highest = max([highest, *(int(n) for n in names if n.isdigit())])
        return highest + 1

    def _claim(self, model_name: str) -> int:
        """Reserves the next free version number by creating ``.claims/<N>`` only if absent; returns N."""
        version = self._next_candidate(model_name)
        body = dumps({"claimed_at": now(), "host": os.uname().nodename, "pid": os.getpid()})
        for _ in range(_ATTEMPTS):
            if fileio.create_if_absent(self._join(model_name, CLAIMS, str(version)), body):
                return version
            version = max(version + 1, self._next_candidate(model_name))
        raise RegistryError(f"could not allocate a version for {model_name} after {_ATTEMPTS} attempts")

    def _place(self, model_name: str, staging: str, meta: VersionRecord, rels: list[str]) -> int:
        """Claims a version, writes its metadata.json into the staged folder and moves the folder into place;
        returns the version. The graph goes last among the model files and metadata.json (which makes the version
        visible to readers) after it, so where a move is file by file a reader never sees a partial version."""
        ordered = sorted(rels, key=lambda r: (r.startswith("saved_model."), r)) + [METADATA]
        for _ in range(_ATTEMPTS):
            version = self._claim(model_name)
            dest = self.version_dir(model_name, version)
            meta.version, meta.uri = version, dest
            fileio.write_bytes(fileio.join(staging, METADATA), dumps(meta.to_json()))
            try:
                fileio.move_tree(staging, dest, ordered)
                return version
            except FileExistsError:  # a folder not made by a claim holds that number: leave it, claim another
                continue
            except BaseException:
                self._delete_quietly(dest)  # the claim stays: version numbers are never reused
                raise
        raise RegistryError(f"could not allocate a version for {model_name} after {_ATTEMPTS} attempts")

    @staticmethod
    def _delete_quietly(path: str) -> None:
        try:
            fileio.remove(path, recursive=True)
        except Exception as e:
            logger.warning("could not clean up %s: %s", path, e)
