"""Capacity: the knee of each stack's capacity sweep, and saturation as a result.

Pure functions over trial records (dicts as read from ``trials.jsonl``) and the manifest's
config. A capacity trial is an open-loop trial at one rung of the stack's ladder
(``harness.config.ladder``); its point is the share of the offered rate it served and
its p99 (``knee.TrialPoint``). A p99 that more than 1% of timed-out requests pushed
beyond the timeout counts as the timeout (a lower bound: saturated either way). The
knee and its interval are ``analyse.knee``'s.

A rate level a stack could not carry (mean served share below ``SERVED_MIN``) is a
finding: :func:`saturated_cells` describes it, and the summary gives its latency
comparisons the verdict ``saturated`` with these words instead of "insufficient data".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from harness.analyse.cells import CellKey, cell_seed, is_number
from harness.analyse.knee import BELOW, FOUND, NOT_REACHED, Knee, Rung, TrialPoint, find_knee
from harness.analyse.verdicts import SATURATED
from harness.config.ladder import CAPACITY, SERVED_MIN, Ladder
from harness.errors import ConfigError
from harness.rundir.format import censored


def _number(value: object) -> float | None:
    return float(value) if is_number(value) else None


def _table(trial: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = trial.get(key)
    return value if isinstance(value, Mapping) else {}


def offered_rps(trial: Mapping[str, Any]) -> float | None:
    """The rate an open-loop trial offered (its params' ``rate_rps``, else its level)."""
    rate = _number(_table(trial, "params").get("rate_rps")) or _number(trial.get("level"))
    return rate if rate and rate > 0 else None


def timed_out_share(trial: Mapping[str, Any]) -> float:
    """The share of an open-loop trial's requests that timed out (0 when unknown)."""
    requests = _table(trial, "requests")
    total, timeout = _number(requests.get("total")), _number(requests.get("timeout"))
    return timeout / total if total and timeout is not None else 0.0


def trial_point(trial: Mapping[str, Any]) -> TrialPoint | None:
    """An ok open-loop trial as a knee point; None when it lacks what one needs."""
    offered = offered_rps(trial)
    served = _number(_table(trial, "metrics").get("achieved_rps"))
    if offered is None or served is None:
        return None
    p99 = _number(_table(trial, "metrics").get("p99_ms"))
    requests = _table(trial, "requests")
    total, ok = _number(requests.get("total")), _number(requests.get("ok"))
    if p99 is None and total is not None and ok is not None and censored(
            dict(_table(trial, "latency_ms")), "p99", int(total), int(ok)):
        timeout_s = _number(_table(trial, "params").get("timeout_s"))
        p99 = 1000 * timeout_s if timeout_s else float("inf")
    return TrialPoint(served / offered, p99)


def ladder_of(config: Mapping[str, Any]) -> Ladder | None:
    """The capacity ladder a manifest's config states, or None (absent or malformed)."""
    scenarios = config.get("scenarios")
    scenario = scenarios.get(CAPACITY) if isinstance(scenarios, Mapping) else None
    ladder = scenario.get("ladder") if isinstance(scenario, Mapping) else None
    if not isinstance(ladder, Mapping):
        return None
    try:
        return Ladder(**ladder)
    except (ConfigError, TypeError):
        return None


def server_cpus(trials: Iterable[Mapping[str, Any]]) -> int | None:
    """How many CPUs the stack's processes were allowed in these trials (the most seen)."""
    counts = [len(c["server_cpus"]) for t in trials
              if isinstance(c := t.get("checks"), Mapping) and isinstance(c.get("server_cpus"),
                                                                          list)
              and c["server_cpus"]]
    return max(counts) if counts else None


def _rung_row(rate: float, trials: list[Mapping[str, Any]], points: list[TrialPoint],
              bound_ms: float, served_min: float) -> dict[str, Any]:
    supported = [p.p99_ms for p in points if p.p99_ms is not None]
    share = sum(p.served_share for p in points) / len(points)
    return {
        "rate": rate, "n": len(points),
        "served_rps": rate * share, "served_share": share,
        "timed_out_share": sum(timed_out_share(t) for t in trials) / len(trials),
        "p99_ms": sum(supported) / len(supported) if supported else None,
        "within": share >= served_min and (not supported
                                           or sum(supported) / len(supported) <= bound_ms),
    }


def capacity_rows(trials: Iterable[Mapping[str, Any]], config: Mapping[str, Any],
                  confidence: float, seed: int, warnings: list[str]) -> list[dict[str, Any]]:
    """Per stack of the capacity sweep: its bound, its rungs (mean over ok trials) and
    its knee with interval; ``sentence`` says it in words. Empty without capacity trials."""
    ok = [t for t in trials if t.get("scenario") == CAPACITY and t.get("status") == "ok"]
    if not ok:
        return []
    ladder = ladder_of(config)
    if ladder is None:
        warnings.append("capacity trials without a readable [scenarios.capacity] ladder in "
                        "the manifest's config: no knee")
        return []
    by_stack: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for trial in ok:
        by_stack[str(trial["stack"])].append(trial)
    stacks = config.get("stacks") if isinstance(config.get("stacks"), Mapping) else {}
    rows = []
    for stack in sorted(by_stack):
        group = by_stack[stack]
        params = _table(group[0], "params")
        unloaded = ladder.unloaded(_number(params.get("delay_ms")) or 0.0,
                                   _number(params.get("cpu_ms")) or 0.0)
        bound = ladder.p99_multiple * unloaded
        rungs: dict[float, list[tuple[Mapping[str, Any], TrialPoint]]] = defaultdict(list)
        for trial in group:
            point = trial_point(trial)
            if point is None:
                warnings.append(f"capacity trial {trial.get('trial_id')}: no offered or "
                                "served rate; left out of the knee")
                continue
            rungs[offered_rps(trial) or 0.0].append((trial, point))
        if not rungs or bound <= 0:
            continue
        knee = find_knee([Rung(rate, tuple(p for _, p in items)) for rate, items in
                          rungs.items()], bound, ladder.served_min, confidence,
                         cell_seed(seed, (CAPACITY, 0, stack, "knee")))
        cpus = server_cpus(group)
        row = {
            "stack": stack, "label": stack_words(stack, (stacks or {}).get(stack)),
            "unloaded_ms": unloaded, "p99_multiple": ladder.p99_multiple, "bound_ms": bound,
            "served_min": ladder.served_min, "cpus": cpus,
            "rungs": [_rung_row(rate, [t for t, _ in items], [p for _, p in items], bound,
                                ladder.served_min) for rate, items in sorted(rungs.items())],
            "knee": knee_fields(knee),
        }
        row["sentence"] = knee_sentence(row)
        rows.append(row)
    return rows


def knee_fields(knee: Knee) -> dict[str, Any]:
    """A knee as plain JSON data."""
    return {"status": knee.status, "estimate": knee.estimate, "low": knee.low,
            "high": knee.high, "last_within": knee.last_within,
            "first_saturated": knee.first_saturated, "limit": knee.limit,
            "confidence": knee.confidence}


def stack_words(name: str, spec: object) -> str:
    """A stack as a capacity sentence names it: threads in worker processes with their
    slots (``flask-gunicorn gthread 4x2``, ``flask-granian wsgi 4x2`` for Granian's
    blocking threads), anything else by its name."""
    if isinstance(spec, Mapping) and (spec.get("worker_class") == "gthread" or (
            spec.get("server") == "granian" and spec.get("worker_class") == "wsgi")):
        return f"{name} {spec['worker_class']} {spec.get('workers')}x{spec.get('threads')}"
    return name


def rate_words(value: float | None) -> str:
    """A rate as a sentence shows it: ``1,180``, ``74``, ``2.5``."""
    if value is None:
        return "n/a"
    return f"{value:,.0f}" if value >= 10 else f"{value:.2g}"


def _cpus_words(cpus: int | None) -> str:
    if cpus is None:
        return ""
    return " on one CPU" if cpus == 1 else f" on {cpus} CPUs"


def _interval_words(knee: Mapping[str, Any]) -> str:
    low, high = knee.get("low"), knee.get("high")
    if low is None and high is None:
        return " (no interval: too few trials a rung)"
    return (f" [{'below the lowest rung' if low is None else rate_words(low)}, "
            f"{'beyond the highest rung' if high is None else rate_words(high)}]")


def knee_sentence(row: Mapping[str, Any]) -> str:
    """``quart-hypercorn keeps p99 under 2x the unloaded latency (100 ms) up to 1,180
    req/s [1,120, 1,230] on one CPU``, or what the sweep found instead of a knee."""
    knee = row["knee"]
    bound = (f"p99 under {row['p99_multiple']:g}x the unloaded latency "
             f"({row['unloaded_ms']:g} ms) and serves at least {row['served_min']:.0%} of the "
             f"offered rate")
    cpus = _cpus_words(row.get("cpus"))
    if knee["status"] == FOUND:
        limit = ("its served rate fell below the offered" if knee["limit"] == "served"
                 else "its p99 rose above the bound")
        return (f"{row['label']} keeps {bound} up to {rate_words(knee['estimate'])} req/s"
                f"{_interval_words(knee)}{cpus} (within at {rate_words(knee['last_within'])} "
                f"req/s; at {rate_words(knee['first_saturated'])} req/s {limit})")
    if knee["status"] == NOT_REACHED:
        return (f"{row['label']} keeps {bound} at every rate offered, up to "
                f"{rate_words(knee['last_within'])} req/s{cpus}: its knee was not reached")
    assert knee["status"] == BELOW
    return (f"{row['label']} did not keep {bound} even at its lowest rung, "
            f"{rate_words(knee['first_saturated'])} req/s{cpus}: its knee lies below it")


def saturated_cells(ok: Mapping[CellKey, list[Mapping[str, Any]]],
                    served_min: float = SERVED_MIN) -> dict[CellKey, dict[str, Any]]:
    """The rate cells whose stack did not carry the offered rate: mean served share below
    ``served_min``, each with its offered and served rate, the share timed out and the
    trials it rests on."""
    found = {}
    for key, trials in ok.items():
        if key[0] != "rate":
            continue
        points = [(t, p) for t in trials if (p := trial_point(t)) is not None]
        if not points:
            continue
        share = sum(p.served_share for _, p in points) / len(points)
        if share >= served_min:
            continue
        offered = offered_rps(points[0][0]) or float(key[1])
        found[key] = {"offered_rps": offered, "served_rps": offered * share,
                      "served_share": share, "n": len(points),
                      "timed_out_share": sum(timed_out_share(t) for t, _ in points)
                      / len(points)}
    return found


def saturation_words(key: CellKey, cell: Mapping[str, Any]) -> str:
    """``flask-gunicorn cannot carry 400 req/s: it served 78 req/s (20% of offered) and
    61% of its requests timed out (10 trials)``."""
    _, _, stack = key
    trials = f"{cell['n']} trial{'s' if cell['n'] != 1 else ''}"
    return (f"{stack} cannot carry {rate_words(cell['offered_rps'])} req/s: it served "
            f"{rate_words(cell['served_rps'])} req/s ({cell['served_share']:.0%} of offered) "
            f"and {cell['timed_out_share']:.0%} of its requests timed out ({trials})")


def saturation_verdicts(rows: list[dict[str, Any]],
                        saturated: Mapping[CellKey, Mapping[str, Any]]) -> None:
    """Give every latency comparison of a rate cell where either arm is saturated the
    verdict ``saturated``, saying which arm and how far (in place)."""
    for row in rows:
        if row["scenario"] != "rate" or not str(row["metric"]).endswith("_ms"):
            continue
        arms = [(row["scenario"], row["level"], row[arm]) for arm in ("stack", "baseline")]
        said = [saturation_words(key, saturated[key]) for key in arms if key in saturated]
        if said:
            row.update(verdict=SATURATED, verdict_why="; ".join(said), magnitude=None,
                       trials_needed=None)

