"""A run's network namespaces on this machine: created with ``ip`` (iproute2) before the
first stack starts, removed on every exit, and removed by the next start after a kill.

``network(roles, prefix)`` makes the network ``topology`` describes and yields it; on any
exit (success, failure, Ctrl-C, SIGTERM) it deletes the veth pairs (which takes both ends),
the bridge and the namespaces, with SIGINT and SIGTERM held meanwhile. The processes in the
namespaces are the guard's children like every other (``process.managed_process`` runs
them through the guard, which enters the namespace before the exec), so they die with the
harness, SIGKILL included.

While a network exists its run holds an exclusive lock on ``LOCK_DIR/STEM.lock`` (the
kernel drops it when the harness dies, however), and the run's pid file has its prefix and
token (``leftovers.record_network``). ``remove_leftovers`` removes the network of every
token it finds there or among the lock files of the same prefix whose lock nobody holds:
a live run's lock is held, so a crafted pid file cannot make it touch a live network, and
names are rebuilt from prefix and token, so it touches nothing of another kind.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from harness.errors import TargetError
from harness.targets import leftovers
from harness.targets.process import signals_deferred
from harness.targets.topology import (
    NETNS_DIR,
    TOKEN_PATTERN,
    Names,
    Network,
    new_token,
    pick_subnet,
)

LOCK_DIR = Path("/run/asyncbench-netns")
ALLOCATE_LOCK = "allocate.lock"  # held while a subnet is chosen and taken
IP_TIMEOUT_S = 10
CAP_NET_ADMIN, CAP_SYS_ADMIN = 12, 21
NAME_ATTEMPTS = 5


def privilege_problem(status: str | None = None) -> str | None:
    """Why this process cannot create network namespaces, or None when it can; ``status``
    is the text of ``/proc/self/status`` (read when not given)."""
    if shutil.which("ip") is None:
        return "the ip command (iproute2) is not installed"
    if status is None:
        try:
            status = Path("/proc/self/status").read_text()
        except OSError:
            status = ""
    effective = 0
    with contextlib.suppress(ValueError, IndexError):
        for line in status.splitlines():
            if line.startswith("CapEff:"):
                effective = int(line.split()[1], 16)
    missing = [name for bit, name in ((CAP_NET_ADMIN, "CAP_NET_ADMIN"),
                                      (CAP_SYS_ADMIN, "CAP_SYS_ADMIN"))
               if not effective >> bit & 1]
    if missing:
        return (f"creating network namespaces needs {' and '.join(missing)}, which this "
                "process has not (run as root)")
    return None


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    command = ["ip", *args]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=IP_TIMEOUT_S,
                              check=False, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise TargetError(f"{' '.join(command)} did not finish within {IP_TIMEOUT_S} s") from None
    if check and done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise TargetError(f"{' '.join(command)} failed: {lines[-1] if lines else 'no output'}")
    return done


def used_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Every IPv4 network this machine's namespace has an address or a route in."""
    found: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for args in (("-j", "-4", "addr", "show"), ("-j", "-4", "route", "show", "table", "all")):
        try:
            entries = json.loads(_ip(*args).stdout or "[]")
        except ValueError:
            continue
        for entry in entries if isinstance(entries, list) else []:
            texts = [f"{a.get('local')}/{a.get('prefixlen')}" for a in entry.get("addr_info", [])]
            texts.append(str(entry.get("dst", "")))
            for text in texts:
                with contextlib.suppress(ValueError):
                    found.append(ipaddress.ip_network(text, strict=False))
    return found


def _exists(names: Names) -> bool:
    return (any(Path("/sys/class/net", link).exists() for link in names.links())
            or any(Path(NETNS_DIR, ns).exists() for ns in names.namespaces()))


def _lock_dir() -> Path:
    LOCK_DIR.mkdir(mode=0o700, exist_ok=True)
    info = LOCK_DIR.lstat()
    if not LOCK_DIR.is_dir() or LOCK_DIR.is_symlink() or info.st_uid != os.geteuid():
        raise TargetError(f"{LOCK_DIR} is not a folder of this user; remove it")
    return LOCK_DIR


def _open_lock(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)


def _create(network: Network) -> None:
    names, prefixlen = network.names, network.subnet.prefixlen
    _ip("link", "add", names.bridge, "type", "bridge")
    _ip("addr", "add", f"{network.bridge_address}/{prefixlen}", "dev", names.bridge)
    _ip("link", "set", names.bridge, "up")
    for role in network.roles:
        namespace, inner = names.namespace(role), names.inner(role)
        _ip("netns", "add", namespace)
        _ip("link", "add", names.outer(role), "type", "veth", "peer", "name", inner,
            "netns", namespace)
        _ip("link", "set", names.outer(role), "master", names.bridge, "up")
        _ip("-n", namespace, "addr", "add", f"{network.address(role)}/{prefixlen}", "dev", inner)
        _ip("-n", namespace, "link", "set", inner, "up")
        _ip("-n", namespace, "link", "set", "lo", "up")


def remove(names: Names) -> list[str]:
    """Delete every link and namespace ``names`` makes that exists; return what went.

    A veth pair goes with its end on the bridge, the namespaces last. Never raises: a
    name that cannot be removed is left for the next start.
    """
    removed = []
    for link in names.links():
        if Path("/sys/class/net", link).exists():
            with contextlib.suppress(TargetError):
                if _ip("link", "delete", link, check=False).returncode == 0:
                    removed.append(link)
    for namespace in names.namespaces():
        if Path(NETNS_DIR, namespace).exists():
            with contextlib.suppress(TargetError):
                if _ip("netns", "delete", namespace, check=False).returncode == 0:
                    removed.append(namespace)
    return removed


@contextlib.contextmanager
def network(roles: tuple[str, ...], prefix: str) -> Iterator[Network]:
    """A fresh network for ``roles`` (see ``topology``), removed on any exit.

    Raises:
        TargetError: no privilege to create it (one line), or ``ip`` refused a step (what
            was made is removed first).
    """
    problem = privilege_problem()
    if problem is not None:
        raise TargetError(f"[hosts]: {problem}")
    lock_fd: int | None = None
    made: Network | None = None
    try:
        with signals_deferred():
            lock_fd, made = _make(roles, prefix)
        yield made
    finally:
        with signals_deferred():
            if made is not None:
                _remove_all(made.names, LOCK_DIR)
            if lock_fd is not None:
                os.close(lock_fd)


def _make(roles: tuple[str, ...], prefix: str) -> tuple[int, Network]:
    """Choose names and a subnet, take the run's lock, record, create; undo on failure."""
    folder = _lock_dir()
    allocate = _open_lock(folder / ALLOCATE_LOCK)
    try:
        fcntl.flock(allocate, fcntl.LOCK_EX)  # one allocation at a time on this machine
        for _ in range(NAME_ATTEMPTS):
            names = Names(prefix, new_token())
            if not _exists(names) and not (folder / f"{names.stem}.lock").exists():
                break
        else:
            raise TargetError(f"no unused network names with prefix {prefix!r} after "
                              f"{NAME_ATTEMPTS} tries")
        made = Network(names, pick_subnet(used_networks(), int(names.token, 16)), roles)
        own = _open_lock(folder / f"{names.stem}.lock")
        fcntl.flock(own, fcntl.LOCK_EX)
        leftovers.record_network(names.prefix, names.token)
        try:
            _create(made)
        except BaseException:
            _remove_all(names, folder)
            os.close(own)
            raise
        return own, made
    finally:
        os.close(allocate)  # the bridge's address now marks the subnet taken


def _remove_all(names: Names, folder: Path) -> list[str]:
    """Remove ``names``'s network; its lock file goes only when nothing of it is left, so
    that what could not be removed is tried again by the next start."""
    removed = remove(names)
    if not _exists(names):
        with contextlib.suppress(OSError):
            (folder / f"{names.stem}.lock").unlink()
    return removed


def _owner_alive(path: Path) -> bool:
    """True while some process holds the lock at ``path`` (its run is alive)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def remove_leftovers(pid_files: list[Path], prefix: str) -> list[str]:
    """Remove the networks of runs that were killed; one line per network removed.

    Candidates are the networks ``pid_files`` record for a harness that is gone, and the
    lock files of ``prefix`` in ``LOCK_DIR``; a network whose lock is held, or which has
    no lock file, belongs to a live run (or to nothing) and is left alone.
    """
    candidates: dict[tuple[str, str], None] = dict.fromkeys(leftovers.dead_networks(pid_files))
    with contextlib.suppress(OSError):
        for path in LOCK_DIR.glob(f"{prefix}*.lock"):
            token = path.stem[len(prefix):]
            if TOKEN_PATTERN.fullmatch(token):
                candidates[(prefix, token)] = None
    lines = []
    for stem_prefix, token in candidates:
        try:
            names = Names(stem_prefix, token)
        except ValueError:
            continue  # not a name this harness makes
        lock = LOCK_DIR / f"{names.stem}.lock"
        if not lock.exists() or _owner_alive(lock):
            continue
        if privilege_problem() is not None:
            lines.append(f"cannot remove network {names.stem}* left by a run that was killed "
                         "(needs root)")
            continue
        removed = _remove_all(names, LOCK_DIR)
        if removed:
            lines.append(f"removed {', '.join(removed)} left by a run that was killed")
    return lines
