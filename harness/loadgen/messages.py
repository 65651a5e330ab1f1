"""The messages between the Locust master and its workers, as typed, bounded records.

Master to worker (Locust custom messages)::

    asyncbench_order    {trial, job: {scenario, url, params, calls_field}, index, parts}
    asyncbench_release  {trial, burst}          release burst ``burst`` now
    asyncbench_abort    {trial}                 forget the trial

Worker to master::

    asyncbench_ready    {trial, burst, host, pid}   every client of the burst is ready
    asyncbench_report   {trial, host, pid, report}  the worker's partial (or null: nothing
                                                    to report, e.g. the warm-up)
    asyncbench_error    {trial, message}            the share could not run

Everything a worker sends is untrusted input (it may come from another host): the
transport drops any message over ``MAX_MESSAGE_BYTES`` (``ZMQ_MAXMSGSIZE``), and
:func:`parse_report` checks every field (types, ranges, lengths, a histogram of this
harness's settings that decompresses within bounds, counts that add up to the worker's
share) before anything is merged; a message that fails says why in one line.
"""

from __future__ import annotations

import base64
import dataclasses
import math
import zlib
from typing import Any

from hdrh.histogram import HdrHistogram

from harness.errors import ConfigError
from harness.loadgen.closed import Burst, ClosedPartial, Failure, PoolWait, SteadyWindow
from harness.loadgen.drivers import OUTCOMES
from harness.loadgen.scenario import Job, shares
from harness.loadgen.schedule import split_schedule
from harness.loadgen.tally import Partial
from harness.rundir.format import HDR_DIGITS, HDR_HIGHEST_US, HDR_LOWEST_US

ORDER = "asyncbench_order"
RELEASE = "asyncbench_release"
ABORT = "asyncbench_abort"
READY = "asyncbench_ready"
REPORT = "asyncbench_report"
ERROR = "asyncbench_error"
FROM_WORKER = (READY, REPORT, ERROR)

MAX_MESSAGE_BYTES = 4 << 20     # the transport drops (with the connection) anything larger
MAX_HDR_CHARS = 1 << 20         # one encoded histogram
MAX_HDR_DECODED = 4 << 20       # ... and what it may decompress to
MAX_TEXT = 300                  # a detail, host name or error line
MAX_FAILURE_GROUPS = 64
MAX_METRICS = 32
MAX_COUNT = 10**9
MAX_SECONDS = 86_400.0


class MessageError(ValueError):
    """A worker's message is malformed; ``str()`` is one line saying what is wrong."""


# --- small checks -----------------------------------------------------------------------------

def _int(value: Any, what: str, high: int = MAX_COUNT, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise MessageError(f"{what} is not an integer in {low}..{high}")
    return value


def _seconds(value: Any, what: str, *, none: bool = False, signed: bool = False) -> Any:
    if value is None and none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise MessageError(f"{what} is not a finite number")
    if not signed and not 0 <= value <= MAX_SECONDS:
        raise MessageError(f"{what} is not a number of seconds in 0..{MAX_SECONDS:g}")
    return float(value)


def _text(value: Any, what: str, *, none: bool = False) -> str | None:
    if value is None and none:
        return None
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise MessageError(f"{what} is not a string of at most {MAX_TEXT} characters")
    return value


def _dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MessageError(f"{what} is not a table")
    return value


def _list(value: Any, what: str, most: int) -> list[Any]:
    if not isinstance(value, list | tuple) or len(value) > most:
        raise MessageError(f"{what} is not a list of at most {most} items")
    return list(value)


def decode_hdr(text: Any, what: str = "hdr") -> HdrHistogram:
    """A histogram encoded by this harness, decoded within bounds: at most
    ``MAX_HDR_CHARS`` characters, ``MAX_HDR_DECODED`` bytes once decompressed, and this
    harness's range and precision (so that adding it is exact)."""
    if not isinstance(text, str) or not 0 < len(text) <= MAX_HDR_CHARS:
        raise MessageError(f"{what} is not an encoded histogram of at most {MAX_HDR_CHARS} "
                           "characters")
    try:
        raw = base64.b64decode(text, validate=True)
        inflater = zlib.decompressobj()
        inflater.decompress(raw[8:], MAX_HDR_DECODED)
        if inflater.unconsumed_tail:
            raise MessageError(f"{what} decompresses beyond {MAX_HDR_DECODED} bytes")
        hist = HdrHistogram.decode(text)
    except MessageError:
        raise
    except Exception as exc:  # hdrh raises its own classes, zlib, binascii and ctypes errors
        raise MessageError(f"{what} does not decode ({type(exc).__name__})") from None
    if (hist.lowest_trackable_value, hist.highest_trackable_value,
            hist.significant_figures) != (HDR_LOWEST_US, HDR_HIGHEST_US, HDR_DIGITS):
        raise MessageError(f"{what} has another range or precision than this harness's")
    return hist


def _counts(value: Any, expected_total: int | None) -> dict[str, int]:
    table = _dict(value, "counts")
    if set(table) != set(OUTCOMES):
        raise MessageError(f"counts must have exactly the keys {', '.join(OUTCOMES)}")
    counts = {k: _int(table[k], f"counts.{k}") for k in OUTCOMES}
    if expected_total is not None and sum(counts.values()) != expected_total:
        raise MessageError(f"counts add up to {sum(counts.values())} requests; the worker's "
                           f"share was {expected_total}")
    return counts


# --- to the wire ------------------------------------------------------------------------------

def order(trial: str, job: Job, index: int, parts: int) -> dict[str, Any]:
    """An order message's data."""
    return {"trial": trial, "index": index, "parts": parts,
            "job": {"scenario": job.scenario, "url": job.url, "params": job.params,
                    "calls_field": job.calls_field}}


def parse_order(data: Any) -> tuple[str, Job, int, int]:
    """(trial, job, index, parts) of an order; MessageError when it is not one."""
    table = _dict(data, "order")
    trial = _text(table.get("trial"), "trial")
    parts = _int(table.get("parts"), "parts", 10_000, 1)
    index = _int(table.get("index"), "index", parts - 1)
    job = _dict(table.get("job"), "job")
    try:
        built = Job(str(job.get("scenario")), _text(job.get("url"), "url", none=True),
                    dict(_dict(job.get("params"), "params")),
                    _text(job.get("calls_field"), "calls_field", none=True))
        built.bursts()  # a clients job's arrival, refused here when it is not one
    except (ValueError, ConfigError) as exc:
        raise MessageError(str(exc)) from None
    assert trial is not None
    return trial, built, index, parts


def report(partial: ClosedPartial | Partial | None) -> dict[str, Any] | None:
    """A partial as plain data (tuples as lists) for a report message."""
    if partial is None:
        return None
    kind = "rate" if isinstance(partial, Partial) else "closed"
    return {"kind": kind, **dataclasses.asdict(partial)}


# --- from the wire ----------------------------------------------------------------------------

def expected_requests(job: Job, index: int, parts: int) -> int | None:
    """How many requests share ``index`` of ``parts`` sends in all (every burst); None for
    the closed loop at full speed, whose count is what it measures."""
    if job.scenario == "peak" or job.sustained():
        return None
    if job.scenario == "rate":
        return len(split_schedule(job.rate_spec(parts).offsets(), parts)[index])
    return shares(job.size(), parts)[index] * job.bursts()


def parse_report(data: Any, job: Job, index: int,
                 parts: int) -> ClosedPartial | Partial | None:
    """The partial in a worker's report of share ``index`` of ``parts`` of ``job``.

    Raises:
        MessageError: any field missing, of the wrong type, out of range, or counts that
            do not add up to the worker's share.
    """
    if job.scenario == "warm":
        if data is not None:
            raise MessageError("a warm-up report carries no partial")
        return None
    table = _dict(data, "report")
    want = "rate" if job.scenario == "rate" else "closed"
    if table.get("kind") != want:
        raise MessageError(f"report kind {str(table.get('kind'))[:20]!r}, expected {want!r}")
    expected = expected_requests(job, index, parts)
    if want == "rate":
        assert expected is not None
        return _rate(table, expected)
    return _closed(table, expected, shares(job.size(), parts)[index], job.bursts(),
                   job.sustained())


def _closed(table: dict[str, Any], expected: int | None, share: int,
            bursts: int, sustained: bool = False) -> ClosedPartial:
    counts = _counts(table.get("counts"), expected)
    total = sum(counts.values())
    hist = decode_hdr(table.get("hdr"))
    if hist.get_total_count() > counts["ok"]:
        raise MessageError(f"hdr holds {hist.get_total_count()} latencies, more than the "
                           f"{counts['ok']} successful requests")
    failures = []
    for i, item in enumerate(_list(table.get("failures"), "failures", MAX_FAILURE_GROUPS)):
        row = _dict(item, f"failures[{i}]")
        kind = row.get("kind")
        if kind not in OUTCOMES or kind == "ok":
            raise MessageError(f"failures[{i}].kind is not a failure kind")
        status = row.get("status")
        failures.append(Failure(kind, None if status is None else
                                _int(status, f"failures[{i}].status", 999),
                                _int(row.get("count"), f"failures[{i}].count", total, 1),
                                _text(row.get("first"), f"failures[{i}].first", none=True)))
    if sum(f.count for f in failures) != total - counts["ok"]:
        raise MessageError("failures do not add up to the failed requests in counts")
    rows = _list(table.get("bursts"), "bursts", bursts)
    if len(rows) != bursts:
        raise MessageError(f"{len(rows)} bursts reported, {bursts} ordered")
    parsed = []
    for i, item in enumerate(rows):
        row = _dict(item, f"bursts[{i}]")
        if row.get("clients") != share:
            raise MessageError(f"bursts[{i}].clients is not the worker's share ({share})")
        parsed.append(Burst(share, _seconds(row.get("duration_s"), f"bursts[{i}].duration_s"),
                            _int(row.get("ok"), f"bursts[{i}].ok", counts["ok"]),
                            _seconds(row.get("start_s"), f"bursts[{i}].start_s", none=True,
                                     signed=True)))
    pool = _dict(table.get("pool_wait"), "pool_wait")
    metrics = _dict(table.get("metrics"), "metrics")
    if len(metrics) > MAX_METRICS or not all(isinstance(k, str) and len(k) <= 64
                                             for k in metrics):
        raise MessageError(f"metrics is not a table of at most {MAX_METRICS} named numbers")
    return ClosedPartial(
        hdr=str(table["hdr"]),
        latency_sum_s=_seconds(table.get("latency_sum_s"), "latency_sum_s"),
        latency_max_s=_seconds(table.get("latency_max_s"), "latency_max_s"),
        counts=counts, failures=tuple(failures), bursts=tuple(parsed),
        pool_wait=PoolWait(_int(pool.get("count"), "pool_wait.count", counts["ok"]),
                           _seconds(pool.get("sum_ms"), "pool_wait.sum_ms", signed=True),
                           _seconds(pool.get("max_ms"), "pool_wait.max_ms", signed=True)),
        metrics={k: _seconds(v, f"metrics.{k}", signed=True) for k, v in metrics.items()},
        cpu_s=_seconds(table.get("cpu_s"), "cpu_s", none=True),
        wait_s=_seconds(table.get("wait_s"), "wait_s", none=True),
        wall_s=_seconds(table.get("wall_s"), "wall_s", none=True),
        window=_window(table.get("window"), total, sustained),
        held_back=_int(table.get("held_back", 0), "held_back", total))


def _window(value: Any, total: int, sustained: bool) -> SteadyWindow | None:
    """A sustained share's steady window (None otherwise): three times on the worker's
    clock, in order, and at most as many answers as requests."""
    if not sustained:
        if value is not None:
            raise MessageError("window reported for a trial that is not sustained")
        return None
    row = _dict(value, "window")
    opened, start, end = (_seconds(row.get(k), f"window.{k}", signed=True)
                          for k in ("opened_s", "start_s", "end_s"))
    if not opened <= start < end or end - start > MAX_SECONDS:
        raise MessageError("window times are not opened_s <= start_s < end_s")
    return SteadyWindow(opened, start, end, _int(row.get("requests"), "window.requests", total))


def _rate(table: dict[str, Any], total: int) -> Partial:
    counts = _counts(table.get("counts"), total)
    hists = {name: decode_hdr(table.get(name), name)
             for name in ("corrected", "uncorrected", "lag")}
    if hists["corrected"].get_total_count() != counts["ok"]:
        raise MessageError("corrected holds another number of latencies than ok requests")
    return Partial(
        corrected=str(table["corrected"]), uncorrected=str(table["uncorrected"]),
        lag=str(table["lag"]), counts=counts,
        first_error=_text(table.get("first_error"), "first_error", none=True),
        corrected_sum_s=_seconds(table.get("corrected_sum_s"), "corrected_sum_s"),
        corrected_max_s=_seconds(table.get("corrected_max_s"), "corrected_max_s"),
        uncorrected_sum_s=_seconds(table.get("uncorrected_sum_s"), "uncorrected_sum_s"),
        uncorrected_max_s=_seconds(table.get("uncorrected_max_s"), "uncorrected_max_s"),
        last_answer=(-math.inf if table.get("last_answer") is None  # no answer at all
                     else _seconds(table.get("last_answer"), "last_answer", signed=True)),
        capped=_int(table.get("capped"), "capped", total),
        in_flight_peak=_int(table.get("in_flight_peak"), "in_flight_peak", total),
        start=_seconds(table.get("start"), "start", signed=True),
        cpu_s=_seconds(table.get("cpu_s"), "cpu_s"),
        wait_s=_seconds(table.get("wait_s"), "wait_s", none=True),
        wall_s=_seconds(table.get("wall_s"), "wall_s"))
