"""Reading listening ports from a namespace's own tables (``/proc/PID/net/tcp``)."""

from __future__ import annotations

import os
import socket
import sys

import pytest

from harness.targets.sockets import (
    free_port,
    in_namespace,
    namespace_listening_ports,
    parse_listening,
)

# As the kernel prints them (little-endian words): 198.18.7.2:8000 listening, 127.0.0.1:
# 5432 listening, an established connection, a malformed line.
TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 020712C6:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1
   1: 0100007F:1538 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1
   2: 020712C6:1F40 010712C6:D431 01 00000000:00000000 00:00000000 00000000     0        0 3 1
   3: zz:1F40 00000000:0000 0A
"""
TCP6 = """\
  sl  local_address                         remote_address                        st
   0: 00000000000000000000000000000000:1F41 00000000000000000000000000000000:0000 0A
   1: 00000000000000000000000001000000:1F42 00000000000000000000000000000000:0000 0A
"""


@pytest.mark.skipif(sys.byteorder != "little", reason="the sample tables are little-endian")
def test_parse_listening_reads_listening_sockets_only() -> None:
    assert parse_listening(TCP) == [("198.18.7.2", 8000), ("127.0.0.1", 5432)]
    assert parse_listening(TCP6, ipv6=True) == [("::", 8001), ("::1", 8002)]
    assert parse_listening(TCP6) == []  # an IPv6 table is not read as IPv4
    assert parse_listening("") == []


def test_ports_of_this_process_in_its_own_namespace() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        here = f"/proc/{os.getpid()}/ns/net"
        assert in_namespace(os.getpid(), here)
        assert port in namespace_listening_ports(os.getpid(), "127.0.0.1", here)
        assert port not in namespace_listening_ports(os.getpid(), "198.18.7.2", here)
    assert not in_namespace(os.getpid(), "/run/netns/no-such-namespace")
    assert namespace_listening_ports(2**22 + 7, "127.0.0.1", here) == []


def test_free_port_here() -> None:
    port = free_port("127.0.0.1")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))  # nothing held it
