"""What PostgreSQL was doing during a trial: its active connections, sampled.

``ActivitySampler`` polls ``pg_stat_activity`` from a thread of its own, on one
connection, every ``interval_s``, counting the apps' connections (``application_name``
``asyncbench-*``, set by ``servers.db_settings``) that are running a query.  Its peak
against the stack's pool capacity shows whether a trial was limited by the pool.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any

import psycopg

APPLICATION_PREFIX = "asyncbench-"
_ACTIVE = ("SELECT count(*) FROM pg_stat_activity "
           "WHERE state = 'active' AND application_name LIKE %s")


class ActivitySampler:
    """A context manager: samples from entry to exit; ``result()`` afterwards."""

    def __init__(self, url: str, interval_s: float = 0.01) -> None:
        self.url = url
        self.interval_s = interval_s
        self.samples: list[int] = []
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pg-activity", daemon=True)

    def __enter__(self) -> ActivitySampler:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        try:
            with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
                while not self._stop.is_set():
                    row = conn.execute(_ACTIVE, (APPLICATION_PREFIX + "%",)).fetchone()
                    self.samples.append(int(row[0]) if row else 0)
                    self._stop.wait(self.interval_s)
        except psycopg.Error as exc:
            self.error = " ".join(str(exc).split())[:200] or type(exc).__name__

    def result(self) -> dict[str, Any]:
        """``db_active_max`` and ``db_active_mean`` (None without samples), the sample count
        and the error that stopped sampling, if any."""
        samples = self.samples
        return {"db_active_max": max(samples) if samples else None,
                "db_active_mean": round(sum(samples) / len(samples), 3) if samples else None,
                "db_samples": len(samples), "db_sampling_error": self.error}
