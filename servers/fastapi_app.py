"""The async app under test on FastAPI: concurrent upstream calls through one aiohttp session.

Served in production by uvicorn (``servers.fastapi_app:app``); ``python -m
servers.fastapi_app --host H --port P`` runs uvicorn programmatically, one process.
Query parameters are read raw and validated by ``servers.params``, so FastAPI's
422 validation answers never occur.  Settings come from ``ASYNCBENCH_*`` (see
``servers.settings``) when the module is imported.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from servers import devserver
from servers.async_client import AsyncUpstreamClient
from servers.errors import ParamError, UpstreamError
from servers.params import (
    http_error_body,
    internal_error_body,
    param_error_body,
    parse_aggregate,
    parse_delay_ms,
    upstream_error_body,
)
from servers.settings import Settings

APP_NAME = "fastapi"


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the FastAPI app; ``settings`` default to ``Settings.from_env()``."""
    settings = settings if settings is not None else Settings.from_env()
    client = AsyncUpstreamClient(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await client.start()
        try:
            yield
        finally:
            await client.close()

    app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)
    app.state.asyncbench_client = client

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "stack": settings.stack, "app": APP_NAME, "pid": os.getpid()}

    @app.get("/single")
    async def single(request: Request) -> dict[str, Any]:
        delay_ms = parse_delay_ms(request.query_params.get("delay_ms"))
        return await client.single(delay_ms)

    @app.get("/aggregate")
    async def aggregate(request: Request) -> dict[str, Any]:
        query = request.query_params
        n, delay_ms = parse_aggregate(query.get("n"), query.get("delay_ms"))
        return await client.aggregate(n, delay_ms)

    async def bad_param(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ParamError)
        return JSONResponse(param_error_body(exc), status_code=400)

    async def bad_upstream(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, UpstreamError)
        return JSONResponse(upstream_error_body(exc), status_code=502)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        body = http_error_body(exc.status_code, str(exc.detail))
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    async def invalid_request(request: Request, exc: Exception) -> JSONResponse:
        # Unreachable while no route declares typed parameters; kept so a 422 never leaks.
        return JSONResponse({"error": "invalid request", "status": 400}, status_code=400)

    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        # Starlette re-raises after sending this answer, so the server logs the traceback.
        return JSONResponse(internal_error_body(exc), status_code=500)

    app.add_exception_handler(ParamError, bad_param)
    app.add_exception_handler(UpstreamError, bad_upstream)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(Exception, internal_error)
    return app


# Read ASYNCBENCH_* now, so a bad value stops the worker before it serves anything.
app = create_app()


def main(argv: list[str] | None = None) -> int:
    """Run uvicorn programmatically, one process; 0 after SIGTERM or Ctrl-C."""
    import uvicorn

    args = devserver.build_parser("python -m servers.fastapi_app", __doc__ or "").parse_args(argv)
    config = uvicorn.Config(app, host=args.host, port=args.port, workers=1, lifespan="on")
    # uvicorn re-raises the signal it caught once it has shut down; as an interrupt
    # it ends here instead of killing the process, so SIGTERM exits 0.
    devserver.sigterm_as_interrupt()
    with suppress(KeyboardInterrupt):
        uvicorn.Server(config).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
