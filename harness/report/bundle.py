"""Publishing a run as one deterministic ``.tar.gz``, and verifying such a bundle.

A bundle holds, under a top folder named after the run::

    <run_id>/trials.jsonl       the records, byte for byte
    <run_id>/manifest.json      the manifest, byte for byte
    <run_id>/config.json        the resolved config (the manifest's ``config``)
    <run_id>/config.toml        the config file the run named, when it still exists
    <run_id>/uv.lock            the project's lock file
    <run_id>/report.md, report.html, figures/*.svg
    <run_id>/SHA256SUMS         ``sha256sum`` lines over every other member

The same run folder always gives the same bytes: members sorted by name, a fixed
mtime, uid, gid and mode, no user or group names, and a gzip header with mtime 0
and no file name. ``cd <run_id> && sha256sum -c SHA256SUMS`` checks an unpacked
bundle; :func:`verify` checks one without unpacking it.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import tarfile
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from harness.config.load import load_config
from harness.errors import BundleError, ConfigError
from harness.paths import LOCK_FILE, PROJECT_ROOT
from harness.report.render import render_run_report
from harness.rundir.format import FIGURES_DIR, MANIFEST_NAME, REPORT_FILES, TRIALS_NAME
from harness.rundir.reader import load_run, parse_trials

SUMS_NAME = "SHA256SUMS"
CONFIG_JSON = "config.json"
CONFIG_TOML = "config.toml"
LOCK_NAME = "uv.lock"
REQUIRED = (TRIALS_NAME, MANIFEST_NAME, CONFIG_JSON, LOCK_NAME, *REPORT_FILES)
# 1980-01-01T00:00:00Z: fixed, and valid for every archive tool (zip's epoch).
MTIME = 315_532_800
FILE_MODE = 0o644
_SUMS_LINE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")


@dataclass(frozen=True)
class Published:
    """A bundle written by :func:`publish`."""

    path: Path
    run_id: str
    members: list[str]
    sha256: str
    rendered_report: bool
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Verification:
    """What :func:`verify` found: files whose checksum matched, and every problem."""

    path: Path
    run_id: str | None
    files_verified: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256sums(files: dict[str, bytes]) -> bytes:
    """``sha256sum`` output over ``files`` (relative path -> content), sorted by path."""
    return "".join(f"{_sha256(files[name])}  {name}\n" for name in sorted(files)).encode()


def tar_bytes(top: str, files: dict[str, bytes]) -> bytes:
    """``files`` under ``top/`` as a deterministic gzip-compressed tar (no SHA256SUMS added)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            data = files[name]
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            info.mtime = MTIME
            info.mode = FILE_MODE
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), compresslevel=9, mtime=0)


# --- publish ------------------------------------------------------------------------------

def _config_toml(source: object, project_root: Path) -> Path | None:
    if not isinstance(source, str) or not source or source.startswith("<"):
        return None
    path = Path(source)
    for candidate in ([path] if path.is_absolute() else [Path.cwd() / path, project_root / path]):
        if candidate.is_file():
            return candidate
    return None


def _needs_report(run_dir: Path) -> bool:
    return (not all((run_dir / name).is_file() for name in REPORT_FILES)
            or not (run_dir / FIGURES_DIR).is_dir())


def collect_files(run_dir: Path, *, lock_file: Path = LOCK_FILE,
                  project_root: Path = PROJECT_ROOT) -> tuple[str, dict[str, bytes], list[str]]:
    """The run id, the bundle's files (relative path -> bytes, no SHA256SUMS) and warnings.

    Raises:
        RunDirError: not a run folder.
        BundleError: the lock file or a run file cannot be read.
    """
    run = load_run(run_dir)
    manifest = run.manifest
    warnings: list[str] = []
    files: dict[str, bytes] = {}
    try:
        for name in (TRIALS_NAME, MANIFEST_NAME, *REPORT_FILES):
            files[name] = (run_dir / name).read_bytes()
        figures = sorted(p for p in (run_dir / FIGURES_DIR).rglob("*") if p.is_file())
        for path in figures:
            files[path.relative_to(run_dir).as_posix()] = path.read_bytes()
    except OSError as exc:
        raise BundleError(f"{run_dir}: cannot read {exc.filename}: {exc.strerror}") from None
    files[CONFIG_JSON] = (json.dumps(manifest["config"], indent=2, sort_keys=True,
                                     allow_nan=False) + "\n").encode()
    toml = _config_toml(manifest["config"].get("source"), project_root)
    if toml is not None:
        files[CONFIG_TOML] = toml.read_bytes()
        try:
            matches = load_config(toml).digest() == manifest.get("config_hash")
        except ConfigError:
            matches = False
        if not matches:
            warnings.append(f"{toml} no longer gives the run's config (edited since, or options "
                            "were overridden on the command line); config.json is what ran")
    try:
        files[LOCK_NAME] = lock_file.read_bytes()
    except OSError as exc:
        raise BundleError(f"cannot read the lock file {lock_file}: {exc.strerror}") from None
    if manifest.get("lock_hash") and _sha256(files[LOCK_NAME]) != manifest["lock_hash"]:
        warnings.append(f"{lock_file} has changed since the run (its hash differs from the "
                        "manifest's lock_hash); the bundle holds the current one")
    return str(manifest["run_id"]), files, warnings


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise BundleError(f"cannot write {path}: {exc.strerror or exc}") from None


def publish(run_dir: Path, out: Path | None = None, *, lock_file: Path = LOCK_FILE,
            project_root: Path = PROJECT_ROOT) -> Published:
    """Write ``run_dir`` as a bundle; by default ``<run_id>.tar.gz`` beside the run folder.

    The report is rendered into the run folder first when it is missing. ``out``
    may be a file or an existing folder.
    """
    load_run(run_dir)  # a clear error for a bad folder before anything is written
    rendered = _needs_report(run_dir)
    if rendered:
        render_run_report(run_dir)
    run_id, files, warnings = collect_files(run_dir, lock_file=lock_file,
                                            project_root=project_root)
    files[SUMS_NAME] = sha256sums(files)
    data = tar_bytes(run_id, files)
    target = out if out is not None else run_dir.resolve().parent / f"{run_id}.tar.gz"
    if target.is_dir():
        target = target / f"{run_id}.tar.gz"
    _atomic_write(target, data)
    return Published(target, run_id, sorted(files), _sha256(data), rendered, warnings)


# --- verify -------------------------------------------------------------------------------

def read_bundle(path: Path) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    """Every member of a tar file with the bytes of the regular ones.

    Raises:
        BundleError: the file cannot be read or is not a (compressed) tar archive.
    """
    members: list[tuple[tarfile.TarInfo, bytes | None]] = []
    try:
        with tarfile.open(path, "r:*") as tar:
            for info in tar:
                data = None
                if info.isfile():
                    handle = tar.extractfile(info)
                    data = handle.read() if handle is not None else b""
                members.append((info, data))
    except FileNotFoundError:
        raise BundleError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise BundleError(f"{path}: a folder, not a bundle") from None
    except tarfile.ReadError:
        raise BundleError(f"{path}: not a tar.gz bundle (not a readable tar archive)") from None
    except (OSError, tarfile.TarError, EOFError, zlib.error) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BundleError(f"{path}: not a readable tar.gz bundle ({reason})") from None
    return members


def _parse_sums(text: str, where: str, problems: list[str]) -> dict[str, str]:
    sums: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        match = _SUMS_LINE.match(line)
        if not match:
            problems.append(f"{where} line {number}: not a sha256sum line: {line[:60]!r}")
            continue
        digest, name = match.groups()
        if name in sums:
            problems.append(f"{where} line {number}: {name} listed twice")
        sums[name] = digest
    return sums


def _split_top(members: list[tuple[tarfile.TarInfo, bytes | None]],
               problems: list[str]) -> tuple[str | None, dict[str, bytes]]:
    """The top folder and the regular files under it (relative path -> bytes)."""
    tops = Counter(PurePosixPath(info.name).parts[0] for info, _ in members
                   if PurePosixPath(info.name).parts)
    top = tops.most_common(1)[0][0] if tops else None
    files: dict[str, bytes] = {}
    names = Counter(info.name for info, _ in members)
    for name, count in sorted(names.items()):
        if count > 1:
            problems.append(f"{name}: appears {count} times")
    for info, data in members:
        parts = PurePosixPath(info.name).parts
        if info.name.startswith("/") or ".." in parts:
            problems.append(f"{info.name}: unsafe path")
        elif not parts or parts[0] != top or (len(parts) == 1 and not info.isdir()):
            problems.append(f"{info.name}: outside the top folder {top}/")
        elif info.isdir():
            continue
        elif data is None:
            problems.append(f"{info.name}: not a regular file")
        else:
            files["/".join(parts[1:])] = data
    return top, files


def _check_contents(top: str, files: dict[str, bytes], problems: list[str]) -> str | None:
    """trials.jsonl parses and its run_id matches manifest.json's; returns the run id."""
    run_id = None
    manifest_bytes = files.get(MANIFEST_NAME)
    if manifest_bytes is not None:
        try:
            manifest = json.loads(manifest_bytes)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            problems.append(f"{top}/{MANIFEST_NAME}: not valid JSON ({exc})")
        else:
            if isinstance(manifest, dict) and isinstance(manifest.get("run_id"), str):
                run_id = manifest["run_id"]
            else:
                problems.append(f"{top}/{MANIFEST_NAME}: no run_id")
    if run_id is not None and run_id != top:
        problems.append(f"{top}/: the top folder is not named after the run {run_id!r}")
    trials_bytes = files.get(TRIALS_NAME)
    if trials_bytes is not None:
        trials, skipped = parse_trials(trials_bytes)
        for line, reason in skipped:
            problems.append(f"{top}/{TRIALS_NAME} line {line}: {reason}")
        others = Counter(str(t.get("run_id")) for t in trials if t.get("run_id") != run_id)
        if run_id is not None:
            for other, count in sorted(others.items()):
                problems.append(f"{top}/{TRIALS_NAME}: {count} trial(s) of run {other!r}, "
                                f"not the manifest's {run_id!r}")
    return run_id


def verify(path: Path) -> Verification:
    """Check a bundle: checksums, nothing missing or extra, trials and manifest agree.

    Raises:
        BundleError: the file is not a readable tar archive (problems inside a
            readable bundle are listed in the result instead).
    """
    problems: list[str] = []
    top, files = _split_top(read_bundle(path), problems)
    if top is None:
        return Verification(path, None, 0, [f"{path}: the archive is empty"])
    sums_bytes = files.pop(SUMS_NAME, None)
    sums: dict[str, str] = {}
    if sums_bytes is None:
        problems.append(f"{top}/{SUMS_NAME}: missing")
    else:
        sums = _parse_sums(sums_bytes.decode("utf-8", "replace"), f"{top}/{SUMS_NAME}", problems)
    verified = 0
    for name, digest in sorted(sums.items()):
        if name not in files:
            problems.append(f"{top}/{name}: missing (listed in {SUMS_NAME})")
        elif _sha256(files[name]) != digest:
            problems.append(f"{top}/{name}: checksum mismatch ({SUMS_NAME} has "
                            f"{digest[:12]}…, the member is {_sha256(files[name])[:12]}…)")
        else:
            verified += 1
    for name in sorted(set(files) - set(sums)):
        problems.append(f"{top}/{name}: extra member, not listed in {SUMS_NAME}")
    for name in REQUIRED:
        if name not in files and name not in sums:
            problems.append(f"{top}/{name}: missing (every bundle holds it)")
    run_id = _check_contents(top, files, problems)
    return Verification(path, run_id, verified, problems)
