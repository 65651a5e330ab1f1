"""FastAPI's side of the contract: routes read raw query strings (so FastAPI's 422
answers never occur), JSON errors, and an async upstream opened in the lifespan: the
mock's (``servers.fastapi_app``) or a PostgreSQL pool (``servers.pg_fastapi``,
``servers.pg_fastapi_asyncpg``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from servers import params
from servers.calls import AsyncCalls
from servers.cpu_work import CpuWork
from servers.errors import ParamError, UpstreamError
from servers.health import health_body

APP_NAME = "fastapi"


def build_app(stack: str, client: AsyncCalls, cpu: CpuWork | None = None) -> FastAPI:
    """The FastAPI app serving the contract's routes, its upstream calls made by ``client``."""
    cpu = cpu if cpu is not None else CpuWork()

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
        return health_body(stack, APP_NAME)

    @app.get("/single")
    async def single(request: Request) -> dict[str, Any]:
        delay_ms = params.parse_delay_ms(request.query_params.get("delay_ms"))
        cpu_ms = params.parse_cpu_ms(request.query_params.get("cpu_ms"))
        body = await client.single(delay_ms)
        await cpu.run_async(cpu_ms)
        return {**body, "cpu_ms": cpu_ms}

    @app.get("/aggregate")
    async def aggregate(request: Request) -> dict[str, Any]:
        query = request.query_params
        n, delay_ms = params.parse_aggregate(query.get("n"), query.get("delay_ms"))
        cpu_ms = params.parse_cpu_ms(request.query_params.get("cpu_ms"))
        body = await client.aggregate(n, delay_ms)
        await cpu.run_async(cpu_ms)
        return {**body, "cpu_ms": cpu_ms}

    async def bad_param(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ParamError)
        return JSONResponse(params.param_error_body(exc), status_code=400)

    async def bad_upstream(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, UpstreamError)
        return JSONResponse(params.upstream_error_body(exc), status_code=502)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        body = params.http_error_body(exc.status_code, str(exc.detail))
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    async def invalid_request(request: Request, exc: Exception) -> JSONResponse:
        # Unreachable while no route declares typed parameters; kept so a 422 never leaks.
        return JSONResponse({"error": "invalid request", "status": 400}, status_code=400)

    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        # Starlette re-raises after sending this answer, so the server logs the traceback.
        return JSONResponse(params.internal_error_body(exc), status_code=500)

    app.add_exception_handler(ParamError, bad_param)
    app.add_exception_handler(UpstreamError, bad_upstream)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(Exception, internal_error)
    return app
