"""Child processes behind context managers: start, wait until healthy, always reap.

``managed_process`` starts a command in its own session (so its process group is
its own) under ``guard.py`` (the group dies with the harness, even by SIGKILL), records
it in the run's pid file (``leftovers``), finds the port the OS gave it from its
listening socket, waits for ``/health``, and on any exit (normal, exception,
KeyboardInterrupt) terminates, then kills, the whole group and every descendant, and
reaps them. A command given a network namespace runs in it (the guard enters it before
the exec); its ports are read from that namespace's tables.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from harness import safefs
from harness.errors import StackExitedError, StackStartError
from harness.targets import leftovers, probe
from harness.targets.explain import explaining_line
from harness.targets.sockets import namespace_listening_ports

TAIL_LINES = 15
TAIL_BYTES = 16_384  # how much of the end of a log is read for its tail and explanation
GUARD = Path(__file__).with_name("guard.py")
PR_SET_CHILD_SUBREAPER = 36
_SUBREAPER: bool | None = None


@dataclass
class ChildProcess:
    """A running child: its command, process, log file and the address it listens on."""

    name: str
    command: list[str]
    popen: subprocess.Popen[bytes]
    log_path: Path
    host: str
    port: int = 0
    known: dict[int, psutil.Process] = field(default_factory=dict)
    netns: str | None = None  # the path of the network namespace it runs in

    @property
    def known_pids(self) -> set[int]:
        """Every pid of this child's tree seen so far."""
        return set(self.known)

    @property
    def pgid(self) -> int:
        """The process group (and session) id: the guard's pid."""
        return self.popen.pid

    @property
    def pid(self) -> int:
        """The process id of the command itself: the guard's child (the guard's own pid
        when the command has not started yet or has exited)."""
        try:
            children = psutil.Process(self.popen.pid).children()
        except psutil.Error:
            return self.popen.pid
        return children[0].pid if children else self.popen.pid

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the listening socket."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def tail(self, lines: int | None = TAIL_LINES) -> str:
        """The last lines (``None``: all of the last 16 KiB) the process wrote to stdout
        and stderr."""
        try:
            with self.log_path.open("rb") as fh:
                fh.seek(0, os.SEEK_END)
                fh.seek(max(0, fh.tell() - TAIL_BYTES))
                text = fh.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:] if lines else text.splitlines())

    def explanation(self) -> str:
        """The line of the log's end that says why the process stopped
        (``explain.explaining_line``)."""
        return explaining_line(self.tail(None))

    def alive(self) -> bool:
        """True while the command's own process has not exited."""
        return self.popen.poll() is None

    def ensure_alive(self) -> None:
        """Raise StackExitedError when the process has died."""
        code = self.popen.poll()
        if code is not None:
            raise StackExitedError(f"{self.name} exited with code {code} while running "
                                   f"({self.explanation()}) [log: {self.log_path}]",
                                   self.command, self.tail())

    def tree(self) -> list[psutil.Process]:
        """The process and all its living descendants; remembers every pid it saw."""
        try:
            root = psutil.Process(self.pgid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []
        for proc in procs:
            self.known.setdefault(proc.pid, proc)
        return procs


def listening_ports(procs: list[psutil.Process], host: str) -> list[int]:
    """TCP ports in LISTEN state on ``host`` (or a wildcard) held by any of ``procs``."""
    wanted = {host, "0.0.0.0", "::"}
    if host == "localhost":
        wanted |= {"127.0.0.1", "::1"}
    ports: set[int] = set()
    for proc in procs:
        try:
            conns = proc.net_connections(kind="tcp")
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        for conn in conns:
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.ip in wanted:
                ports.add(conn.laddr.port)
    return sorted(ports)


def wait_healthy(child: ChildProcess, deadline_s: float, health_path: str = "/health") -> None:
    """Block until the child listens and answers 200 on ``health_path``; the OS-chosen
    port is read off its listening socket. Raises StackStartError if it exits first or
    the deadline passes."""
    def address() -> str | None:
        if child.port == 0:
            procs = child.tree()
            ports = (listening_ports(procs, child.host) if child.netns is None else
                     sorted({port for proc in procs for port in
                             namespace_listening_ports(proc.pid, child.host, child.netns)}))
            if ports:
                child.port = ports[0]
        return child.base_url if child.port else None

    probe.wait_healthy(child.name, child.command, address, deadline_s, path=health_path,
                       exited=child.popen.poll, output=child.tail, said=child.explanation)


@contextlib.contextmanager
def thread_affinity(cpus: frozenset[int] | None) -> Iterator[None]:
    """Run the block with the calling thread allowed only ``cpus`` (None: unchanged).

    A child forked in the block inherits them before it runs a line, so a server's
    workers, forked later by its master, inherit them too: no window where they run
    elsewhere. Affinity is per thread on Linux; the thread's own is restored after.
    """
    if cpus is None:
        yield
        return
    previous = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, previous)


def pin_this_process(cpus: frozenset[int]) -> dict[int, set[int]]:
    """Allow every thread of this process only ``cpus``; return each one's previous set.

    Threads started later inherit the affinity of the thread that starts them.
    """
    previous: dict[int, set[int]] = {}
    for task in os.listdir("/proc/self/task"):
        tid = int(task)
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            previous[tid] = os.sched_getaffinity(tid)
            os.sched_setaffinity(tid, cpus)
    return previous


def unpin(previous: dict[int, set[int]]) -> None:
    """Undo :func:`pin_this_process` for the threads that still exist."""
    for tid, cpus in previous.items():
        with contextlib.suppress(OSError):
            os.sched_setaffinity(tid, cpus)


def guarded(command: list[str], user: int | None = None, netns: str | None = None) -> list[str]:
    """``command`` run under ``guard.py``, which ends its process group when the harness
    dies (``PR_SET_PDEATHSIG`` without a ``preexec_fn``); with ``user``, the command (not
    the guard) runs as that uid and its primary group; with ``netns`` (a path), in that
    network namespace."""
    options = ["--netns", netns] if netns is not None else []
    if user is not None:
        options += ["--as-user", f"{user}:{pwd.getpwuid(user).pw_gid}"]
    return [sys.executable, "-I", "-S", str(GUARD), *options, *command]


def become_subreaper() -> bool:
    """Make this process adopt orphaned descendants (Linux), so that it can reap them.

    Without it, the workers of a server whose master died are reparented to init,
    which may reap them late; with it, ``stop_process`` reaps them itself.
    """
    global _SUBREAPER
    if _SUBREAPER is None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            _SUBREAPER = libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
        except (OSError, AttributeError):
            _SUBREAPER = False
    return _SUBREAPER


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block ends, so that a Ctrl-C cannot cut a start
    or a cleanup short; a signal that arrived meanwhile is raised again afterwards.

    The handlers are swapped rather than the signals masked: a process-directed signal
    may land on any thread, and Python runs its handler in the main thread regardless.
    Outside the main thread this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []

    def hold(signum: int, frame: object) -> None:
        pending.append(signum)

    previous = {sig: signal.signal(sig, hold) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if pending:
            signal.raise_signal(pending[0])


def stop_process(child: ChildProcess, grace_s: float = 5.0,
                 stop_signal: signal.Signals = signal.SIGTERM) -> None:
    """Signal (``stop_signal``), then kill, the child's process group and every descendant;
    reap them all."""
    with signals_deferred():
        _stop(child, grace_s, stop_signal)


def _stop(child: ChildProcess, grace_s: float, stop_signal: signal.Signals) -> None:
    child.tree()
    procs = [p for p in child.known.values() if _same_process(p)]
    pgid = child.pgid
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, stop_signal)
    for proc in procs:  # descendants that left the group (setsid) still get the signal
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.popen.wait(timeout=grace_s)
    _, survivors = psutil.wait_procs([p for p in procs if p.pid != child.pgid], timeout=grace_s)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    for proc in survivors:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    if child.popen.poll() is None:
        child.popen.kill()
    child.popen.wait()
    psutil.wait_procs(survivors, timeout=grace_s)
    for pid in child.known:  # orphans adopted by this subreaper: reap them
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)


def _same_process(proc: psutil.Process) -> bool:
    """True while ``proc`` exists and is the process we saw (not a reused pid)."""
    try:
        return proc.is_running()
    except psutil.Error:
        return False


@contextlib.contextmanager
def managed_process(name: str, command: list[str], env: Mapping[str, str], host: str,
                    *, port: int = 0, health_timeout_s: float = 30.0,
                    log_dir: Path | None = None, cwd: str | Path | None = None,
                    health_path: str = "/health",
                    cpus: frozenset[int] | None = None,
                    ready: Callable[[ChildProcess, float], None] | None = None,
                    user: int | None = None,
                    stop_signal: signal.Signals = signal.SIGTERM,
                    pass_fds: tuple[int, ...] = (),
                    netns: str | None = None) -> Iterator[ChildProcess]:
    """Run ``command`` until the block exits; yield it once it answers ``health_path``.

    With ``cpus``, the command and every process it forks may run only on those CPUs;
    with ``netns`` (``/run/netns/NAME``), in that network namespace.
    A server that speaks no HTTP passes ``ready(child, deadline_s)`` instead, which blocks
    until it is ready and raises StackStartError otherwise.  ``user`` runs the command as
    that uid (and its primary group); ``stop_signal`` is what asks it to stop;
    ``pass_fds`` are file descriptors the command inherits (a socket to talk over).
    """
    become_subreaper()
    # Without a log folder a temporary one holds the log; it is removed on the way out,
    # except after a failed start, whose error names the log in it.
    temporary = log_dir is None
    if log_dir is None:
        log_dir = leftovers.temporary_folder()
    started = False
    try:
        safefs.ensure_dir(log_dir)  # a run folder's logs/ is never followed as a link
        # Stack names come from configs: never let one choose where its log goes.
        log_path = log_dir / (re.sub(r"[^A-Za-z0-9_.=@-]", "_", name).lstrip(".") + ".log")
        child: ChildProcess | None = None
        try:
            # A signal between the fork and the try below would leak the child: hold it.
            with signals_deferred(), safefs.open_append(log_path) as log, thread_affinity(cpus):
                token = leftovers.new_token()
                # The guard runs as the harness's user (it must kill the group when the
                # harness dies); a command run as another user drops to it in the guard.
                popen = subprocess.Popen(guarded(command, user, netns),
                                         env={**env, leftovers.GUARD_ENV: token},
                                         cwd=cwd, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True,
                                         pass_fds=pass_fds)
                child = ChildProcess(name=name, command=command, popen=popen,
                                     log_path=log_path, host=host, port=port, netns=netns)
                child.tree()
                leftovers.record(popen.pid, token, command)
            try:
                if ready is None:
                    wait_healthy(child, health_timeout_s, health_path)
                else:
                    ready(child, health_timeout_s)
            except StackStartError as exc:
                # The log is where the whole story is; name it in the one line the user sees.
                waited = f"waited for GET {health_path}; " if ready is None else ""
                raise StackStartError(f"{exc} [{waited}log: {child.log_path}]", exc.command,
                                      exc.output_tail) from None
            child.tree()
            started = True
            yield child
        finally:
            if child is not None:
                stop_process(child, stop_signal=stop_signal)
    except StackStartError:
        if not started:
            temporary = False  # keep the log the error names
        raise
    finally:
        if temporary:
            shutil.rmtree(log_dir, ignore_errors=True)


def as_user(uid: int | None) -> dict[str, Any]:
    """Popen's arguments that drop to ``uid`` and its primary group, with no other groups."""
    if uid is None:
        return {}
    return {"user": uid, "group": pwd.getpwuid(uid).pw_gid, "extra_groups": []}
