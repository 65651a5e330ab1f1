"""Reading a run folder (``results/<run_id>/``) back: its manifest and its trials.

A missing or unusable folder or manifest raises :class:`RunDirError` with a
one-line message. ``trials.jsonl`` is read line by line and forgivingly: a line
that is truncated (typically the last one, after a crash), not JSON, not a trial
record of a known schema version, or a repeat of an earlier ``trial_id`` is
skipped and listed in :attr:`Run.skipped_lines` with its line number and reason,
never raised. Nothing here interprets the numbers; that is ``summary``'s job.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import RunDirError
from harness.rundir.format import MANIFEST_NAME, SCHEMA_VERSION, STATUSES, TRIALS_NAME

# Keys every trial line must carry, with the type they must have, for the line
# to be usable at all; everything else is checked where it is used.
_REQUIRED: dict[str, type] = {
    "trial_id": str,
    "scenario": str,
    "stack": str,
    "level": int,
    "status": str,
}


@dataclass(frozen=True)
class Run:
    """One run folder as read from disk.

    Attributes:
        path: the folder.
        manifest: ``manifest.json`` (has at least ``run_id``, ``seed`` and ``config``).
        trials: usable trial records, in file order.
        skipped_lines: ``(line number, reason)`` for each line left out, 1-based.
    """

    path: Path
    manifest: dict[str, Any]
    trials: list[dict[str, Any]] = field(default_factory=list)
    skipped_lines: list[tuple[int, str]] = field(default_factory=list)


def load_run(path: str | os.PathLike[str]) -> Run:
    """Read the manifest and the trials of the run folder at ``path``.

    Raises:
        RunDirError: the folder, its manifest or its trials file is missing or
            unreadable, or the manifest lacks ``run_id``, ``seed`` or ``config``.
    """
    folder = Path(path)
    if not folder.exists():
        raise RunDirError(f"run folder not found: {folder}")
    if not folder.is_dir():
        raise RunDirError(f"not a run folder (not a directory): {folder}")
    manifest = _read_manifest(folder / MANIFEST_NAME)
    trials_path = folder / TRIALS_NAME
    try:
        data = trials_path.read_bytes()
    except FileNotFoundError:
        raise RunDirError(f"no {TRIALS_NAME} in run folder {folder}") from None
    except OSError as exc:
        raise RunDirError(f"cannot read {trials_path}: {exc.strerror or exc}") from None
    trials, skipped = parse_trials(data)
    return Run(path=folder, manifest=manifest, trials=trials, skipped_lines=skipped)


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RunDirError(f"no {MANIFEST_NAME} in run folder {path.parent}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RunDirError(f"cannot read {path}: {exc}") from None
    try:
        manifest = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RunDirError(
            f"{path} is not valid JSON (line {exc.lineno} column {exc.colno}: {exc.msg})"
        ) from None
    if not isinstance(manifest, dict):
        raise RunDirError(f"{path} must hold a JSON object, not {type(manifest).__name__}")
    missing = [key for key in ("run_id", "seed", "config") if key not in manifest]
    if missing:
        raise RunDirError(f"{path} lacks required key(s): {', '.join(missing)}")
    if not isinstance(manifest["config"], dict):
        raise RunDirError(f"{path}: 'config' must be a JSON object")
    seed = manifest["seed"]
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise RunDirError(f"{path}: 'seed' must be an integer, got {seed!r}")
    return manifest


def parse_trials(data: bytes) -> tuple[list[dict[str, Any]], list[tuple[int, str]]]:
    """Split the bytes of a ``trials.jsonl`` into usable records and skipped lines.

    Returns:
        ``(trials, skipped)``: the records in file order and ``(line, reason)``
        for each line left out (line numbers start at 1).
    """
    trials: list[dict[str, Any]] = []
    skipped: list[tuple[int, str]] = []
    first_seen: dict[str, int] = {}
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()  # the newline that ends the last complete line
    last = len(lines)
    for number, raw in enumerate(lines, start=1):
        record, reason = _parse_line(raw)
        if record is not None:
            trial_id = record["trial_id"]
            if trial_id in first_seen:
                reason = f"duplicate trial_id {trial_id!r} (first on line {first_seen[trial_id]})"
            else:
                first_seen[trial_id] = number
        if reason is not None:
            if number == last and not data.endswith(b"\n"):
                reason = f"truncated last line (no newline at end of file): {reason}"
            skipped.append((number, reason))
        elif record is not None:
            trials.append(record)
    return trials, skipped


def _parse_line(raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """One line as ``(record, None)``, or ``(None, reason)`` when it is unusable."""
    if not raw.strip():
        return None, "blank line"
    try:
        record = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8 text (byte {exc.start + 1})"
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON at column {exc.colno}: {exc.msg}"
    if not isinstance(record, dict):
        return None, f"a JSON {type(record).__name__}, not an object"
    problem = _record_problem(record)
    return (None, problem) if problem else (record, None)


def _record_problem(record: dict[str, Any]) -> str | None:
    """Why a decoded line is not a usable trial record, or None when it is."""
    version = record.get("schema_version")
    if version != SCHEMA_VERSION:
        return f"unsupported schema_version {version!r} (expected {SCHEMA_VERSION})"
    for key, kind in _REQUIRED.items():
        value = record.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            return f"missing or non-{kind.__name__} {key!r}"
    if record["status"] not in STATUSES:
        return f"unknown status {record['status']!r}"
    if record["status"] == "ok" and not isinstance(record.get("metrics"), dict):
        return "ok trial without a 'metrics' object"
    return None
