"""Wall-clock durations as people write them: ``90s``, ``10m``, ``1h``, ``1h30m``, ``2.5m``,
or a plain number of seconds; and the same words back (``9m41s``).
"""

from __future__ import annotations

import math
import re

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smh])")
MAX_S = 7 * 24 * 3600.0  # a week: beyond that a typo is likelier than a benchmark


def parse_duration(text: str) -> float:
    """Seconds in ``text``: number-unit parts (s, m, h; ``1h30m``) or a bare number of
    seconds, positive and at most a week.

    Raises:
        ValueError: anything else, with the accepted forms in the message.
    """
    words = text.strip().lower().replace(" ", "")
    try:
        seconds = float(words)
    except ValueError:
        parts = _PART.findall(words)
        if not parts or "".join(n + u for n, u in parts) != words:
            raise ValueError(f"{text!r} is not a duration (e.g. 90s, 10m, 1h, 1h30m)") from None
        seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if not math.isfinite(seconds) or not 1 <= seconds <= MAX_S:
        raise ValueError(f"{text!r} is not a duration between 1 s and a week")
    return seconds


def duration_words(seconds: float) -> str:
    """``9m41s``, ``1h2m``, ``42s``: whole seconds, the largest units first."""
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m" if not secs else f"{hours}h{minutes}m{secs}s"
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"
