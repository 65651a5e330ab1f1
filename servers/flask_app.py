"""The sync app under test: Flask, sequential upstream calls through one requests.Session.

Served in production by gunicorn (``servers.flask_app:app``, gthread or gevent
workers); ``python -m servers.flask_app --host H --port P`` runs Werkzeug's
threaded development server instead.  Settings come from ``ASYNCBENCH_*``
(see ``servers.settings``) when the module is imported.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from servers import devserver
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
from servers.settings import Settings
from servers.sync_client import SyncUpstreamClient

APP_NAME = "flask"


def create_app(settings: Settings | None = None,
               client_class: type[SyncUpstreamClient] = SyncUpstreamClient) -> Flask:
    """Build the Flask app; ``settings`` default to ``Settings.from_env()``; the
    ``client_class`` makes the upstream calls (sequential unless it says otherwise)."""
    settings = settings if settings is not None else Settings.from_env()
    client = client_class(settings)
    app = Flask(__name__)
    app.extensions["asyncbench_client"] = client

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "stack": settings.stack, "app": APP_NAME, "pid": os.getpid()}

    @app.get("/single")
    def single() -> dict[str, Any]:
        delay_ms = parse_delay_ms(request.args.get("delay_ms"))
        return client.single(delay_ms)

    @app.get("/aggregate")
    def aggregate() -> dict[str, Any]:
        n = parse_n(request.args.get("n"))
        delay_ms = parse_delay_ms(request.args.get("delay_ms"))
        return client.aggregate(n, delay_ms)

    @app.errorhandler(ParamError)
    def bad_param(error: ParamError) -> tuple[Response, int]:
        return jsonify(param_error_body(error)), 400

    @app.errorhandler(UpstreamError)
    def bad_upstream(error: UpstreamError) -> tuple[Response, int]:
        return jsonify(upstream_error_body(error)), 502

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[Response, int, dict[str, str]]:
        status = error.code or 500
        return jsonify(http_error_body(status, error.name)), status, extra_headers(error)

    @app.errorhandler(Exception)
    def internal_error(error: Exception) -> tuple[Response, int]:
        app.logger.exception("unhandled exception in %s", request.path)
        return jsonify(internal_error_body(error)), 500

    return app


# Read ASYNCBENCH_* now, so a bad value stops the worker before it serves anything.
app = create_app()


def main(argv: list[str] | None = None) -> int:
    """Run Werkzeug's threaded development server; 0 after SIGTERM or Ctrl-C."""
    from werkzeug.serving import make_server

    args = devserver.build_parser("python -m servers.flask_app", __doc__ or "").parse_args(argv)
    server = make_server(args.host, args.port, app, threaded=True)
    devserver.announce(args.host, server.port)
    devserver.sigterm_as_interrupt()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
