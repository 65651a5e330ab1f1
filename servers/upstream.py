"""The mock upstream API the apps under test call: aiohttp, one process, one event loop.

Run it as ``python -m servers.upstream --host 127.0.0.1 --port 0``; it prints one line
``listening on http://HOST:PORT`` (the real port) and serves until SIGTERM or SIGINT,
then exits 0.

Routes (GET; every answer is JSON, never an HTML page):
    /delay?ms=D      sleep D ms (0..60000) -> {"requested_ms": D, "served_ms": float}
    /health          -> {"status": "ok", "service": "upstream", ...its settings}
    /stats[?reset=1] -> counters since start or the last reset (see UpstreamStats)

``--fail-status S`` makes every valid /delay answer S at once, for fault tests.
``--profile`` and its parameters draw each call's delay from a seeded latency profile
(``servers.profiles``), whose ``--error-rate`` answers a fraction of calls 503 after
their delay; ``--quota-rps R`` answers 429 at once to calls beyond R per second (a
token bucket holding one second's worth), as a third-party API's quota does.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import math
import os
import signal
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from servers import devserver
from servers.errors import ParamError
from servers.params import http_error_body, internal_error_body, param_error_body, parse_ms
from servers.profiles import PROFILE_FIELDS, PROFILES, Profile, Sampler
from servers.token_bucket import TokenBucket
from servers.upstream_stats import UpstreamStats

DEFAULT_BACKLOG = 2048
LOOPS = ("auto", "asyncio", "uvloop")
SHUTDOWN_TIMEOUT_S = 0.5  # in-flight /delay requests are cut after this on SIGTERM
HEARTBEAT_S = 0.01  # event-loop heartbeat: its lateness shows a stalled or starved upstream

STATS = web.AppKey("stats", UpstreamStats)
FAIL_STATUS = web.AppKey("fail_status", int)  # 0: no fault injected
INFO = web.AppKey("info", dict[str, Any])  # settings echoed by /health
SAMPLER = web.AppKey("sampler", Sampler)
QUOTA = web.AppKey("quota", TokenBucket)  # absent: no quota


async def delay(request: web.Request) -> web.Response:
    """Sleep the requested time and report how long the sleep really took."""
    stats = request.app[STATS]
    try:
        ms = parse_ms(request.query.get("ms"))
    except ParamError as error:
        stats.bad_request()
        return web.json_response(param_error_body(error), status=400)
    fail_status = request.app[FAIL_STATUS]
    if fail_status:
        stats.fault()
        return web.json_response(
            {"error": "fault injected by --fail-status", "status": fail_status},
            status=fail_status,
        )
    quota = request.app.get(QUOTA)
    if quota is not None and not quota.try_take():
        stats.refused()
        return web.json_response({"error": "quota exceeded", "status": 429}, status=429)
    sampler = request.app[SAMPLER]
    due_ms = sampler.delay_ms(ms)
    stats.enter()
    try:
        served_ms = await sleep_at_least(due_ms / 1000.0)
    finally:
        stats.leave()
    stats.served(due_ms, served_ms, profile_p99_ms=sampler.profile.quantile(ms, 0.99))
    if sampler.fails():
        stats.error()
        return web.json_response({"error": "error injected by --error-rate", "status": 503,
                                  "served_ms": served_ms}, status=503)
    return web.json_response({"requested_ms": ms, "served_ms": served_ms})


async def sleep_at_least(seconds: float) -> float:
    """Sleep ``seconds`` or a little more by ``time.perf_counter``; return the ms slept.

    uvloop's timers have millisecond resolution and start from the loop's cached
    time, so one ``asyncio.sleep`` can end up to a millisecond early; a served
    delay shorter than the requested one would flatter the apps.
    """
    start = time.perf_counter()
    deadline = start + seconds
    await asyncio.sleep(seconds)
    while (remaining := deadline - time.perf_counter()) > 0:
        await asyncio.sleep(remaining)
    return (time.perf_counter() - start) * 1000.0


async def health(request: web.Request) -> web.Response:
    """Liveness, plus the settings this upstream runs with."""
    info: dict[str, Any] = request.app[INFO]
    return web.json_response({"status": "ok", "service": "upstream", **info})


async def stats(request: web.Request) -> web.Response:
    """The counters; ``?reset=1`` reads and resets them in one step."""
    raw = request.query.get("reset", "0")
    if raw not in ("0", "1"):
        body = {"error": f"reset must be 0 or 1, got {raw[:40]!r}", "param": "reset"}
        return web.json_response(body, status=400)
    return web.json_response(request.app[STATS].snapshot(reset=raw == "1"))


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn aiohttp's HTTP errors and any exception into JSON bodies."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return web.json_response(
            http_error_body(exc.status, exc.reason), status=exc.status, headers=headers
        )
    except Exception as exc:
        return web.json_response(internal_error_body(exc), status=500)


def make_app(
    fail_status: int | None = None,
    info: dict[str, Any] | None = None,
    stats_: UpstreamStats | None = None,
    sampler: Sampler | None = None,
    quota_rps: float | None = None,
) -> web.Application:
    """Build the upstream application; ``info`` is echoed by ``/health``.

    ``sampler`` draws each call's delay (default: the fixed profile); ``quota_rps``
    turns the 429 quota on.
    """
    app = web.Application(middlewares=[json_errors])
    app[STATS] = stats_ if stats_ is not None else UpstreamStats()
    app[FAIL_STATUS] = fail_status or 0
    app[SAMPLER] = sampler if sampler is not None else Sampler(Profile(), 0)
    # One second's worth banked: a client spacing its calls at R per second never
    # meets a 429, even when network jitter bunches a few of its calls together.
    if quota_rps is not None:
        app[QUOTA] = TokenBucket(quota_rps, max(1.0, quota_rps))
    app[INFO] = dict(info or {})
    app.router.add_get("/delay", delay)
    app.router.add_get("/health", health)
    app.router.add_get("/stats", stats)
    return app


async def serve(
    host: str,
    port: int,
    *,
    backlog: int = DEFAULT_BACKLOG,
    fail_status: int | None = None,
    loop_name: str = "asyncio",
    announce: Callable[[str], None] = print,
    profile: Profile | None = None,
    seed: int = 0,
    quota_rps: float | None = None,
) -> None:
    """Serve until SIGTERM or SIGINT; ``announce`` gets the ``listening on`` line."""
    profile = profile or Profile()
    info = {
        "pid": os.getpid(),
        "backlog": backlog,
        "fail_status": fail_status,
        "loop": loop_name,
        "profile": dataclasses.asdict(profile),
        "seed": seed,
        "quota_rps": quota_rps,
    }
    app = make_app(fail_status, info, sampler=Sampler(profile, seed), quota_rps=quota_rps)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
    await runner.setup()
    beat = asyncio.create_task(heartbeat(app[STATS]))
    try:
        site = web.TCPSite(runner, host, port, backlog=backlog, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
        await site.start()
        real_port = runner.addresses[0][1]
        announce(f"listening on http://{host}:{real_port}")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        beat.cancel()
        await runner.cleanup()


async def heartbeat(stats_: UpstreamStats, interval_s: float = HEARTBEAT_S) -> None:
    """Wake every ``interval_s`` and record how late the wake-up came."""
    while True:
        start = time.perf_counter()
        await asyncio.sleep(interval_s)
        stats_.loop_lag(max(0.0, (time.perf_counter() - start - interval_s) * 1000))


def _announce(line: str) -> None:
    print(line, flush=True)


def _run(main: Coroutine[Any, Any, None], loop_name: str) -> None:
    if loop_name == "uvloop":
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(main)
    else:
        asyncio.run(main)


def resolve_loop(name: str) -> str:
    """``auto`` becomes ``uvloop`` when it is installed, else ``asyncio``."""
    if name != "auto":
        return name
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def _fail_status(raw: str) -> int:
    value = int(raw)
    if not 400 <= value <= 599:
        raise argparse.ArgumentTypeError(f"must be an HTTP error status 400..599, got {value}")
    return value


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _non_negative(raw: str) -> float:
    value = float(raw)
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {raw}")
    return value


def _positive(raw: str) -> float:
    value = float(raw)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {raw}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface of ``python -m servers.upstream``."""
    parser = argparse.ArgumentParser(prog="python -m servers.upstream", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--port", type=devserver.port, default=0, help="0: the OS chooses (default)"
    )
    parser.add_argument("--backlog", type=_positive_int, default=DEFAULT_BACKLOG)
    parser.add_argument(
        "--fail-status",
        type=_fail_status,
        default=None,
        metavar="STATUS",
        help="answer every valid /delay with this status, for fault tests",
    )
    parser.add_argument("--loop", choices=LOOPS, default="auto", help="event loop (default auto)")
    parser.add_argument("--profile", choices=PROFILES, default="fixed",
                        help="latency profile of /delay (default fixed)")
    for option in PROFILE_FIELDS:
        default = 1.0 if option == "tail_factor" else 0.0
        parser.add_argument("--" + option.replace("_", "-"), type=_non_negative, default=default)
    parser.add_argument("--seed", type=int, default=0, help="seed of the profile's draws")
    parser.add_argument("--quota-rps", type=_positive, default=None,
                        help="answer 429 to calls beyond this many per second")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the upstream; 0 after SIGTERM/SIGINT, 1 when it cannot listen."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        profile = Profile(args.profile, **{k: getattr(args, k) for k in PROFILE_FIELDS})
    except ValueError as exc:
        parser.error(str(exc))
    loop_name = resolve_loop(args.loop)
    coro = serve(
        args.host,
        args.port,
        backlog=args.backlog,
        fail_status=args.fail_status,
        loop_name=loop_name,
        announce=_announce,
        profile=profile,
        seed=args.seed,
        quota_rps=args.quota_rps,
    )
    try:
        _run(coro, loop_name)
    except OSError as exc:
        print(f"upstream: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # a second Ctrl-C during shutdown
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
