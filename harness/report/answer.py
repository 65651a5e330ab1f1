"""The report's opening: two or three sentences that answer the question, generated from
the summary, and where each stack's fan-out gain comes from.

The clients sentence names how the clients arrived (``arrival``), since that decides a
sync server's throughput. The opening avoids results that hold by construction: a
fan-out gain of concurrent calls over sequential ones is the apps' design, not a
finding, so the sentences lead with the lowest levels (where no stack should differ) and
the concurrent-clients scenario, where the servers' capacity decides. Pure functions of
the summary and the manifest's view.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.analyse.metrics import HEADLINE_METRICS
from harness.analyse.sentences import format_number, format_ratio

DECIDED = ("faster", "slower")
LOW_WORDS = {"fanout": "one upstream call per request", "clients": "one client"}


def _speedups(summary: Mapping[str, Any], keep: set[str]) -> list[Mapping[str, Any]]:
    """The speedups against the run's baseline (not a variant's own twin: the sentences
    name the baseline) of the stacks in ``keep``."""
    baseline = summary.get("baseline")
    return [s for s in summary.get("speedups") or []
            if s.get("stack") in keep and s.get("baseline", baseline) == baseline]


def _split_sentence(summary: Mapping[str, Any], speedups: list[Mapping[str, Any]]) -> str | None:
    """The paradigm's part of the headline at the highest C, when the run measured the
    same apps on one server (``analyse.split``)."""
    levels = [s["level"] for s in speedups if s["scenario"] == "clients"]
    rows = [r for r in summary.get("split") or [] if r["scenario"] == "clients"
            and not r.get("suffix") and levels and r["level"] == max(levels)]
    if not rows:
        return None
    parts = {p["part"]: p for p in rows[0]["parts"]}
    paradigm, head = parts["paradigm"], parts["headline"]
    return (f"On one server, {paradigm['stack']} serves "
            f"{format_ratio(paradigm['ratio'], paradigm['ci_low'], paradigm['ci_high'])} the "
            f"requests per second of {paradigm['compared_with']}: that is the paradigm's part "
            f"of {head['stack']}'s {format_number(head['ratio'] or 0.0)}x; "
            "the rest is the servers' (see \"Server or paradigm?\").")


def _low_sentence(speedups: list[Mapping[str, Any]], baseline: str) -> str | None:
    """What happens at each scenario's lowest level (one call, one client)."""
    parts, differing = [], []
    for scenario in ("fanout", "clients"):
        mine = [s for s in speedups if s["scenario"] == scenario
                and s["metric"] == HEADLINE_METRICS[scenario]]
        if not mine:
            continue
        low = min(s["level"] for s in mine)
        if low != 1:
            continue
        parts.append(LOW_WORDS[scenario])
        differing += [f"{s['stack']} is {s['verdict']} "
                      f"({format_ratio(s['ratio'], s['ci_low'], s['ci_high'])})"
                      for s in mine if s["level"] == low and s["verdict"] in DECIDED]
    if not parts:
        return None
    where = " or ".join(parts)
    if not differing:
        return f"At {where} there is no significant difference from {baseline}."
    return f"At {where}, against {baseline}: {'; '.join(differing)}."


def _resource_change(entry: Mapping[str, Any] | None, what: str) -> str | None:
    """``45% [39%, 50%] less CPU per request`` from a lower-is-better speedup (ratio =
    base / stack), the change's interval beside its estimate."""
    if entry is None or entry["verdict"] not in DECIDED or not entry.get("ratio"):
        return None
    change = 1 / entry["ratio"] - 1

    def pct(value: float) -> str:
        return f"{format_number(abs(value) * 100, 0)}%"

    bounds = [b for b in (entry.get("ci_low"), entry.get("ci_high"))
              if isinstance(b, int | float) and b > 0]
    shown = ""
    if len(bounds) == 2:
        low, high = sorted(abs(1 / b - 1) for b in bounds)
        shown = f" [{pct(low)}, {pct(high)}]"
    return f"{pct(change)}{shown} {'more' if change > 0 else 'less'} {what}"


def _clients_sentences(speedups: list[Mapping[str, Any]], baseline: str,
                       slots: Mapping[str, Any]) -> list[str]:
    mine = [s for s in speedups if s["scenario"] == "clients"]
    rps = [s for s in mine if s["metric"] == HEADLINE_METRICS["clients"]]
    if not rps:
        return []
    top = max(s["level"] for s in rps)
    at_top = [s for s in rps if s["level"] == top and s["ratio"] is not None]
    best = max((s for s in at_top if s["verdict"] == "faster"), key=lambda s: s["ratio"],
               default=None)
    # Under a sweep each stack is compared with the baseline's variant of its workload.
    against = str(best.get("baseline") or baseline) if best else baseline
    base_slots = slots.get(against)
    arrivals = {s.get("arrival") for s in ([best] if best else at_top)} - {None}
    notes = ([str(arrivals.pop())] if len(arrivals) == 1
             else ["under each arrival measured"] if arrivals else [])
    notes += [f"{against} serves {base_slots} at a time"] if base_slots else []
    capacity = f" ({'; '.join(notes)})" if notes else ""
    if best is None:
        return [f"At C = {top} concurrent clients{capacity}, no stack serves significantly "
                f"more requests per second than {baseline}."]
    lines = [f"At C = {top} concurrent clients{capacity}, {best['stack']} serves "
             f"{format_ratio(best['ratio'], best['ci_low'], best['ci_high'])} the requests "
             f"per second of {against}."]

    def entry(metric: str) -> Mapping[str, Any] | None:
        return next((s for s in mine if s["level"] == top and s["stack"] == best["stack"]
                     and s["metric"] == metric), None)

    changes = [c for c in (_resource_change(entry("cpu_ms_per_request"), "CPU per request"),
                           _resource_change(entry("peak_rss_mb"), "memory (peak RSS)")) if c]
    if changes:
        lines.append(f"It uses {' and '.join(changes)}.")
    return lines


def answer_sentences(summary: Mapping[str, Any], stacks: list[Mapping[str, Any]]) -> list[str]:
    """Two or three sentences answering "does async serve this work better, and where?"

    ``stacks`` are the report's stack views (``name``, ``kind``, ``concurrency_slots``);
    development servers are left out, as from the headline findings.
    """
    keep = {s["name"] for s in stacks if s.get("kind") != "dev"}
    speedups = _speedups(summary, keep)
    baseline = str(summary.get("baseline"))
    slots = {s["name"]: s.get("concurrency_slots") for s in stacks}
    sentences = [s for s in [_low_sentence(speedups, baseline)] if s]
    sentences += _clients_sentences(speedups, baseline, slots)
    split = _split_sentence(summary, speedups)
    return [*sentences, split] if split else sentences


def fanout_causes(stacks: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each production stack's way of making the fan-out calls, grouped: sequential,
    concurrent in a sync server (a thread pool), concurrent on an event loop."""
    groups = (("sequential", "sync", "sequential calls"),
              ("concurrent", "sync", "concurrent calls in a sync server (a thread pool), so "
                                     "their gain is from concurrent calls alone"),
              ("concurrent", "async", "concurrent calls on an event loop (concurrent calls "
                                      "and an async server)"))
    causes = []
    for mode, paradigm, words in groups:
        names = [s["name"] for s in stacks if s.get("kind") != "dev"
                 and s.get("fanout_mode") == mode and s.get("paradigm") == paradigm]
        if names:
            causes.append({"stacks": names, "words": words})
    return causes
