"""Scenario drivers: the load generator of the closed-loop scenarios.

Drivers take their aiohttp session (or a factory of sessions), clock and sleep from the
caller (so tests can drive them without sockets, on a virtual clock) and return raw
per-request outcomes; they never print. How a trial's clients arrive (bursts with a gap,
keep-alive or close, a ramp, or the sustained closed loop) is ``loadgen.arrival``'s choice.
Every request is classified: ``ok``, ``connect`` (could not connect or the
connection broke), ``timeout``, ``http_status`` (not 200) or ``bad_body`` (200 but
not the contract's JSON, or a wrong upstream call count).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

Clock = Callable[[], float]
# Awaited once every client of a burst is ready, before the release; given the burst's
# number (1-based). An engine holds the release there until its workers are all ready.
Gate = Callable[[int], Awaitable[None]]
Sleep = Callable[[float], Awaitable[None]]
SessionFactory = Callable[[int], aiohttp.ClientSession]
OUTCOMES = ("ok", "connect", "timeout", "http_status", "bad_body")


@dataclass(frozen=True)
class Outcome:
    """One request: how it ended, its latency in seconds, what went wrong and, for
    ``http_status``, the status."""

    kind: str
    latency_s: float
    detail: str | None = None
    status: int | None = None
    pool_wait_ms: float | None = None  # a database app's wait for pool connections


@dataclass
class ScenarioResult:
    """Raw result of one trial's load: outcomes plus the scenario's own metrics."""

    outcomes: list[Outcome]
    duration_s: float
    metrics: dict[str, float] = field(default_factory=dict)
    bursts: list[dict[str, Any]] = field(default_factory=list)
    steady: list[Outcome] | None = None  # the outcomes latency is summarised over, if not all
    # When each burst ran, on the driver's clock (release to last answer), or the steady
    # window of a sustained trial: what the server was seen doing then is matched to it.
    windows: list[tuple[float, float]] = field(default_factory=list)
    window: dict[str, Any] | None = None  # a sustained trial's steady window, as recorded
    opened: float | None = None  # a sustained trial's start: its connections opened since
    problem: str | None = None  # why the trial measured nothing, beyond failed requests
    sampler: dict[str, Any] | None = None  # what watching the server cost: samples, CPU s

    def counts(self) -> dict[str, int]:
        """Requests by outcome, with a ``total``."""
        counts = dict.fromkeys(OUTCOMES, 0)
        for outcome in self.outcomes:
            counts[outcome.kind] += 1
        counts["total"] = len(self.outcomes)
        return counts

    def ok_latencies_s(self) -> list[float]:
        """Latencies of the successful requests (of the steady bursts, when the trial had
        several), in seconds."""
        outcomes = self.outcomes if self.steady is None else self.steady
        return [o.latency_s for o in outcomes if o.kind == "ok"]

    def pool_waits_ms(self) -> list[float]:
        """The pool waits the successful requests reported (database apps only)."""
        return [o.pool_wait_ms for o in self.outcomes
                if o.kind == "ok" and o.pool_wait_ms is not None]

    def first_error(self, tolerated: Collection[int] = ()) -> str | None:
        """A one-line summary of the failures, or None if every request succeeded.

        Answers with a ``tolerated`` status are not failures: with an upstream error
        rate, the apps' 502s are part of what is measured.
        """
        bad = [o for o in self.outcomes if o.kind != "ok" and o.status not in tolerated]
        if not bad:
            return self.problem
        kinds: dict[str, int] = {}
        for o in bad:
            kinds[o.kind] = kinds.get(o.kind, 0) + 1
        summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
        return (f"{len(bad)} of {len(self.outcomes)} requests failed "
                f"({summary}; first: {bad[0].detail})")


async def request(session: aiohttp.ClientSession, url: str, expect_calls: int | None,
                  timeout_s: float, clock: Clock = time.perf_counter,
                  calls_field: str | None = "calls") -> Outcome:
    """Send one GET and classify it; a wrong ``calls`` count in the body is ``bad_body``.

    ``expect_calls=None`` accepts any JSON object (used on the upstream itself);
    ``calls_field=None`` accepts any 200 answer (an own app whose body is not checked);
    otherwise the count is read from the body's ``calls_field``.
    """
    start = clock()
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=timeout_s)) as resp:
            raw = await resp.read()
            latency = clock() - start
            if resp.status != 200:
                return Outcome("http_status", latency, f"HTTP {resp.status} from {url}",
                               resp.status)
            if calls_field is None:
                return Outcome("ok", latency)
            try:
                body: Any = json.loads(raw)
            except ValueError:
                return Outcome("bad_body", latency, f"non-JSON body from {url}")
            if not isinstance(body, dict):
                return Outcome("bad_body", latency, f"body of {url} is not a JSON object")
            calls = body.get(calls_field)
            if expect_calls is not None and calls != expect_calls:
                return Outcome("bad_body", latency,
                               f"{url} reported {calls_field} = {calls!r}, expected "
                               f"{expect_calls}")
            wait = body.get("pool_wait_ms")
            if isinstance(wait, bool) or not isinstance(wait, int | float):
                wait = None
            return Outcome("ok", latency, pool_wait_ms=wait)
    except TimeoutError:
        return Outcome("timeout", clock() - start, f"no answer within {timeout_s:g} s from {url}")
    except aiohttp.ClientConnectionError as exc:
        return Outcome("connect", clock() - start, f"{type(exc).__name__} on {url}")
    except aiohttp.ClientError as exc:
        return Outcome("bad_body", clock() - start, f"{type(exc).__name__} on {url}")


async def run_fanout(session: aiohttp.ClientSession, url: str, n: int, timeout_s: float,
                     clock: Clock = time.perf_counter,
                     calls_field: str | None = "calls") -> ScenarioResult:
    """One request to ``url`` whose handler makes ``n`` upstream calls."""
    outcome = await request(session, url, n, timeout_s, clock, calls_field)
    duration = outcome.latency_s
    metrics = {"duration_s": duration, "calls_per_s": n / duration if duration > 0 else 0.0}
    return ScenarioResult([outcome], duration, metrics)


async def run_clients(session: aiohttp.ClientSession | Sequence[aiohttp.ClientSession], url: str,
                      clients: int, timeout_s: float, clock: Clock = time.perf_counter,
                      calls_field: str | None = "calls",
                      gate: Callable[[], Awaitable[None]] | None = None, *,
                      ramp_s: float = 0.0, sleep: Sleep = asyncio.sleep) -> ScenarioResult:
    """``clients`` coroutines released together, each sending one request to ``url``
    (a single-call path); ``gate`` is awaited once all are ready, just before the release.
    With ``ramp_s``, client i sends at i x ramp_s / clients after the release instead
    (evenly spread over the ramp). Given several sessions, client i uses session i
    (modulo their number).

    Total duration runs from the release to the last answer; throughput is
    clients / duration, as in the original scripts.
    """
    pool = list(session) if isinstance(session, Sequence) else [session]
    release = asyncio.Event()
    ready = 0
    all_ready = asyncio.Event()
    start = 0.0

    async def client(index: int) -> Outcome:
        nonlocal ready
        ready += 1
        if ready == clients:
            all_ready.set()
        await release.wait()
        if ramp_s > 0 and index:
            wait = start + index * ramp_s / clients - clock()
            if wait > 0:
                await sleep(wait)
        return await request(pool[index % len(pool)], url, 1, timeout_s, clock, calls_field)

    tasks = [asyncio.create_task(client(i)) for i in range(clients)]
    await all_ready.wait()
    if gate is not None:
        await gate()
    start = clock()
    release.set()
    outcomes = list(await asyncio.gather(*tasks))
    end = clock()
    duration = end - start
    ok = [o.latency_s for o in outcomes if o.kind == "ok"]
    metrics = {
        "duration_s": duration,
        "mean_response_s": sum(ok) / len(ok) if ok else 0.0,
        "throughput_rps": clients / duration if duration > 0 else 0.0,
    }
    return ScenarioResult(outcomes, duration, metrics, windows=[(start, end)])


async def run_client_bursts(url: str, clients: int, timeout_s: float, bursts: int,
                            clock: Clock = time.perf_counter,
                            session: SessionFactory | None = None,
                            calls_field: str | None = "calls", gate: Gate | None = None, *,
                            gap_s: float = 0.0, ramp_s: float = 0.0, keep_alive: bool = True,
                            sleep: Sleep = asyncio.sleep) -> ScenarioResult:
    """``bursts`` bursts of ``clients`` clients, one after another on the same running stack,
    each on a new session (new connections, as new clients would open), ``gap_s`` apart
    (from one burst's session closed to the next one's release).

    ``keep_alive=False`` opens sessions that send ``Connection: close`` (the server closes
    each connection once it has answered); otherwise a burst's connections stay open until
    its session closes. ``ramp_s`` spreads each burst's clients (see :func:`run_clients`);
    on keep-alive connections every client then has a session of its own, or a late client
    would reuse an early one's idle connection instead of arriving with its own.
    ``session`` makes a session for a number of connections (default
    :func:`client_session`, keep-alive or not).

    With one burst this is :func:`run_clients`. With more, the headline figures
    (``duration_s``, ``throughput_rps``, ``mean_response_s``, the latencies) describe the
    steady state, the bursts after the first; the first burst's duration and throughput
    are kept beside them, and every burst is listed in ``bursts``. ``gate(k)`` is awaited
    before burst k's release.
    """
    open_session = session or functools.partial(client_session, keep_alive=keep_alive)
    results = []
    for burst in range(1, bursts + 1):
        if burst > 1 and gap_s > 0:
            await sleep(gap_s)
        async with contextlib.AsyncExitStack() as stack:
            sizes = [1] * clients if ramp_s > 0 and keep_alive else [clients]
            sessions = [await stack.enter_async_context(open_session(n)) for n in sizes]
            results.append(await run_clients(
                sessions, url, clients, timeout_s, clock, calls_field,
                None if gate is None else functools.partial(gate, burst),
                ramp_s=ramp_s, sleep=sleep))
    return combine_bursts(results, clients)


def combine_bursts(results: list[ScenarioResult], clients: int) -> ScenarioResult:
    """One trial's result from its bursts (see :func:`run_client_bursts`)."""
    if len(results) == 1:
        return results[0]
    first, steady = results[0], results[1:]
    outcomes = [o for r in results for o in r.outcomes]
    steady_outcomes = [o for r in steady for o in r.outcomes]
    duration = sum(r.duration_s for r in steady) / len(steady)
    ok = [o.latency_s for o in steady_outcomes if o.kind == "ok"]
    metrics = {
        "duration_s": duration,
        "mean_response_s": sum(ok) / len(ok) if ok else 0.0,
        "throughput_rps": clients / duration if duration > 0 else 0.0,
        "first_burst_duration_s": first.duration_s,
        "first_burst_throughput_rps": first.metrics["throughput_rps"],
    }
    windows = [w for r in results for w in r.windows]
    return ScenarioResult(outcomes, sum(r.duration_s for r in results), metrics,
                          burst_details(results), steady_outcomes, windows)


def burst_details(results: list[ScenarioResult]) -> list[dict[str, Any]]:
    """Each burst as a trial records it: its duration, throughput, successful requests and
    (when its window is known) when it started, from the first burst's release."""
    origin = next((r.windows[0][0] for r in results if r.windows), None)
    details = []
    for r in results:
        detail: dict[str, Any] = {"duration_s": round(r.duration_s, 6),
                                  "throughput_rps": round(r.metrics["throughput_rps"], 6),
                                  "ok": sum(o.kind == "ok" for o in r.outcomes)}
        if r.windows and origin is not None:
            detail["started_s"] = round(r.windows[0][0] - origin, 6)
        details.append(detail)
    return details


async def warm_up(session: aiohttp.ClientSession, single: str | None, fanout: str | None,
                  requests: int, timeout_s: float,
                  calls_field: str | None = "calls") -> list[Outcome]:
    """Discarded requests before measuring: first one at a time, then all at once,
    so every worker process has served and opened its upstream connections.

    ``single`` is a one-call URL and ``fanout`` a two-call URL; either may be None
    when the stack does not serve it."""
    outcomes = []
    if single is not None:
        for _ in range(min(requests, 3)):
            outcomes.append(await request(session, single, 1, timeout_s,
                                          calls_field=calls_field))
        burst = [request(session, single, 1, timeout_s, calls_field=calls_field)
                 for _ in range(requests)]
        outcomes.extend(await asyncio.gather(*burst))
    if fanout is not None:
        outcomes.append(await request(session, fanout, 2, timeout_s, calls_field=calls_field))
    return outcomes


class HeldBack:
    """Counts the requests that waited for a connection of the generator's own pool.

    A session sized for its load (:func:`client_session`) never makes one wait; any that
    did were held back by the generator, not the server, so they were not in flight when
    the trial meant them to be.
    """

    def __init__(self) -> None:
        self.count = 0

    def trace(self) -> aiohttp.TraceConfig:
        """A trace config counting every wait for a pooled connection."""
        config = aiohttp.TraceConfig()

        async def queued(*_: object) -> None:
            self.count += 1

        config.on_connection_queued_start.append(queued)
        return config


def client_session(connections: int, keep_alive: bool = True,
                   held: HeldBack | None = None) -> aiohttp.ClientSession:
    """A load-generator session whose pool holds ``connections`` at once (aiohttp's default
    is 100: C = 10,000 clients get 10,000 connections, no per-host cap);
    ``keep_alive=False`` closes every connection after its answer and tells the server so
    (``Connection: close``); ``held`` counts any request that had to wait for a connection
    anyway."""
    connector = aiohttp.TCPConnector(limit=max(1, connections), limit_per_host=0,
                                     force_close=not keep_alive, enable_cleanup_closed=True)
    return aiohttp.ClientSession(connector=connector,
                                 trace_configs=[held.trace()] if held is not None else None)
