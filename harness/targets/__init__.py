"""Where stacks run. This face picks the target a config names; the runner, ``check`` and
``rerun`` open every stack through it and never learn which one it was.

    local      child processes on this machine (``local``), started afresh per round
    compose    docker-compose.yml's services on this machine's engine (``compose``)
    external   servers someone else started, by URL (``external``)

With ``[upstream] kind = "postgres"`` the local target starts PostgreSQL as each stack's
upstream (``postgres``), or uses the server ``database_url`` names.

Where each role runs (``[hosts]``: here, in a network namespace of this machine, on another
host) is ``roles_on_hosts``'s: it makes the run's namespaces (``netns``) and yields the
``topology.Sites`` that ``open_stack`` starts the stack and its upstream at.

``open_stack`` yields a ``handle.StackHandle``; ``target_details`` checks a target before
a run starts (``TargetError``, one line, when it cannot be used) and describes it for the
manifest.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.config.schema import Config, StackSpec
from harness.errors import TargetError
from harness.targets import compose, external, interpreters, local, netns, postgres
from harness.targets.command import Execute
from harness.targets.handle import StackHandle
from harness.targets.topology import Site, Sites, sites_for


@contextlib.contextmanager
def roles_on_hosts(config: Config) -> Iterator[Sites]:
    """Where each role of ``config`` runs; the network namespaces it asks for exist until
    the block exits (``netns.network``: removed on any exit)."""
    roles = config.hosts.namespaced() if config.target == "local" else ()
    if not roles:
        yield sites_for(config.hosts, config.host, None, config.target)
        return
    with netns.network(roles, config.hosts.prefix) as network:
        yield sites_for(config.hosts, config.host, network, config.target)


@contextlib.contextmanager
def open_stack(config: Config, spec: StackSpec, log_dir: Path | None = None,
               cpus: frozenset[int] | None = None,
               cpu_iterations_per_ms: int | None = None, *,
               sites: Sites | None = None,
               upstream_cpus: frozenset[int] | None = None) -> Iterator[StackHandle]:
    """The stack ``spec`` as the config's target provides it, stopped on exit.

    A local stack's server runs only on ``cpus`` when they are given, its upstream only on
    ``upstream_cpus``, each where ``sites`` (``roles_on_hosts``) says (default: here).
    ``cpu_iterations_per_ms`` (the run's CPU-work calibration) reaches the apps the
    harness starts itself; compose and external apps calibrate themselves.
    """
    opened: contextlib.AbstractContextManager[StackHandle]
    if config.target == "compose":
        opened = compose.open_compose(config, spec, log_dir)
    elif config.target == "external":
        opened = external.open_external(config, spec)
    elif config.upstream.kind == "postgres":
        opened = local.running_db_stack(spec, config.upstream, config.host,
                                        health_timeout_s=config.health_timeout_s, log_dir=log_dir,
                                        cpus=cpus, upstream_cpus=upstream_cpus, sites=sites)
    else:
        opened = local.running_stack(spec, config.host, upstream_backlog=config.upstream_backlog,
                                     health_timeout_s=config.health_timeout_s, log_dir=log_dir,
                                     upstream=config.upstream_for(spec.name),
                                     seed=config.seed,
                                     cpu_iterations_per_ms=cpu_iterations_per_ms, cpus=cpus,
                                     upstream_cpus=upstream_cpus, sites=sites)
    with opened as handle:
        yield handle


def target_details(config: Config, execute: Execute | None = None) -> dict[str, Any]:
    """Check the config's target before a run starts and describe it for the manifest.

    Returns the manifest keys ``target`` and ``controlled`` (did the harness start the
    processes?), ``hosts`` (where each role runs; the namespaces' names and addresses are
    added once they exist) and, for compose and external, ``target_details`` and the
    image id or the URLs; with ``[run] pythons``, each interpreter (``pythons``: version,
    build, whether the GIL is off) and one line on free-threaded builds (``pythons_note``).
    Raises TargetError, one line, when the target cannot be used (an interpreter's
    environment missing, a namespace without the privilege to make one, a remote upstream
    that does not answer as the mock).
    """
    hosts = {"hosts": _planned_hosts(config)}
    if config.target == "compose":
        return {**compose.compose_details(config, execute), **hosts}
    if config.target == "external":
        return {**external.external_details(config), **hosts}
    if config.hosts.namespaced():
        problem = netns.privilege_problem()
        if problem is not None:
            roles = config.hosts.namespaced()
            named = " and ".join([", ".join(roles[:-1]), roles[-1]] if len(roles) > 1 else roles)
            raise TargetError(f"[hosts] {named} = \"netns\": {problem}")
    if config.hosts.upstream_url is not None:
        problem, _ = external.upstream_problem(config.hosts.upstream_url,
                                              "[hosts] upstream_url", "remote upstream")
        if problem is not None:
            raise TargetError(problem)
    details: dict[str, Any] = {"target": config.target, "controlled": True, **hosts}
    if config.upstream.kind == "postgres" and config.upstream.database_url is None:
        details["postgres_bin"] = str(postgres.find_bin_dir())
    if config.pythons:
        found = interpreters.resolve_all(config.pythons)
        details["pythons"] = {label: i.describe() for label, i in found.items()}
        details["pythons_note"] = interpreters.free_threaded_note(config.pythons, found)
    return details


def _planned_hosts(config: Config) -> dict[str, Any]:
    """The manifest's ``hosts`` before any namespace exists (``Sites.describe``'s shape:
    the runner fills in the namespaces' names and addresses once they are made)."""
    if config.hosts.namespaced() and config.target == "local":
        hosts = config.hosts
        return Sites(Site(hosts.stack, ""), Site(hosts.upstream, ""), Site(hosts.load, "")
                     ).describe()
    return sites_for(config.hosts, config.host, None, config.target).describe()


def network_summary(config: Config) -> tuple[list[str], list[str]]:
    """Where a run of ``config`` would bind and send requests, before anything starts.

    Returns lines to show the user (target, host, URLs) and the reasons the run would
    reach beyond this machine's loopback interface (empty when it would not): a
    non-loopback ``[run] host``, or a target other than ``local``.
    """
    lines = [f"target: {config.target}", f"host: {config.host} (the address servers bind)"]
    reasons = []
    if config.hosts.namespaced() and config.target == "local":
        lines.append(f"network namespaces for {', '.join(config.hosts.namespaced())}: created "
                     "and removed on this machine, on a bridge with addresses from "
                     "198.18.0.0/15")
    if config.hosts.upstream_url is not None:
        lines.append(f"upstream URL: {config.hosts.upstream_url}")
        reasons.append("[hosts] upstream = \"remote\" sends requests (/stats?reset=1 "
                       "included) to the upstream URL above")
    if not config.loopback_only:
        reasons.append(f"host {config.host!r} is not a loopback address (servers would "
                       "listen on the network)")
    if config.target == "external":
        urls = [config.external.upstream_url, *(config.external.url(s.name) for s in config.stacks)]
        lines.append("URLs: " + ", ".join(url for url in urls if url))
        reasons.append("target 'external' sends requests (/stats?reset=1 included) to the URLs "
                       "above")
    elif config.target == "compose":
        reasons.append("target 'compose' starts containers from docker-compose.yml on this "
                       "machine's Docker engine")
    return lines, reasons
