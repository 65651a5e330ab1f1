"""The async app under test on Quart: concurrent upstream calls through one aiohttp session.

Served in production by Hypercorn (``servers.quart_app:app``, asyncio or uvloop
workers) or gunicorn's ``asgi`` worker; ``python -m servers.quart_app --host H
--port P`` runs Quart's development runner instead.  Settings come from
``ASYNCBENCH_*`` (see ``servers.settings``) when the module is imported.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from quart import Quart, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from servers import devserver
from servers.async_client import AsyncUpstreamClient
from servers.errors import ParamError, UpstreamError
from servers.http_errors import extra_headers
from servers.params import (
    http_error_body,
    internal_error_body,
    param_error_body,
    parse_aggregate,
    parse_delay_ms,
    upstream_error_body,
)
from servers.settings import Settings

APP_NAME = "quart"


def create_app(settings: Settings | None = None) -> Quart:
    """Build the Quart app; ``settings`` default to ``Settings.from_env()``."""
    settings = settings if settings is not None else Settings.from_env()
    client = AsyncUpstreamClient(settings)
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
        return {"status": "ok", "stack": settings.stack, "app": APP_NAME, "pid": os.getpid()}

    @app.get("/single")
    async def single() -> dict[str, Any]:
        delay_ms = parse_delay_ms(request.args.get("delay_ms"))
        return await client.single(delay_ms)

    @app.get("/aggregate")
    async def aggregate() -> dict[str, Any]:
        n, delay_ms = parse_aggregate(request.args.get("n"), request.args.get("delay_ms"))
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


# Read ASYNCBENCH_* now, so a bad value stops the worker before it serves anything.
app = create_app()


def main(argv: list[str] | None = None) -> int:
    """Run Quart's development runner (Hypercorn inside, one process); 0 after SIGTERM."""
    args = devserver.build_parser("python -m servers.quart_app", __doc__ or "").parse_args(argv)
    app.run(host=args.host, port=args.port, debug=False, use_reloader=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
