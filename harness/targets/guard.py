"""A tiny parent for every child the harness starts: it dies with the harness, and takes
its whole process group with it.

    python -I -S guard.py [--netns PATH] [--as-user UID:GID] COMMAND [ARGS...]

Run as a script (no harness import, so it starts in milliseconds). The harness starts
it in a session of its own; it asks the kernel for ``PR_SET_PDEATHSIG`` (delivered when
the harness dies, SIGKILL included), then forks and execs ``COMMAND`` in the same
process group. When the signal comes and the harness is really gone (the parent pid
changed: the signal also fires when merely the starting thread ends), it SIGKILLs the
group: the command, its workers and itself. Setting the flag here, not in a
``preexec_fn``, keeps ``subprocess`` fork-safe in a threaded harness.

With ``--as-user`` the guard stays the harness's user and only the command drops to
``UID:GID`` (no other groups) before its exec: a database server run as ``nobody`` still
dies with the harness, although ``nobody`` could not run the harness's interpreter.

With ``--netns`` the command enters the network namespace at ``PATH`` (``/run/netns/NAME``)
before it drops to another user and execs: it stays the guard's child, in the guard's
process group, so the namespace changes nothing of the above. (The few lines of
``setns`` are here again, not imported: the guard imports nothing of the harness.)

SIGTERM and SIGINT are the command's business: the harness signals the whole group, so
the guard ignores them and waits for the command, then exits with its status (or dies
of the signal that ended it).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1
DEATH_SIGNAL = signal.SIGUSR1
CLONE_NEWNET = 0x40000000


def enter_netns(libc: ctypes.CDLL, path: str) -> None:
    """Move the calling thread into the network namespace at ``path``; OSError if it cannot."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), path)
    finally:
        os.close(fd)


def main(argv: list[str]) -> int:
    """Run ``argv`` as a child; return its exit code, or die of the signal that ended it."""
    user: tuple[int, int] | None = None
    netns: str | None = None
    if argv[:1] == ["--netns"] and len(argv) > 1:
        netns = argv[1]
        argv = argv[2:]
    if argv[:1] == ["--as-user"] and len(argv) > 1:
        uid, _, gid = argv[1].partition(":")
        user = (int(uid), int(gid))
        argv = argv[2:]
    if not argv:
        sys.stderr.write("usage: guard.py [--netns PATH] [--as-user UID:GID] COMMAND [ARGS...]\n")
        return 2
    parent = os.getppid()

    def parent_died(signum: int, frame: object) -> None:
        if os.getppid() != parent:
            os.killpg(os.getpgrp(), signal.SIGKILL)

    signal.signal(DEATH_SIGNAL, parent_died)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, int(DEATH_SIGNAL), 0, 0, 0)
    if os.getppid() != parent:  # the harness died before the flag was set
        os.killpg(os.getpgrp(), signal.SIGKILL)
    pid = os.fork()
    if pid == 0:
        signal.signal(DEATH_SIGNAL, signal.SIG_DFL)
        try:
            if netns is not None:
                enter_netns(libc, netns)
            if user is not None:
                os.setgroups([])
                os.setgid(user[1])
                os.setuid(user[0])
            os.execvp(argv[0], argv)
        except OSError as exc:
            what = f"enter {netns}" if exc.filename == netns and netns else f"run {argv[0]}"
            sys.stderr.write(f"guard: cannot {what}: {exc.strerror}\n")
            os._exit(127)
    for ignored in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(ignored, signal.SIG_IGN)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):  # end the same way, so the harness sees the same status
        sig = os.WTERMSIG(status)
        with contextlib.suppress(OSError, ValueError):  # SIGKILL cannot be reset: no need
            signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
        return 128 + sig
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
