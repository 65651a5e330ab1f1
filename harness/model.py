"""What a simple model predicts, for comparison with each measurement.

Fan-out: a sequential handler waits N x delay, a concurrent one about one delay.
Concurrent clients: a stack serving ``slots`` requests at once finishes a burst of C
in ceil(C / slots) waves of one delay; an event loop (no slot limit) in one.
A stack far below its model is flagged in the summary.
"""

from __future__ import annotations

import math

FANOUT_MODES = ("sequential", "concurrent")


def expected_fanout_duration_s(n: int, delay_s: float, fanout_mode: str) -> float:
    """Model duration of one fan-out request making ``n`` upstream calls of ``delay_s``.

    Sequential handlers wait ``n * delay_s``; concurrent ones wait one ``delay_s``.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if delay_s <= 0:
        raise ValueError(f"delay_s must be positive, got {delay_s}")
    if fanout_mode == "sequential":
        return n * delay_s
    if fanout_mode == "concurrent":
        return delay_s
    raise ValueError(f"fanout_mode must be one of {FANOUT_MODES}, got {fanout_mode!r}")


def expected_clients_duration_s(c: int, delay_s: float, slots: int | None) -> float:
    """Model duration of a closed burst of ``c`` clients, each needing one ``delay_s``.

    With ``slots`` requests served at once the burst takes ``ceil(c/slots)`` waves;
    ``slots=None`` (an event loop) serves all of them in one wave.
    """
    if c < 1:
        raise ValueError(f"c must be at least 1, got {c}")
    if delay_s <= 0:
        raise ValueError(f"delay_s must be positive, got {delay_s}")
    if slots is None:
        return delay_s
    if slots < 1:
        raise ValueError(f"slots must be at least 1 or None, got {slots}")
    return math.ceil(c / slots) * delay_s


def expected_clients_throughput(c: int, delay_s: float, slots: int | None) -> float:
    """Model throughput (req/s) of the burst of :func:`expected_clients_duration_s`."""
    return c / expected_clients_duration_s(c, delay_s, slots)


def efficiency(measured: float, expected: float, higher_is_better: bool) -> float:
    """How close a measurement comes to its model: ``measured/expected`` for rates,
    ``expected/measured`` for durations. About 1 at the model, lower when worse.

    Raises:
        ValueError: a value is not positive and finite.
    """
    for name, value in (("measured", measured), ("expected", expected)):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be positive and finite, got {value!r}")
    return measured / expected if higher_is_better else expected / measured

