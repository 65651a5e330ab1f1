"""Query-parameter validation and the JSON error bodies every app and the upstream share.

Pure functions, no I/O.  Integers are accepted only as plain ASCII decimal digits
("5", "0", "007"): signs, spaces, decimals, exponents and non-ASCII digits are
rejected, and so is anything longer than ``MAX_DIGITS`` digits before it is converted.
"""

from __future__ import annotations

import re
from typing import Any

from servers.errors import ParamError, UpstreamError

__all__ = [
    "DEFAULT_DELAY_MS",
    "MAX_AGGREGATE_MS",
    "MAX_DELAY_MS",
    "MAX_N",
    "ParamError",
    "http_error_body",
    "internal_error_body",
    "param_error_body",
    "parse_aggregate",
    "parse_cpu_ms",
    "parse_delay_ms",
    "parse_int",
    "parse_ms",
    "parse_n",
    "parse_served_ms",
    "upstream_error_body",
]

MAX_N = 1000
MAX_DELAY_MS = 60_000
MAX_CPU_MS = 10_000

# N x delay bounds how long one /aggregate holds a sync worker's thread (its calls run
# one after another): without it n=1000, delay_ms=29999 holds a thread for 8 hours.
MAX_AGGREGATE_MS = 120_000
DEFAULT_DELAY_MS = 100
MAX_DIGITS = 12

_DIGITS = re.compile(rf"[0-9]{{1,{MAX_DIGITS}}}")
_SHOWN_CHARS = 40


def parse_int(param: str, raw: str | None, low: int, high: int, default: int | None = None) -> int:
    """Parse ``raw`` as a decimal integer in ``low..high`` inclusive.

    Args:
        param: the parameter's name, carried by the error.
        raw: the raw query-string value, ``None`` when the parameter is absent.
        low, high: the inclusive bounds.
        default: returned when ``raw`` is ``None``; ``None`` makes the parameter required.

    Raises:
        ParamError: ``raw`` is absent without a default, not a plain integer, or out of range.
    """
    if raw is None:
        if default is None:
            raise ParamError(param, f"{param} is required: an integer in {low}..{high}")
        return default
    if _DIGITS.fullmatch(raw) is None:
        raise ParamError(param, f"{param} must be an integer in {low}..{high}, got {_shown(raw)}")
    value = int(raw)
    if not low <= value <= high:
        raise ParamError(param, f"{param} must be in {low}..{high}, got {value}")
    return value


def parse_n(raw: str | None) -> int:
    """``n`` of ``/aggregate``: required, 1..1000 upstream calls."""
    return parse_int("n", raw, 1, MAX_N)


def parse_delay_ms(raw: str | None) -> int:
    """``delay_ms`` of the apps: 0..60000 milliseconds, 100 when absent."""
    return parse_int("delay_ms", raw, 0, MAX_DELAY_MS, default=DEFAULT_DELAY_MS)


def parse_cpu_ms(raw: str | None) -> int:
    """``cpu_ms`` of the apps: 0..10000 milliseconds of handler CPU work, 0 when absent."""
    return parse_int("cpu_ms", raw, 0, MAX_CPU_MS, default=0)


def parse_aggregate(n_raw: str | None, delay_raw: str | None) -> tuple[int, int]:
    """``n`` and ``delay_ms`` of ``/aggregate``, each in range and ``n x delay_ms`` at most
    ``MAX_AGGREGATE_MS`` (120 s: the sequential worst case of a sync app)."""
    n, delay_ms = parse_n(n_raw), parse_delay_ms(delay_raw)
    if n * delay_ms > MAX_AGGREGATE_MS:
        raise ParamError("n", f"n x delay_ms must be at most {MAX_AGGREGATE_MS} ms, got "
                              f"{n} x {delay_ms} = {n * delay_ms}")
    return n, delay_ms


def parse_ms(raw: str | None) -> int:
    """``ms`` of the upstream's ``/delay``: required, 0..60000 milliseconds."""
    return parse_int("ms", raw, 0, MAX_DELAY_MS)


def parse_served_ms(body: Any) -> float:
    """The ``served_ms`` of an upstream ``/delay`` answer's decoded JSON body.

    Raises:
        UpstreamError: the body is not an object with a numeric ``served_ms`` (status 200).
    """
    served = body.get("served_ms") if isinstance(body, dict) else None
    if isinstance(served, bool) or not isinstance(served, int | float):
        raise UpstreamError("upstream answered 200 without a numeric served_ms", status=200)
    return float(served)


def param_error_body(error: ParamError) -> dict[str, Any]:
    """The 400 body: ``{"error": message, "param": name}``."""
    return {"error": error.message, "param": error.param}


def upstream_error_body(error: UpstreamError) -> dict[str, Any]:
    """The 502 body: the message, the upstream's status (``None`` if it never answered)
    and how many of the request's upstream calls were attempted and succeeded."""
    return {
        "error": error.message,
        "upstream_status": error.status,
        "calls_attempted": error.attempted,
        "calls_succeeded": error.succeeded,
    }


def http_error_body(status: int, message: str) -> dict[str, Any]:
    """A body for the framework's own errors (404, 405, ...)."""
    return {"error": message, "status": status}


def internal_error_body(exc: BaseException) -> dict[str, Any]:
    """The 500 body: names the exception's type, never a traceback."""
    return {"error": f"internal error: {type(exc).__name__}", "status": 500}


def _shown(raw: str) -> str:
    if len(raw) > _SHOWN_CHARS:
        return repr(raw[:_SHOWN_CHARS]) + f"... ({len(raw)} chars)"
    return repr(raw)
