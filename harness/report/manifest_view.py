"""The manifest as the report reads it: every field the templates print, absent ones None,
and the words for the environment (placement, hosts, loopback) that the report states.
"""

from __future__ import annotations

import ipaddress
import shlex
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from harness.report.filters import show

STACK_SETTINGS = (
    ("Paradigm", "paradigm", ""), ("Command", "command_line", ""), ("Folder", "cwd", ""),
    ("Ready path", "ready_path", ""), ("Request paths", "request_paths", ""),
    ("App", "app", ""), ("Server", "server", ""), ("Worker class", "worker_class", ""),
    ("Workers", "workers", ""), ("Threads per worker", "threads", ""),
    ("Worker connections", "worker_connections", ""), ("Listen backlog", "backlog", ""),
    ("Keep-alive", "keepalive_s", "s"), ("Upstream pool size", "pool_size", ""),
    ("Upstream timeout", "upstream_timeout_s", "s"), ("Fan-out calls", "fanout_mode", ""),
    ("Concurrency slots", "slots", ""), ("Kind", "kind", ""),
)
_STACK_KEYS = ("app", "server", "worker_class", "workers", "threads", "worker_connections",
               "backlog", "keepalive_s", "pool_size", "upstream_timeout_s", "kind",
               "fanout_mode", "concurrency_slots", "paradigm", "cwd", "ready_path")
_CONFIG_KEYS = ("baseline", "rounds", "max_rounds", "target_ci", "warmup_requests", "delay_ms",
                "bursts_per_trial", "arrival", "sweep", "quiet_wait_s", "allocation", "budget_s",
                "confidence", "host", "source", "seed", "model_min_efficiency")
ENVIRONMENT = (("Python", "python"), ("Operating system", "os"), ("Kernel", "kernel"),
                ("CPU model", "cpu_model"), ("CPU count", "cpu_count"),
                ("CPU frequency governor", "governor"), ("CPU boost (turbo)", "cpu_boost"),
                ("Isolated CPUs", "isolated_cpus"),
                ("Accept queue cap (net.core.somaxconn)", "somaxconn"),
                ("Open-file limit (soft, hard)", "open_files_limit"),
                ("ASLR (kernel.randomize_va_space)", "aslr"),
                ("Load average at start (1, 5, 15 min)", "loadavg"))
ENV_KEYS = frozenset(k for _, k in ENVIRONMENT)
_MANIFEST_KEYS = frozenset({
    "run_id", "seed", "created_at", "config_hash", "config", "harness_version", "compat_id",
    "lock_hash", "git", "environment", "command", "stop_reason", "rounds_completed",
    "calibration", "schema_version", "loadavg_end", "placement", "warnings", "run_dir",
    "skipped", "loadgen", "hosts", "allocation"})


def placement_words(manifest: Mapping[str, Any]) -> str | None:
    """``split: the stack on CPUs 1, the harness (load generator, upstream) on CPUs 0``."""
    placement = manifest.get("placement")
    if not isinstance(placement, Mapping):
        return None
    mode = placement.get("mode")
    if mode == "none":
        return "none: every process may run on every CPU"
    upstream = placement.get("upstream_cpus")
    if upstream is not None:
        return (f"{mode}: the stack on CPUs {show(placement.get('stack_cpus'))}, the harness "
                f"(load generator) on CPUs {show(placement.get('harness_cpus'))}, the upstream "
                f"on CPUs {show(upstream)}")
    return (f"{mode}: the stack on CPUs {show(placement.get('stack_cpus'))}, the harness "
            f"(load generator, upstream) on CPUs {show(placement.get('harness_cpus'))}")


def loadgen_words(manifest: Mapping[str, Any]) -> str:
    """``locust 2.47.0: master 127.0.0.1:5557, 2 local workers on CPUs 0, 0 remote`` or
    ``builtin: one asyncio process`` (runs that record no engine used the builtin one)."""
    engine = manifest.get("loadgen")
    if not isinstance(engine, Mapping) or engine.get("engine") != "locust":
        return "builtin: one asyncio process"
    cpus = engine.get("worker_cpus")
    where = f" on CPUs {show(cpus)}" if cpus else ""
    return (f"locust {engine.get('locust_version')}: master {engine.get('master')}, "
            f"{engine.get('local_workers')} local workers{where}, "
            f"{engine.get('expect_workers')} remote")


_WHERE_WORDS = {"local": "this machine", "netns": "a network namespace of this machine",
                "remote": "another host"}


def _role_words(role: str, site: object) -> str | None:
    """``stack: a network namespace of this machine (x-stack, 198.18.7.2)``; None when the
    recorded entry has not the shape the harness writes."""
    if not isinstance(site, Mapping) or site.get("where") not in _WHERE_WORDS:
        return None
    details = [str(site[key]) for key in ("namespace", "address", "url")
               if isinstance(site.get(key), str) and site.get(key)]
    return (f"{role}: {_WHERE_WORDS[site['where']]}"
            + (f" ({', '.join(details)})" if details else ""))


def hosts_words(manifest: Mapping[str, Any]) -> str | None:
    """Where each role ran, as one line of the Environment section; None when the manifest
    does not say (older runs: everything on this machine)."""
    hosts = manifest.get("hosts")
    if not isinstance(hosts, Mapping):
        return None
    parts = [_role_words(role, hosts.get(role)) for role in ("stack", "upstream", "load")]
    words = "; ".join(part for part in parts if part is not None)
    network = hosts.get("network")
    if isinstance(network, Mapping) and all(isinstance(network.get(key), str)
                                            for key in ("bridge", "subnet")):
        words += f"; bridge {network['bridge']} on {network['subnet']}"
    return words or None


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and any loopback IP address (127.0.0.0/8, ::1)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _is_scalar(value: object) -> bool:
    """A value that reads as one table cell: a string, number, bool, or list of those."""
    if isinstance(value, list | tuple):
        return all(isinstance(v, str | int | float | bool) for v in value)
    return value is None or isinstance(value, str | int | float | bool)


def _stack_view(name: str, raw: Mapping[str, Any] | None) -> dict[str, Any]:
    spec = dict(raw or {})
    view: dict[str, Any] = {"name": name, **{k: spec.get(k) for k in _STACK_KEYS}}
    if view["kind"] is None:
        view["kind"] = "dev" if view["server"] == "dev" else "production"
    if view["paradigm"] is None and view["fanout_mode"] in ("sequential", "concurrent"):
        view["paradigm"] = "sync" if view["fanout_mode"] == "sequential" else "async"
    command, paths = spec.get("command"), spec.get("paths")
    # A run folder is untrusted: show only what has the recorded shape.
    view["command_line"] = (shlex.join(command) if isinstance(command, list)
                            and all(isinstance(a, str) for a in command) else None)
    view["request_paths"] = (", ".join(f"{k}: {v}" for k, v in sorted(paths.items()))
                             if isinstance(paths, dict)
                             and all(isinstance(v, str) for v in paths.values()) else None)
    if "concurrency_slots" not in spec:
        view["slots"] = None
    elif spec["concurrency_slots"] is None:
        view["slots"] = "no fixed limit (event loop)"
    else:
        view["slots"] = str(spec["concurrency_slots"])
    return view


def manifest_view(manifest: Mapping[str, Any], summary: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest with every field the templates read; absent fields are ``None``.

    ``run_id`` and ``config`` must be present; everything else may be missing. Stacks
    the summary names but the manifest does not describe get ``None`` settings.
    """
    config = manifest["config"]
    external = config.get("external") or {}
    urls = [external.get("upstream_url"), *(external.get("stacks") or {}).values()]
    external_hosts = [urlsplit(u).hostname or "" for u in urls if isinstance(u, str)]
    env = manifest.get("environment") or {}
    git = manifest.get("git") or {}
    specs: Mapping[str, Any] = config.get("stacks") or {}
    order = list(config.get("stack_order") or specs)
    for key in ("cells", "speedups", "latency", "model"):
        for entry in summary.get(key) or []:
            if entry["stack"] not in order:
                order.append(entry["stack"])
    return {
        "external_hosts": external_hosts,
        "manifest_warnings": [str(w) for w in manifest.get("warnings") or []],
        "run_id": str(manifest["run_id"]),
        "created_at": manifest.get("created_at"),
        "seed": manifest.get("seed", config.get("seed")),
        "config_hash": manifest.get("config_hash"),
        "harness_version": manifest.get("harness_version"),
        "compat_id": manifest.get("compat_id"),
        "lock_hash": manifest.get("lock_hash"),
        "commit": git.get("commit"),
        "dirty": git.get("dirty"),
        "command": manifest.get("command"),
        # Where the run folder is, relative to the project (recorded since it may be
        # anywhere); older runs lived under results/.
        "run_dir": (manifest["run_dir"] if isinstance(manifest.get("run_dir"), str)
                    else f"results/{manifest['run_id']}"),
        "skipped": [f"{x['scenario']} on {x['stack']}: {x['reason']}"
                    for x in manifest.get("skipped") or []
                    if isinstance(x, dict) and all(isinstance(x.get(k), str)
                                                   for k in ("scenario", "stack", "reason"))],
        "stop_reason": manifest.get("stop_reason"),
        "rounds_completed": manifest.get("rounds_completed"),
        "calibration": manifest.get("calibration") or {},
        "config": {k: config.get(k) for k in _CONFIG_KEYS},
        "scenarios": dict(config.get("scenarios") or {}),
        "limits": dict(config.get("limits") or {}),
        "stacks": [_stack_view(name, specs.get(name)) for name in order],
        "environment": {k: env.get(k) for _, k in ENVIRONMENT},
        "environment_extra": {k: v for k, v in sorted(env.items())
                              if k not in ENV_KEYS and k != "packages" and _is_scalar(v)},
        "extra": {k: v for k, v in sorted(manifest.items())
                  if k not in _MANIFEST_KEYS and _is_scalar(v)},
        "packages": dict(env.get("packages") or {}),
    }
