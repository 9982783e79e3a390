"""The remote fileio backend for any scheme Apache Beam's ``FileSystems`` knows (s3://, hdfs://, ...; gs:// has
its own subclass, ``gcs.GcsFilesystem``).

Beam is imported on first use (importing it takes seconds). ``tf.io.gfile`` is not used: its GCS client ignores
``STORAGE_EMULATOR_HOST`` and so cannot reach a plain fake-gcs-server (only one behind the real host names,
``infra/gcs_tf.py``), while Beam's (google-cloud-storage) client can. Files are read and written verbatim (Beam
would otherwise (de)compress by extension, e.g. ``*.gz``).
"""
from __future__ import annotations

from typing import Any, BinaryIO

from skyhawk.fileio.base import FileStat, Filesystem

_RAW = "uncompressed"  # CompressionTypes.UNCOMPRESSED


def _fs() -> Any:
    from apache_beam.io.filesystems import FileSystems

    return FileSystems


class BeamFilesystem(Filesystem):
    """Object stores through Beam: folders are key prefixes; a write is one upload. The fallback for every
    scheme without a backend of its own; its publish steps are the best-effort ones of ``Filesystem`` (Beam has
    no create-if-absent), see docs/registry.md."""

    def __init__(self, scheme: str):
        self.scheme = scheme

    def exists(self, path: str) -> bool:
        return _fs().exists(path) or self.isdir(path)

    def isdir(self, path: str) -> bool:
        return bool(_fs().match([path.rstrip("/") + "/**"], limits=[1])[0].metadata_list)

    def isfile(self, path: str) -> bool:
        return _fs().exists(path)

    def glob(self, pattern: str) -> list[str]:
        return sorted(m.path for m in _fs().match([pattern])[0].metadata_list)

    def list_files(self, root: str) -> list[str]:
        return self.glob(root.rstrip("/") + "/**")

    def listdir(self, path: str) -> list[str]:
        prefix = path.rstrip("/") + "/"
        names = {p[len(prefix):].split("/", 1)[0] for p in self.list_files(path) if p.startswith(prefix)}
        if not names:
            raise FileNotFoundError(f"no such folder: {path}")
        return sorted(n for n in names if n)

    def size(self, path: str) -> int:
        return self.stat(path).size

    def stat(self, path: str) -> FileStat:
        found = _fs().match([path], limits=[1])[0].metadata_list
        if not found:
            raise FileNotFoundError(f"no such file: {path}")
        return FileStat(found[0].size_in_bytes, found[0].last_updated_in_seconds)

    def open_read(self, path: str) -> BinaryIO:
        return _fs().open(path, compression_type=_RAW)

    def read_bytes(self, path: str) -> bytes:
        try:
            with _fs().open(path, compression_type=_RAW) as f:
                return f.read()
        except Exception as e:
            if not _fs().exists(path):
                raise FileNotFoundError(f"no such file: {path}") from e
            raise

    def open_write(self, path: str) -> BinaryIO:
        return _fs().create(path, compression_type=_RAW)

    def write_bytes(self, path: str, data: bytes) -> None:
        with self.open_write(path) as f:
            f.write(data)

    def copy(self, src: str, dst: str) -> None:
        _fs().copy([src], [dst])  # server-side within one object store

    def makedirs(self, path: str) -> None:
        """Object stores have no folders."""

    def remove(self, path: str, recursive: bool = False) -> None:
        self._delete(self._targets(path, recursive))

    @staticmethod
    def _targets(path: str, recursive: bool) -> list[str]:
        """The objects a remove of path deletes (every one under the prefix with recursive)."""
        fs = _fs()
        if not recursive:
            return [path] if fs.exists(path) else []
        targets = [m.path for m in fs.match([path.rstrip("/") + "/**"])[0].metadata_list]
        return targets + ([path.rstrip("/")] if fs.exists(path.rstrip("/")) else [])

    def _delete(self, targets: list[str]) -> None:
        if targets:
            _fs().delete(targets)
