"""The line between the harness and its Locust master process: JSON objects, one a line,
over a socket pair the harness opened (so no port and no address: only the two ends).

The master relays what workers sent as plain data; the harness validates it
(:mod:`harness.loadgen.messages`), so this line carries no code and needs no pickle.
"""

from __future__ import annotations

import json
import socket
import time
from typing import Any

from harness.errors import LoadGeneratorError

MAX_LINE_BYTES = 256 << 20  # every worker's report of one trial, with room to spare


class Link:
    """One end of the line; ``recv`` waits at most ``timeout_s`` for a whole line."""

    def __init__(self, sock: socket.socket, peer: str = "the Locust master") -> None:
        self.sock = sock
        self.peer = peer
        self._buffer = b""

    def send(self, message: dict[str, Any]) -> None:
        """Send one object (raises LoadGeneratorError when the other end is gone)."""
        try:
            self.sock.sendall(json.dumps(message, separators=(",", ":")).encode() + b"\n")
        except OSError as exc:
            raise LoadGeneratorError(f"{self.peer} is gone ({exc.strerror or exc})") from None

    def recv(self, timeout_s: float | None = None) -> dict[str, Any]:
        """The next object; LoadGeneratorError on silence past ``timeout_s`` or a closed line."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while b"\n" not in self._buffer:
            if len(self._buffer) > MAX_LINE_BYTES:
                raise LoadGeneratorError(f"{self.peer} sent a line over {MAX_LINE_BYTES} bytes")
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if left == 0.0:
                raise LoadGeneratorError(f"{self.peer} did not answer within {timeout_s:g} s")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(1 << 20)
            except TimeoutError:
                continue
            except OSError as exc:
                raise LoadGeneratorError(f"{self.peer} is gone ({exc.strerror or exc})") from None
            if not chunk:
                raise LoadGeneratorError(f"{self.peer} exited")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        try:
            message = json.loads(line)
        except ValueError:
            raise LoadGeneratorError(f"{self.peer} sent a line that is not JSON") from None
        if not isinstance(message, dict):
            raise LoadGeneratorError(f"{self.peer} sent a line that is not a JSON object")
        return message

    def close(self) -> None:
        """Close this end."""
        self.sock.close()
