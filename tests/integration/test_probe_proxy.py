"""Health checks never go through a proxy from the environment: with ``http_proxy`` set,
a local health check of a dead port fails instead of being answered by the proxy."""

from __future__ import annotations

import http.server
import socket
import threading
import urllib.request
from collections.abc import Iterator

import pytest

from harness.targets import probe

seen_by_proxy: list[str] = []  # every URL the proxy was asked for


class AnswersEverything(http.server.BaseHTTPRequestHandler):
    """A proxy that answers 200 for any URL, as a misconfigured corporate proxy might."""

    def do_GET(self) -> None:
        seen_by_proxy.append(self.path)
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), AnswersEverything)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    for name in ("http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(name, url)
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    seen_by_proxy.clear()
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_health_check_of_a_dead_port_fails_despite_the_proxy(proxy: str) -> None:
    url = f"http://127.0.0.1:{dead_port()}"
    # The trap is real: an ordinary urllib opener asks the proxy, which answers 200.
    with urllib.request.build_opener().open(url + "/health", timeout=3) as resp:
        assert resp.status == 200
    assert seen_by_proxy == [url + "/health"]
    problem = probe.health_problem(url)
    assert problem is not None and problem.startswith("no answer")
    assert probe.fetch_json(url + "/stats")[0] is None
    assert seen_by_proxy == [url + "/health"]  # the probes never reached it
