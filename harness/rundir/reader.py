"""Reading a run folder (``results/<run_id>/``) back: its manifest and its trials.

A missing or unusable folder or manifest raises :class:`RunDirError` with a
one-line message. ``trials.jsonl`` is read line by line and forgivingly: a line
that is truncated (typically the last one, after a crash), not JSON, not a trial
record of a known schema version, or a repeat of an earlier ``trial_id`` is
skipped and listed in :attr:`Run.skipped_lines` with its line number and reason,
never raised. Nothing here interprets the numbers; that is ``summary``'s job.

A run folder may be someone else's, so what the reader accepts is bounded: a line
longer than :data:`MAX_LINE_BYTES` is skipped without being held in memory (it is
read past in chunks), a line nested deeper than :data:`MAX_DEPTH` is skipped before
the JSON parser sees it (100,000 ``[`` would exhaust its recursion), the manifest is
read only up to :data:`MAX_MANIFEST_BYTES` and to the same depth, and only the first
:data:`MAX_SKIPPED_LISTED` skipped lines are listed (the rest are counted). Reading a
hostile ``trials.jsonl`` therefore costs about one line's worth of memory.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import IO, Any

from harness.errors import RunDirError
from harness.rundir.format import MANIFEST_NAME, SCHEMA_VERSION, STATUSES, TRIALS_NAME

MAX_LINE_BYTES = 1 << 20        # a trial record is a few KiB (its histogram is compressed)
MAX_DEPTH = 32                  # a trial record nests about 4 deep
MAX_MANIFEST_BYTES = 16 << 20   # a manifest is about 10 KiB
MAX_SKIPPED_LISTED = 1000       # skipped lines listed one by one; the rest only counted
_CHUNK = 1 << 16
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEPS = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")

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
        skipped_lines: ``(line number, reason)`` for each line left out, 1-based (the
            first :data:`MAX_SKIPPED_LISTED`, and one more saying how many followed).
        skipped_unlisted: lines left out beyond those listed.
    """

    path: Path
    manifest: dict[str, Any]
    trials: list[dict[str, Any]] = field(default_factory=list)
    skipped_lines: list[tuple[int, str]] = field(default_factory=list)
    skipped_unlisted: int = 0

    @property
    def skipped_total(self) -> int:
        """Every line left out, listed or only counted."""
        return len(self.skipped_lines) + self.skipped_unlisted


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
        with trials_path.open("rb") as fh:
            trials, skipped, unlisted = read_trials(fh)
    except FileNotFoundError:
        raise RunDirError(f"no {TRIALS_NAME} in run folder {folder}") from None
    except OSError as exc:
        raise RunDirError(f"cannot read {trials_path}: {exc.strerror or exc}") from None
    return Run(path=folder, manifest=manifest, trials=trials, skipped_lines=skipped,
               skipped_unlisted=unlisted)


def nesting_depth(raw: bytes) -> int:
    """How deep the brackets of a JSON text nest, strings left out (0 without any)."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH:
        return raw.count(b"[") + raw.count(b"{")  # an upper bound, and small enough
    steps = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS).translate(_STEPS)
    return max(accumulate(step - 1 for step in steps), default=0)


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_MANIFEST_BYTES + 1)
    except FileNotFoundError:
        raise RunDirError(f"no {MANIFEST_NAME} in run folder {path.parent}") from None
    except OSError as exc:
        raise RunDirError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_MANIFEST_BYTES:
        raise RunDirError(f"{path} is larger than {MAX_MANIFEST_BYTES >> 20} MiB; not a "
                          "manifest the harness wrote")
    if nesting_depth(data) > MAX_DEPTH:
        raise RunDirError(f"{path} nests deeper than {MAX_DEPTH} levels; not a manifest "
                          "the harness wrote")
    try:
        manifest = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise RunDirError(f"cannot read {path}: {exc}") from None
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
        for each line left out (line numbers start at 1), as :func:`read_trials`.
    """
    trials, skipped, _ = read_trials(io.BytesIO(data))
    return trials, skipped


def _lines(fh: IO[bytes]) -> Iterator[tuple[bytes | None, int, bool]]:
    """``(line or None when too long, its length, ended by a newline)`` for each line;
    a line longer than :data:`MAX_LINE_BYTES` is read past in chunks, never held."""
    while True:
        raw = fh.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        ended = raw.endswith(b"\n")
        if ended or len(raw) <= MAX_LINE_BYTES:
            yield (raw[:-1] if ended else raw), len(raw) - ended, ended
            continue
        length = len(raw)
        del raw
        while True:
            chunk = fh.readline(_CHUNK)
            ended = chunk.endswith(b"\n")
            length += len(chunk) - ended
            if not chunk or ended:
                break
        yield None, length, ended


def read_trials(fh: IO[bytes]) -> tuple[list[dict[str, Any]], list[tuple[int, str]], int]:
    """Read a ``trials.jsonl`` from ``fh`` line by line, within the reader's bounds.

    Returns:
        ``(trials, skipped, unlisted)``: the records in file order, ``(line, reason)``
        for the first :data:`MAX_SKIPPED_LISTED` lines left out (line numbers start at
        1; then one entry saying how many more followed), and the count of those more.
    """
    trials: list[dict[str, Any]] = []
    skipped: list[tuple[int, str]] = []
    unlisted = 0
    first_seen: dict[str, int] = {}
    for number, (raw, length, ended) in enumerate(_lines(fh), start=1):
        record: dict[str, Any] | None
        reason: str | None
        if raw is None:
            record, reason = None, (f"a line of {length} bytes, longer than the "
                                    f"{MAX_LINE_BYTES} a trial record may be; not read")
        else:
            record, reason = _parse_line(raw)
        if record is not None:
            trial_id = record["trial_id"]
            if trial_id in first_seen:
                reason = f"duplicate trial_id {trial_id!r} (first on line {first_seen[trial_id]})"
            else:
                first_seen[trial_id] = number
        if reason is not None:
            if not ended:
                reason = f"truncated last line (no newline at end of file): {reason}"
            if len(skipped) < MAX_SKIPPED_LISTED:
                skipped.append((number, reason))
            else:
                unlisted += 1
        elif record is not None:
            trials.append(record)
    if unlisted:
        skipped[-1] = (skipped[-1][0], f"{skipped[-1][1]}; and {unlisted} more lines skipped "
                                       "after it, not listed")
    return trials, skipped, unlisted


def _parse_line(raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """One line as ``(record, None)``, or ``(None, reason)`` when it is unusable."""
    if not raw.strip():
        return None, "blank line"
    depth = nesting_depth(raw)
    if depth > MAX_DEPTH:
        return None, f"nested {depth} levels deep, deeper than the {MAX_DEPTH} a record may be"
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
