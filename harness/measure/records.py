"""What the runner writes trial records through: the run's ``TrialWriter``, or one that
adds to each record what only the run knows (the version of its stack's interpreter)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class RecordSink(Protocol):
    """Where the runner writes trial records (a TrialWriter, or one that adds to them)."""

    def write(self, record: dict[str, Any]) -> None: ...


class WithPython:
    """Writes every record with the version of the interpreter its stack's server runs
    under (``python``), as the manifest recorded it; one place, whatever wrote the record."""

    def __init__(self, inner: RecordSink, versions: Mapping[str, str | None]) -> None:
        self.inner = inner
        self.versions = dict(versions)

    def write(self, record: dict[str, Any]) -> None:
        """Add ``python`` and write."""
        record["python"] = self.versions.get(str(record.get("stack")))
        self.inner.write(record)
