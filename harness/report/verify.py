"""Verifying a published bundle without unpacking it, treating it as hostile input.

A bundle may come from anyone, so reading it is bounded before any byte is trusted:

- only gzip-compressed tar files are accepted (the gzip magic is checked first);
- no single read of the archive is larger than ``MAX_MEMBER_BYTES`` (a PAX or GNU long-name
  header declaring gigabytes is refused instead of being read), and no more than
  ``MAX_TOTAL_BYTES`` are decompressed in all;
- at most ``MAX_MEMBERS`` members; only regular files and folders (no sparse, link,
  device or FIFO entries); each member's declared size is checked against the limits
  before its data is read;
- members are hashed in chunks; only the manifest, the trials and SHA256SUMS are kept in
  memory (each at most ``MAX_RECORD_BYTES``), for the checks of their contents.

A refusal is a ``BundleError`` (one line); problems inside a readable bundle (checksums,
missing or extra members, members whose mode, owner or mtime differ from what
``publish`` writes) are listed in the result. ``verify`` checks integrity, not
authenticity: compare its ``sha256`` with the one the publisher announced.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import tarfile
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from harness.errors import BundleError
from harness.report.bundle_format import FILE_MODE, MTIME, REQUIRED, SUMS_NAME, parse_sums
from harness.rundir.format import MANIFEST_NAME, TRIALS_NAME
from harness.rundir.reader import parse_trials

MAX_MEMBERS = 1_000
MAX_MEMBER_BYTES = 256 * 2**20
MAX_TOTAL_BYTES = 1 * 2**30
MAX_RECORD_BYTES = 64 * 2**20
CHUNK = 2**20
_KEPT = (MANIFEST_NAME, TRIALS_NAME, SUMS_NAME)
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class Verification:
    """What :func:`verify` found: the bundle's own sha256, files whose checksum matched,
    and every problem."""

    path: Path
    sha256: str
    run_id: str | None
    files_verified: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems


@dataclass(frozen=True)
class Member:
    """One archive member: its header, the sha256 of a regular file's data, and the data
    itself for the few files whose contents are checked."""

    info: tarfile.TarInfo
    digest: str | None
    data: bytes | None


class _Bounded:
    """The decompressed stream, refusing any single read or seek beyond the limits.

    ``tarfile`` reads a PAX or GNU long-name header in one ``read`` of its declared size;
    this is where such a header declaring gigabytes stops.
    """

    def __init__(self, raw: gzip.GzipFile, where: Path) -> None:
        self.raw = raw
        self.where = where
        self.total = 0

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0 or size > MAX_MEMBER_BYTES:
            raise BundleError(f"{self.where}: refused: a header or member larger than "
                              f"{MAX_MEMBER_BYTES} bytes")
        self.total += size
        if self.total > MAX_TOTAL_BYTES + CHUNK:
            raise BundleError(f"{self.where}: refused: more than {MAX_TOTAL_BYTES} bytes "
                              "once decompressed")
        return self.raw.read(size)

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == 0 and offset > MAX_TOTAL_BYTES + CHUNK:
            raise BundleError(f"{self.where}: refused: more than {MAX_TOTAL_BYTES} bytes "
                              "once decompressed")
        return self.raw.seek(offset, whence)

    def tell(self) -> int:
        return self.raw.tell()


def file_sha256(path: Path) -> str:
    """The sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _refuse_type(info: tarfile.TarInfo) -> str | None:
    if info.issparse() or any(key.startswith("GNU.sparse") for key in info.pax_headers):
        return "a sparse file"
    if info.issym() or info.islnk():
        return f"a link (to {info.linkname!r})"
    if info.isdev():
        return "a device or FIFO"
    if not (info.isreg() or info.isdir()):
        return f"not a regular file or folder (type {info.type!r})"
    return None


def _read_member(tar: tarfile.TarFile, info: tarfile.TarInfo) -> Member:
    handle = tar.extractfile(info)
    if handle is None:
        return Member(info, None, None)
    keep = PurePosixPath(info.name).name in _KEPT and info.size <= MAX_RECORD_BYTES
    digest = hashlib.sha256()
    kept: list[bytes] = []
    for chunk in iter(lambda: handle.read(CHUNK), b""):
        digest.update(chunk)
        if keep:
            kept.append(chunk)
    return Member(info, digest.hexdigest(), b"".join(kept) if keep else None)


def read_bundle(path: Path) -> list[Member]:
    """Every member of a gzip-compressed tar file, within the limits, hashed in chunks.

    Raises:
        BundleError: not a readable tar.gz, or refused (a limit, a sparse, link or
            device member); one line.
    """
    try:
        with path.open("rb") as fh:
            if fh.read(2) != _GZIP_MAGIC:
                raise BundleError(f"{path}: not a tar.gz bundle (not gzip-compressed; only "
                                  "gzip is accepted)")
        members: list[Member] = []
        total = 0
        with gzip.open(path, "rb") as raw, \
                tarfile.open(fileobj=_Bounded(raw, path), mode="r:") as tar:  # type: ignore[call-overload]
            for info in tar:
                if len(members) >= MAX_MEMBERS:
                    raise BundleError(f"{path}: refused: more than {MAX_MEMBERS} members")
                reason = _refuse_type(info)
                if reason is not None:
                    raise BundleError(f"{path}: refused: {info.name!r} is {reason}; a bundle "
                                      "holds only regular files and folders")
                total += info.size
                if info.size > MAX_MEMBER_BYTES or total > MAX_TOTAL_BYTES:
                    raise BundleError(f"{path}: refused: {info.name!r} declares {info.size} "
                                      f"bytes (limits: {MAX_MEMBER_BYTES} per member, "
                                      f"{MAX_TOTAL_BYTES} in all)")
                members.append(_read_member(tar, info))
                tar.members.clear()  # tarfile keeps every header otherwise
    except FileNotFoundError:
        raise BundleError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise BundleError(f"{path}: a folder, not a bundle") from None
    except tarfile.ReadError:
        raise BundleError(f"{path}: not a tar.gz bundle (not a readable tar archive)") from None
    except (OSError, tarfile.TarError, EOFError, zlib.error, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BundleError(f"{path}: not a readable tar.gz bundle ({reason})") from None
    return members


def _header_problems(info: tarfile.TarInfo) -> list[str]:
    """How a regular member's header differs from what ``publish`` writes."""
    found = []
    if info.mode != FILE_MODE:
        found.append(f"mode {info.mode:o}, not {FILE_MODE:o}")
    if (info.uid, info.gid, info.uname, info.gname) != (0, 0, "", ""):
        found.append(f"owner {info.uid}:{info.gid} ({info.uname or '-'}:{info.gname or '-'}), "
                     "not 0:0 unnamed")
    if info.mtime != MTIME:
        found.append(f"mtime {info.mtime}, not {MTIME}")
    return [f"{info.name}: {text} (publish never writes that)" for text in found]


def _split_top(members: list[Member],
               problems: list[str]) -> tuple[str | None, dict[str, Member]]:
    """The top folder and the regular files under it (relative path -> member)."""
    tops = Counter(PurePosixPath(m.info.name).parts[0] for m in members
                   if PurePosixPath(m.info.name).parts)
    top = tops.most_common(1)[0][0] if tops else None
    files: dict[str, Member] = {}
    names = Counter(m.info.name for m in members)
    for name, count in sorted(names.items()):
        if count > 1:
            problems.append(f"{name}: appears {count} times")
    for member in members:
        info = member.info
        parts = PurePosixPath(info.name).parts
        if info.name.startswith("/") or ".." in parts:
            problems.append(f"{info.name}: unsafe path")
        elif not parts or parts[0] != top or (len(parts) == 1 and not info.isdir()):
            problems.append(f"{info.name}: outside the top folder {top}/")
        elif info.isdir():
            continue
        else:
            problems.extend(_header_problems(info))
            files["/".join(parts[1:])] = member
    return top, files


def _check_contents(top: str, files: dict[str, Member], problems: list[str]) -> str | None:
    """trials.jsonl parses and its run_id matches manifest.json's; returns the run id."""
    run_id = None
    for name in (MANIFEST_NAME, TRIALS_NAME):
        if name in files and files[name].data is None:
            problems.append(f"{top}/{name}: larger than {MAX_RECORD_BYTES} bytes; not checked")
    manifest = files.get(MANIFEST_NAME)
    if manifest is not None and manifest.data is not None:
        try:
            parsed = json.loads(manifest.data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            problems.append(f"{top}/{MANIFEST_NAME}: not valid JSON ({exc})")
        else:
            if isinstance(parsed, dict) and isinstance(parsed.get("run_id"), str):
                run_id = parsed["run_id"]
            else:
                problems.append(f"{top}/{MANIFEST_NAME}: no run_id")
    if run_id is not None and run_id != top:
        problems.append(f"{top}/: the top folder is not named after the run {run_id!r}")
    trials_member = files.get(TRIALS_NAME)
    if trials_member is not None and trials_member.data is not None:
        trials, skipped = parse_trials(trials_member.data)
        for line, reason in skipped:
            problems.append(f"{top}/{TRIALS_NAME} line {line}: {reason}")
        others = Counter(str(t.get("run_id")) for t in trials if t.get("run_id") != run_id)
        if run_id is not None:
            for other, count in sorted(others.items()):
                problems.append(f"{top}/{TRIALS_NAME}: {count} trial(s) of run {other!r}, "
                                f"not the manifest's {run_id!r}")
    return run_id


def verify(path: Path) -> Verification:
    """Check a bundle: limits, member types and headers, checksums, nothing missing or
    extra, trials and manifest agree.

    Raises:
        BundleError: the file is not a readable tar.gz or is refused (problems inside a
            readable bundle are listed in the result instead).
    """
    problems: list[str] = []
    top, files = _split_top(read_bundle(path), problems)
    digest = file_sha256(path)
    if top is None:
        return Verification(path, digest, None, 0, [f"{path}: the archive is empty"])
    sums_member = files.pop(SUMS_NAME, None)
    sums: dict[str, str] = {}
    if sums_member is None or sums_member.data is None:
        problems.append(f"{top}/{SUMS_NAME}: missing")
    else:
        sums = parse_sums(sums_member.data.decode("utf-8", "replace"), f"{top}/{SUMS_NAME}",
                          problems)
    verified = 0
    for name, expected in sorted(sums.items()):
        if name not in files:
            problems.append(f"{top}/{name}: missing (listed in {SUMS_NAME})")
        elif files[name].digest != expected:
            problems.append(f"{top}/{name}: checksum mismatch ({SUMS_NAME} has "
                            f"{expected[:12]}…, the member is {str(files[name].digest)[:12]}…)")
        else:
            verified += 1
    for name in sorted(set(files) - set(sums)):
        problems.append(f"{top}/{name}: extra member, not listed in {SUMS_NAME}")
    for name in REQUIRED:
        if name not in files and name not in sums:
            problems.append(f"{top}/{name}: missing (every bundle holds it)")
    run_id = _check_contents(top, files, problems)
    return Verification(path, digest, run_id, verified, problems)
