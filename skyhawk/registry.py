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
        .claims/<N>                  object stores only: create-if-absent marker reserving version N

All I/O goes through ``apache_beam.io.filesystems.FileSystems``; the only exceptions are the atomic steps
FileSystems cannot express: ``os.rename``/``os.replace`` on local paths and the create-if-absent
(``ifGenerationMatch=0``) version claim on gs://, made with the google-cloud-storage client Beam itself uses.
"""
from __future__ import annotations

import datetime as _dt
import errno
import json
import logging
import os
import re
import uuid
from typing import Any

logger = logging.getLogger(__name__)

METADATA = "metadata.json"
SERVING = "serving.json"
STAGING = ".staging"
CLAIMS = ".claims"
MODELS_CONFIG = "models.config"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_RAW = "uncompressed"  # CompressionTypes.UNCOMPRESSED: never let Beam (de)compress a file because of its extension
_CHUNK = 8 << 20
_ADDED_KEYS = ("model_name", "version", "created_at", "files", "size_bytes", "uri")


class _LazyFileSystems:
    """``apache_beam.io.filesystems.FileSystems``, imported on first use: importing Beam takes seconds, and the
    ``skyhawk`` CLI imports this module just to build its parser."""

    def __getattr__(self, name: str):
        from apache_beam.io.filesystems import FileSystems as fs

        globals()["FileSystems"] = fs
        return getattr(fs, name)


FileSystems: Any = _LazyFileSystems()


class RegistryError(Exception):
    """A user-facing registry error; the message is one line."""


def use_emulator_credentials() -> bool:
    """If STORAGE_EMULATOR_HOST is set, make Beam's gs:// filesystem use anonymous credentials right away.

    Beam's GcsIO resolves credentials with ``google.auth.default()`` before it builds the storage client and, with
    no Application Default Credentials, retries 4 times with exponential backoff (~25 s) before connecting
    anonymously; with real ADC it would hand real credentials to the emulator client, which then tries to refresh a
    token on the internet. No option or env var turns that off, so we settle Beam's (internal, process-wide)
    credential cache to "none" = anonymous. Only done when the emulator env var is set, which already sends all GCS
    traffic of this process to the emulator. Returns True if applied.
    """
    if not os.environ.get("STORAGE_EMULATOR_HOST"):
        return False
    try:
        from apache_beam.internal.gcp import auth

        cache = auth._Credentials
        with cache._credentials_lock:
            cache._credentials = None
            cache._credentials_init = True
        return True
    except (ImportError, AttributeError) as e:  # Beam changed its internals: fall back to the slow path
        logger.warning("could not preset anonymous GCS credentials for the emulator (%s); the first gs:// access "
                       "may take ~25 s while Beam looks for credentials", e)
        return False


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _json_default(o: Any) -> Any:
    if hasattr(o, "tolist"):  # numpy scalars and arrays
        return o.tolist()
    raise TypeError(f"{type(o).__name__} is not JSON-serializable")


def _dumps(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n").encode()


def _read(path: str) -> bytes:
    with FileSystems.open(path, compression_type=_RAW) as f:
        return f.read()


def _write(path: str, data: bytes) -> None:
    with FileSystems.create(path, compression_type=_RAW) as f:
        f.write(data)


def _copy_file(src: str, dst: str) -> None:
    with FileSystems.open(src, compression_type=_RAW) as fin, FileSystems.create(dst, compression_type=_RAW) as fout:
        while chunk := fin.read(_CHUNK):
            fout.write(chunk)


def _delete(path: str) -> None:
    """Delete a file, or a directory tree if ``path`` ends with '/' (or is a local directory); missing is fine.

    On gs:// objects are deleted one by one with Beam's GcsIO: ``FileSystems.delete`` uses the GCS batch endpoint,
    which fake-gcs-server does not implement ("Bad response: not multi-part").
    """
    scheme = FileSystems.get_scheme(path)
    if scheme is None:
        path = path.rstrip("/" + os.sep)
        if os.path.lexists(path):
            FileSystems.delete([path])
        return
    if path.endswith("/"):
        targets = [m.path for m in FileSystems.match([path + "**"])[0].metadata_list]
    else:
        targets = [path] if FileSystems.exists(path) else []
    if scheme == "gs":
        from apache_beam.io.gcp.gcsio import GcsIO

        gcs = GcsIO()
        for t in targets:
            gcs.delete(t)
    elif targets:
        FileSystems.delete(targets)


def _split_gs(path: str) -> tuple[str, str]:
    bucket, _, name = path[len("gs://"):].partition("/")
    return bucket, name


class Registry:
    """A registry rooted at ``root`` (a local directory, ``gs://bucket/prefix`` or another Beam filesystem URI)."""

    def __init__(self, root: str):
        if not root:
            raise RegistryError("registry root is empty")
        self.scheme = FileSystems.get_scheme(root)
        self.local = self.scheme is None
        self.root = os.path.abspath(root) if self.local else root.rstrip("/")
        if self.scheme == "gs":
            use_emulator_credentials()

    # --- paths
    def _join(self, *parts: str) -> str:
        return FileSystems.join(self.root, *parts)

    def model_dir(self, model_name: str) -> str:
        return self._join(model_name)

    def version_dir(self, model_name: str, version: int) -> str:
        return self._join(model_name, str(int(version)))

    def _rel(self, path: str) -> list[str]:
        """Path components of ``path`` below the registry root."""
        prefix = self.root.rstrip("/") + "/"
        if self.local:
            path = path.replace(os.sep, "/")
            prefix = prefix.replace(os.sep, "/")
        return path[len(prefix):].split("/") if path.startswith(prefix) else []

    def _glob(self, *parts: str) -> list[str]:
        pattern = self._join(*parts)
        return [m.path for m in FileSystems.match([pattern])[0].metadata_list]

    @staticmethod
    def _check_name(model_name: str) -> None:
        if not isinstance(model_name, str) or not _NAME_RE.match(model_name):
            raise RegistryError(f"invalid model name {model_name!r} (use letters, digits, '.', '_', '-')")

    # --- readers
    def models(self) -> list[str]:
        """Names of models with at least one published version."""
        names = set()
        for p in self._glob("*", "*", METADATA):
            rel = self._rel(p)
            if len(rel) == 3 and rel[1].isdigit() and not rel[0].startswith("."):
                names.add(rel[0])
        return sorted(names)

    def _published(self, model_name: str) -> dict[int, dict]:
        self._check_name(model_name)
        out: dict[int, dict] = {}
        for p in self._glob(model_name, "*", METADATA):
            rel = self._rel(p)
            if len(rel) != 3 or not rel[1].isdigit():
                continue
            v = int(rel[1])
            try:
                meta = json.loads(_read(p))
            except (OSError, ValueError) as e:
                logger.warning("ignoring %s: unreadable metadata (%s)", p, e)
                continue
            meta["uri"] = self.version_dir(model_name, v)
            meta["version"] = v
            out[v] = meta
        return out

    def _require(self, model_name: str) -> dict[int, dict]:
        published = self._published(model_name)
        if not published:
            known = ", ".join(self.models()) or "none"
            raise RegistryError(f"unknown model '{model_name}' in {self.root} (known: {known})")
        return published

    def versions(self, model_name: str) -> list[dict]:
        """Metadata of every published version, ascending."""
        published = self._require(model_name)
        return [published[v] for v in sorted(published)]

    def _pin(self, model_name: str) -> dict | None:
        path = self._join(model_name, SERVING)
        try:
            return json.loads(_read(path))
        except FileNotFoundError:
            return None
        except Exception:
            if not FileSystems.exists(path):
                return None
            raise

    def pinned(self, model_name: str) -> int | None:
        pin = self._pin(model_name)
        return int(pin["version"]) if pin else None

    def serving(self, model_name: str) -> int | None:
        """The pinned version if pinned, else the latest published one (None if nothing is published)."""
        pinned = self.pinned(model_name)
        if pinned is not None:
            return pinned
        published = self._published(model_name)
        return max(published) if published else None

    def show(self, model_name: str, version: int | None = None) -> dict:
        """Metadata of ``version`` (default: the serving version)."""
        published = self._require(model_name)
        if version is None:
            version = self.serving(model_name)
        if version not in published:
            have = ", ".join(str(v) for v in sorted(published))
            raise RegistryError(f"unknown version {model_name}@{version} (published: {have})")
        return published[version]

    def download(self, model_name: str, version: int | None, dest_dir: str) -> str:
        """Copy a published version's files (SavedModel + metadata.json) to ``dest_dir``; returns ``dest_dir``."""
        meta = self.show(model_name, version)
        src = meta["uri"]
        for f in [*meta["files"], {"path": METADATA}]:
            _copy_file(FileSystems.join(src, *f["path"].split("/")),
                       FileSystems.join(dest_dir, *f["path"].split("/")))
        return dest_dir

    # --- publish
    def publish(self, model_name: str, saved_model_dir: str, metadata: dict) -> dict:
        """Publish the SavedModel in ``saved_model_dir`` as the next version of ``model_name``.

        Returns the metadata written to ``<version>/metadata.json`` (the caller's dict plus model_name, version,
        created_at, files, size_bytes, uri). Readers never see a partial version; concurrent publishers get
        distinct versions (see docs/registry.md for the limits on object stores other than gs://).
        """
        self._check_name(model_name)
        if not isinstance(metadata, dict):
            raise RegistryError("metadata must be a dict")
        src = saved_model_dir.rstrip("/") if FileSystems.get_scheme(saved_model_dir) else os.path.abspath(
            saved_model_dir)
        files = self._source_files(src)
        clash = {k for k in _ADDED_KEYS if k in metadata and k != "uri"}
        if clash:
            logger.warning("publish: metadata keys %s are set by the registry; caller values ignored", sorted(clash))
        meta = dict(metadata)
        meta.update(model_name=model_name, created_at=_now(), source=metadata.get("source", src),
                    files=[{"path": rel, "size": size} for rel, _, size in files],
                    size_bytes=sum(size for _, _, size in files))
        try:
            _dumps(meta)
        except (TypeError, ValueError) as e:
            raise RegistryError(f"metadata is not JSON-serializable: {e}") from e

        staging = self._join(model_name, STAGING, uuid.uuid4().hex)
        try:
            targets = [FileSystems.join(staging, *rel.split("/")) for rel, _, _ in files]
            if self.scheme == "gs" and FileSystems.get_scheme(src) == "gs":
                FileSystems.copy([path for _, path, _ in files], targets)  # server-side copy
            else:
                for (_, path, _), target in zip(files, targets, strict=True):
                    _copy_file(path, target)
            if self.local:
                version = self._publish_local(model_name, staging, meta)
            else:
                version = self._publish_object_store(model_name, staging, meta, [rel for rel, _, _ in files])
        finally:
            self._delete_quietly(staging + "/")
        try:
            self.write_models_config()
        except Exception as e:  # the version is published; the derived config is refreshed by the next change
            logger.warning("published %s@%d but could not refresh %s: %s", model_name, version, MODELS_CONFIG, e)
        return meta

    def _source_files(self, src: str) -> list[tuple[str, str, int]]:
        """(relative path with '/', full path, size) of every file under ``src``; requires a SavedModel."""
        local_src = FileSystems.get_scheme(src) is None
        prefix = src.rstrip("/") + "/"
        try:
            found = FileSystems.match([FileSystems.join(src, "**")])[0].metadata_list
        except Exception as e:
            raise RegistryError(f"cannot list SavedModel dir {src}: {e}") from e
        out = []
        for m in found:
            if local_src:
                rel = os.path.relpath(m.path, src).replace(os.sep, "/")
            elif m.path.startswith(prefix):
                rel = m.path[len(prefix):]
            else:
                continue
            if rel and not rel.endswith("/") and not rel.startswith("../"):
                out.append((rel, m.path, m.size_in_bytes))
        out.sort()
        rels = {rel for rel, _, _ in out}
        if not rels & {"saved_model.pb", "saved_model.pbtxt"}:
            raise RegistryError(f"no SavedModel in {src} (saved_model.pb not found)")
        if METADATA in rels:  # e.g. promoting a version from another registry: ours replaces it
            logger.info("publish: not copying %s from %s; the registry writes its own", METADATA, src)
        return [f for f in out if f[0] != METADATA]

    def _next_candidate(self, model_name: str) -> int:
        """1 + the highest version number in use (published, in progress or claimed)."""
        highest = 0
        for p in self._glob(model_name, "**"):
            rel = self._rel(p)
            if len(rel) >= 3 and rel[1].isdigit():
                highest = max(highest, int(rel[1]))
            elif len(rel) == 3 and rel[1] == CLAIMS and rel[2].isdigit():
                highest = max(highest, int(rel[2]))
        if self.local:  # published local versions are directories; count empty ones too
            d = self.model_dir(model_name)
            if os.path.isdir(d):
                highest = max([highest, *(int(n) for n in os.listdir(d) if n.isdigit())])
        return highest + 1

    def _publish_local(self, model_name: str, staging: str, meta: dict) -> int:
        version = self._next_candidate(model_name)
        for _ in range(1000):
            meta.update(version=version, uri=self.version_dir(model_name, version))
            _write(os.path.join(staging, METADATA), _dumps(meta))
            try:
                os.rename(staging, self.version_dir(model_name, version))  # atomic; fails if the target is non-empty
                return version
            except OSError as e:
                if e.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR):
                    raise
                version = max(version + 1, self._next_candidate(model_name))
        raise RegistryError(f"could not allocate a version for {model_name} after 1000 attempts")

    def _claim(self, model_name: str, version: int) -> bool:
        """Reserve ``version`` by creating ``.claims/<version>`` only if absent. True if we got it."""
        path = self._join(model_name, CLAIMS, str(version))
        body = _dumps({"claimed_at": _now(), "host": os.uname().nodename, "pid": os.getpid()})
        if self.scheme == "gs":
            from apache_beam.io.gcp.gcsio import GcsIO
            from google.api_core.exceptions import PreconditionFailed

            bucket, name = _split_gs(path)
            try:
                GcsIO().client.bucket(bucket).blob(name).upload_from_string(
                    body, content_type="application/json", if_generation_match=0)
                return True
            except PreconditionFailed:
                return False
        # Other object stores: no create-if-absent through Beam - best effort (see docs/registry.md).
        if FileSystems.exists(path):
            return False
        _write(path, body)
        return True

    def _publish_object_store(self, model_name: str, staging: str, meta: dict, rels: list[str]) -> int:
        version = self._next_candidate(model_name)
        for _ in range(1000):
            if self._claim(model_name, version):
                break
            version = max(version + 1, self._next_candidate(model_name))
        else:
            raise RegistryError(f"could not allocate a version for {model_name} after 1000 attempts")
        dest = self.version_dir(model_name, version)
        meta.update(version=version, uri=dest)
        # The graph goes last among the model files, so a directory that has saved_model.pb is complete apart from
        # metadata.json, which goes after it and is what makes the version visible to registry readers.
        ordered = sorted(rels, key=lambda r: (r.startswith("saved_model."), r))
        try:
            src = [FileSystems.join(staging, *r.split("/")) for r in ordered]
            dst = [FileSystems.join(dest, *r.split("/")) for r in ordered]
            body = [i for i, r in enumerate(ordered) if not r.startswith("saved_model.")]
            graph = [i for i, r in enumerate(ordered) if r.startswith("saved_model.")]
            for batch in (body, graph):
                if batch:
                    FileSystems.copy([src[i] for i in batch], [dst[i] for i in batch])
            _write(FileSystems.join(dest, METADATA), _dumps(meta))
        except BaseException:
            self._delete_quietly(dest + "/")  # the claim stays: version numbers are never reused
            raise
        return version

    @staticmethod
    def _delete_quietly(path: str) -> None:
        try:
            _delete(path)
        except Exception as e:
            logger.warning("could not clean up %s: %s", path, e)

    # --- serving
    def _write_atomic(self, path: str, data: bytes) -> None:
        if self.local:
            tmp = f"{path}.{uuid.uuid4().hex}.tmp"
            _write(tmp, data)
            os.replace(tmp, path)
        else:
            _write(path, data)  # a single-object upload becomes visible all at once

    def pin(self, model_name: str, version: int, *, reason: str = "pin") -> None:
        """Serve exactly ``version`` (must be published) until unpinned."""
        published = self._require(model_name)
        if version not in published:
            have = ", ".join(str(v) for v in sorted(published))
            raise RegistryError(f"unknown version {model_name}@{version} (published: {have})")
        previous = self.serving(model_name)
        self._write_atomic(self._join(model_name, SERVING), _dumps(
            {"model_name": model_name, "version": int(version), "pinned_at": _now(), "reason": reason,
             "previous": previous}))
        self.write_models_config()

    def unpin(self, model_name: str) -> None:
        """Serve the latest published version again."""
        self._require(model_name)
        path = self._join(model_name, SERVING)
        _delete(path)
        self.write_models_config()

    def rollback(self, model_name: str) -> int:
        """Pin the newest published version older than the serving one; returns it."""
        published = self._require(model_name)
        current = self.serving(model_name)
        older = [v for v in published if current is not None and v < current]
        if not older:
            raise RegistryError(f"cannot roll back {model_name}: no published version before {current}")
        target = max(older)
        self.pin(model_name, target, reason="rollback")
        return target

    def models_config(self) -> str:
        """TF Serving ``model_config_list`` text for every model (pinned ones: ``specific`` version policy)."""
        lines = ["# Generated by skyhawk.registry; rewritten on every publish/pin/unpin/rollback.",
                 "model_config_list {"]
        for name in self.models():
            pinned = self.pinned(name)
            lines += ["  config {", f'    name: "{name}"', f'    base_path: "{self.model_dir(name)}"',
                      '    model_platform: "tensorflow"']
            if pinned is not None:
                lines.append(f"    model_version_policy {{ specific {{ versions: {pinned} }} }}")
            lines.append("  }")
        lines.append("}")
        return "\n".join(lines) + "\n"

    def write_models_config(self) -> str:
        """(Re)write ``REGISTRY/models.config``; returns its path."""
        path = self._join(MODELS_CONFIG)
        self._write_atomic(path, self.models_config().encode())
        return path
