"""Each safety layer of ``harness.safefs`` alone, with the layer in front of it stubbed out:
``O_NOFOLLOW`` without the ``lstat`` pre-check, the ``lstat`` pre-check without
``O_NOFOLLOW``, the ``fstat`` check after the open, the non-blocking open of a FIFO, the
exclusive temporary file, and the folder check."""

from __future__ import annotations

import errno
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from harness import safefs
from harness.errors import RunDirError


def actions(path: Path) -> list[Callable[[], object]]:
    return [lambda: safefs.write_atomic(path, b"x"), lambda: safefs.open_append(path),
            lambda: safefs.open_update(path), lambda: safefs.read_bytes(path)]


@pytest.fixture
def no_precheck(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ``lstat`` check in front of the open is gone (a race would get past it)."""
    monkeypatch.setattr(safefs, "check_regular", lambda path: True)


def victim_and_link(tmp_path: Path) -> tuple[Path, Path]:
    victim = tmp_path / "victim.txt"
    victim.write_text("mine\n")
    link = tmp_path / "trials.jsonl"
    link.symlink_to(victim)
    return victim, link


@pytest.mark.usefixtures("no_precheck")
def test_o_nofollow_alone_refuses_a_link(tmp_path: Path) -> None:
    victim, link = victim_and_link(tmp_path)
    for action in (lambda: safefs.open_append(link), lambda: safefs.open_update(link),
                   lambda: safefs.read_bytes(link)):
        with pytest.raises(RunDirError, match=r"trials\.jsonl: a symbolic link where a run file belongs"):
            action()
    assert victim.read_text() == "mine\n"


def test_the_lstat_check_alone_refuses_a_link(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(safefs, "_NOFOLLOW", os.O_CLOEXEC)
    victim, link = victim_and_link(tmp_path)
    for action in actions(link):
        with pytest.raises(RunDirError, match=r"trials\.jsonl: a symbolic link where"):
            action()
    assert victim.read_text() == "mine\n" and link.is_symlink()


@pytest.mark.usefixtures("no_precheck")
def test_the_fstat_check_alone_refuses_a_fifo_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "trials.jsonl"
    os.mkfifo(fifo)
    # Opened for reading with O_NONBLOCK: a FIFO with no writer would otherwise block.
    with pytest.raises(RunDirError, match=r"trials\.jsonl: not a regular file where"):
        safefs.read_bytes(fifo)
    with pytest.raises(RunDirError, match=r"trials\.jsonl: not a regular file where"):
        safefs.open_update(fifo)


@pytest.mark.usefixtures("no_precheck")
def test_the_open_alone_refuses_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "report.md"
    folder.mkdir()
    for action in (lambda: safefs.open_append(folder), lambda: safefs.open_update(folder),
                   lambda: safefs.read_bytes(folder)):
        with pytest.raises(RunDirError, match=r"report\.md: a folder where a run file belongs"):
            action()


def test_the_lstat_check_names_what_it_found(tmp_path: Path) -> None:
    assert safefs.check_regular(tmp_path / "absent") is False
    (tmp_path / "file").write_text("x")
    assert safefs.check_regular(tmp_path / "file") is True
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "dir").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "file")
    for name, what in (("fifo", "not a regular file"), ("dir", "a folder"),
                       ("link", "a symbolic link")):
        with pytest.raises(RunDirError, match=f"{name}: {what} where a run file belongs; refusing"):
            safefs.check_regular(tmp_path / name)


def test_a_file_opened_is_blocking_again_and_created_with_its_mode(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        with safefs.open_append(tmp_path / "trials.jsonl") as fh:
            assert os.get_blocking(fh.fileno())
            fh.write(b"{}\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "trials.jsonl").st_mode) == safefs.FILE_MODE
    with safefs.open_update(tmp_path / "trials.jsonl") as fh:
        assert os.get_blocking(fh.fileno()) and fh.read() == b"{}\n"
    with safefs.open_append(tmp_path / "trials.jsonl") as fh:
        fh.write(b"[]\n")
    assert safefs.read_bytes(tmp_path / "trials.jsonl") == b"{}\n[]\n"


def test_opening_a_missing_file_for_update_names_it(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    with pytest.raises(OSError) as info:
        safefs.open_update(path)
    assert info.value.errno == errno.ENOENT and info.value.filename == str(path)
    assert info.value.strerror == "No such file or directory"
    assert not isinstance(info.value, RunDirError)


def test_the_temporary_file_is_exclusive_and_never_followed(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # Someone plants a link where the temporary file will be: the write fails, naming the
    # target, and neither the link's target nor the file is changed.
    monkeypatch.setattr(secrets, "token_hex", lambda n: "abc")
    victim = tmp_path / "victim.txt"
    victim.write_text("mine\n")
    path = tmp_path / "report.md"
    path.write_text("old\n")
    (tmp_path / ".report.md.abc.tmp").symlink_to(victim)
    with pytest.raises(OSError) as info:
        safefs.write_atomic(path, b"new\n")
    assert info.value.filename == str(path)
    assert victim.read_text() == "mine\n" and path.read_text() == "old\n"
    assert safefs.write_atomic(path, b"new\n") == path and path.read_text() == "new\n"
    assert stat.S_IMODE(os.stat(path).st_mode) & 0o022 == 0


def test_a_file_where_a_folder_belongs_is_refused(tmp_path: Path) -> None:
    (tmp_path / "figures").write_text("x")
    with pytest.raises(RunDirError, match="figures: a file where a run file belongs"):
        safefs.ensure_dir(tmp_path / "figures")
    os.mkfifo(tmp_path / "logs")
    with pytest.raises(RunDirError, match="logs: not a regular file where"):
        safefs.ensure_dir(tmp_path / "logs")
    made = safefs.ensure_dir(tmp_path / "new")
    assert made == tmp_path / "new" and safefs.ensure_dir(made) == made


def test_sync_dir_syncs_the_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.fstat(fd).st_mode)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    safefs.write_atomic(tmp_path / "manifest.json", b"{}")
    # The file, then its folder: the rename survives a crash.
    assert [stat.S_ISREG(m) for m in synced] == [True, False]
    assert stat.S_ISDIR(synced[1])
