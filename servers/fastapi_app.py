"""The async app under test on FastAPI: concurrent upstream calls through one aiohttp session.

Served in production by uvicorn (``servers.fastapi_app:app``); ``python -m
servers.fastapi_app --host H --port P`` runs uvicorn programmatically, one process.
Query parameters are read raw and validated by ``servers.params``, so FastAPI's
422 validation answers never occur.  Settings come from ``ASYNCBENCH_*`` (see
``servers.settings``) when the module is imported.
"""

from __future__ import annotations

import sys
from contextlib import suppress

from fastapi import FastAPI

from servers import devserver
from servers.async_client import AsyncUpstreamClient
from servers.cpu_work import CpuWork
from servers.fastapi_routes import build_app
from servers.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """The FastAPI app on the mock upstream; ``settings`` default to ``Settings.from_env()``."""
    settings = settings if settings is not None else Settings.from_env()
    cpu = CpuWork(settings.cpu_iterations_per_ms, settings.cpu_offload)
    return build_app(settings.stack, AsyncUpstreamClient(settings), cpu)


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
