"""The checks every config record uses: one line naming the key and the value."""

from __future__ import annotations

import math

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
