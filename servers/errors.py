"""Every error the servers raise on purpose, in one hierarchy.

    ServersError            base; ``str(error)`` is one line
    ├── SettingsError       an ASYNCBENCH_* environment variable is missing or wrong
    ├── ParamError          a query parameter is missing or out of range (-> 400)
    └── UpstreamError       the upstream refused, timed out or answered non-200 (-> 502)

The apps turn ParamError and UpstreamError into JSON bodies with the helpers in
``servers.params``; anything else becomes a 500 JSON body.
"""

from __future__ import annotations


class ServersError(Exception):
    """Base class of the errors raised on purpose in ``servers``."""


class SettingsError(ServersError):
    """An environment variable the harness sets is missing or invalid."""


class ParamError(ServersError):
    """A query parameter is missing, not a plain decimal integer, or out of range."""

    def __init__(self, param: str, message: str) -> None:
        self.param = param
        self.message = message
        super().__init__(message)


class UpstreamError(ServersError):
    """A call to the upstream failed.

    ``status`` is the upstream's HTTP status when it answered, ``None`` when it
    could not be reached or did not answer in time.  ``attempted`` and
    ``succeeded`` count the calls of the request that failed.
    """

    def __init__(
        self,
        message: str,
        status: int | None = None,
        *,
        attempted: int = 1,
        succeeded: int = 0,
    ) -> None:
        self.message = message
        self.status = status
        self.attempted = attempted
        self.succeeded = succeeded
        super().__init__(message)


def describe_cause(exc: BaseException, limit: int = 200) -> str:
    """``"Type: message"`` of the innermost exception chained to ``exc``, on one line.

    Client libraries wrap the useful part (``ConnectionRefusedError``) several
    layers deep; this digs it out for an error body.
    """
    root, seen = exc, {id(exc)}
    while (nxt := root.__cause__ or root.__context__) is not None and id(nxt) not in seen:
        seen.add(id(nxt))
        root = nxt
    text = " ".join(f"{type(root).__name__}: {root}".split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
