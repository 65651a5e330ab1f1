"""Writing a run folder: trial records one complete line at a time, flushed and synced,
a crash's incomplete last line dropped, JSON files replaced atomically.

The format itself (names, schema version, statuses, histograms) is ``rundir.format``'s.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from harness import safefs
from harness.rundir.format import STATUSES


def dumps(record: dict[str, Any]) -> str:
    """One record as one line: keys sorted, no NaN, compact."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), allow_nan=False)


class TrialWriter:
    """Appends records to ``trials.jsonl``, one complete line per write, flushed and synced."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh = safefs.open_append(path)

    def write(self, record: dict[str, Any]) -> None:
        """Append one record and make it durable before returning."""
        if record.get("status") not in STATUSES:
            raise ValueError(f"record status {record.get('status')!r} is not one of {STATUSES}")
        try:
            self._fh.write((dumps(record) + "\n").encode("utf-8"))
            self._fh.flush()
            os.fsync(self._fh.fileno())
        except OSError as exc:  # a full disk names the file it could not extend
            raise safefs.named(exc, self.path) from None

    def close(self) -> None:
        """Close the file."""
        self._fh.close()

    def __enter__(self) -> TrialWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


@dataclass(frozen=True)
class Repair:
    """What ``repair_tail`` did to a trials file."""

    kept_lines: int
    dropped_bytes: int
    dropped_text: str


def repair_tail(path: Path) -> Repair:
    """Drop an incomplete last line (no newline, or not JSON) left by a crash.

    Earlier lines are never touched: the file is truncated at the end of the last
    complete, parseable line.
    """
    data = safefs.read_bytes(path) if safefs.check_regular(path) else b""
    end = len(data)
    cut = end
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
    else:
        last_start = data.rfind(b"\n", 0, max(0, end - 1)) + 1
        if end and not _parses(data[last_start:end]):
            cut = last_start
    dropped = data[cut:]
    if dropped:
        with safefs.open_update(path) as fh:
            fh.truncate(cut)
            fh.flush()
            os.fsync(fh.fileno())
    kept = data[:cut].count(b"\n")
    return Repair(kept, len(dropped), dropped[:80].decode("utf-8", "replace"))


def _parses(line: bytes) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write a JSON file through a temporary file and a rename, so it is never half-written
    (``safefs.write_atomic``: never through a link)."""
    text = json.dumps(data, sort_keys=True, indent=2, allow_nan=False) + "\n"
    safefs.write_atomic(path, text.encode("utf-8"))
