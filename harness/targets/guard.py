"""A tiny parent for every child the harness starts: it dies with the harness, and takes
its whole process group with it.

    python -I -S guard.py [--as-user UID:GID] COMMAND [ARGS...]

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


def main(argv: list[str]) -> int:
    """Run ``argv`` as a child; return its exit code, or die of the signal that ended it."""
    user: tuple[int, int] | None = None
    if argv[:1] == ["--as-user"] and len(argv) > 1:
        uid, _, gid = argv[1].partition(":")
        user = (int(uid), int(gid))
        argv = argv[2:]
    if not argv:
        sys.stderr.write("usage: guard.py [--as-user UID:GID] COMMAND [ARGS...]\n")
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
            if user is not None:
                os.setgroups([])
                os.setgid(user[1])
                os.setuid(user[0])
            os.execvp(argv[0], argv)
        except OSError as exc:
            sys.stderr.write(f"guard: cannot run {argv[0]}: {exc.strerror}\n")
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
