"""The Quart app's routes and error answers, whatever upstream its calls reach.

``build_app(stack, client)`` serves the contract (``/health``, ``/single``, ``/aggregate``,
JSON errors) and hands every upstream call to ``client`` (``servers.calls``): the mock
app and the PostgreSQL app share it.
"""

from __future__ import annotations

import os
from typing import Any

from quart import Quart, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from servers.calls import AsyncCalls
from servers.errors import ParamError, UpstreamError
from servers.http_errors import extra_headers
from servers.params import (
    http_error_body,
    internal_error_body,
    param_error_body,
    parse_delay_ms,
    parse_n,
    upstream_error_body,
)

APP_NAME = "quart"


def build_app(stack: str, client: AsyncCalls) -> Quart:
    """The Quart app serving the contract's routes, its upstream calls made by ``client``."""
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
        return {"status": "ok", "stack": stack, "app": APP_NAME, "pid": os.getpid()}

    @app.get("/single")
    async def single() -> dict[str, Any]:
        delay_ms = parse_delay_ms(request.args.get("delay_ms"))
        return await client.single(delay_ms)

    @app.get("/aggregate")
    async def aggregate() -> dict[str, Any]:
        n = parse_n(request.args.get("n"))
        delay_ms = parse_delay_ms(request.args.get("delay_ms"))
        return await client.aggregate(n, delay_ms)

    @app.errorhandler(ParamError)
    async def bad_param(error: ParamError) -> tuple[Response, int]:
        return jsonify(param_error_body(error)), 400

    @app.errorhandler(UpstreamError)
    async def bad_upstream(error: UpstreamError) -> tuple[Response, int]:
        return jsonify(upstream_error_body(error)), 502

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> tuple[Response, int, dict[str, str]]:
        status = error.code or 500
        return jsonify(http_error_body(status, error.name)), status, extra_headers(error)

    @app.errorhandler(Exception)
    async def internal_error(error: Exception) -> tuple[Response, int]:
        app.logger.exception("unhandled exception in %s", request.path)
        return jsonify(internal_error_body(error)), 500

    return app
