"""Ports of the servers the harness starts, in its own network namespace or in another one.

``free_port`` finds a port nothing listens on (an own app is told its port, since not every
server accepts 0); in a namespace it asks from a short-lived thread that entered that
namespace (a thread's network namespace is its own). ``namespace_listening_ports`` reads
the ports a process listens on from its own namespace's tables (``/proc/PID/net/tcp``):
psutil reads the harness's, where a server in a namespace has no socket.
"""

from __future__ import annotations

import ctypes
import ipaddress
import os
import socket
import sys
import threading
from pathlib import Path

from harness.errors import TargetError
from harness.targets import guard

LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp's hex state column


def enter_namespace(path: str) -> None:
    """Move the calling thread into the network namespace at ``path`` (``/run/netns/NAME``).

    Raises:
        OSError: the namespace cannot be opened or entered.
    """
    guard.enter_netns(ctypes.CDLL(None, use_errno=True), path)


def _bind_free(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def free_port(host: str, netns: str | None = None) -> int:
    """A TCP port on ``host`` that nothing listens on right now (the OS's choice), in the
    network namespace at path ``netns`` when given."""
    if netns is None:
        return _bind_free(host)
    found: list[int] = []
    failed: list[OSError] = []

    def inside() -> None:
        try:
            enter_namespace(netns)
            found.append(_bind_free(host))
        except OSError as exc:
            failed.append(exc)

    # The thread ends in the namespace; nothing else ever runs on it.
    thread = threading.Thread(target=inside, name="free-port-in-namespace")
    thread.start()
    thread.join()
    if failed or not found:
        why = failed[0].strerror if failed else "no port"
        raise TargetError(f"cannot pick a port on {host} in network namespace {netns} ({why})")
    return found[0]


def parse_listening(table: str, ipv6: bool = False) -> list[tuple[str, int]]:
    """(address, port) of every socket in LISTEN state in a ``/proc/net/tcp`` (or ``tcp6``)
    table's text."""
    found = []
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 4 or fields[3] != LISTEN:
            continue
        address, _, port = fields[1].partition(":")
        try:
            raw = bytes.fromhex(address)
            # The kernel prints each 32-bit word of the address in the host's byte order.
            words = (b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
                     if sys.byteorder == "little" else raw)
            ip = ipaddress.ip_address(words) if len(raw) in (4, 16) else None
            number = int(port, 16)
        except ValueError:
            continue
        if ip is not None and (len(raw) == 16) == ipv6:
            found.append((str(ip), number))
    return found


def in_namespace(pid: int, netns: str) -> bool:
    """True when process ``pid`` runs in the network namespace at path ``netns``."""
    try:
        ours = os.stat(netns)
        theirs = os.stat(f"/proc/{pid}/ns/net")
    except OSError:
        return False
    return (ours.st_dev, ours.st_ino) == (theirs.st_dev, theirs.st_ino)


def namespace_listening_ports(pid: int, host: str, netns: str) -> list[int]:
    """TCP ports in LISTEN state on ``host`` (or a wildcard) in the network namespace at
    path ``netns``, as process ``pid`` sees them; empty unless ``pid`` runs there (the
    guard that started it does not)."""
    if not in_namespace(pid, netns):
        return []
    wanted = {host, "0.0.0.0", "::"}
    ports: set[int] = set()
    for name, ipv6 in (("tcp", False), ("tcp6", True)):
        try:
            text = Path(f"/proc/{pid}/net/{name}").read_text(encoding="ascii", errors="replace")
        except OSError:
            continue
        ports.update(port for address, port in parse_listening(text, ipv6) if address in wanted)
    return sorted(ports)
