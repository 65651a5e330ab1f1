"""The upstream client of the sync app (Flask): one ``requests.Session`` per process.

Gunicorn forks its workers after importing nothing (no ``--preload``) or everything
(``--preload``); either way the session must belong to the process that uses it, so
it is created on first use and recreated if the process id changed.  The lock makes
creation safe under gthread; under gevent it is gevent's lock, and it is never held
across a yield.  With ``ASYNCBENCH_QUOTA_RPS`` a thread-safe token bucket spaces the
process's upstream calls so it never exceeds its share of the upstream's quota.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from servers.errors import UpstreamError, describe_cause
from servers.params import parse_served_ms
from servers.settings import Settings
from servers.token_bucket import TokenBucket


class SyncUpstreamClient:
    """One pooled ``requests.Session`` per process, ``HTTPAdapter(pool_connections=1,
    pool_maxsize=pool_size)`` on ``http://``.

    ``upstream_timeout_s`` is both the connect and the read timeout of each call
    (requests has no total timeout, unlike aiohttp).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._session: requests.Session | None = None
        self._bucket: TokenBucket | None = None
        self._pid = 0

    def session(self) -> requests.Session:
        """This process's session, created on first use."""
        session = self._session
        if session is not None and self._pid == os.getpid():
            return session
        with self._lock:
            if self._session is None or self._pid != os.getpid():
                self._session = self._new_session()
                quota = self.settings.quota_rps
                # Capacity 1: calls are spaced evenly, never sent in a burst.
                self._bucket = None if quota is None else TokenBucket(quota, capacity=1.0)
                self._pid = os.getpid()
            return self._session

    def _new_session(self) -> requests.Session:
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=self.settings.pool_size)
        session.mount("http://", adapter)
        return session

    def call(self, delay_ms: int) -> float:
        """One ``/delay`` call; returns the ``served_ms`` the upstream reports.

        Raises:
            UpstreamError: connection error, timeout, non-200 or a malformed body.
        """
        url = f"{self.settings.delay_url}?ms={delay_ms}"
        timeout = self.settings.upstream_timeout_s
        session = self.session()
        if self._bucket is not None:  # the upstream's quota: wait for this call's turn
            self._bucket.take()
        try:
            response = session.get(url, timeout=timeout)
        except requests.Timeout as exc:
            raise UpstreamError(f"upstream timed out after {timeout} s") from exc
        except requests.RequestException as exc:
            raise UpstreamError(f"upstream unreachable: {describe_cause(exc)}") from exc
        if response.status_code != 200:
            raise UpstreamError(
                f"upstream answered {response.status_code}", status=response.status_code
            )
        try:
            body: Any = response.json()
        except ValueError as exc:
            raise UpstreamError("upstream answered 200 with a body that is not JSON", 200) from exc
        return parse_served_ms(body)

    def single(self, delay_ms: int) -> dict[str, Any]:
        """``/single``: one upstream call."""
        return {"calls": 1, "served_ms": [self.call(delay_ms)]}

    def aggregate(self, n: int, delay_ms: int) -> dict[str, Any]:
        """``/aggregate``: ``n`` upstream calls one after another; stops at the first failure."""
        served: list[float] = []
        for _ in range(n):
            try:
                served.append(self.call(delay_ms))
            except UpstreamError as exc:
                raise UpstreamError(
                    exc.message, exc.status, attempted=len(served) + 1, succeeded=len(served)
                ) from exc
        return {"calls": len(served), "mode": "sequential", "served_ms": served}


class ThreadPoolUpstreamClient(SyncUpstreamClient):
    """The same client, making ``/aggregate``'s calls concurrently through one
    ``ThreadPoolExecutor`` of ``pool_size`` threads per process (created on first use,
    like the session, so that a forked worker never inherits its parent's threads)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._executor: ThreadPoolExecutor | None = None
        self._executor_pid = 0

    def executor(self) -> ThreadPoolExecutor:
        """This process's thread pool."""
        with self._lock:
            if self._executor is None or self._executor_pid != os.getpid():
                self._executor = ThreadPoolExecutor(max_workers=self.settings.pool_size,
                                                    thread_name_prefix="upstream")
                self._executor_pid = os.getpid()
            return self._executor

    def aggregate(self, n: int, delay_ms: int) -> dict[str, Any]:
        """``/aggregate``: ``n`` upstream calls at once (at most ``pool_size`` in flight);
        waits for all of them and fails if any failed."""
        futures = [self.executor().submit(self.call, delay_ms) for _ in range(n)]
        served: list[float] = []
        first: UpstreamError | None = None
        for future in futures:
            try:
                served.append(future.result())
            except UpstreamError as exc:
                first = first or exc
        if first is not None:
            raise UpstreamError(first.message, first.status, attempted=n,
                                succeeded=len(served)) from first
        return {"calls": len(served), "mode": "threadpool", "served_ms": served}
