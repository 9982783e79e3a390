"""skyhawk.fileio: the same calls on a local folder and on gs:// (a real fake-gcs-server process)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from skyhawk import fileio

pytest_plugins = ["gcs"]  # tests/gcs.py: gcs_emulator, gcs_prefix


def _exercise(root: str) -> None:
    a, b = fileio.join(root, "d", "a.txt"), fileio.join(root, "d", "sub", "b.json.gz")
    assert not fileio.exists(root) or not fileio.list_files(root)
    fileio.write_text(a, "hello\n")
    fileio.write_bytes(b, b"not gzip")  # written and read verbatim despite the .gz name
    assert fileio.read_text(a) == "hello\n" and fileio.read_bytes(b) == b"not gzip"
    assert fileio.exists(a) and fileio.isfile(a) and not fileio.isdir(a)
    assert fileio.isdir(fileio.join(root, "d")) and fileio.exists(fileio.join(root, "d"))
    assert not fileio.isfile(fileio.join(root, "d")) and not fileio.exists(fileio.join(root, "nope"))
    assert fileio.list_files(root) == sorted([a, b])
    assert fileio.glob(fileio.join(root, "d", "*.txt")) == [a]
    assert fileio.listdir(fileio.join(root, "d")) == ["a.txt", "sub"] and fileio.listdir(root) == ["d"]
    with pytest.raises(FileNotFoundError):
        fileio.listdir(fileio.join(root, "nope"))
    j = fileio.join(root, "j", "x.json")
    fileio.write_json(j, {"b": [1, 2.5], "a": None})
    assert fileio.read_json(j) == {"a": None, "b": [1, 2.5]} and fileio.read_text(j).startswith('{\n  "a"')
    with pytest.raises(FileNotFoundError):
        fileio.read_json(fileio.join(root, "j", "missing.json"))
    fileio.write_text(j, "{not json")
    with pytest.raises(ValueError):
        fileio.read_json(j)
    fileio.remove(fileio.join(root, "j"), recursive=True)
    fileio.write_text(a, "replaced")  # overwrite in place
    assert fileio.read_text(a) == "replaced"
    c = fileio.join(root, "e", "c.txt")
    fileio.copy_file(a, c)
    assert fileio.read_text(c) == "replaced"
    with fileio.local_copy(b) as p:
        assert os.path.isfile(p) and Path(p).read_bytes() == b"not gzip"
    fileio.remove(c)
    fileio.remove(c)  # missing is fine
    assert not fileio.exists(c)
    hidden = fileio.join(root, ".staging", "u1", "f.pb")  # hidden names match like any other
    fileio.write_bytes(hidden, b"x")
    assert fileio.glob(fileio.join(root, ".staging", "**")) == [hidden]
    assert fileio.glob(fileio.join(root, "*", "*", "*.pb")) == [hidden]
    assert fileio.relpath(hidden, root) == ".staging/u1/f.pb" and fileio.size(hidden) == 1
    fileio.remove(fileio.join(root, ".staging"), recursive=True)
    fileio.remove(fileio.join(root, "d"), recursive=True)
    assert fileio.list_files(root) == []


def test_local(tmp_path: Path):
    _exercise(str(tmp_path / "root"))
    assert fileio.scheme("file:///x") is None and fileio.local_path("file:///x/y") == "/x/y"
    assert fileio.scheme("gs://b/x") == "gs" and fileio.is_remote("gs://b/x")
    assert fileio.normpath("gs://b/x/../y/./z") == "gs://b/y/z" and fileio.normpath("gs://b/") == "gs://b"
    assert fileio.normpath(str(tmp_path / "a" / ".." / "b")) == str(tmp_path / "b")
    with pytest.raises(ValueError):
        fileio.relpath(str(tmp_path / "x"), str(tmp_path / "y"))
    # an atomic local write leaves no temporary file behind
    fileio.write_text(str(tmp_path / "w.txt"), "x")
    assert sorted(os.listdir(tmp_path)) == ["root", "w.txt"]


def test_backend_per_scheme(tmp_path: Path):
    """One table maps each scheme to its backend behind one interface: local paths and file:// URIs local, gs://
    the GCS backend, any other scheme Beam's; a backend registered for a new scheme is used for it."""
    from skyhawk.fileio.base import Filesystem
    from skyhawk.fileio.beam import BeamFilesystem
    from skyhawk.fileio.gcs import GcsFilesystem
    from skyhawk.fileio.local import LocalFilesystem

    local, p = fileio.filesystem(f"file://{tmp_path}/x")
    assert isinstance(local, LocalFilesystem) and p == f"{tmp_path}/x"
    assert fileio.filesystem(str(tmp_path))[0] is local
    remote, q = fileio.filesystem("gs://b/k")
    assert isinstance(remote, GcsFilesystem) and remote.scheme == "gs" and q == "gs://b/k"
    other, _ = fileio.filesystem("s3://b/k")
    assert type(other) is BeamFilesystem and other.scheme == "s3"
    assert isinstance(local, Filesystem) and isinstance(remote, Filesystem)

    class Toy(LocalFilesystem):  # a new scheme: one class naming it, registered from here
        SUPPORTED_SCHEMES = ("toy",)

        @staticmethod
        def native(path: str) -> str:
            return str(tmp_path / path.split("://", 1)[1])

    fileio.register(Toy())
    try:
        fileio.write_text("toy://t/a.txt", "hi")
        assert (tmp_path / "t" / "a.txt").read_text() == "hi" and fileio.read_text("toy://t/a.txt") == "hi"
    finally:
        fileio._TABLE.pop("toy")


@pytest.mark.parametrize("where", ["local", "gcs"])
def test_create_if_absent_and_move_tree(where, tmp_path, request):
    """The atomic publish steps: one writer of a file wins; a staged folder moves whole, never onto another."""
    root = str(tmp_path / "r") if where == "local" else request.getfixturevalue("gcs_prefix")
    claim = fileio.join(root, "c", "1")
    assert fileio.create_if_absent(claim, b"first") and not fileio.create_if_absent(claim, b"second")
    assert fileio.read_bytes(claim) == b"first"
    src, dst = fileio.join(root, "s"), fileio.join(root, "d")
    for rel in ("a.pb", "v/x"):
        fileio.write_text(fileio.join(src, *rel.split("/")), rel)
    fileio.move_tree(src, dst, ["v/x", "a.pb"])
    assert fileio.list_files(dst) == [fileio.join(dst, "a.pb"), fileio.join(dst, "v", "x")]
    assert not fileio.exists(src) and fileio.read_text(fileio.join(dst, "v", "x")) == "v/x"
    fileio.write_text(fileio.join(src, "a.pb"), "again")
    with pytest.raises(FileExistsError):
        fileio.move_tree(src, dst, ["a.pb"])
    assert fileio.read_text(fileio.join(dst, "a.pb")) == "a.pb"


def test_gcs(gcs_prefix: str):
    _exercise(gcs_prefix)
    with pytest.raises(FileNotFoundError):
        fileio.read_bytes(gcs_prefix + "/missing.bin")


def test_a_full_disk_is_named_by_the_output_being_written():
    """ENOSPC raised, wrapped, or turned into text by Beam (or SQLite's 'disk is full'): one OSError naming
    the output; other errors pass unchanged."""
    import errno

    beam_text = f"OSError: [Errno 28] {os.strerror(errno.ENOSPC)} [while running 'Score0/Commit']"
    for raised in (OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/out/_parts/x.tmp"), RuntimeError(beam_text),
                   RuntimeError("sqlite3.OperationalError: database or disk is full")):
        with pytest.raises(OSError) as caught, fileio.disk_full_names("/out"):
            raise raised
        assert caught.value.errno == errno.ENOSPC and caught.value.filename == "/out"
    with pytest.raises(ValueError, match="other"), fileio.disk_full_names("/out"):
        raise ValueError("other")
    wrapped = RuntimeError("step failed")
    wrapped.__cause__ = OSError(errno.ENOSPC, "full")
    assert fileio.is_disk_full(wrapped) and not fileio.is_disk_full(OSError(errno.EACCES, "denied"))


def test_stat_names_what_is_not_a_regular_file(tmp_path: Path, gcs_prefix: str):
    (tmp_path / "v.mp4").write_bytes(b"1234")
    os.mkfifo(tmp_path / "pipe.mp4")
    (tmp_path / "gone.mp4").symlink_to(tmp_path / "nowhere.mp4")
    (tmp_path / "loop.mp4").symlink_to(tmp_path / "loop.mp4")
    st = fileio.stat(str(tmp_path / "v.mp4"))
    assert (st.size, st.problem, st.broken_link) == (4, "", False) and st.mtime > 0
    assert fileio.stat(str(tmp_path / "pipe.mp4")).problem == "not a regular file (a FIFO (named pipe))"
    assert fileio.stat(str(tmp_path / "gone.mp4")) == fileio.FileStat(
        problem=f"dangling symbolic link (to {tmp_path / 'nowhere.mp4'})", broken_link=True)
    assert fileio.stat(str(tmp_path / "loop.mp4")).problem == "symbolic link loop"
    with pytest.raises(FileNotFoundError):
        fileio.stat(str(tmp_path / "missing.mp4"))
    fileio.write_bytes(gcs_prefix + "/v.mp4", b"123")
    remote = fileio.stat(gcs_prefix + "/v.mp4")
    assert (remote.size, remote.problem) == (3, "") and remote.mtime > 0
    with pytest.raises(FileNotFoundError):
        fileio.stat(gcs_prefix + "/missing.mp4")
