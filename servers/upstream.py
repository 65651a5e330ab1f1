"""The mock upstream API the apps under test call: aiohttp, one process, one event loop.

Run it as ``python -m servers.upstream --host 127.0.0.1 --port 0``; it prints one line
``listening on http://HOST:PORT`` (the real port) and serves until SIGTERM or SIGINT,
then exits 0.

Routes (GET; every answer is JSON, never an HTML page):
    /delay?ms=D      sleep D ms (0..60000) -> {"requested_ms": D, "served_ms": float}
    /health          -> {"status": "ok", "service": "upstream", ...its settings}
    /stats[?reset=1] -> counters since start or the last reset (see UpstreamStats)

``--fail-status S`` makes every valid /delay answer S at once, for fault tests.
"""

from __future__ import annotations

import argparse
import asyncio
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
from servers.upstream_stats import UpstreamStats

DEFAULT_BACKLOG = 2048
LOOPS = ("auto", "asyncio", "uvloop")
SHUTDOWN_TIMEOUT_S = 0.5  # in-flight /delay requests are cut after this on SIGTERM
HEARTBEAT_S = 0.01  # event-loop heartbeat: its lateness shows a stalled or starved upstream

STATS = web.AppKey("stats", UpstreamStats)
FAIL_STATUS = web.AppKey("fail_status", int)  # 0: no fault injected
INFO = web.AppKey("info", dict[str, Any])  # settings echoed by /health


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
    stats.enter()
    try:
        served_ms = await sleep_at_least(ms / 1000.0)
    finally:
        stats.leave()
    stats.served(ms, served_ms)
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
) -> web.Application:
    """Build the upstream application; ``info`` is echoed by ``/health``."""
    app = web.Application(middlewares=[json_errors])
    app[STATS] = stats_ if stats_ is not None else UpstreamStats()
    app[FAIL_STATUS] = fail_status or 0
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
) -> None:
    """Serve until SIGTERM or SIGINT; ``announce`` gets the ``listening on`` line."""
    info = {
        "pid": os.getpid(),
        "backlog": backlog,
        "fail_status": fail_status,
        "loop": loop_name,
    }
    app = make_app(fail_status, info)
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
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the upstream; 0 after SIGTERM/SIGINT, 1 when it cannot listen."""
    args = build_parser().parse_args(argv)
    loop_name = resolve_loop(args.loop)
    coro = serve(
        args.host,
        args.port,
        backlog=args.backlog,
        fail_status=args.fail_status,
        loop_name=loop_name,
        announce=_announce,
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
