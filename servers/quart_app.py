"""The async app under test on Quart: concurrent upstream calls through one aiohttp session.

Served in production by Hypercorn (``servers.quart_app:app``, asyncio or uvloop
workers) or gunicorn's ``asgi`` worker; ``python -m servers.quart_app --host H
--port P`` runs Quart's development runner instead.  Settings come from
``ASYNCBENCH_*`` (see ``servers.settings``) when the module is imported.
"""

from __future__ import annotations

import sys

from quart import Quart

from servers import devserver
from servers.async_client import AsyncUpstreamClient
from servers.cpu_work import CpuWork
from servers.quart_routes import build_app
from servers.settings import Settings


def create_app(settings: Settings | None = None) -> Quart:
    """Build the Quart app on the mock upstream; ``settings`` default to ``Settings.from_env()``."""
    settings = settings if settings is not None else Settings.from_env()
    cpu = CpuWork(settings.cpu_iterations_per_ms, settings.cpu_offload)
    return build_app(settings.stack, AsyncUpstreamClient(settings), cpu)


# Read ASYNCBENCH_* now, so a bad value stops the worker before it serves anything.
app = create_app()


def main(argv: list[str] | None = None) -> int:
    """Run Quart's development runner (Hypercorn inside, one process); 0 after SIGTERM."""
    args = devserver.build_parser("python -m servers.quart_app", __doc__ or "").parse_args(argv)
    app.run(host=args.host, port=args.port, debug=False, use_reloader=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
