"""``verify`` on what a bundle's records say and how its members are laid out: a manifest
that does not parse or names no run, a top folder named after another run, a record too
large to check, a missing record, the top folder's own entry, an empty archive, a PAX
header declaring a sparse file, and the decompressed stream's seek limit (each check met
by one bundle and passed by its neighbour)."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

import pytest

from harness.errors import BundleError
from harness.report import verify as verify_module
from harness.report.bundle_format import MTIME, SUMS_NAME
from harness.report.verify import verify
from tests.unit.report.test_verify_hostile import RUN, contents, member, sums


def built(tmp_path: Path, changes: dict[str, bytes | None] | None = None,
          first: list[tarfile.TarInfo] | None = None) -> Path:
    """A bundle like publish's with some files replaced (None: left out), listed in
    SHA256SUMS as they are, and ``first`` (folder entries) before the files."""
    files = {k: v for k, v in {**contents(), **(changes or {})}.items() if v is not None}
    path = tmp_path / f"{RUN}.tar.gz"
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for info in first or []:
            tar.addfile(info)
        for name, data in sorted({**files, SUMS_NAME: sums(files)}.items()):
            info, body = member(f"{RUN}/{name}", data)
            tar.addfile(info, io.BytesIO(body))
    return path


def folder(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime, info.uname, info.gname = tarfile.DIRTYPE, 0o755, MTIME, "", ""
    return info


def test_a_manifest_that_is_not_json_is_named_and_gives_no_run(tmp_path: Path) -> None:
    result = verify(built(tmp_path, {"manifest.json": b"{not json"}))
    assert not result.ok and result.run_id is None
    assert any(p.startswith(f"{RUN}/manifest.json: not valid JSON (") for p in result.problems)


@pytest.mark.parametrize("manifest", [{"id": RUN}, {"run_id": 7}, [RUN]])
def test_a_manifest_without_a_run_id_is_named(tmp_path: Path, manifest: object) -> None:
    result = verify(built(tmp_path, {"manifest.json": json.dumps(manifest).encode()}))
    assert f"{RUN}/manifest.json: no run_id" in result.problems and result.run_id is None


def test_a_top_folder_named_after_another_run_is_named(tmp_path: Path) -> None:
    result = verify(built(tmp_path, {"manifest.json": json.dumps({"run_id": "other"}).encode()}))
    assert f"{RUN}/: the top folder is not named after the run 'other'" in result.problems
    assert f"{RUN}/trials.jsonl: 1 trial(s) of run {RUN!r}, not the manifest's 'other'" \
        in result.problems
    assert verify(built(tmp_path)).ok  # its neighbour, named after its run


def test_a_record_too_large_to_check_is_named(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # the manifest padded to be the largest record the check keeps (SHA256SUMS among them)
    manifest = json.dumps({"run_id": RUN, "pad": "x" * 20_000}).encode()
    size = len(manifest)
    monkeypatch.setattr(verify_module, "MAX_RECORD_BYTES", size)
    assert verify(built(tmp_path, {"manifest.json": manifest})).ok  # at the limit: checked
    monkeypatch.setattr(verify_module, "MAX_RECORD_BYTES", size - 1)
    result = verify(built(tmp_path, {"manifest.json": manifest}))
    assert f"{RUN}/manifest.json: larger than {size - 1} bytes; not checked" in result.problems
    assert result.run_id is None


@pytest.mark.parametrize("left_out", ["manifest.json", "trials.jsonl"])
def test_a_missing_record_is_named_without_a_traceback(tmp_path: Path, left_out: str) -> None:
    result = verify(built(tmp_path, {left_out: None}))
    assert f"{RUN}/{left_out}: missing (every bundle holds it)" in result.problems


def test_the_top_folders_own_entries_come_before_its_files_and_are_fine(tmp_path: Path) -> None:
    result = verify(built(tmp_path, first=[folder(RUN), folder(f"{RUN}/figures")]))
    assert result.ok, result.problems
    assert result.run_id == RUN


def test_a_file_named_like_the_top_folder_is_outside_it(tmp_path: Path) -> None:
    path = built(tmp_path, first=[member(RUN, b"x")[0]])
    result = verify(path)
    assert f"{RUN}: outside the top folder {RUN}/" in result.problems


def test_an_empty_archive_says_so(tmp_path: Path) -> None:
    path = tmp_path / "empty.tar.gz"
    with tarfile.open(path, "w:gz"):
        pass
    result = verify(path)
    assert result.problems == [f"{path}: the archive is empty"] and result.run_id is None


def test_a_pax_header_declaring_a_sparse_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sparse-pax.tar.gz"
    info, data = member(f"{RUN}/report.md", b"report\n")
    info.pax_headers = {"GNU.sparse.name": f"{RUN}/report.md"}
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(BundleError, match="is a sparse file"):
        verify_module.read_bundle(path)
    with tarfile.open(path) as tar:
        assert not tar.getmembers()[0].issparse()  # the header alone decides


def test_the_stream_refuses_a_seek_past_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verify_module, "MAX_TOTAL_BYTES", 10)
    monkeypatch.setattr(verify_module, "CHUNK", 5)
    raw = gzip.GzipFile(fileobj=io.BytesIO(gzip.compress(b"y" * 40)))
    stream = verify_module._Bounded(raw, Path("b.tar.gz"))
    assert stream.seek(15) == 15 and stream.tell() == 15  # the limit itself
    assert stream.seek(2, 1) == 17  # relative: where the stream is, not a declared offset
    with pytest.raises(BundleError, match=r"b\.tar\.gz: refused: more than 10 bytes once decompressed$"):
        stream.seek(16)
