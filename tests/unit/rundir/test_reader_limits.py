"""harness.rundir.reader's limits on a manifest from someone else: its size (met exactly,
passed by one byte), its nesting, and a manifest that cannot be read, each a one-line
RunDirError naming the file."""

from __future__ import annotations

import json
import re
import tracemalloc
from pathlib import Path

import pytest

from harness.rundir import reader
from harness.rundir.reader import RunDirError, load_run
from tests.unit.rundir.test_reader import MANIFEST, line, make_run, trial


def sized_manifest(size: int) -> bytes:
    """MANIFEST padded with spaces to exactly ``size`` bytes (still valid JSON)."""
    data = json.dumps(MANIFEST).encode()
    return data + b" " * (size - len(data))


@pytest.mark.parametrize("limit_mib", [1, 2])
def test_a_manifest_of_the_limit_is_read_and_one_byte_more_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit_mib: int) -> None:
    limit = limit_mib << 20
    monkeypatch.setattr(reader, "MAX_MANIFEST_BYTES", limit)
    folder = make_run(tmp_path, line(trial("a")))
    (folder / "manifest.json").write_bytes(sized_manifest(limit))
    assert load_run(folder).manifest == MANIFEST
    (folder / "manifest.json").write_bytes(sized_manifest(limit + 1))
    with pytest.raises(RunDirError) as caught:
        load_run(folder)
    assert str(caught.value) == (f"{folder / 'manifest.json'} is larger than {limit_mib} MiB; "
                                 "not a manifest the harness wrote")


def test_a_manifest_nesting_past_the_limit_is_refused(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reader, "MAX_DEPTH", 3)
    folder = make_run(tmp_path, line(trial("a")), {**MANIFEST, "x": {"y": {}}})  # 3 deep
    assert load_run(folder).manifest["x"] == {"y": {}}
    (tmp_path / "deeper").mkdir()
    folder = make_run(tmp_path / "deeper", line(trial("a")), {**MANIFEST, "x": {"y": {"z": {}}}})
    with pytest.raises(RunDirError) as caught:
        load_run(folder)
    assert str(caught.value) == (f"{folder / 'manifest.json'} nests deeper than 3 levels; "
                                 "not a manifest the harness wrote")


def test_a_manifest_that_cannot_be_read_is_named_with_the_reason(tmp_path: Path) -> None:
    folder = make_run(tmp_path, line(trial("a")))
    (folder / "manifest.json").unlink()
    (folder / "manifest.json").mkdir()  # reading it fails: a folder
    with pytest.raises(RunDirError) as caught:
        load_run(folder)
    assert str(caught.value) == f"cannot read {folder / 'manifest.json'}: Is a directory"
    assert re.fullmatch(r"[^\n]+", str(caught.value))


def test_an_oversized_manifest_is_refused_without_being_read_whole(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reader, "MAX_MANIFEST_BYTES", 1 << 20)
    folder = make_run(tmp_path, line(trial("a")))
    with (folder / "manifest.json").open("r+b") as fh:
        fh.truncate(256 << 20)  # 256 MiB of holes: nothing on disk, all of it to read
    tracemalloc.start()
    try:
        with pytest.raises(RunDirError, match="is larger than 1 MiB"):
            load_run(folder)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"{peak >> 20} MiB held to refuse it"
