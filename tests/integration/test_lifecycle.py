"""Stack lifecycle against real servers: contract, crashes, and nothing left behind."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import psutil
import pytest

from harness.config.catalogue import BUILTIN_STACKS
from harness.config.schema import StackSpec
from harness.errors import StackExitedError, StackStartError
from harness.targets.contract import check_contract
from harness.targets.local import running_stack
from harness.targets.process import managed_process

PRODUCTION = [name for name, s in BUILTIN_STACKS.items() if s["server"] != "dev"]
DEV = [name for name, s in BUILTIN_STACKS.items() if s["server"] == "dev"]


def spec(name: str, **changes: object) -> StackSpec:
    fields = dict(BUILTIN_STACKS[name])
    fields.update(changes)
    return StackSpec(name=name, **fields)  # type: ignore[arg-type]


def gone(pids: set[int]) -> list[int]:
    """The pids that still exist (zombies count as alive: they were not reaped)."""
    alive = []
    for pid in pids:
        try:
            proc = psutil.Process(pid)
        except psutil.NoSuchProcess:
            continue
        alive.append(pid if proc.status() != psutil.STATUS_ZOMBIE else -pid)
    return alive


@pytest.mark.parametrize("name", PRODUCTION)
def test_contract_of_every_app_under_its_production_server(name: str) -> None:
    with running_stack(spec(name, workers=2)) as handle:
        results = check_contract(handle.base_url, name)
        pids = handle.pids()
    assert [r.name for r in results] == ["health", "single", "aggregate", "bad-n", "bad-delay"]
    assert all(r.ok for r in results), [r for r in results if not r.ok]
    assert len(pids) >= 3  # upstream, server master and at least one worker
    assert gone(pids) == []


@pytest.mark.parametrize("name", DEV)
def test_contract_of_every_app_under_its_development_server(name: str) -> None:
    with running_stack(spec(name)) as handle:
        results = check_contract(handle.base_url, name)
        pids = handle.pids()
    assert all(r.ok for r in results), [r for r in results if not r.ok]
    assert gone(pids) == []


def test_server_killed_from_outside_is_reported() -> None:
    with running_stack(spec("flask-gunicorn", workers=1, threads=1)) as handle:
        handle.ensure_alive()
        os.killpg(handle.server.pgid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        with pytest.raises(StackExitedError) as info:
            while time.monotonic() < deadline:
                handle.ensure_alive()
                time.sleep(0.05)
        pids = handle.pids()
    message = str(info.value)
    assert "flask-gunicorn exited with code -9 while running" in message
    assert "gunicorn" in " ".join(info.value.command)
    assert gone(pids) == []


def test_no_process_left_when_the_block_raises() -> None:
    pids: set[int] = set()
    with pytest.raises(RuntimeError, match="boom"), \
            running_stack(spec("quart-hypercorn", workers=2)) as handle:
        pids = handle.pids()
        assert all(psutil.pid_exists(p) for p in pids)
        raise RuntimeError("boom")
    assert len(pids) >= 3
    assert gone(pids) == []


def test_keyboard_interrupt_stops_everything() -> None:
    pids: set[int] = set()
    with pytest.raises(KeyboardInterrupt), running_stack(spec("fastapi-uvicorn", workers=2)) as h:
        pids = h.pids()
        raise KeyboardInterrupt
    assert gone(pids) == []


def test_a_server_that_exits_early_names_command_and_output(tmp_path: Path) -> None:
    command = [sys.executable, "-c", "import sys; print('cannot start: bad setting'); sys.exit(3)"]
    with pytest.raises(StackStartError) as info, \
            managed_process("broken", command, dict(os.environ), "127.0.0.1", log_dir=tmp_path):
        pass
    assert "broken exited with code 3 before it was ready" in str(info.value)
    assert "cannot start: bad setting" in str(info.value)
    assert info.value.command == command


def test_a_server_that_never_becomes_healthy_times_out(tmp_path: Path) -> None:
    command = [sys.executable, "-c", "import time; print('stuck', flush=True); time.sleep(60)"]
    started = time.monotonic()
    with pytest.raises(StackStartError) as info, \
            managed_process("stuck", command, dict(os.environ), "127.0.0.1",
                            health_timeout_s=1.0, log_dir=tmp_path):
        pass
    assert time.monotonic() - started < 10
    assert "stuck was not healthy within 1 s (no listening socket" in str(info.value)
    assert "stuck" in info.value.output_tail


def test_a_server_ignoring_sigterm_is_killed() -> None:
    code = ("import signal, socket, time, http.server, threading\n"
            "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "class H(http.server.BaseHTTPRequestHandler):\n"
            "    def do_GET(self):\n"
            "        self.send_response(200); self.end_headers(); self.wfile.write(b'{}')\n"
            "s = http.server.HTTPServer(('127.0.0.1', 0), H)\n"
            "s.serve_forever()\n")
    with managed_process("stubborn", [sys.executable, "-c", code], dict(os.environ),
                         "127.0.0.1") as child:
        pid = child.pid
    assert gone({pid}) == []
