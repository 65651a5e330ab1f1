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
bundle; ``harness.report.verify`` checks one without unpacking it.

A run folder may be someone else's: its files are read without following links, its
``run_id`` must be a plain name equal to the folder's, and the config file its manifest
names is packed only from inside the project (``paths.project_folder``: the checkout, or
an installed tool's current folder) and only when it gives the recorded hash.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import safefs
from harness.config.load import load_config
from harness.errors import BundleError, ConfigError, RunDirError
from harness.paths import LOCK_FILE, project_folder
from harness.report.bundle_format import (
    CONFIG_JSON,
    CONFIG_TOML,
    FILE_MODE,
    LOCK_NAME,
    MTIME,
    SUMS_NAME,
)
from harness.report.render import render_run_report
from harness.rundir.format import (
    FIGURES_DIR,
    MANIFEST_NAME,
    REPORT_FILES,
    RUN_ID_PATTERN,
    TRIALS_NAME,
)
from harness.rundir.reader import load_run


@dataclass(frozen=True)
class Published:
    """A bundle written by :func:`publish`."""

    path: Path
    run_id: str
    members: list[str]
    sha256: str
    rendered_report: bool
    warnings: list[str] = field(default_factory=list)


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

def checked_run_id(run_dir: Path, manifest: Mapping[str, Any]) -> str:
    """The manifest's ``run_id`` when it is a plain name equal to the folder's name.

    Raises:
        RunDirError: anything else (``../x`` would place the bundle outside the results).
    """
    run_id = manifest.get("run_id")
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.match(run_id) or run_id in ("..", "."):
        raise RunDirError(f"{run_dir / MANIFEST_NAME}: run_id {run_id!r} is not a plain name "
                          "(letters, digits, '.', '_', '-'); refusing to publish")
    if run_id != run_dir.resolve().name:
        raise RunDirError(f"{run_dir / MANIFEST_NAME}: run_id {run_id!r} differs from the "
                          f"folder's name {run_dir.resolve().name!r}; refusing to publish")
    return run_id


def _config_toml(source: object, project_root: Path) -> Path | None:
    """The config file the run named, only when it lies inside the project."""
    if not isinstance(source, str) or not source or source.startswith("<"):
        return None
    path = Path(source)
    root = project_root.resolve()
    candidate = (path if path.is_absolute() else root / path).resolve()
    if not candidate.is_relative_to(root) or not candidate.is_file():
        return None
    return candidate


def _needs_report(run_dir: Path) -> bool:
    return (not all((run_dir / name).is_file() for name in REPORT_FILES)
            or not (run_dir / FIGURES_DIR).is_dir())


def _figures(run_dir: Path) -> dict[str, bytes]:
    """The figures' files, walked without following links; a link is a refusal."""
    folder = safefs.ensure_dir(run_dir / FIGURES_DIR)
    files: dict[str, bytes] = {}
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        for name in sorted(dirnames):
            if (Path(dirpath) / name).is_symlink():
                raise RunDirError(f"{Path(dirpath) / name}: a symbolic link where a run file "
                                  "belongs; refusing to use it")
        for name in sorted(filenames):
            path = Path(dirpath) / name
            files[path.relative_to(run_dir).as_posix()] = safefs.read_bytes(path)
    return files


def collect_files(run_dir: Path, *, lock_file: Path = LOCK_FILE,
                  project_root: Path | None = None) -> tuple[str, dict[str, bytes], list[str]]:
    """The run id, the bundle's files (relative path -> bytes, no SHA256SUMS) and warnings.

    Run files are read without following links. The config file is packed only from
    inside ``project_root`` and only when it gives the manifest's ``config_hash``.

    Raises:
        RunDirError: not a run folder, a bad run_id, or a link where a run file belongs.
        BundleError: the lock file or a run file cannot be read.
    """
    project_root = project_root or project_folder()
    run = load_run(run_dir)
    manifest = run.manifest
    run_id = checked_run_id(run_dir, manifest)
    warnings: list[str] = []
    files: dict[str, bytes] = {}
    try:
        for name in (TRIALS_NAME, MANIFEST_NAME, *REPORT_FILES):
            files[name] = safefs.read_bytes(run_dir / name)
        files.update(_figures(run_dir))
    except OSError as exc:
        raise BundleError(f"{run_dir}: cannot read {exc.filename}: {exc.strerror}") from None
    files[CONFIG_JSON] = (json.dumps(manifest["config"], indent=2, sort_keys=True,
                                     allow_nan=False) + "\n").encode()
    source = manifest["config"].get("source")
    toml = _config_toml(source, project_root)
    if toml is not None:
        try:
            matches = load_config(toml).digest() == manifest.get("config_hash")
        except ConfigError:
            matches = False
        if matches:
            files[CONFIG_TOML] = toml.read_bytes()
        else:
            warnings.append(f"{toml} no longer gives the run's config (edited since, or options "
                            "were overridden on the command line); left out, config.json is "
                            "what ran")
    elif isinstance(source, str) and source and not source.startswith("<"):
        warnings.append(f"config file {source!r} is not inside the project {project_root} (or "
                        "is gone); left out, config.json is what ran")
    try:
        files[LOCK_NAME] = lock_file.read_bytes()
    except OSError as exc:
        raise BundleError(f"cannot read the lock file {lock_file}: {exc.strerror}") from None
    if manifest.get("lock_hash") and _sha256(files[LOCK_NAME]) != manifest["lock_hash"]:
        warnings.append(f"{lock_file} has changed since the run (its hash differs from the "
                        "manifest's lock_hash); the bundle holds the current one")
    return run_id, files, warnings


def publish(run_dir: Path, out: Path | None = None, *, lock_file: Path = LOCK_FILE,
            project_root: Path | None = None) -> Published:
    """Write ``run_dir`` as a bundle; by default ``<run_id>.tar.gz`` beside the run folder.

    The report is rendered into the run folder first when it is missing. ``out``
    may be a file or an existing folder.
    """
    checked_run_id(run_dir, load_run(run_dir).manifest)  # before anything is written
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
    try:
        safefs.write_atomic(target, data)
    except OSError as exc:
        raise BundleError(f"cannot write {target}: {exc.strerror or exc}") from None
    return Published(target, run_id, sorted(files), _sha256(data), rendered, warnings)
