"""The sync app under test: Flask, sequential upstream calls through one requests.Session.

Served in production by gunicorn (``servers.flask_app:app``, gthread or gevent
workers); ``python -m servers.flask_app --host H --port P`` runs Werkzeug's
threaded development server instead.  Settings come from ``ASYNCBENCH_*``
(see ``servers.settings``) when the module is imported.
"""

from __future__ import annotations

import sys

from flask import Flask

from servers import devserver
from servers.cpu_work import CpuWork
from servers.flask_routes import build_app
from servers.settings import Settings
from servers.sync_client import SyncUpstreamClient


def create_app(settings: Settings | None = None,
               client_class: type[SyncUpstreamClient] = SyncUpstreamClient) -> Flask:
    """Build the Flask app on the mock upstream; ``settings`` default to
    ``Settings.from_env()``; the ``client_class`` makes the upstream calls (sequential
    unless it says otherwise)."""
    settings = settings if settings is not None else Settings.from_env()
    cpu = CpuWork(settings.cpu_iterations_per_ms, settings.cpu_offload)
    return build_app(settings.stack, client_class(settings), cpu)


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
