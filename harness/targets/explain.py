"""The line of a child's output that explains why it stopped.

A server that fails to start usually says why in one line among many: Python's
traceback ends with the exception (``RuntimeError: gevent worker requires gevent
24.10.1 or higher``), and gunicorn wraps a worker class's traceback in brackets, so the
very last line of its output is ``]``. :func:`explaining_line` picks, in this order:

1. the exception line of the last traceback (the first unindented line after
   ``Traceback (most recent call last):``, whatever precedes that header on its line);
2. the last line that reads like an exception or an error (``ModuleNotFoundError: ...``,
   ``Error: ...``, ``ERROR: Error loading ASGI app...``);
3. the last line carrying a letter or a digit (not a lone bracket or punctuation).

Pure text; the caller names the log file the text came from.
"""

from __future__ import annotations

import re

TRACEBACK = "Traceback (most recent call last):"
MAX_CHARS = 300  # one line in a terminal message: a longer one is cut, with an ellipsis
_EXCEPTION = re.compile(
    r"^\W{0,3}(?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*(?:Error|Exception|Exit|Interrupt|Fault|Failure)"
    r"(?::|$)")
_ERROR_WORD = re.compile(r"\b(?:error|fatal|panic)\b", re.IGNORECASE)
_MEANINGFUL = re.compile(r"[A-Za-z0-9]")


def _shorten(line: str) -> str:
    line = " ".join(line.split())
    return line if len(line) <= MAX_CHARS else line[:MAX_CHARS - 1] + "…"


def _after_last_traceback(lines: list[str]) -> str | None:
    starts = [i for i, line in enumerate(lines) if TRACEBACK in line]
    if not starts:
        return None
    for line in lines[starts[-1] + 1:]:
        if line.strip() and not line[:1].isspace():
            return line if _MEANINGFUL.search(line) else None
    return None


def explaining_line(text: str) -> str:
    """The line of ``text`` (a process's output) that best says why it stopped; ``no
    output`` when it holds nothing readable. Never more than :data:`MAX_CHARS` characters."""
    lines = [line.rstrip() for line in text.splitlines()]
    found = _after_last_traceback(lines)
    if found is None:
        found = next((line for line in reversed(lines)
                      if _EXCEPTION.match(line.strip()) or _ERROR_WORD.search(line)), None)
    if found is None:
        found = next((line for line in reversed(lines) if _MEANINGFUL.search(line)), None)
    return "no output" if found is None else _shorten(found)
