"""The report's template context: the summary and manifest, with every default filled.

Templates render with StrictUndefined, so every value they may print is set here,
in Python, rather than guarded in the templates.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from harness.analyse.crossover import crossover_maps, crossover_table
from harness.analyse.metrics import METRICS, level_title, metric_rank, scenario_rank
from harness.analyse.sentences import interval_note, interval_statement
from harness.analyse.stats import BOOTSTRAP_RESAMPLES, MIN_TRIALS_FOR_BOOTSTRAP
from harness.analyse.verdicts import (
    DEFAULT_EQUIVALENCE_PCT,
    MAX_TRIALS_PROMISED,
    SATURATED,
    STABLE_TRIALS,
    VOCABULARY,
)
from harness.config.ladder import CAPACITY
from harness.config.schema import OPEN_LOOP
from harness.report.answer import answer_sentences, fanout_causes
from harness.report.bursts import arrival_text, bursts_section
from harness.report.capacity import capacity_section, levels_words
from harness.report.database import database_section
from harness.report.figures import caption
from harness.report.filters import show
from harness.report.interpreters import interpreters_section
from harness.report.manifest_view import (
    ENVIRONMENT,
    STACK_SETTINGS,
    hosts_words,
    is_loopback,
    loadgen_words,
    manifest_view,
    placement_words,
)
from harness.report.overview import overview_table, verdict_tone
from harness.report.precision import allocation_words, precision_view
from harness.report.split import split_section

SCENARIO_TITLES = {
    "fanout": "Fan-out: N upstream calls inside one request",
    "clients": "Concurrent clients: C clients, one request each",
    "rate": "Open-loop rate: latency against offered load",
    CAPACITY: "Capacity sweep: open-loop rates raised until the stack saturates",
}
METHOD_LABELS = {
    "fieller": "Fieller",
    "welch-log": "Welch on logs",
    "fieller (unbounded)": "Fieller unbounded: no interval",
    "no spread": "no spread in either arm",
    "bca-bootstrap": "BCa bootstrap",
    "insufficient-trials": "insufficient trials",
}


FEW_TRIALS = STABLE_TRIALS  # fewer ok trials per arm: intervals too wide to settle much


def _metric(name: str) -> tuple[str, str]:
    """(title, unit) of a metric for a table row."""
    known = METRICS.get(name)
    return (known.title, known.unit) if known else (name, "")


def _why(entry: Mapping[str, Any]) -> str:
    """Why the verdict is what it is, and any difference in lost trials between the arms."""
    why, lost = entry.get("verdict_why") or "", entry.get("attrition") or ""
    return "; ".join(part for part in (why, "" if lost in why else lost) if part)


def _level_note(entry: Mapping[str, Any]) -> str:
    """``, 95%`` or ``, 99.77% (headline, family-wise)`` after the interval's method; empty
    when there is no interval."""
    if entry["ci_low"] is None or entry["ci_high"] is None:
        return ""
    note = f", {_level_pct(entry.get('confidence') or 0.95)}%"
    return note + (" (headline, family-wise)" if entry.get("family") == "headline" else "")


def _level_pct(level: float) -> str:
    """A confidence level as a percentage with the digits it needs: ``95``, ``99.77``."""
    return f"{level * 100:.2f}".rstrip("0").rstrip(".")


def _speedup_row(entry: Mapping[str, Any],
                 cells: Mapping[tuple[Any, ...], Mapping[str, Any]]) -> dict[str, Any]:
    key = (entry["scenario"], entry["level"])
    label, unit = _metric(entry["metric"])
    boot = entry.get("bootstrap")
    magnitude = entry.get("magnitude")
    return {
        "metric": entry["metric"], "label": label, "unit": unit,
        "baseline_cell": cells.get((*key, entry["baseline"], entry["metric"])),
        "stack_cell": cells.get((*key, entry["stack"], entry["metric"])),
        "ratio": entry["ratio"], "ci_low": entry["ci_low"], "ci_high": entry["ci_high"],
        "verdict": entry["verdict"], "tone": verdict_tone(entry["verdict"]),
        "why": _why(entry),
        "level": _level_note(entry),
        "magnitude": "" if magnitude in (None, "none") else magnitude,
        "method": METHOD_LABELS.get(entry["method"], entry["method"])
                  + (" on level / mean duration" if entry.get("estimated_from") else ""),
        "bootstrap": None if not boot else {"ci_low": boot["ci_low"], "ci_high": boot["ci_high"]},
        "p_value": entry.get("p_adjusted", entry.get("p_value")),
        "n_stack": entry["n_stack"], "n_baseline": entry["n_baseline"],
    }


def _comparisons(summary: Mapping[str, Any], scenario: str, keep: Callable[[str], bool],
                 order: list[str]) -> list[dict[str, Any]]:
    """Per level, per stack (in config order): the table of the original scripts, as rows."""
    cells = {(c["scenario"], c["level"], c["stack"], c["metric"]): c for c in summary["cells"]}
    entries = [e for e in summary["speedups"] if e["scenario"] == scenario and keep(e["stack"])]
    levels = []
    for level in sorted({e["level"] for e in entries}):
        at_level = [e for e in entries if e["level"] == level]
        stacks = sorted({e["stack"] for e in at_level}, key=order.index)
        tables = [{"stack": stack,
                   "baseline": next(e["baseline"] for e in at_level if e["stack"] == stack),
                   "entries": [_speedup_row(e, cells) for e in
                               sorted((e for e in at_level if e["stack"] == stack),
                                      key=lambda e: metric_rank(e["metric"]))]}
                  for stack in stacks]
        levels.append({"level": level, "label": level_title(scenario, level), "tables": tables})
    return levels


def _latency_row(e: Mapping[str, Any]) -> dict[str, Any]:
    pooled = e.get("pooled") or {}
    return {"level": e["level"], "stack": e["stack"], "n": e["n"],
            **{k: e.get(k) for k in ("p50_mean", "p90_mean", "p99_mean", "p999_mean")},
            "pooled": {k: pooled.get(k) for k in ("p50", "p90", "p99", "p999", "max")}}


def _model_row(e: Mapping[str, Any]) -> dict[str, Any]:
    label, unit = _metric(e["metric"])
    return {"level": e["level"], "stack": e["stack"], "metric": e["metric"], "label": label,
            "unit": unit, "expected": e["expected"], "measured": e["measured"],
            "efficiency": e["efficiency"], "flagged": bool(e["flagged"])}


def _rows(entries: list[Mapping[str, Any]], scenario: str, keep: Callable[[str], bool],
          make: Callable[[Mapping[str, Any]], dict[str, Any]]) -> list[dict[str, Any]]:
    """``make(entry)`` for the entries of one scenario whose stack ``keep`` accepts."""
    return [make(e) for e in entries if e["scenario"] == scenario and keep(e["stack"])]


def _sort_by_level(rows: list[dict[str, Any]], order: list[str]) -> list[dict[str, Any]]:
    rank = {name: i for i, name in enumerate(order)}
    return sorted(rows, key=lambda r: (r["level"], rank.get(r["stack"], len(rank))))


def _sections(summary: Mapping[str, Any], view: Mapping[str, Any], dev: bool,
              figures: Mapping[str, str]) -> list[dict[str, Any]]:
    kinds = {s["name"]: s["kind"] for s in view["stacks"]}
    order = [s["name"] for s in view["stacks"]]

    def keep(stack: str) -> bool:
        return (kinds.get(stack) == "dev") == dev

    names: set[str] = set(view["scenarios"])
    for key in ("cells", "speedups", "latency", "model"):
        names |= {e["scenario"] for e in summary[key]}
    delay_ms = view["config"]["delay_ms"]
    delay = f"{show(delay_ms)} ms" if delay_ms is not None else "the configured delay"
    sections = []
    names.discard(CAPACITY)  # its own section: the knees, not comparisons per level
    for name in sorted(names, key=scenario_rank):
        section = {
            "name": name,
            "anchor": ("dev-" if dev else "") + re.sub(r"[^a-z0-9]+", "-", name.lower()),
            "title": SCENARIO_TITLES.get(name, name),
            "delay": delay,
            "levels": _comparisons(summary, name, keep, order),
            "latency": _sort_by_level(_rows(summary["latency"], name, keep, _latency_row), order),
            "model": _sort_by_level(_rows(summary["model"], name, keep, _model_row), order),
            "causes": fanout_causes(view["stacks"]) if name == "fanout" and not dev else [],
            "arrival": arrival_text(view["config"]) if name == "clients" else None,
            "bursts": bursts_section(summary, [s for s in order if keep(s)])
                      if name == "clients" and not dev else {"rows": [], "sentences": []},
            "figures": [] if dev else [
                {"name": fig, "caption": caption(fig), "ref": ref}
                for fig, ref in figures.items() if fig.startswith(f"{name}_")],
        }
        if section["levels"] or section["latency"] or section["model"] or section["figures"]:
            sections.append(section)
    return sections


def _notices(summary: Mapping[str, Any], view: Mapping[str, Any]) -> list[dict[str, Any]]:
    """What the reader must know before the numbers; each one's text is in
    ``_notice_text.j2``, by its ``kind``."""
    notices: list[dict[str, Any]] = []
    host = view["config"]["host"]
    if host is not None and not is_loopback(host):
        notices.append({"kind": "host", "tone": "bad", "title": "Not measured on loopback",
                        "host": host})
    remote = sorted({h for h in view["external_hosts"] if not is_loopback(h)})
    if remote:
        notices.append({"kind": "remote", "tone": "bad", "title": "Servers on other hosts",
                        "hosts": remote})
    for warning in view["manifest_warnings"]:
        notices.append({"kind": "recorded", "tone": "warn", "title": "Kernel setting",
                        "text": warning})
    if view["dirty"]:
        notices.append({"kind": "dirty", "tone": "warn", "title": "Uncommitted changes"})
    if view["skipped"]:
        notices.append({"kind": "skipped", "tone": "warn", "title": "Scenarios skipped",
                        "entries": view["skipped"]})
    counts = summary.get("counts") or {}
    excluded = int(counts.get("failed", 0)) + int(counts.get("invalid", 0))
    if excluded:
        notices.append({"kind": "excluded", "tone": "warn", "title": "Trials excluded",
                        "count": excluded})
    arms = [min(e.get("n_stack") or 0, e.get("n_baseline") or 0) for e in summary["speedups"]
            if e.get("headline")]
    if arms and min(arms) < FEW_TRIALS:
        notices.append({"kind": "few", "tone": "warn", "title": "A smoke-sized run",
                        "count": min(arms), "needed": FEW_TRIALS})
    lacking = sum(1 for e in summary["speedups"] if (e["ci_low"] is None or e["ci_high"] is None)
                  and e.get("verdict") != SATURATED)
    if lacking:
        notices.append({"kind": "insufficient", "tone": "warn", "title": "Insufficient data",
                        "count": lacking})
    return notices


def _headlines(summary: Mapping[str, Any], view: Mapping[str, Any],
               dev: bool) -> dict[str, list[dict[str, Any]]]:
    """The summary's headlines of one kind of stack, split into leads and the rest.

    A lead is the headline at the highest level of its scenario and stack: the
    condition the scenario exists to show. The rest keep the summary's order.
    """
    kinds = {s["name"]: s["kind"] for s in view["stacks"]}
    mine = [{**h, "tone": verdict_tone(h["verdict"])} for h in summary["headlines"]
            if (kinds.get(h["stack"]) == "dev") == dev]
    top: dict[tuple[str, str, str], int] = {}
    for h in mine:
        key = (h["scenario"], h["stack"], h["metric"])
        top[key] = max(top.get(key, h["level"]), h["level"])
    leads = [h for h in mine if h["level"] == top[(h["scenario"], h["stack"], h["metric"])]]
    return {"leads": leads, "others": [h for h in mine if h not in leads]}


def _family(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The comparisons made and how their family-wise error is held (``analyse.family``)."""
    fam = summary.get("family") or {}
    tests = int(fam.get("headline_tests") or 0)
    confidence = float(fam.get("familywise_confidence") or summary.get("confidence") or 0.95)
    return {
        "comparisons": len(summary["speedups"]),
        "headline_tests": tests,
        "split_tests": int(fam.get("split_tests") or 0),
        "interpreter_tests": int(fam.get("interpreter_tests") or 0),
        "exploratory_tests": int(fam.get("exploratory_tests") or 0),
        "confidence_pct": _level_pct(confidence),
        "per_test_pct": _level_pct(1 - (1 - confidence) / max(tests, 1)),
        "equivalence_pct": fam.get("equivalence_pct", DEFAULT_EQUIVALENCE_PCT),
    }


def _pairing_words(summary: Mapping[str, Any]) -> str:
    """Which stack each was compared with: one baseline for all, or (under a sweep or the
    config's like-with-like pairs) each pair that is not against the run's baseline."""
    baseline = summary["baseline"]
    pairs = dict.fromkeys((sp["stack"], sp["baseline"]) for sp in summary.get("speedups") or []
                          if sp.get("baseline") not in (None, baseline))
    if not pairs:
        return "every other stack is compared with it"
    listed = "; ".join(f"{stack} against {paired}" for stack, paired in pairs)
    return f"every other stack is compared with it, except these, compared like with like: {listed}"


def _methodology(summary: Mapping[str, Any], view: Mapping[str, Any]) -> dict[str, Any]:
    config = view["config"]
    confidence = summary.get("confidence", config["confidence"])
    return {
        "settings": [{"label": label, "key": key, "unit": unit}
                     for label, key, unit in STACK_SETTINGS],
        "baseline": summary["baseline"],
        "pairing": _pairing_words(summary),
        "delay_ms": config["delay_ms"],
        "rounds": config["rounds"],
        "max_rounds": config["max_rounds"],
        "rounds_completed": view["rounds_completed"],
        "target_ci_pct": None if config["target_ci"] is None else config["target_ci"] * 100,
        "adaptive": bool(config["target_ci"]),
        "allocation": allocation_words(config),
        "warmup_requests": config["warmup_requests"],
        "bursts": config["bursts_per_trial"] or 1,
        "arrival": arrival_text(config),
        "quiet_wait_s": config["quiet_wait_s"],
        "confidence_pct": None if confidence is None else confidence * 100,
        "model_min_efficiency_pct": (None if config["model_min_efficiency"] is None
                                     else config["model_min_efficiency"] * 100),
        "seed": view["seed"],
        "stop_reason": view["stop_reason"],
        "host": config["host"],
        "loopback": None if config["host"] is None else is_loopback(config["host"]),
        "family": _family(summary),
        "vocabulary": list(VOCABULARY),
        "stable_trials": STABLE_TRIALS,
        "max_trials_promised": MAX_TRIALS_PROMISED,
        "bootstrap_min_trials": MIN_TRIALS_FOR_BOOTSTRAP,
        "bootstrap_resamples": BOOTSTRAP_RESAMPLES,
        "scenarios": [{"name": name, "title": SCENARIO_TITLES.get(name, name),
                       "levels": levels_words(name, spec),
                       "duration_s": (spec or {}).get("duration_s") if name in OPEN_LOOP
                       else None}
                      for name, spec in sorted(view["scenarios"].items(),
                                               key=lambda kv: scenario_rank(kv[0]))],
        "limits": [{"key": k, "value": v} for k, v in sorted(view["limits"].items())],
    }


def _pairs(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{"key": str(k), "value": v if not isinstance(v, dict) else
             ", ".join(f"{a}={show(b)}" for a, b in v.items())} for k, v in data.items()]


def _instrument(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The instrument-checks table and the rate saturation points, as display strings."""
    def pct(value: object) -> str:
        return "n/a" if not isinstance(value, int | float) else f"{100 * value:.0f}%"

    def cores(value: object) -> str:
        return "n/a" if not isinstance(value, int | float) else f"{value:.2f}"

    def ms(value: object) -> str:
        return "n/a" if not isinstance(value, int | float) else f"{value:.2f} ms"

    rows = [{"scenario": str(r["scenario"]), "stack": str(r["stack"]),
             "trials": str(r["trials"]), "invalid": str(r["invalid"]),
             "foreign_cpu": cores(r.get("foreign_cpu_max")),
             "upstream_cpu": cores(r.get("upstream_cpu_max")),
             "loadgen_cpu": pct(r.get("loadgen_cpu_max")),
             "loadgen_wait": pct(r.get("loadgen_wait_max")),
             "machine_cpu": pct(r.get("machine_cpu_median")),
             "send_lag": ms(r.get("send_lag_p99_max_ms")),
             "overshoot": ms(r.get("upstream_overshoot_p99_max_ms")),
             "loop_lag": ms(r.get("upstream_loop_lag_max_ms")),
             "little": (f"{r['little_off']} of {r['little_checked']}"
                        if r.get("little_checked") else "n/a")}
            for r in summary.get("checks") or []]
    saturation = [{"stack": str(r["stack"]),
                   "sustained": "none" if r.get("sustained_rps") is None
                   else f"{r['sustained_rps']} req/s",
                   "saturation": "not reached" if r.get("saturation_rps") is None
                   else f"{r['saturation_rps']} req/s"}
                  for r in summary.get("saturation") or []]
    return {"rows": rows, "saturation": saturation}


def _baseline_words(summary: Mapping[str, Any], manifest: Mapping[str, Any]) -> str:
    """The baseline as the reader should understand it: under a workload sweep each
    variant is compared with the baseline's variant at the same workload."""
    sweep = (manifest.get("config") or {}).get("sweep")
    speedups = summary.get("speedups") or []
    if (isinstance(sweep, Mapping) and sweep.get("baseline")
            and len({sp.get("baseline") for sp in speedups}) > 1):
        return f"{sweep['baseline']} (at the same workload as each stack)"
    if (manifest.get("config") or {}).get("baselines") and \
            len({sp.get("baseline") for sp in speedups}) > 1:
        return (f"{summary['baseline']} (a stack named NAME[settings] against "
                f"{summary['baseline']}[settings])")
    return str(summary["baseline"])


def build_context(summary: Mapping[str, Any], manifest: Mapping[str, Any],
                  figures: Mapping[str, Any]) -> dict[str, Any]:
    """Everything the templates print, defaults filled, numbers still raw.

    Args:
        summary: the statistics summary; its list keys (``cells``, ``speedups``,
            ``latency``, ``model``, ``headlines``, ``excluded``, ``warnings``) may be
            empty or absent.
        manifest: the run's manifest; only ``run_id`` and ``config`` are required.
        figures: chart name -> what the template embeds (a relative path for
            Markdown, SVG markup for HTML).
    """
    summary = {**summary, **{k: summary.get(k) or [] for k in (
        "cells", "speedups", "latency", "model", "headlines", "excluded", "warnings")}}
    view = manifest_view(manifest, summary)
    counts = summary.get("counts") or {}
    confidence = summary.get("confidence", view["config"]["confidence"])
    env = view["environment"]
    return {
        "run_id": view["run_id"],
        "title": f"asyncbench report: {view['run_id']}",
        "created_at": view["created_at"],
        "baseline": _baseline_words(summary, manifest),
        "confidence_pct": None if confidence is None else confidence * 100,
        "intervals": interval_statement(summary.get("family") or {}, confidence or 0.95),
        "intervals_note": interval_note(summary.get("family") or {}, confidence or 0.95),
        "overview": overview_table(summary, view["stacks"]),
        "notices": _notices(summary, view),
        "answer": answer_sentences(summary, view["stacks"]),
        "headlines": _headlines(summary, view, dev=False),
        "crossovers": [crossover_table(m) for m in
                       crossover_maps(summary, (manifest.get("config") or {}).get("sweep"))],
        "dev_headlines": _headlines(summary, view, dev=True),
        "sections": _sections(summary, view, dev=False, figures=figures),
        "dev_sections": _sections(summary, view, dev=True, figures=figures),
        "database": database_section(summary, manifest, figures),
        "split": split_section(summary),
        "interpreters": interpreters_section(summary, manifest),
        "capacity": capacity_section(summary, figures),
        "dev_stacks": [s["name"] for s in view["stacks"] if s["kind"] == "dev"],
        "stacks": view["stacks"],
        "methodology": _methodology(summary, view),
        "environment": [{"label": label, "value": env[key]} for label, key in ENVIRONMENT]
                       + [{"label": "Load average at end (1, 5, 15 min)",
                           "value": manifest.get("loadavg_end")},
                          {"label": "CPU placement", "value": placement_words(manifest)},
                          {"label": "Load engine", "value": loadgen_words(manifest)},
                          {"label": "Roles on hosts", "value": hosts_words(manifest)}]
                       + [{"label": key, "value": value}
                          for key, value in view["environment_extra"].items()],
        "recorded": [{"key": key, "value": value} for key, value in view["extra"].items()],
        "packages": [{"name": k, "version": v} for k, v in sorted(view["packages"].items())],
        "calibration": _pairs(view["calibration"]),
        "instrument": _instrument(summary),
        "precision": precision_view(summary),
        "counts": {k: int(counts.get(k, 0)) for k in ("ok", "failed", "invalid",
                                                       "skipped_lines")},
        "excluded": [{"status": e["status"], "reason": e["reason"], "count": e["count"]}
                     for e in summary["excluded"]],
        "warnings": [str(w) for w in summary["warnings"]],
        "reproduce": {
            "command": view["command"], "config_hash": view["config_hash"],
            "lock_hash": view["lock_hash"], "compat_id": view["compat_id"],
            "commit": view["commit"], "dirty": view["dirty"], "seed": view["seed"],
            "source": view["config"]["source"], "harness_version": view["harness_version"],
            "run_dir": view["run_dir"],
        },
    }

