"""HTTP probes of servers: one GET, a JSON body, a health answer, and waiting until healthy.

Every request the harness makes to a server outside a trial goes through here, never
through a proxy from the environment (``http_proxy`` would answer for a dead port), with
a timeout. Trials themselves use the load generator's aiohttp sessions.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from harness.errors import StackStartError
from harness.targets.explain import explaining_line

PROBE_TIMEOUT_S = 3.0   # one GET /health
POLL_S = 0.05           # between two health probes while a server starts


def opener() -> urllib.request.OpenerDirector:
    """A urllib opener that ignores proxy settings: the load generator does not use one."""
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def fetch(url: str, timeout: float = PROBE_TIMEOUT_S) -> tuple[int | None, bytes, str]:
    """GET ``url``: (status or None, the body, what went wrong or ``""``)."""
    try:
        with opener().open(url, timeout=timeout) as resp:
            return int(resp.status), resp.read(), ""
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read(), ""
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return None, b"", f"no answer ({reason})"


def fetch_json(url: str, timeout: float = PROBE_TIMEOUT_S) -> tuple[int | None, Any, str]:
    """GET ``url``: (status or None, the JSON body or None, what went wrong or ``""``)."""
    status, raw, problem = fetch(url, timeout)
    if status is None:
        return None, None, problem
    try:
        return status, json.loads(raw), ""
    except ValueError:
        return status, None, "the body is not JSON"


def health_problem(base_url: str, timeout: float = PROBE_TIMEOUT_S,
                   path: str = "/health") -> str | None:
    """Why ``GET base_url + path`` is not a 200; None when it is."""
    status, _, problem = fetch(base_url + path, timeout)
    if status is None:
        return problem
    return None if status == 200 else f"GET {path} answered {status}"


def wait_healthy(name: str, command: list[str], address: Callable[[], str | None],
                 deadline_s: float, *, path: str = "/health",
                 exited: Callable[[], int | None] = lambda: None,
                 output: Callable[[], str] = lambda: "",
                 said: Callable[[], str] | None = None) -> None:
    """Block until ``address()`` (None while unknown) answers 200 on ``path``.

    Raises StackStartError naming ``name`` when ``exited()`` reports an exit code first
    or the deadline passes; the message ends with the line of ``output()`` that explains
    (``explain.explaining_line``: a traceback's exception line, not a closing bracket),
    or ``said()`` when given (a longer stretch of output than ``output()``'s tail).
    """
    def explanation(tail: str) -> str:
        return said() if said is not None else explaining_line(tail)

    deadline = time.monotonic() + deadline_s
    state = "no listening socket"
    while True:
        code = exited()
        if code is not None:
            tail = output()
            raise StackStartError(f"{name} exited with code {code} before it was ready "
                                  f"({explanation(tail)})", command, tail)
        base_url = address()
        if base_url is not None:
            problem = health_problem(base_url, timeout=1.0, path=path)
            if problem is None:
                return
            state = problem
        if time.monotonic() > deadline:
            tail = output()
            raise StackStartError(f"{name} was not healthy within {deadline_s:g} s ({state}; "
                                  f"it said: {explanation(tail)})", command, tail)
        time.sleep(POLL_S)
