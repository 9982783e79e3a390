"""The interface every fileio backend implements (one backend per set of URI schemes), and the shared glob rule."""
from __future__ import annotations

import abc
import dataclasses
import re
from typing import BinaryIO


@dataclasses.dataclass(frozen=True)
class FileStat:
    """One file's size and modification time (the resume key of an input), and why it cannot be read as a
    regular file ('' when it can): a FIFO, a device, a folder, or a symbolic link that leads nowhere."""

    size: int = -1
    mtime: float = -1.0
    problem: str = ""
    broken_link: bool = False  # a dangling symbolic link or a link loop (Beam's match skips those silently)


class Filesystem(abc.ABC):
    """File operations on one kind of path; ``skyhawk.fileio`` picks the backend by the path's scheme.

    ``SUPPORTED_SCHEMES`` are the schemes it serves ("" = a plain local path); ``skyhawk.fileio.register`` puts
    it in the scheme table. Paths given to a backend are already in its own form (``native``: local paths have
    no ``file://`` prefix). The atomic steps a publish needs (``create_if_absent``, ``move_tree``) have
    best-effort defaults here, for object stores without such a primitive; backends that have one override them.
    """

    SUPPORTED_SCHEMES: tuple[str, ...] = ()

    def native(self, path: str) -> str:
        """path in this backend's own form."""
        return path

    def prepare(self) -> None:
        """Sets up this backend's credentials before its first use (called on every lookup: make it cheap)."""
        return None

    def check_reachable(self, path: str) -> None:
        """Raises ConnectionError (one line) when path's endpoint cannot be reached; before any I/O."""
        return None

    @abc.abstractmethod
    def exists(self, path: str) -> bool:
        """An existing file or directory (on object stores: an object, or a prefix with objects)."""

    @abc.abstractmethod
    def isdir(self, path: str) -> bool:
        """A directory (on object stores: a prefix holding at least one object)."""

    @abc.abstractmethod
    def isfile(self, path: str) -> bool:
        """An existing file (object)."""

    @abc.abstractmethod
    def glob(self, pattern: str) -> list[str]:
        """Files matching pattern, sorted (``*``/``?`` within a path component, ``**`` across folders)."""

    @abc.abstractmethod
    def list_files(self, root: str) -> list[str]:
        """Every file below root, recursively, sorted."""

    @abc.abstractmethod
    def listdir(self, path: str) -> list[str]:
        """Names of the entries (files and folders) directly in path, sorted; FileNotFoundError if none."""

    @abc.abstractmethod
    def stat(self, path: str) -> FileStat:
        """Size, modification time and any problem of one file; FileNotFoundError when there is nothing there."""

    @abc.abstractmethod
    def size(self, path: str) -> int:
        """Size of a file in bytes; FileNotFoundError when it does not exist."""

    @abc.abstractmethod
    def open_read(self, path: str) -> BinaryIO:
        """A binary stream of the file, read verbatim; FileNotFoundError when it does not exist."""

    @abc.abstractmethod
    def open_write(self, path: str) -> BinaryIO:
        """A binary stream that writes the file verbatim (parents made as needed)."""

    @abc.abstractmethod
    def write_bytes(self, path: str, data: bytes) -> None:
        """Writes a whole file atomically (readers see the old file or the new one, never a part)."""

    @abc.abstractmethod
    def copy(self, src: str, dst: str) -> None:
        """Copies one file within this filesystem."""

    @abc.abstractmethod
    def makedirs(self, path: str) -> None:
        """Creates a folder and its parents (no-op where folders do not exist)."""

    @abc.abstractmethod
    def remove(self, path: str, recursive: bool = False) -> None:
        """Deletes a file, or with recursive a folder and everything below it; missing is fine."""

    def read_bytes(self, path: str) -> bytes:
        with self.open_read(path) as f:
            return f.read()

    def create_if_absent(self, path: str, data: bytes) -> bool:
        """Writes the file only if it does not exist; True when this call made it. Best effort here (a check,
        then a write: two writers at once may both win); atomic in backends that override it."""
        if self.isfile(path):
            return False
        self.write_bytes(path, data)
        return True

    def move_tree(self, src: str, dst: str, rels: list[str]) -> None:
        """Moves folder src, holding exactly the files rels ('/'-separated, relative), to dst, which must not
        exist (FileExistsError). Here: copies in the order of rels, then deletes src, so a reader that waits for
        the last file sees the others whole; a failure midway leaves a partial dst for the caller to remove."""
        if self.isdir(dst):
            raise FileExistsError(f"already exists: {dst}")
        for rel in rels:
            self.copy(f"{src.rstrip('/')}/{rel}", f"{dst.rstrip('/')}/{rel}")
        self.remove(src, recursive=True)

    def prune_dir(self, path: str) -> None:
        """Removes path if it is an empty folder (object stores have no empty folders: nothing to do)."""
        return None


def glob_regex(pattern: str) -> re.Pattern:
    """``**`` matches across '/', ``*`` and ``?`` within one path component (as on Beam's object stores)."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))
