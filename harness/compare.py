"""Two runs side by side: run B against run A, cell by cell, with the run's own statistics.

For every scenario, level, stack and metric with ok trials in both runs, the
ratio of means is oriented so that ``> 1`` means B is better (``stats.speedup``
with A as the baseline), with the same interval, p-value and verdict a run's
report uses. Everything here is a pure function of two loaded runs; the CLI
prints what :func:`render_table` returns and picks the exit code.
"""

from __future__ import annotations

import math
import zlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from harness import stats
from harness.metrics import HEADLINE_METRICS, SCENARIO_ORDER, level_label
from harness.rundir import Run
from harness.summary import DEFAULT_CONFIDENCE

# Keys of the resolved config that may differ between two runs of the same experiment:
# how many rounds and the order's seed; max_rounds goes with rounds, source is a path.
IGNORED_CONFIG_KEYS = frozenset({"seed", "rounds", "max_rounds", "source"})

CellMetric = tuple[str, int, str, str]  # scenario, level, stack, metric


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


def metric_values(run: Run) -> dict[CellMetric, list[float]]:
    """Per (scenario, level, stack, metric): the positive finite values of the ok trials."""
    values: dict[CellMetric, list[float]] = defaultdict(list)
    for trial in run.trials:
        if trial["status"] != "ok" or not isinstance(trial.get("metrics"), dict):
            continue
        for metric, value in trial["metrics"].items():
            if (isinstance(value, int | float) and not isinstance(value, bool)
                    and math.isfinite(value) and value > 0):
                values[(trial["scenario"], trial["level"], trial["stack"], metric)].append(
                    float(value))
    return dict(values)


def _sort_key(key: tuple[Any, ...]) -> tuple[Any, ...]:
    """Scenarios in report order (fanout, clients, rate, then others), then the rest."""
    scenario = key[0]
    rank = SCENARIO_ORDER.index(scenario) if scenario in SCENARIO_ORDER else len(SCENARIO_ORDER)
    return (rank, scenario, *key[1:])


def _confidence(run: Run) -> float:
    value = run.manifest["config"].get("confidence", DEFAULT_CONFIDENCE)
    ok = isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 1
    return float(value) if ok else DEFAULT_CONFIDENCE


def _seed(seed: int, key: CellMetric) -> int:
    """Bootstrap seed of one row: stable across processes (crc32, not ``hash()``)."""
    return (seed + zlib.crc32("|".join(map(str, key)).encode("utf-8"))) % 2**64


def _finite(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def _row(key: CellMetric, a: list[float], b: list[float], confidence: float,
         seed: int) -> MetricComparison:
    scenario, level, stack, metric = key
    higher = stats.is_higher_better(metric)
    sp = stats.speedup(b, a, higher, confidence, _seed(seed, key))
    verdict = "insufficient data"
    if sp.low is not None and sp.high is not None:
        verdict = stats.verdict(sp.low, sp.high)
    return MetricComparison(
        scenario=scenario, level=level, stack=stack, metric=metric, higher_is_better=higher,
        headline=HEADLINE_METRICS.get(scenario) == metric, n_a=len(a), n_b=len(b),
        mean_a=sum(a) / len(a), mean_b=sum(b) / len(b), ratio=_finite(sp.ratio),
        ci_low=_finite(sp.low), ci_high=_finite(sp.high), method=sp.method,
        p_value=_finite(sp.p_value), verdict=verdict)


def _where(key: tuple[Any, ...]) -> str:
    return f"{key[0]} {level_label(key[0], key[1])} {key[2]}"


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
    va, vb = metric_values(a), metric_values(b)
    rows, unknown = [], set()
    for key in sorted(set(va) & set(vb), key=_sort_key):
        try:
            stats.is_higher_better(key[3])
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
        only_in_a=[_where(k) for k in sorted(cells_a - cells_b, key=_sort_key)],
        only_in_b=[_where(k) for k in sorted(cells_b - cells_a, key=_sort_key)],
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
    """``0.501x [0.488, 0.514]`` (the CI omitted when there is none)."""
    if row.ratio is None:
        return "-"
    if row.ci_low is None or row.ci_high is None:
        return f"{row.ratio:.3f}x"
    return f"{row.ratio:.3f}x [{row.ci_low:.3f}, {row.ci_high:.3f}]"


def render_table(comparison: Comparison) -> str:
    """One line per row: cell, metric, both means, ratio B/A with its CI, p and verdict."""
    pct = f"{comparison.confidence:.0%}"
    header = (f"{'scenario':<8} {'level':<7} {'stack':<22} {'metric':<16} {'A mean':>10} "
              f"{'B mean':>10} {'B vs A (' + pct + ' CI)':<28} {'p':>8}  verdict")
    lines = [f"A = {comparison.run_a}", f"B = {comparison.run_b}",
             "ratio > 1: B is better (faster, or more throughput)", "", header,
             "-" * len(header)]
    for r in comparison.rows:
        metric = f"{r.metric} *" if r.headline else r.metric
        lines.append(f"{r.scenario:<8} {level_label(r.scenario, r.level):<7} {r.stack:<22} "
                     f"{metric:<16} {_num(r.mean_a):>10} {_num(r.mean_b):>10} "
                     f"{format_ratio(r):<28} {_num(r.p_value):>8}  {r.verdict}")
    if not comparison.rows:
        lines.append("(no cell has ok trials in both runs)")
    lines.append("* headline metric")
    for label, cells in (("only in A", comparison.only_in_a), ("only in B", comparison.only_in_b)):
        if cells:
            lines.append(f"{label}: {', '.join(cells)}")
    return "\n".join(lines)


def describe_regression(row: MetricComparison) -> str:
    """One line naming a regressed row and by how much."""
    assert row.ratio is not None
    return (f"{row.scenario} {level_label(row.scenario, row.level)} {row.stack} {row.metric}: "
            f"B is {1 - row.ratio:.1%} worse, ratio {format_ratio(row)}, {row.verdict}")
