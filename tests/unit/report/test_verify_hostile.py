"""``verify`` on hostile bundles built member by member: a member that climbs out of the
top folder, listed in SHA256SUMS with its true checksum, is an unsafe path, never "ok";
a setuid member, or one with another owner or mtime, is named; members outside the top
folder or repeated are named."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from harness.errors import BundleError
from harness.report import verify as verify_module
from harness.report.bundle_format import FILE_MODE, MTIME, REQUIRED, SUMS_NAME
from harness.report.verify import verify

RUN = "20260101-120000-hostile"


def member(name: str, data: bytes, *, mode: int = FILE_MODE, uid: int = 0,
           mtime: int = MTIME) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.uid, info.gid, info.mtime = len(data), mode, uid, 0, mtime
    info.uname = info.gname = ""
    return info, data


def contents() -> dict[str, bytes]:
    """Every required file of a run, as publish writes them."""
    files = {name: f"{name}\n".encode() for name in REQUIRED}
    files["manifest.json"] = json.dumps({"run_id": RUN}).encode()
    files["trials.jsonl"] = (json.dumps({"schema_version": 1, "run_id": RUN, "trial_id": "r001", "scenario": "fanout", "stack": "s", "level": 1, "status": "failed"}) + "\n").encode()
    return files


def sums(files: dict[str, bytes]) -> bytes:
    return "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n"
                   for name, data in sorted(files.items())).encode()


def bundle(tmp_path: Path, *extra: tuple[tarfile.TarInfo, bytes],
           listed: dict[str, bytes] | None = None) -> Path:
    """A tar.gz of the run's files under ``RUN/``, SHA256SUMS listing them and ``listed``,
    then the ``extra`` members as given."""
    files = contents()
    members = [member(f"{RUN}/{name}", data) for name, data in sorted(files.items())]
    members.append(member(f"{RUN}/{SUMS_NAME}", sums({**files, **(listed or {})})))
    path = tmp_path / f"{RUN}.tar.gz"
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for info, data in [*members, *extra]:
            tar.addfile(info, io.BytesIO(data))
    return path


def test_a_bundle_built_like_publish_verifies(tmp_path: Path) -> None:
    result = verify(bundle(tmp_path))
    assert result.ok, result.problems
    assert result.run_id == RUN and result.files_verified == len(REQUIRED)


def test_a_member_climbing_out_of_the_top_folder_is_unsafe_even_when_listed(tmp_path: Path) -> None:
    evil = b"#!/bin/sh\nrm -rf ~\n"
    path = bundle(tmp_path, member(f"{RUN}/../../evil.sh", evil),
                  listed={"../../evil.sh": evil})
    result = verify(path)
    assert not result.ok
    assert f"{RUN}/../../evil.sh: unsafe path" in result.problems
    assert result.files_verified == len(REQUIRED)  # the climbing member is never verified
    assert f"{RUN}/../../evil.sh: missing (listed in {SUMS_NAME})" in result.problems


@pytest.mark.parametrize("name", ["/etc/evil.sh", f"{RUN}/figures/../../evil.sh"])
def test_absolute_and_climbing_names_are_unsafe(tmp_path: Path, name: str) -> None:
    result = verify(bundle(tmp_path, member(name, b"x")))
    assert f"{name}: unsafe path" in result.problems


@pytest.mark.parametrize(("mode", "shown"), [(0o4644, "4644"), (0o2644, "2644"),
                                            (0o1644, "1644"), (0o755, "755"), (0o600, "600")])
def test_a_member_mode_other_than_publishs_is_named(tmp_path: Path, mode: int, shown: str) -> None:
    result = verify(bundle(tmp_path, member(f"{RUN}/figures/a.svg", b"<svg/>", mode=mode),
                           listed={"figures/a.svg": b"<svg/>"}))
    assert result.problems == [f"{RUN}/figures/a.svg: mode {shown}, not 644 "
                               "(publish never writes that)"]


def test_another_owner_or_mtime_is_named(tmp_path: Path) -> None:
    result = verify(bundle(tmp_path, member(f"{RUN}/a.txt", b"a", uid=1000),
                           member(f"{RUN}/b.txt", b"b", mtime=MTIME + 1),
                           listed={"a.txt": b"a", "b.txt": b"b"}))
    assert result.problems == [
        f"{RUN}/a.txt: owner 1000:0 (-:-), not 0:0 unnamed (publish never writes that)",
        f"{RUN}/b.txt: mtime {MTIME + 1}, not {MTIME} (publish never writes that)"]


def test_members_outside_the_top_folder_or_repeated_are_named(tmp_path: Path) -> None:
    result = verify(bundle(tmp_path, member("OTHER/x.txt", b"x"), member("loose.txt", b"y"),
                           member(f"{RUN}/report.md", b"again\n")))
    assert "OTHER/x.txt: outside the top folder 20260101-120000-hostile/" in result.problems
    assert f"loose.txt: outside the top folder {RUN}/" in result.problems
    assert f"{RUN}/report.md: appears 2 times" in result.problems


# --- the limits, narrowed so that each is met exactly and passed by one ---------------------

def plain_members(tmp_path: Path, sizes: list[int]) -> Path:
    path = tmp_path / "limits.tar.gz"
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for number, size in enumerate(sizes):
            info, data = member(f"{RUN}/figures/{number}.svg", b"x" * size)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_the_member_count_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verify_module, "MAX_MEMBERS", 3)
    assert len(verify_module.read_bundle(plain_members(tmp_path, [1, 1, 1]))) == 3
    with pytest.raises(BundleError, match=r": refused: more than 3 members$"):
        verify_module.read_bundle(plain_members(tmp_path, [1, 1, 1, 1]))


def test_the_declared_size_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verify_module, "MAX_MEMBER_BYTES", 1000)
    monkeypatch.setattr(verify_module, "MAX_TOTAL_BYTES", 1500)
    members = verify_module.read_bundle(plain_members(tmp_path, [1000, 500]))
    assert [m.info.size for m in members] == [1000, 500]
    with pytest.raises(BundleError, match=r"'20260101-120000-hostile/figures/0\.svg' declares "
                                          r"1001 bytes \(limits: 1000 per member, 1500 in all\)"):
        verify_module.read_bundle(plain_members(tmp_path, [1001]))
    with pytest.raises(BundleError, match=r"figures/1\.svg' declares 501 bytes"):
        verify_module.read_bundle(plain_members(tmp_path, [1000, 501]))


def test_only_the_records_are_kept_in_memory_and_each_member_is_hashed(tmp_path: Path) -> None:
    members = {m.info.name: m for m in verify_module.read_bundle(bundle(tmp_path))}
    trials = members[f"{RUN}/trials.jsonl"]
    assert trials.data == contents()["trials.jsonl"]
    assert trials.digest == hashlib.sha256(contents()["trials.jsonl"]).hexdigest()
    report = members[f"{RUN}/report.md"]
    assert report.data is None and report.digest == hashlib.sha256(b"report.md\n").hexdigest()
    assert members[f"{RUN}/{SUMS_NAME}"].data is not None


def test_a_file_that_is_not_gzip_is_refused_by_its_first_bytes(tmp_path: Path) -> None:
    path = tmp_path / "plain.tar"
    with tarfile.open(path, "w") as tar:
        info, data = member(f"{RUN}/a.txt", b"a")
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(BundleError, match=r"plain\.tar: not a tar\.gz bundle \(not gzip-compressed; only gzip is accepted\)$"):
        verify(path)
