"""What the runner tells its caller while it works: a protocol the CLI's progress bar
satisfies, a silent one, and the runner's own wrapper that counts and observes records."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol


class Progress(Protocol):
    """What the runner tells its caller while it works (the CLI draws a progress bar)."""

    def start(self, total: int) -> None: ...
    def extend(self, total: int) -> None: ...
    def advance(self, record: dict[str, Any]) -> None: ...
    def note(self, message: str) -> None: ...


class SilentProgress:
    """A Progress that shows nothing (tests, library use)."""

    def start(self, total: int) -> None:
        """Ignore."""

    def extend(self, total: int) -> None:
        """Ignore."""

    def advance(self, record: dict[str, Any]) -> None:
        """Ignore."""

    def note(self, message: str) -> None:
        """Ignore."""


class CountingProgress:
    """Passes everything on, counting records by status on the way."""

    def __init__(self, inner: Progress, counts: dict[str, int]) -> None:
        self.inner = inner
        self.counts = counts

    def start(self, total: int) -> None:
        self.inner.start(total)

    def extend(self, total: int) -> None:
        self.inner.extend(total)

    def advance(self, record: dict[str, Any]) -> None:
        self.counts[record["status"]] += 1
        self.inner.advance(record)

    def note(self, message: str) -> None:
        self.inner.note(message)


class ObservingProgress(CountingProgress):
    """Counts records by status and hands each to ``observe`` (the budget learns a trial's
    cost) before passing it on."""

    def __init__(self, inner: Progress, counts: dict[str, int],
                 observe: Callable[[dict[str, Any]], None]) -> None:
        super().__init__(inner, counts)
        self.observe = observe

    def advance(self, record: dict[str, Any]) -> None:
        self.observe(record)
        super().advance(record)
