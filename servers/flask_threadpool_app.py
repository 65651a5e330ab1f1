"""The fan-out control: the Flask app of ``servers.flask_app`` whose ``/aggregate`` makes
its N upstream calls through a thread pool instead of one after another.

Served by gunicorn (``servers.flask_threadpool_app:app``). Beside the async apps it
separates two causes of a fan-out gain: concurrent calls (this app has them) and an
async server (it has not).
"""

from __future__ import annotations

from servers.flask_app import create_app
from servers.sync_client import ThreadPoolUpstreamClient

APP_NAME = "flask-threadpool"

# Read ASYNCBENCH_* now, so a bad value stops the worker before it serves anything.
app = create_app(client_class=ThreadPoolUpstreamClient)
