"""The checks every config record uses: one line naming the key and the value."""

from __future__ import annotations

import math
from urllib.parse import urlsplit

from harness.errors import ConfigError


def check(cond: bool, key: str, value: object, expectation: str) -> None:
    """Raise ``ConfigError("KEY = VALUE: EXPECTATION")`` unless ``cond`` holds."""
    if not cond:
        raise ConfigError(f"{key} = {value!r}: {expectation}")


def is_int(value: object) -> bool:
    """An int that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    """A finite int or float that is not a bool."""
    return (is_int(value) or isinstance(value, float)) and math.isfinite(float(value))  # type: ignore[arg-type]


def url_problem(url: object) -> str | None:
    """Why ``url`` is not a base URL ``http(s)://HOST[:PORT]``; None when it is one."""
    if not isinstance(url, str):
        return "must be a string"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return "must look like http://HOST:PORT (the port is not a number in 0..65535)"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must look like http://HOST:PORT"
    if parts.path or parts.query or parts.fragment or parts.username or parts.password:
        return "must look like http://HOST:PORT, with no path, query or credentials"
    return None
