"""Headroom for concurrent clients: the open-file limit, the ephemeral ports and the listen
backlogs, checked against the levels a run will offer before it starts.

A level of C clients holds C sockets in the load generator, C accepted sockets in the
stack (all of them in one worker process at worst) plus that worker's upstream pool,
and C ephemeral ports on one destination. The harness raises its soft open-file limit to
the hard limit (:func:`raise_open_files`; every child it starts inherits it); a level
that still does not fit stops the run before its folder is created, with one line naming
``ulimit -n``. A listen backlog (capped by ``net.core.somaxconn``) shorter than C, or
ports that TIME_WAIT may exhaust, are warned about in the manifest: the run can proceed,
but connections beyond the queue wait for a SYN retransmit (1 s, then 3 s) and that wait
is part of what is measured.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass
from pathlib import Path

from harness.config.schema import Config, StackSpec
from harness.errors import ConfigError

SPARE_FILES = 256  # descriptors besides the sockets: logs, pipes, the interpreter's own
ROOT = Path("/")


def raise_open_files() -> tuple[int, int]:
    """Raise this process's soft open-file limit to its hard limit; return (soft, hard)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):  # a hard limit of "unlimited" some kernels refuse
            pass
    return soft, hard


def _read_ints(path: Path) -> list[int] | None:
    try:
        return [int(word) for word in path.read_text(encoding="ascii").split()]
    except (OSError, ValueError, UnicodeDecodeError):
        return None


@dataclass(frozen=True)
class Kernel:
    """The limits that bound concurrent clients; None where unknown."""

    open_files_hard: int | None
    port_range: tuple[int, int] | None
    somaxconn: int | None
    tw_reuse: int | None

    @classmethod
    def read(cls, root: Path = ROOT) -> Kernel:
        """This machine's limits (``root`` lets a test hand in another ``/proc``)."""
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        ports = _read_ints(root / "proc/sys/net/ipv4/ip_local_port_range")
        somaxconn = _read_ints(root / "proc/sys/net/core/somaxconn")
        reuse = _read_ints(root / "proc/sys/net/ipv4/tcp_tw_reuse")
        return cls(None if hard == resource.RLIM_INFINITY else hard,
                   (ports[0], ports[1]) if ports and len(ports) == 2 else None,
                   somaxconn[0] if somaxconn else None, reuse[0] if reuse else None)

    @property
    def ports(self) -> int | None:
        """How many ephemeral ports the range holds."""
        return None if self.port_range is None else self.port_range[1] - self.port_range[0] + 1


def files_needed(clients: int, spec: StackSpec) -> int:
    """Descriptors one process may need at ``clients``: the sockets of every client (the
    generator's, or a worker that accepted them all) and that worker's upstream pool."""
    return clients + min(clients, spec.pool_size) + SPARE_FILES


def check(config: Config, kernel: Kernel) -> list[str]:
    """Warnings for the run's manifest; ConfigError (one line) when a level cannot fit."""
    scenario = config.scenario("clients")
    if scenario is None:
        return []
    top = max(scenario.levels)
    warnings = []
    for spec in config.stacks:
        need = files_needed(top, spec)
        if kernel.open_files_hard is not None and need > kernel.open_files_hard:
            raise ConfigError(
                f"[scenarios.clients] levels: C = {top:,} needs about {need:,} open files per "
                f"process ({top:,} client sockets + {min(top, spec.pool_size):,} upstream "
                f"connections of {spec.name} + {SPARE_FILES} spare), but the hard limit is "
                f"{kernel.open_files_hard:,}: raise it (`ulimit -n {need}` as root, or "
                f"nofile in /etc/security/limits.conf) or lower the level")
        backlog = min(spec.backlog, kernel.somaxconn or spec.backlog)
        if top > backlog:
            capped = (f", capped by net.core.somaxconn {kernel.somaxconn}"
                      if kernel.somaxconn is not None and kernel.somaxconn < spec.backlog else "")
            warnings.append(
                f"clients C = {top:,} exceeds {spec.name}'s listen backlog of {backlog:,}"
                f"{capped}: connections beyond it may wait for a SYN retransmit (1 s, 3 s), "
                "and that wait is measured")
    ports = kernel.ports
    if ports is not None and top > ports:
        low, high = kernel.port_range or (0, 0)
        raise ConfigError(
            f"[scenarios.clients] levels: C = {top:,} needs {top:,} ephemeral ports, but "
            f"net.ipv4.ip_local_port_range ({low} {high}) holds {ports:,}: widen it or "
            "lower the level")
    bursts = config.bursts_per_trial + 1  # the warm-up's connections close too
    # tcp_tw_reuse = 2 reuses ports in TIME_WAIT on loopback only.
    reuses = kernel.tw_reuse == 1 or (kernel.tw_reuse == 2 and config.loopback_only)
    if ports is not None and not reuses and top * bursts > ports:
        warnings.append(
            f"clients C = {top:,} in {bursts - 1} burst(s) closes {top * bursts:,} connections "
            f"within a minute, more than the {ports:,} ephemeral ports, and "
            f"net.ipv4.tcp_tw_reuse is {kernel.tw_reuse} (no reuse on this address): ports "
            "held in TIME_WAIT may run out")
    return warnings
