"""The interface every fileio backend implements (one backend per URI scheme), and the shared glob rule."""
from __future__ import annotations

import abc
import re
from typing import BinaryIO


class Filesystem(abc.ABC):
    """File operations on one kind of path; ``skyhawk.fileio`` picks the backend by the path's scheme.

    Paths given to a backend are already in its own form (local: no ``file://`` prefix)."""

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
