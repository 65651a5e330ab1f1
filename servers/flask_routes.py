"""Flask's side of the contract: routes, JSON errors, and an upstream handed in.

``build_app(stack, client)`` blocks a worker thread per request; ``client`` (a
``servers.calls.SyncCalls``) reaches the mock over HTTP (``servers.flask_app``) or
PostgreSQL through a pool (``servers.pg_flask``).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from servers import params
from servers.calls import SyncCalls
from servers.cpu_work import CpuWork
from servers.errors import ParamError, UpstreamError
from servers.health import health_body
from servers.http_errors import extra_headers

APP_NAME = "flask"


def build_app(stack: str, client: SyncCalls, cpu: CpuWork | None = None) -> Flask:
    """The Flask app serving the contract's routes, its upstream calls made by ``client``."""
    cpu = cpu if cpu is not None else CpuWork()
    app = Flask(__name__)
    app.extensions["asyncbench_client"] = client

    @app.get("/health")
    def health() -> dict[str, Any]:
        return health_body(stack, APP_NAME)

    @app.get("/single")
    def single() -> dict[str, Any]:
        delay_ms = params.parse_delay_ms(request.args.get("delay_ms"))
        cpu_ms = params.parse_cpu_ms(request.args.get("cpu_ms"))
        body = client.single(delay_ms)
        cpu.run(cpu_ms)
        return {**body, "cpu_ms": cpu_ms}

    @app.get("/aggregate")
    def aggregate() -> dict[str, Any]:
        n, delay_ms = params.parse_aggregate(request.args.get("n"), request.args.get("delay_ms"))
        cpu_ms = params.parse_cpu_ms(request.args.get("cpu_ms"))
        body = client.aggregate(n, delay_ms)
        cpu.run(cpu_ms)
        return {**body, "cpu_ms": cpu_ms}

    @app.errorhandler(ParamError)
    def bad_param(error: ParamError) -> tuple[Response, int]:
        return jsonify(params.param_error_body(error)), 400

    @app.errorhandler(UpstreamError)
    def bad_upstream(error: UpstreamError) -> tuple[Response, int]:
        return jsonify(params.upstream_error_body(error)), 502

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[Response, int, dict[str, str]]:
        status = error.code or 500
        return jsonify(params.http_error_body(status, error.name)), status, extra_headers(error)

    @app.errorhandler(Exception)
    def internal_error(error: Exception) -> tuple[Response, int]:
        app.logger.exception("unhandled exception in %s", request.path)
        return jsonify(params.internal_error_body(error)), 500

    return app
