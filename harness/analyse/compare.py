"""Two runs side by side: run B against run A, cell by cell, with the run's own statistics.

For every scenario, level, stack and metric with ok trials in both runs, the
ratio of means is oriented so that ``> 1`` means B is better (``stats.speedup``
with A as the baseline), with the same interval, p-value and verdict a run's
report uses. Everything here is a pure function of two loaded runs; the CLI
prints what :func:`render_table` returns and picks the exit code.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.analyse import stats, verdicts
from harness.analyse.cells import MetricKey, cell_seed, finite, group_ok, metric_values, where
from harness.analyse.metrics import (
    HEADLINE_METRICS,
    is_higher_better,
    level_label,
    metric_title,
    sort_key,
)
from harness.analyse.sentences import format_ratio as format_interval
from harness.analyse.summary import DEFAULT_CONFIDENCE
from harness.rundir.reader import Run

# Keys of the resolved config that may differ between two runs of the same experiment:
# how many rounds and the order's seed; max_rounds goes with rounds, source is a path.
IGNORED_CONFIG_KEYS = frozenset({"seed", "rounds", "max_rounds", "source"})

@dataclass(frozen=True)
class MetricComparison:
    """One metric of one cell: B against A, ``ratio > 1`` meaning B is better."""

    scenario: str
    level: int
    stack: str
    metric: str
    higher_is_better: bool
    headline: bool
    n_a: int
    n_b: int
    mean_a: float
    mean_b: float
    ratio: float | None
    ci_low: float | None
    ci_high: float | None
    method: str
    p_value: float | None
    verdict: str

    def is_regression(self, pct: float) -> bool:
        """Significantly worse (CI entirely below 1) and by more than ``pct`` percent."""
        return (self.ci_high is not None and self.ratio is not None and self.ci_high < 1.0
                and self.ratio < 1.0 - pct / 100.0)


@dataclass(frozen=True)
class Comparison:
    """Run B against run A: the rows, and what makes the two runs less comparable."""

    run_a: str
    run_b: str
    confidence: float
    rows: list[MetricComparison]
    only_in_a: list[str] = field(default_factory=list)
    only_in_b: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def regressions(self, pct: float) -> list[MetricComparison]:
        """Rows significantly worse in B by more than ``pct`` percent."""
        if not (math.isfinite(pct) and pct >= 0):
            raise ValueError(f"pct must be a non-negative number, got {pct!r}")
        return [row for row in self.rows if row.is_regression(pct)]


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as ``{"a.b.c": value}``; lists and scalars are leaves."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{path}."))
        else:
            flat[path] = value
    return flat


def config_differences(a: Mapping[str, Any], b: Mapping[str, Any],
                       ignore: Iterable[str] = IGNORED_CONFIG_KEYS) -> list[str]:
    """``"key: A -> B"`` for every resolved-config key (dotted) whose value differs.

    Top-level keys in ``ignore`` are left out.
    """
    skip = set(ignore)
    fa = {k: v for k, v in flatten(a).items() if k.split(".", 1)[0] not in skip}
    fb = {k: v for k, v in flatten(b).items() if k.split(".", 1)[0] not in skip}
    missing = object()
    diffs = []
    for key in sorted(set(fa) | set(fb)):
        va, vb = fa.get(key, missing), fb.get(key, missing)
        if va != vb:
            shown_a = "(absent)" if va is missing else repr(va)
            shown_b = "(absent)" if vb is missing else repr(vb)
            diffs.append(f"{key}: {shown_a} -> {shown_b}")
    return diffs


def _confidence(run: Run) -> float:
    value = run.manifest["config"].get("confidence", DEFAULT_CONFIDENCE)
    ok = isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 1
    return float(value) if ok else DEFAULT_CONFIDENCE


def _row(key: MetricKey, a: list[float], b: list[float], confidence: float,
         seed: int) -> MetricComparison:
    scenario, level, stack, metric = key
    higher = is_higher_better(metric)
    sp = stats.speedup(b, a, higher, confidence, cell_seed(seed, key))
    verdict = "insufficient data"
    if sp.low is not None and sp.high is not None:
        verdict = verdicts.verdict(sp.low, sp.high)
    return MetricComparison(
        scenario=scenario, level=level, stack=stack, metric=metric, higher_is_better=higher,
        headline=HEADLINE_METRICS.get(scenario) == metric, n_a=len(a), n_b=len(b),
        mean_a=sum(a) / len(a), mean_b=sum(b) / len(b), ratio=finite(sp.ratio),
        ci_low=finite(sp.low), ci_high=finite(sp.high), method=sp.method,
        p_value=finite(sp.p_value), verdict=verdict)


def compare_runs(a: Run, b: Run) -> Comparison:
    """Run B against run A, for every cell and metric both have ok trials of.

    The confidence level and the bootstrap seeds come from run A. Metrics whose
    orientation is unknown are left out with a warning.
    """
    config_a, config_b = a.manifest["config"], b.manifest["config"]
    warnings: list[str] = []
    diffs = config_differences(config_a, config_b)
    if diffs:
        warnings.append("configs differ in more than seed/rounds: " + "; ".join(diffs))
    for name, what in (("compat_id", "compat ids (harness version + lock hash)"),
                       ("machine_id", "machines")):
        if a.manifest.get(name) != b.manifest.get(name):
            warnings.append(f"{what} differ: A {a.manifest.get(name)}, B {b.manifest.get(name)}")
    confidence = _confidence(a)
    seed = a.manifest["seed"]
    va = metric_values(group_ok(a.trials), warnings)
    vb = metric_values(group_ok(b.trials), warnings)
    rows, unknown = [], set()
    for key in sorted(set(va) & set(vb), key=sort_key):
        try:
            is_higher_better(key[3])
        except ValueError:
            unknown.add(key[3])
            continue
        rows.append(_row(key, va[key], vb[key], confidence, seed))
    warnings.extend(f"metric {m!r} has no known orientation: not compared"
                    for m in sorted(unknown))
    cells_a = {k[:3] for k in va}
    cells_b = {k[:3] for k in vb}
    return Comparison(
        run_a=str(a.manifest["run_id"]), run_b=str(b.manifest["run_id"]),
        confidence=confidence, rows=rows,
        only_in_a=[where(k) for k in sorted(cells_a - cells_b, key=sort_key)],
        only_in_b=[where(k) for k in sorted(cells_b - cells_a, key=sort_key)],
        warnings=warnings)


def to_json(comparison: Comparison, fail_pct: float | None = None) -> dict[str, Any]:
    """The comparison as plain JSON data; with ``fail_pct``, the regressions too."""
    data = asdict(comparison)
    if fail_pct is not None:
        data["fail_on_regression_pct"] = fail_pct
        data["regressions"] = [asdict(r) for r in comparison.regressions(fail_pct)]
    return data


# --- rendering (pure text; the CLI prints it) ---------------------------------------------

def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def format_ratio(row: MetricComparison) -> str:
    """``0.501x [0.488, 0.514]`` (three decimals: run-to-run differences are small)."""
    return format_interval(row.ratio, row.ci_low, row.ci_high, digits=3)


def render_table(comparison: Comparison) -> str:
    """One line per row: cell, metric, both means, ratio B/A with its CI, p and verdict."""
    pct = f"{comparison.confidence:.0%}"
    header = (f"{'scenario':<8} {'level':<7} {'stack':<22} {'metric':<26} {'A mean':>10} "
              f"{'B mean':>10} {'B vs A (' + pct + ' CI)':<28} {'p':>8}  verdict")
    lines = [f"A = {comparison.run_a}", f"B = {comparison.run_b}",
             "ratio > 1: B is better (faster, or more throughput)", "", header,
             "-" * len(header)]
    for r in comparison.rows:
        metric = f"{metric_title(r.metric)} *" if r.headline else metric_title(r.metric)
        lines.append(f"{r.scenario:<8} {level_label(r.scenario, r.level):<7} {r.stack:<22} "
                     f"{metric:<26} {_num(r.mean_a):>10} {_num(r.mean_b):>10} "
                     f"{format_ratio(r):<28} {_num(r.p_value):>8}  {r.verdict}")
    if not comparison.rows:
        lines.append("(no cell has ok trials in both runs)")
    lines.append("* headline metric")
    for label, cells in (("only in A", comparison.only_in_a), ("only in B", comparison.only_in_b)):
        if cells:
            lines.append(f"{label}: {', '.join(cells)}")
    return "\n".join(lines)


def _md(text: str) -> str:
    """``text`` safe in a Markdown table cell (run folders are untrusted input)."""
    return "".join("\\" + ch if ch in "\\|*_`[]<>#" else ch
                   for ch in text.replace("\n", " "))


def render_markdown(comparison: Comparison) -> str:
    """The comparison as a Markdown table, for a pull request or an issue."""
    pct = f"{comparison.confidence:.0%}"
    lines = [f"Run B `{_md(comparison.run_b)}` against run A `{_md(comparison.run_a)}`; "
             "a ratio above 1 means B is better (faster, or more throughput). "
             "**Bold**: headline metric.", "",
             f"| Scenario | Level | Stack | Metric | A mean | B mean | B vs A ({pct} CI) | p | "
             "Verdict |", "|---|---|---|---|--:|--:|--:|--:|---|"]
    for r in comparison.rows:
        metric = _md(metric_title(r.metric))
        lines.append(f"| {_md(r.scenario)} | {_md(level_label(r.scenario, r.level))} | "
                     f"{_md(r.stack)} | {f'**{metric}**' if r.headline else metric} | "
                     f"{_num(r.mean_a)} | {_num(r.mean_b)} | {_md(format_ratio(r))} | "
                     f"{_num(r.p_value)} | {_md(r.verdict)} |")
    if not comparison.rows:
        lines.append("| - | - | - | no cell has ok trials in both runs | | | | | |")
    for label, cells in (("Only in A", comparison.only_in_a), ("Only in B", comparison.only_in_b)):
        if cells:
            lines += ["", f"{label}: {_md(', '.join(cells))}"]
    return "\n".join(lines)


def describe_regression(row: MetricComparison) -> str:
    """One line naming a regressed row and by how much."""
    assert row.ratio is not None
    return (f"{row.scenario} {level_label(row.scenario, row.level)} {row.stack} "
            f"{metric_title(row.metric)}: "
            f"B is {1 - row.ratio:.1%} worse, ratio {format_ratio(row)}, {row.verdict}")
