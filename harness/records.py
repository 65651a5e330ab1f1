"""Trial records: one self-describing JSON object per line, written and flushed per trial.

Format history (``schema_version``):
    1  first version: identity (run_id, trial_id, round, order), scenario, stack, level,
       params, status and error, requests by outcome, latency_ms summary, metrics,
       hdr (base64 HDR histogram of latencies in microseconds), checks, resources.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from hdrh.histogram import HdrHistogram

SCHEMA_VERSION = 1
HDR_LOWEST_US = 1
HDR_HIGHEST_US = 120_000_000  # the longest request timeout a config allows
HDR_DIGITS = 3
STATUSES = ("ok", "failed", "invalid")


def new_histogram() -> HdrHistogram:
    """An empty latency histogram in microseconds, up to two minutes, 3 significant digits."""
    return HdrHistogram(HDR_LOWEST_US, HDR_HIGHEST_US, HDR_DIGITS)


def encode_latencies(latencies_s: list[float]) -> tuple[str, HdrHistogram]:
    """Record latencies (seconds) in a histogram; return it encoded as ASCII and itself."""
    hist = new_histogram()
    for latency in latencies_s:
        hist.record_value(min(HDR_HIGHEST_US, max(HDR_LOWEST_US, round(latency * 1e6))))
    return hist.encode().decode("ascii"), hist


def latency_summary(latencies_s: list[float], hist: HdrHistogram) -> dict[str, float | None]:
    """Mean and max exactly, percentiles from the histogram; milliseconds; None if empty."""
    if not latencies_s:
        return dict.fromkeys(("mean", "p50", "p90", "p99", "p999", "max"), None)
    return {
        "mean": round(1000 * sum(latencies_s) / len(latencies_s), 4),
        "p50": hist.get_value_at_percentile(50) / 1000,
        "p90": hist.get_value_at_percentile(90) / 1000,
        "p99": hist.get_value_at_percentile(99) / 1000,
        "p999": hist.get_value_at_percentile(99.9) / 1000,
        "max": round(1000 * max(latencies_s), 4),
    }


def dumps(record: dict[str, Any]) -> str:
    """One record as one line: keys sorted, no NaN, compact."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), allow_nan=False)


class TrialWriter:
    """Appends records to ``trials.jsonl``, one complete line per write, flushed and synced."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh = path.open("a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        """Append one record and make it durable before returning."""
        if record.get("status") not in STATUSES:
            raise ValueError(f"record status {record.get('status')!r} is not one of {STATUSES}")
        self._fh.write(dumps(record) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

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
    data = path.read_bytes() if path.exists() else b""
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
        with path.open("r+b") as fh:
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
    """Write a JSON file through a temporary file and a rename, so it is never half-written."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, sort_keys=True, indent=2, allow_nan=False) + "\n",
                   encoding="utf-8")
    os.replace(tmp, path)
