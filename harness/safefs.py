"""Files inside a run folder, written and read without following links.

A run folder may come from someone else (a shared folder, an unpacked bundle), so a
``report.md`` there may be a symbolic link to a file of the user's, and a ``figures/``
a link to another folder. Every file the harness writes, appends to or packs inside a
run folder goes through this module:

- opened with ``O_NOFOLLOW`` and checked to be a regular file (``fstat``), so a link,
  a FIFO or a device where a run file belongs is a one-line ``RunDirError``;
- folders created here and checked with ``lstat`` to be real folders;
- replaced through an exclusive temporary file in the same folder: written, fsynced,
  renamed over the target, the folder fsynced, the temporary file removed in ``finally``
  whatever happened, so a full disk leaves neither a half-written file nor a stray
  temporary one, and the ``OSError`` names the path.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from pathlib import Path
from typing import BinaryIO

from harness.errors import RunDirError

FILE_MODE = 0o644
_NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC


def _refusal(path: Path, what: str) -> RunDirError:
    return RunDirError(f"{path}: {what} where a run file belongs; refusing to use it")


def _describe(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "not a regular file"


def named(exc: OSError, path: Path) -> OSError:
    """The same error, naming ``path`` (a full disk says which file it could not write)."""
    return OSError(exc.errno, exc.strerror or str(exc), str(path))


def check_regular(path: Path) -> bool:
    """True when ``path`` is a regular file, False when nothing is there.

    Raises:
        RunDirError: a link, folder, FIFO, socket or device is there.
    """
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(mode):
        raise _refusal(path, _describe(mode))
    return True


def ensure_dir(path: Path) -> Path:
    """Create the folder ``path`` (its parent must exist) unless it is there; return it.

    Raises:
        RunDirError: a link or a file is there instead of a folder.
    """
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o755)
    mode = os.lstat(path).st_mode
    if not stat.S_ISDIR(mode):
        raise _refusal(path, _describe(mode) if not stat.S_ISREG(mode) else "a file")
    return path


def _open(path: Path, flags: int) -> int:
    check_regular(path)  # a FIFO or device is refused before open could block or fail
    try:
        fd = os.open(path, flags | _NOFOLLOW | os.O_NONBLOCK, FILE_MODE)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # the last component is a symbolic link
            raise _refusal(path, "a symbolic link") from None
        if isinstance(exc, IsADirectoryError):
            raise _refusal(path, "a folder") from None
        raise named(exc, path) from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise _refusal(path, _describe(mode))
    os.set_blocking(fd, True)
    return fd


def open_append(path: Path) -> BinaryIO:
    """``path`` opened for appending (created if missing), never through a link."""
    return os.fdopen(_open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT), "ab")


def open_update(path: Path) -> BinaryIO:
    """An existing ``path`` opened for reading and writing, never through a link."""
    return os.fdopen(_open(path, os.O_RDWR), "r+b")


def read_bytes(path: Path, limit: int | None = None) -> bytes:
    """The bytes of the regular file ``path``, never through a link.

    Raises:
        RunDirError: a link or not a regular file, or larger than ``limit`` bytes.
    """
    with os.fdopen(_open(path, os.O_RDONLY), "rb") as fh:
        if limit is not None and os.fstat(fh.fileno()).st_size > limit:
            raise RunDirError(f"{path}: larger than {limit} bytes; refusing to read it")
        return fh.read()


def write_atomic(path: Path, data: bytes) -> Path:
    """Replace ``path`` with ``data``: an exclusive temporary file, fsync, rename, fsync of
    the folder. A link or non-regular file at ``path`` is refused, never replaced.

    Raises:
        RunDirError: ``path`` or its folder is a link or not what it should be.
        OSError: the write failed (disk full...); the message names ``path``.
    """
    check_regular(path)
    folder = path.parent
    tmp = folder / f".{path.name}.{secrets.token_hex(6)}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, FILE_MODE)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        sync_dir(folder)
    except OSError as exc:
        raise named(exc, path) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return path


def sync_dir(folder: Path) -> None:
    """fsync a folder, so that a rename in it survives a crash."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
