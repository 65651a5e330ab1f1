"""Quart's side of the contract: routes, JSON errors, and an async upstream handed in.

``build_app(stack, client)`` opens ``client`` (a ``servers.calls.AsyncCalls``) before
serving and closes it after: the mock's aiohttp session (``servers.quart_app``) or a
PostgreSQL pool (``servers.pg_quart``).
"""

from __future__ import annotations

from typing import Any

from quart import Quart, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from servers import params
from servers.calls import AsyncCalls
from servers.cpu_work import CpuWork
from servers.errors import ParamError, UpstreamError
from servers.health import health_body
from servers.http_errors import extra_headers

APP_NAME = "quart"


def build_app(stack: str, client: AsyncCalls, cpu: CpuWork | None = None) -> Quart:
    """The Quart app serving the contract's routes, its upstream calls made by ``client``."""
    cpu = cpu if cpu is not None else CpuWork()
    app = Quart(__name__)
    app.extensions["asyncbench_client"] = client

    @app.before_serving
    async def open_client() -> None:
        await client.start()

    @app.after_serving
    async def close_client() -> None:
        await client.close()

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return health_body(stack, APP_NAME)

    @app.get("/single")
    async def single() -> dict[str, Any]:
        delay_ms = params.parse_delay_ms(request.args.get("delay_ms"))
        cpu_ms = params.parse_cpu_ms(request.args.get("cpu_ms"))
        body = await client.single(delay_ms)
        await cpu.run_async(cpu_ms)
        return {**body, "cpu_ms": cpu_ms}

    @app.get("/aggregate")
    async def aggregate() -> dict[str, Any]:
        n, delay_ms = params.parse_aggregate(request.args.get("n"), request.args.get("delay_ms"))
        cpu_ms = params.parse_cpu_ms(request.args.get("cpu_ms"))
        body = await client.aggregate(n, delay_ms)
        await cpu.run_async(cpu_ms)
        return {**body, "cpu_ms": cpu_ms}

    @app.errorhandler(ParamError)
    async def bad_param(error: ParamError) -> tuple[Response, int]:
        return jsonify(params.param_error_body(error)), 400

    @app.errorhandler(UpstreamError)
    async def bad_upstream(error: UpstreamError) -> tuple[Response, int]:
        return jsonify(params.upstream_error_body(error)), 502

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> tuple[Response, int, dict[str, str]]:
        status = error.code or 500
        return jsonify(params.http_error_body(status, error.name)), status, extra_headers(error)

    @app.errorhandler(Exception)
    async def internal_error(error: Exception) -> tuple[Response, int]:
        app.logger.exception("unhandled exception in %s", request.path)
        return jsonify(params.internal_error_body(error)), 500

    return app
