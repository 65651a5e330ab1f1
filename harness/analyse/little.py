"""Little's law as a self-check: throughput x mean response time is the mean number of
requests in flight, to hold against the number the load generator meant to keep.

For a ``clients`` trial the generator means to keep its C clients in flight: C is the
intended concurrency, and ``throughput x mean response`` (over the steady bursts) equals
C only when every client was in flight for the whole burst. For an open-loop trial (rate,
capacity) the schedule means each request to be in flight from its intended send until
its answer: ``offered rate x mean latency from the intended send``; the generator kept
``achieved rate x mean latency from the actual send`` in flight.

More than :data:`LITTLE_TOLERANCE` apart is named in the trial's ``checks`` (``little``)
and counted in the report. Whether it invalidates the trial depends on what the
generator meant:

- a **sustained** clients trial (wrk's closed loop: each of C clients sends its next
  request the moment its last is answered) means to keep all C in flight all the time, so
  the law must hold there: a trial more than 10% off is invalid (``judges``), its clients
  were idle between requests, the generator's doing;
- a **bursts** trial releases its C clients once per burst, and a stack that serves a
  burst in waves (gthread's slots, or an event loop queueing on its CPU) holds the
  average client in flight for part of it; an **open-loop** trial of a saturated stack
  serves less than is offered. Both are findings, not a disturbed instrument: named, not
  judged, beside the checks that do judge the generator there (its CPU, its wait for a
  CPU, its send lag, requests held back by its own pool).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

LITTLE_TOLERANCE = 0.10
"""Beyond this relative difference between measured and intended concurrency, a trial is
named "off" in its checks."""


def little_ratio(throughput_rps: float, mean_response_s: float, intended: float) -> float:
    """``throughput x mean response / intended``: 1 when the law holds with the intended
    concurrency.

    Raises:
        ValueError: a value that is negative or not finite, or ``intended`` not positive.
    """
    for name, value in (("throughput_rps", throughput_rps),
                        ("mean_response_s", mean_response_s), ("intended", intended)):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite non-negative number, got {value!r}")
    if intended <= 0:
        raise ValueError(f"intended must be positive, got {intended!r}")
    return throughput_rps * mean_response_s / intended


def within(ratio: float, tolerance: float = LITTLE_TOLERANCE) -> bool:
    """True when ``ratio`` is within ``tolerance`` of 1 (the bound itself is within)."""
    return abs(ratio - 1.0) <= tolerance + 1e-12


def little_check(throughput_rps: float | None, mean_response_s: float | None,
                 intended: float | None, judges: bool = False) -> dict[str, Any] | None:
    """The ``little`` entry of a trial's checks: the measured and intended concurrency,
    their ratio, whether it is within the tolerance and whether that judges the trial
    (``judges``: a sustained clients trial); None when a value is missing."""
    if throughput_rps is None or mean_response_s is None or not intended:
        return None
    ratio = little_ratio(throughput_rps, mean_response_s, intended)
    return {"measured": round(throughput_rps * mean_response_s, 4),
            "intended": round(intended, 4), "ratio": round(ratio, 4),
            "within": within(ratio), "judges": judges}


def invalid_reason(check: Mapping[str, Any] | None) -> str | None:
    """Why a trial whose Little's law check judges it is invalid; None when it is not
    (no check, a check that only names, or one within the tolerance)."""
    if not check or not check.get("judges") or check.get("within") is not False:
        return None
    return (f"Little's law: throughput x mean response kept {check['measured']:g} requests in "
            f"flight of the {check['intended']:g} clients meant to be (ratio "
            f"{check['ratio']:.2f}, more than {LITTLE_TOLERANCE:.0%} off): the clients were "
            "idle between requests")
