"""The local-disk fileio backend (plain paths and ``file://`` URIs): ``os`` and ``shutil``."""
from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat as _stat
import uuid
from typing import BinaryIO

from skyhawk.fileio.base import FileStat, Filesystem, glob_regex

_MAKEDIRS_TRIES = 100  # a parent removed under us this often in a row is not a race but a fault


class LocalFilesystem(Filesystem):
    """Local paths; writes replace a file by rename, so a reader never sees half of it. Atomic publish steps:
    ``create_if_absent`` is a hard link of a whole temp file (``O_EXCL`` where links are not supported),
    ``move_tree`` one ``os.rename``."""

    SUPPORTED_SCHEMES = ("", "file")

    @staticmethod
    def native(path: str) -> str:
        """path without its ``file://`` prefix."""
        return path[len("file://"):] if path.startswith("file://") else path

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def isdir(self, path: str) -> bool:
        return os.path.isdir(path)

    def isfile(self, path: str) -> bool:
        return os.path.isfile(path)

    def glob(self, pattern: str) -> list[str]:
        pattern = os.path.abspath(pattern).replace(os.sep, "/")
        base = pattern[: min((pattern.find(c) for c in "*?[" if c in pattern), default=len(pattern))]
        base = base if base.endswith("/") else os.path.dirname(base)
        regex = glob_regex(pattern)
        return sorted(p for p in self.list_files(base or "/") if regex.fullmatch(p.replace(os.sep, "/")))

    def list_files(self, root: str) -> list[str]:
        """Broken symlinks included, folders not."""
        out = []
        for d, dirs, files in os.walk(root):
            dirs.sort()
            out.extend(os.path.join(d, f) for f in files)
        return sorted(out)

    def listdir(self, path: str) -> list[str]:
        return sorted(os.listdir(path))

    def size(self, path: str) -> int:
        return os.path.getsize(path)

    def stat(self, path: str) -> FileStat:
        """A dangling symbolic link or a link loop is a FileStat with its problem, not FileNotFoundError."""
        try:
            st = os.stat(path)
        except FileNotFoundError:
            if not os.path.islink(path):
                raise
            return FileStat(problem=f"dangling symbolic link (to {os.readlink(path)})", broken_link=True)
        except OSError as e:
            if e.errno == errno.ELOOP:
                return FileStat(problem="symbolic link loop", broken_link=True)
            if not os.path.islink(path):
                raise
            return FileStat(problem=f"cannot stat: {e.strerror}", broken_link=True)
        problem = "" if _stat.S_ISREG(st.st_mode) else f"not a regular file ({_file_type(st.st_mode)})"
        return FileStat(st.st_size, st.st_mtime, problem)

    def open_read(self, path: str) -> BinaryIO:
        return open(path, "rb")

    def open_write(self, path: str) -> BinaryIO:
        self.makedirs(os.path.dirname(os.path.abspath(path)))
        return open(path, "wb")

    def _temp_beside(self, path: str) -> str:
        """A fresh temporary file name next to ``path``, its folder created; the caller removes the file."""
        self.makedirs(os.path.dirname(os.path.abspath(path)))
        return f"{path}.{uuid.uuid4().hex}.tmp"

    def write_bytes(self, path: str, data: bytes) -> None:
        tmp = self._temp_beside(path)
        try:
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except OSError as e:
            if e.filename is None or e.filename == tmp:  # name the file being written, not its temp
                raise OSError(e.errno, e.strerror, path) from None
            raise
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def create_if_absent(self, path: str, data: bytes) -> bool:
        tmp = self._temp_beside(path)
        try:
            with open(tmp, "wb") as f:
                f.write(data)
            os.link(tmp, path)  # fails if path exists; readers never see it half written
            return True
        except FileExistsError:
            return False
        except OSError as e:
            if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                raise
            return self._create_exclusive(path, data)  # a filesystem without hard links
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    @staticmethod
    def _create_exclusive(path: str, data: bytes) -> bool:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return True

    def move_tree(self, src: str, dst: str, rels: list[str]) -> None:
        """One ``os.rename``: dst appears whole or not at all."""
        try:
            os.rename(src, dst)
        except OSError as e:
            if e.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR):
                raise FileExistsError(e.errno, f"already exists: {dst}", dst) from None
            raise

    def prune_dir(self, path: str) -> None:
        with contextlib.suppress(OSError):  # not empty (someone works in it), gone, or not ours to remove
            os.rmdir(path)

    def copy(self, src: str, dst: str) -> None:
        self.makedirs(os.path.dirname(os.path.abspath(dst)))
        shutil.copyfile(src, dst)

    def makedirs(self, path: str) -> None:
        """Also when another process removes an empty parent meanwhile (the registry prunes its shared
        ``.staging/`` once empty): ``os.makedirs`` then fails with ENOENT between two levels; tried again."""
        for attempt in range(_MAKEDIRS_TRIES):
            try:
                os.makedirs(path, exist_ok=True)
                return
            except FileNotFoundError:
                if attempt == _MAKEDIRS_TRIES - 1:
                    raise

    def remove(self, path: str, recursive: bool = False) -> None:
        path = path.rstrip("/" + os.sep) or path
        if os.path.isdir(path) and not os.path.islink(path):
            if recursive:
                shutil.rmtree(path)
            else:
                os.rmdir(path)
        elif os.path.lexists(path):
            os.unlink(path)


def _file_type(mode: int) -> str:
    """What a non-regular file is: 'a folder', 'a FIFO (named pipe)', 'a device', 'a socket'."""
    if _stat.S_ISDIR(mode):
        return "a folder"
    if _stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if _stat.S_ISCHR(mode) or _stat.S_ISBLK(mode):
        return "a device"
    return "a socket" if _stat.S_ISSOCK(mode) else "not a regular file"
