"""Roles in network namespaces, for real: the harness makes a bridge, veth pairs and a
namespace per role, runs the stack and the upstream inside them, measures them from its own
namespace, and leaves no namespace, veth, lock or process behind: after a run, after
SIGINT, and (through the next start) after SIGKILL.

Needs root and iproute2; skipped with the reason elsewhere. Every test uses a prefix of its
own, so parallel runs never see each other's namespaces, and nothing else is touched.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from harness.config.hosts import Hosts
from harness.config.load import config_from_dict
from harness.targets import netns
from harness.targets.local import running_stack
from harness.targets.sockets import in_namespace
from harness.targets.topology import NETNS_DIR, TOKEN_PATTERN, Names, sites_for
from tests.behaviour import LIMITS_OFF
from tests.procs import living_children, still_running

ROOT = Path(__file__).resolve().parents[2]


def _why_not() -> str | None:
    problem = netns.privilege_problem()
    if problem is not None:
        return problem
    probe = f"nsprobe{secrets.token_hex(3)}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True,
                          check=False)
    subprocess.run(["ip", "netns", "delete", probe], capture_output=True, check=False)
    if made.returncode != 0:
        return f"ip netns add fails here: {made.stderr.strip()}"
    return None


WHY_NOT = _why_not()
pytestmark = pytest.mark.skipif(WHY_NOT is not None,
                                reason=f"network namespaces cannot be created: {WHY_NOT}")


# The load role in a namespace of its own: the locust engine's workers run there.
LOAD_IN_A_NAMESPACE = """load = "netns"

[loadgen]
engine = "locust"
workers = 2
"""


def config_text(prefix: str, rounds: int = 1, load_netns: bool = True) -> str:
    """Stack and upstream in namespaces; with ``load_netns``, the load (locust workers) in a
    third, else in the harness's process (the builtin engine)."""
    return f"""
[run]
stacks = ["quart-hypercorn"]
baseline = "quart-hypercorn"
rounds = {rounds}
delay_ms = 20
warmup_requests = 2
quiet_wait_s = 0
health_timeout_s = 120  # a busy machine may take long to start a server
placement = "split"

[hosts]
stack = "netns"
upstream = "netns"
prefix = "{prefix}"
{LOAD_IN_A_NAMESPACE if load_netns else ""}
[scenarios.fanout]
levels = [3]

[scenarios.clients]
levels = [5]

[scenarios.rate]
levels = [20]
duration_s = 1
""" + LIMITS_OFF


@pytest.fixture
def prefix() -> Iterator[str]:
    """A prefix no other test run uses; whatever a failed test left of it is removed."""
    mine = "n" + secrets.token_hex(3)
    yield mine
    for names in _stems(mine):
        netns.remove(names)
    for lock in netns.LOCK_DIR.glob(f"{mine}*.lock"):
        lock.unlink()


def _stems(prefix: str) -> list[Names]:
    found = {name[len(prefix):len(prefix) + 6] for name in left_of(prefix)}
    return [Names(prefix, token) for token in found if TOKEN_PATTERN.fullmatch(token)]


def left_of(prefix: str) -> list[str]:
    """Every namespace, link and lock file of ``prefix`` that exists."""
    names = [p.name for p in Path("/sys/class/net").iterdir() if p.name.startswith(prefix)]
    if Path(NETNS_DIR).is_dir():
        names += [p.name for p in Path(NETNS_DIR).iterdir() if p.name.startswith(prefix)]
    return names + [p.name for p in netns.LOCK_DIR.glob(f"{prefix}*.lock")]


def get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.status, resp.read()


def test_three_namespaces_reach_each_other_and_go(prefix: str, tmp_path: Path) -> None:
    roles = ("stack", "upstream", "load")
    seen: set[int] = set()
    with netns.network(roles, prefix) as network:
        names = network.names
        assert sorted(left_of(prefix)) == sorted(
            [*names.namespaces(), *names.links(), f"{names.stem}.lock"])
        sites = sites_for(Hosts(stack="netns", upstream="netns"), "127.0.0.1", network)
        spec = config_from_dict({"run": {"stacks": ["quart-hypercorn"],
                                         "baseline": "quart-hypercorn"},
                                 "scenarios": {"fanout": {"levels": [1]}}}).stacks[0]
        with running_stack(spec, sites=sites, log_dir=tmp_path) as handle:
            server, upstream = handle.server.tree(), handle.upstream.tree()
            seen = handle.pids()
            assert handle.base_url.startswith(f"http://{network.address('stack')}:")
            assert handle.upstream_url.startswith(f"http://{network.address('upstream')}:")
            # The guard stays in the harness's namespace; what it runs is in the role's.
            assert all(in_namespace(p.pid, sites.stack.netns_path or "") for p in server[1:])
            assert all(in_namespace(p.pid, sites.upstream.netns_path or "")
                       for p in upstream[1:])
            assert not in_namespace(server[0].pid, sites.stack.netns_path or "")
            # The stack calls the upstream across namespaces; the harness reaches both.
            get(f"{handle.upstream_url}/stats?reset=1")
            status, body = get(f"{handle.base_url}/aggregate?n=3&delay_ms=5")
            assert status == 200 and json.loads(body)["calls"] == 3
            _, stats = get(f"{handle.upstream_url}/stats")
            assert json.loads(stats)["requests"] == 3
            # The load namespace reaches the stack (where load workers will run).
            script = ("import urllib.request as u; "
                      f"print(u.urlopen('{handle.base_url}/health', timeout=10).status)")
            done = subprocess.run(["ip", "netns", "exec", names.namespace("load"),
                                   sys.executable, "-c", script], capture_output=True,
                                  text=True, timeout=30, check=False)
            assert done.stdout.strip() == "200", done.stderr
    assert left_of(prefix) == []
    assert still_running(seen) == []


def run_harness(*args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "harness", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("load_netns", [True, False], ids=["three-namespaces", "builtin-load"])
def test_one_trial_of_each_scenario_then_nothing_left(prefix: str, tmp_path: Path,
                                                      load_netns: bool) -> None:
    proc, _, out = start_run(prefix, tmp_path, rounds=1, load_netns=load_netns)
    seen = watch(proc, out, lines=None)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    run_dir = next(out.glob("*/trials.jsonl")).parent
    records = [json.loads(line) for line in (run_dir / "trials.jsonl").read_text().splitlines()]
    assert sorted(r["scenario"] for r in records) == ["clients", "fanout", "rate"]
    # The limits are off (a behaviour test): a trial not ok is a real fault.
    assert all(r["status"] == "ok" for r in records), [(r["status"], r["error"]) for r in records]
    fanout = next(r for r in records if r["scenario"] == "fanout")
    assert fanout["checks"]["upstream_requests"] == 3  # the stack reached the upstream
    assert fanout["checks"]["upstream_cpu"] is not None  # measured across namespaces
    assert fanout["resources"]["cpu_s"] > 0
    manifest = json.loads((run_dir / "manifest.json").read_text())
    hosts = manifest["hosts"]
    assert hosts["stack"]["where"] == "netns"
    assert hosts["network"]["namespaces"]["stack"]["name"].startswith(prefix)
    if load_netns:  # two workers in the load namespace took a share each
        assert hosts["load"]["where"] == "netns"
        assert manifest["loadgen"]["master"].startswith(hosts["network"]["bridge_address"] + ":")
        clients = next(r for r in records if r["scenario"] == "clients")
        assert sorted(w["requests"] for w in clients["checks"]["workers"]) == [2, 3]
    else:
        assert hosts["load"]["where"] == "local" and "workers" not in fanout["checks"]
    assert hosts["network"]["subnet"].startswith("198.1")
    assert left_of(prefix) == []
    assert still_running(seen) == []
    assert living_children() == []


def watch(proc: subprocess.Popen[str], out: Path, lines: int | None) -> set[int]:
    """Every descendant of ``proc`` seen until it ends, or until its run folder has ``lines``
    trials (then it is still running)."""
    seen: set[int] = set()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        with contextlib.suppress(psutil.Error):
            seen.update(p.pid for p in psutil.Process(proc.pid).children(recursive=True))
        if proc.poll() is not None:
            return seen
        trials = list(out.glob("*/trials.jsonl"))
        if lines is not None and trials and trials[0].read_text().count("\n") >= lines:
            return seen
        time.sleep(0.02)
    proc.kill()
    proc.wait()
    pytest.fail("the run never got going")


def start_run(prefix: str, tmp_path: Path, rounds: int,
              load_netns: bool = True) -> tuple[subprocess.Popen[str], Path, Path]:
    """A run of ``config_text`` in a subprocess: (the process, its config, its results)."""
    config = tmp_path / "ns.toml"
    config.write_text(config_text(prefix, rounds, load_netns))
    out = tmp_path / "results"
    return run_harness("run", "--config", str(config), "--out", str(out), "--no-report"), \
        config, out


def assert_roles_in_their_namespaces(proc: subprocess.Popen[str], prefix: str) -> None:
    """The Locust workers run in the load namespace, the servers in the stack's and the
    upstream's; the harness and the Locust master in the harness's own."""
    spaces = {role: f"{NETNS_DIR}/{name}" for name in left_of(prefix)
              for role in ("stack", "upstream", "load") if name.endswith(f"-{role}")}
    where: dict[str, set[str]] = {}
    for child in psutil.Process(proc.pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            line = " ".join(child.cmdline())
            kind = ("worker" if " harness worker " in line else
                    "master" if "locust_master" in line else
                    "upstream" if "servers.upstream" in line else
                    "stack" if "hypercorn" in line else None)
            if kind is None or "guard.py" in line:
                continue
            found = [role for role, path in spaces.items() if in_namespace(child.pid, path)]
            where.setdefault(kind, set()).update(found or ["harness"])
    assert where == {"worker": {"load"}, "master": {"harness"}, "upstream": {"upstream"},
                     "stack": {"stack"}}, where


def test_sigint_leaves_no_namespace_veth_or_process(prefix: str, tmp_path: Path) -> None:
    proc, _, out = start_run(prefix, tmp_path, rounds=3)
    try:
        seen = watch(proc, out, lines=1)
        assert proc.poll() is None and any(n.endswith("-stack") for n in left_of(prefix))
        assert_roles_in_their_namespaces(proc, prefix)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert left_of(prefix) == []
    assert still_running(seen, settle_s=5) == []


def test_a_killed_runs_namespaces_are_removed_by_the_next_run(prefix: str,
                                                             tmp_path: Path) -> None:
    proc, config, out = start_run(prefix, tmp_path, rounds=3)
    try:
        seen = watch(proc, out, lines=1)
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    # The guard ends every process; the namespaces stay until the next start.
    assert still_running(seen, settle_s=5) == []
    killed = left_of(prefix)
    assert any(name.endswith("-stack") for name in killed) and any(
        name.endswith("br") for name in killed)
    stem = killed[0][:len(prefix) + 6]
    config.write_text(config_text(prefix).replace("levels = [5]", "levels = [2]"))
    after = run_harness("run", "--config", str(config), "--out", str(out), "--no-report",
                        "--levels", "fanout=1")
    stdout, stderr = after.communicate(timeout=300)
    assert after.returncode == 0, stderr
    assert f"removed {stem}sh" in " ".join((stdout + stderr).split())
    assert "left by a run that was killed" in " ".join((stdout + stderr).split())
    assert left_of(prefix) == []


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv (util-linux) is missing")
def test_without_the_privilege_one_line_and_exit_2(prefix: str, tmp_path: Path) -> None:
    config = tmp_path / "ns.toml"
    config.write_text(config_text(prefix))
    out = tmp_path / "results"
    done = subprocess.run(["setpriv", "--bounding-set", "-net_admin,-sys_admin", sys.executable,
                           "-m", "harness", "run", "--config", str(config), "--out", str(out)],
                          cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2, done.stderr
    assert [line for line in done.stderr.splitlines() if line] == [
        'asyncbench: [hosts] stack, upstream and load = "netns": creating network namespaces needs '
        "CAP_NET_ADMIN and CAP_SYS_ADMIN, which this process has not (run as root)"]
    assert not out.exists() and left_of(prefix) == []
