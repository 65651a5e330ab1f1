"""The external target: an upstream and stacks someone else started, on any host, named by
URL in the config's ``[external]`` table.

The harness starts, restarts and measures no process: every URL is checked before the run
(the upstream must answer as the mock upstream; every stack must pass the app contract
and make its calls on that upstream), resources are null and the manifest says
``controlled: false``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from harness.config.schema import Config, StackSpec
from harness.errors import StackStartError, TargetError
from harness.targets.contract import check_contract, check_own_app
from harness.targets.handle import RemoteEndpoint, StackHandle
from harness.targets.probe import fetch_json

CONTRACT_UPSTREAM_CALLS = 4  # /single (1) and /aggregate?n=3 (3) of check_contract


def upstream_problem(url: str, key: str = "[external] upstream_url",
                     name: str = "external upstream") -> tuple[str | None, dict[str, Any]]:
    """(why the mock upstream at ``url`` cannot be used, or None; its /health body);
    ``key`` is the config key that names it, ``name`` what the message calls it."""
    status, body, problem = fetch_json(url + "/health")
    if status != 200 or not isinstance(body, dict):
        what = problem or f"answered {status}"
        return f"{name} {url}: GET /health {what}; start it or correct {key}", {}
    if body.get("service") != "upstream":
        return (f"{name} {url}: GET /health does not answer as the mock upstream "
                f"(service {body.get('service')!r})"), body
    return None, body


def stack_problem(name: str, url: str, upstream_url: str,
                  spec: StackSpec | None = None) -> tuple[str | None, dict[str, Any]]:
    """(why stack ``name`` at ``url`` cannot be measured, or None; its /health body).

    It must answer /health (an own app: its ready path), pass the app contract (an own
    app: what ``check_own_app`` checks), and make the checks' upstream calls on
    ``upstream_url`` (so the upstream's counters are the stack's).
    """
    where = f"external stack {name} at {url}"
    own = spec is not None and spec.own
    ready = spec.ready_path if spec is not None else "/health"
    status, body, problem = fetch_json(url + ready)
    if status is None:
        return f"{where}: GET {ready} {problem}", {}
    health = body if isinstance(body, dict) else {}
    fetch_json(upstream_url + "/stats?reset=1")
    results = check_own_app(url, spec) if own and spec is not None else check_contract(url, name)
    expected = (sum(calls for scenario, calls in (("clients", 1), ("fanout", 3))
                    if spec.path(scenario) is not None)
                if own and spec is not None else CONTRACT_UPSTREAM_CALLS)
    bad = [r for r in results if not r.ok]
    if bad:
        return (f"{where} fails the app contract ("
                + "; ".join(f"{r.name}: {r.detail}" for r in bad) + ")"), health
    _, stats, _ = fetch_json(upstream_url + "/stats")
    calls = stats.get("requests") if isinstance(stats, dict) else None
    if not isinstance(calls, int) or calls < expected:
        return (f"{where} does not call the upstream {upstream_url} (it served {calls} of the "
                f"contract's {expected} calls)"), health
    return None, health


def _external_urls(config: Config, spec: StackSpec) -> tuple[str, str]:
    upstream, url = config.external.upstream_url, config.external.url(spec.name)
    if upstream is None or url is None:  # Config validates this for target "external"
        raise TargetError(f"target external: no URL for {spec.name} or the upstream in [external]")
    return upstream, url


@contextlib.contextmanager
def open_external(config: Config, spec: StackSpec) -> Iterator[StackHandle]:
    """The running stack ``spec`` as the config's ``[external]`` table names it; checked,
    never started, restarted or stopped."""
    upstream_url, url = _external_urls(config, spec)
    command = ["external", spec.name, url, "upstream", upstream_url]
    problem = (upstream_problem(upstream_url)[0]
               or stack_problem(spec.name, url, upstream_url, spec)[0])
    if problem is not None:
        raise StackStartError(problem, command)
    yield StackHandle(spec, RemoteEndpoint(spec.name, url, command),
                      RemoteEndpoint("upstream", upstream_url, command))


def external_details(config: Config) -> dict[str, Any]:
    """Check every URL of an external run before it starts; describe them for the manifest."""
    upstream_url = config.external.upstream_url
    if upstream_url is None:
        raise TargetError("target external: [external] upstream_url is not set")
    problem, upstream_health = upstream_problem(upstream_url)
    if problem is not None:
        raise TargetError(problem)
    stacks: dict[str, Any] = {}
    for spec in config.stacks:
        _, url = _external_urls(config, spec)
        problem, health = stack_problem(spec.name, url, upstream_url, spec)
        if problem is not None:
            raise TargetError(problem)
        stacks[spec.name] = {"url": url, "health": health}
    return {
        "target": "external",
        "controlled": False,
        "target_endpoints": [f"upstream {upstream_url}",
                             *(f"{name} {entry['url']}" for name, entry in stacks.items())],
        "target_details": {
            "upstream": {"url": upstream_url, "health": upstream_health},
            "stacks": stacks,
            "restarts": False,
            "note": "the harness did not start these servers: their settings are the config's "
                    "statement, not verified; no resources were measured",
        },
    }
