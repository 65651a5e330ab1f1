"""What a running stack is to the runner, whatever its target: one ``StackHandle`` holding
two ``Endpoint`` s, the server under test and the upstream it calls.

An ``Endpoint`` is a ``Protocol``: ``process.ChildProcess`` (local processes, which the
harness can see and measure), ``RemoteEndpoint`` (servers on other hosts and containers of
an engine that hides its processes, seen over HTTP only) and ``ContainerEndpoint`` (a
container whose processes this machine's kernel shows) all satisfy it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import psutil

from harness.config.schema import StackSpec
from harness.errors import StackExitedError
from harness.targets.probe import health_problem


class Endpoint(Protocol):
    """A server the runner talks to and, where it can, measures."""

    @property
    def name(self) -> str: ...

    @property
    def base_url(self) -> str: ...

    @property
    def known_pids(self) -> set[int]: ...

    def tree(self) -> list[psutil.Process]: ...

    def tail(self, lines: int = 15) -> str: ...

    def alive(self) -> bool: ...

    def ensure_alive(self) -> None: ...


@dataclass
class RemoteEndpoint:
    """A server the harness reaches over HTTP but cannot see as processes.

    ``tree()`` is empty (so no resources are measured), ``known_pids`` is empty, and
    ``ensure_alive`` asks ``/health``.
    """

    name: str
    base_url: str
    command: list[str] = field(default_factory=list)

    @property
    def known_pids(self) -> set[int]:
        """No pid is known: the processes are not the harness's."""
        return set()

    def tree(self) -> list[psutil.Process]:
        """No process to measure."""
        return []

    def tail(self, lines: int = 15) -> str:
        """No output to show."""
        return ""

    def alive(self) -> bool:
        """True while ``/health`` answers 200."""
        return health_problem(self.base_url) is None

    def ensure_alive(self) -> None:
        """Raise StackExitedError when ``/health`` does not answer 200."""
        problem = health_problem(self.base_url)
        if problem is not None:
            raise StackExitedError(f"{self.name} at {self.base_url} is no longer healthy "
                                   f"({problem})", self.command)


@dataclass
class ContainerEndpoint(RemoteEndpoint):
    """A container of an engine on this machine, reached over HTTP, whose processes the
    host sees: ``pid`` is its first process (the init), and ``tree()`` that process and
    every descendant, i.e. every process of the container, so the runner measures its
    CPU and memory exactly as it measures a local stack. Without a pid it is remote."""

    pid: int | None = None
    _seen: set[int] = field(default_factory=set, repr=False)

    @property
    def known_pids(self) -> set[int]:
        """Every pid of the container seen so far."""
        return set(self._seen)

    def tree(self) -> list[psutil.Process]:
        """The container's processes now; empty once it has stopped."""
        if self.pid is None:
            return []
        try:
            root = psutil.Process(self.pid)
            procs = [root, *root.children(recursive=True)]
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            return []
        self._seen.update(p.pid for p in procs)
        return procs


@dataclass
class StackHandle:
    """A running stack: the server under test and the upstream it calls."""

    spec: StackSpec
    server: Endpoint
    upstream: Endpoint

    @property
    def base_url(self) -> str:
        """Where the app under test answers."""
        return self.server.base_url

    @property
    def upstream_url(self) -> str:
        """Where the upstream answers."""
        return self.upstream.base_url

    def ensure_alive(self) -> None:
        """Raise StackExitedError if the server or the upstream has died."""
        self.upstream.ensure_alive()
        self.server.ensure_alive()

    def pids(self) -> set[int]:
        """Every pid of both process trees seen so far."""
        return self.server.known_pids | self.upstream.known_pids
