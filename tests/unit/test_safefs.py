"""harness.safefs: run files written and read without following links, replaced atomically,
and a failed write (a full disk) names the file and leaves nothing behind."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from harness import safefs
from harness.errors import RunDirError


def test_write_atomic_replaces_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "report.md"
    path.write_text("old\n")
    safefs.write_atomic(path, b"new\n")
    assert path.read_bytes() == b"new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.md"]


@pytest.mark.parametrize("kind", ["link", "fifo", "folder"])
def test_nothing_is_written_through_what_is_not_a_regular_file(tmp_path: Path, kind: str) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("mine\n")
    path = tmp_path / "report.md"
    if kind == "link":
        path.symlink_to(victim)
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        path.mkdir()
    for action in (lambda: safefs.write_atomic(path, b"x"), lambda: safefs.open_append(path),
                   lambda: safefs.open_update(path), lambda: safefs.read_bytes(path)):
        with pytest.raises(RunDirError, match=r"report\.md: .* where a run file belongs"):
            action()
    assert victim.read_text() == "mine\n"


def test_a_linked_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "figures").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(RunDirError, match="figures: a symbolic link"):
        safefs.ensure_dir(tmp_path / "figures")
    assert safefs.ensure_dir(tmp_path / "logs").is_dir()


def test_a_full_disk_names_the_file_and_leaves_no_temporary_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "manifest.json"
    path.write_text('{"stop_reason": "running"}\n')

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space left on device") as info:
        safefs.write_atomic(path, b'{"stop_reason": "done"}\n')
    assert info.value.filename == str(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json"]
    assert path.read_text() == '{"stop_reason": "running"}\n'


def test_read_bytes_refuses_a_file_over_its_limit(tmp_path: Path) -> None:
    path = tmp_path / "pids.jsonl"
    path.write_bytes(b"x" * 100)
    assert safefs.read_bytes(path, limit=100) == b"x" * 100
    with pytest.raises(RunDirError, match="larger than 99 bytes"):
        safefs.read_bytes(path, limit=99)
