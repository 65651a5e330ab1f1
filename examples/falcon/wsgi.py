"""A small Falcon WSGI service, the sync half of the "measure your own app" example.

Routes: ``GET /healthz``; ``GET /api/item?delay_ms=D`` makes one call to the upstream;
``GET /api/report?n=N&delay_ms=D`` makes N calls one after another. The upstream's base
URL comes from ``ASYNCBENCH_UPSTREAM_URL`` (the harness sets it; any service would read
its own setting). Served by gunicorn: ``gunicorn wsgi:app``.
"""

from __future__ import annotations

import os
import threading

import falcon
import requests
from requests.adapters import HTTPAdapter

UPSTREAM = os.environ.get("ASYNCBENCH_UPSTREAM_URL", "http://127.0.0.1:8000")
_local = threading.local()


def session() -> requests.Session:
    """One pooled session per thread (gunicorn's gthread workers serve on threads)."""
    if not hasattr(_local, "session"):
        _local.session = requests.Session()
        _local.session.mount("http://", HTTPAdapter(pool_maxsize=4))
    s: requests.Session = _local.session
    return s


def call_upstream(delay_ms: int) -> None:
    """One upstream call that takes ``delay_ms``; a failure becomes a 502."""
    try:
        response = session().get(f"{UPSTREAM}/delay?ms={delay_ms}", timeout=30)
    except requests.RequestException as exc:
        raise falcon.HTTPBadGateway(description=f"upstream unreachable: {exc}") from exc
    if response.status_code != 200:
        raise falcon.HTTPBadGateway(description=f"upstream answered {response.status_code}")


class Health:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"status": "ok"}


class Item:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        delay_ms = req.get_param_as_int("delay_ms", required=True, min_value=0, max_value=60_000)
        call_upstream(delay_ms)
        resp.media = {"calls": 1}


class Report:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        n = req.get_param_as_int("n", required=True, min_value=1, max_value=1000)
        delay_ms = req.get_param_as_int("delay_ms", required=True, min_value=0, max_value=60_000)
        for _ in range(n):
            call_upstream(delay_ms)
        resp.media = {"calls": n}


app = falcon.App()
app.add_route("/healthz", Health())
app.add_route("/api/item", Item())
app.add_route("/api/report", Report())
