"""The app contract, checked against a running stack (the strict form of quick_test.py).

Each check is one request and one expectation; ``check_contract`` runs them all and
returns what it found rather than raising, so ``check`` can report every stack.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.config.schema import StackSpec
from harness.targets.probe import fetch, fetch_json

TIMEOUT_S = 10.0


@dataclass(frozen=True)
class CheckResult:
    """One contract check: its name, whether it passed and what was seen."""

    name: str
    ok: bool
    detail: str


def _expect(name: str, status: int, body: Any, want_status: int, test: Any) -> CheckResult:
    if status != want_status:
        return CheckResult(name, False, f"status {status}, expected {want_status}")
    if not isinstance(body, dict):
        return CheckResult(name, False, "body is not a JSON object")
    problem = test(body)
    return CheckResult(name, problem is None, problem or "ok")


def check_own_app(base_url: str, spec: StackSpec, delay_ms: int = 10) -> list[CheckResult]:
    """What can be checked of an app the harness does not ship: its ready path answers
    200, and each declared request path answers 200 (with the right call count in
    ``calls_field`` when the stack names one)."""
    status, _, problem = fetch(base_url + spec.ready_path, TIMEOUT_S)
    results = [CheckResult("ready", status == 200,
                           "ok" if status == 200 else f"{spec.ready_path}: {problem or status}")]
    for scenario, calls in (("clients", 1), ("fanout", 3)):
        if spec.path(scenario) is None:
            continue
        url = spec.url(base_url, scenario, {"delay_ms": delay_ms, "n": calls})
        name = "single" if scenario == "clients" else "aggregate"
        status, body, problem = fetch_json(url, TIMEOUT_S)
        if status != 200:
            results.append(CheckResult(name, False, f"{url}: {problem or f'status {status}'}"))
        elif spec.calls_field is None:
            results.append(CheckResult(name, True, "ok (body not checked)"))
        else:
            seen = body.get(spec.calls_field) if isinstance(body, dict) else None
            results.append(CheckResult(name, seen == calls, "ok" if seen == calls else
                                       f"reports {spec.calls_field} = {seen!r}, expected {calls}"))
    return results


def check_contract(base_url: str, stack_name: str | None = None,
                   delay_ms: int = 10, python: str | None = None) -> list[CheckResult]:
    """Run every contract check of the built-in apps against ``base_url``; never raises
    for a misbehaving app. With ``python``, ``/health`` must say that interpreter version
    serves it."""
    def health(body: dict[str, Any]) -> str | None:
        if body.get("status") != "ok":
            return f"status field {body.get('status')!r}"
        if stack_name is not None and body.get("stack") != stack_name:
            return f"answers as stack {body.get('stack')!r}, expected {stack_name!r}"
        if python is not None and body.get("python") != python:
            return f"runs under Python {body.get('python')!r}, expected {python!r}"
        return None

    def calls(n: int) -> Any:
        return lambda body: None if body.get("calls") == n else (
            f"reports {body.get('calls')!r} upstream calls, expected {n}")

    def names(param: str) -> Any:
        return lambda body: None if body.get("param") == param and body.get("error") else (
            f"error body {body!r} does not name parameter {param!r}")

    checks = [
        ("health", "/health", 200, health),
        ("single", f"/single?delay_ms={delay_ms}", 200, calls(1)),
        ("aggregate", f"/aggregate?n=3&delay_ms={delay_ms}", 200, calls(3)),
        ("bad-n", f"/aggregate?n=abc&delay_ms={delay_ms}", 400, names("n")),
        ("bad-delay", "/single?delay_ms=-1", 400, names("delay_ms")),
    ]
    results = []
    for name, path, want, test in checks:
        status, body, problem = fetch_json(base_url + path, TIMEOUT_S)
        if status is None:
            results.append(CheckResult(name, False, f"request failed: {problem}"))
            continue
        results.append(_expect(name, status, body, want, test))
    return results
