"""Two runs side by side: run B against run A, cell by cell, with the run's own statistics.

For every scenario, level, stack and metric of either run, the ratio of means is
oriented so that ``> 1`` means B is better (``stats.speedup`` with A as the baseline),
with the same families, intervals, p-values and verdicts a run's summary uses
(``analyse.family``). Everything here is a pure function of two loaded runs; the CLI
prints what :func:`render_table` returns and picks the exit code.

The regression gate (:meth:`Comparison.gate`) judges every row and leaves no hole: a
row is a regression when B is significantly worse (the interval lies below 1) and its
point estimate is worse by more than the threshold, read on the worse direction
("slower by more than PCT%": B takes more than ``1 + PCT/100`` times as long, serves
less than ``1 / (1 + PCT/100)`` times the rate, uses more than ``1 + PCT/100`` times
the CPU or memory); when B lost significantly more trials than A; or, unless missing
cells are allowed, when a cell of A is missing or has too few trials in B, or has no
bounded interval while its point estimate is worse by more than the threshold.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.analyse import family, stats, verdicts
from harness.analyse.cells import (
    NO_TRIALS,
    Attrition,
    MetricKey,
    attrition,
    cell_seed,
    finite,
    group_ok,
    metric_values,
    where,
)
from harness.analyse.metrics import (
    HEADLINE_METRICS,
    is_higher_better,
    level_label,
    metric_title,
    sort_key,
    verdict_words,
)
from harness.analyse.sentences import format_ratio as format_interval
from harness.analyse.summary import DEFAULT_CONFIDENCE
from harness.config.ladder import CAPACITY
from harness.rundir.reader import Run

# Keys of the resolved config that may differ between two runs of the same experiment:
# how many rounds and the order's seed; max_rounds goes with rounds, source is a path.
IGNORED_CONFIG_KEYS = frozenset({"seed", "rounds", "max_rounds", "source"})

PASS, FAIL, ALLOWED = "pass", "fail", "allowed"


@dataclass(frozen=True)
class MetricComparison:
    """One metric of one cell: B against A, ``ratio > 1`` meaning B is better.

    A cell missing from one run has ``n = 0`` there and no mean. ``lost_a``/``lost_b``
    count the cell's trials that were not ok, of ``total_a``/``total_b``; ``b_lost_more``
    is set when B lost a significantly larger share of them (the verdict is withheld).
    """

    scenario: str
    level: int
    stack: str
    metric: str
    higher_is_better: bool
    headline: bool
    n_a: int
    n_b: int
    mean_a: float | None
    mean_b: float | None
    ratio: float | None
    ci_low: float | None
    ci_high: float | None
    method: str
    p_value: float | None
    verdict: str
    family: str = family.EXPLORATORY
    confidence: float = DEFAULT_CONFIDENCE
    p_adjusted: float | None = None
    verdict_why: str | None = None
    status: str = "ok"
    lost_a: int = 0
    total_a: int = 0
    lost_b: int = 0
    total_b: int = 0
    b_lost_more: bool = False

    def worse_pct(self) -> float | None:
        """How much worse B is on the worse direction, in percent (``1/ratio - 1``)."""
        return None if not self.ratio else (1.0 / self.ratio - 1.0) * 100.0

    def judge(self, pct: float) -> tuple[str, str]:
        """``(pass|fail|allowed, reason)`` for the gate at ``pct`` (``allowed``: fails
        only when missing cells are not allowed)."""
        worse = verdict_words(self.metric)[1]
        if self.n_a == 0:
            return PASS, "not in A: nothing to compare with"
        if self.n_b == 0:
            return ALLOWED, (f"missing in B ({self.lost_b} of {self.total_b} trials not ok)"
                             if self.total_b else "missing in B")
        if self.b_lost_more:
            return FAIL, f"B lost more trials: {self.verdict_why}"
        if self.status == "insufficient":
            return ALLOWED, f"insufficient data ({self.n_a} vs {self.n_b} ok trials)"
        shown = self.worse_pct()
        assert shown is not None
        over = shown > pct
        if self.status == "degenerate":
            return ((FAIL, f"{worse} by {shown:.1f}% (no spread observed), more than {pct:g}%")
                    if over else (PASS, "degenerate (no spread observed), within threshold"))
        if self.ci_high is None or self.ci_low is None or self.verdict == verdicts.UNDETERMINED:
            # No interval to read: a point estimate beyond the threshold cannot be cleared.
            if over:
                return ALLOWED, (f"undetermined ({self.verdict_why}) with a point estimate "
                                 f"{worse} by {shown:.1f}%, more than {pct:g}%")
            return PASS, f"undetermined ({self.verdict_why}), point estimate within threshold"
        if self.ci_high < 1.0 and over:
            return FAIL, f"{worse} by {shown:.1f}%, more than {pct:g}%"
        return PASS, self.verdict


@dataclass(frozen=True)
class GateRow:
    """The gate's word on one row of a comparison."""

    scenario: str
    level: int
    stack: str
    metric: str
    outcome: str
    reason: str


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
    headline_tests: int = 1

    def gate(self, pct: float, allow_missing: bool = False) -> list[GateRow]:
        """Every row with ``pass`` or ``fail`` and why, at a threshold of ``pct`` percent
        worse (any non-negative number: 100 means twice as slow)."""
        if not (math.isfinite(pct) and pct >= 0):
            raise ValueError(f"pct must be a non-negative number, got {pct!r}")
        gated = []
        for row in self.rows:
            outcome, reason = row.judge(pct)
            if outcome == ALLOWED:
                outcome = PASS if allow_missing else FAIL
                reason += " (allowed)" if allow_missing else ""
            gated.append(GateRow(row.scenario, row.level, row.stack, row.metric, outcome,
                                 reason))
        return gated

    def regressions(self, pct: float, allow_missing: bool = False) -> list[GateRow]:
        """The rows the gate fails at ``pct``."""
        return [g for g in self.gate(pct, allow_missing) if g.outcome == FAIL]


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


def _setting(run: Run, name: str, default: float, high: float) -> float:
    value = run.manifest["config"].get(name, default)
    ok = isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < high
    return float(value) if ok else default


def _row(key: MetricKey, va: Mapping[MetricKey, list[float]],
         vb: Mapping[MetricKey, list[float]], lost: tuple[Attrition, Attrition],
         levels: tuple[float, float, int], seed: int) -> MetricComparison:
    scenario, level, stack, metric = key
    confidence, equivalence_pct, size = levels
    available = {k[3] for k in (*va, *vb) if k[:3] == key[:3]}
    source = family.basis_in(metric, available)
    a, b = va.get(key, []), vb.get(key, [])
    fam = family.family_of(scenario, metric)
    sp = stats.speedup(vb.get((*key[:3], source), []), va.get((*key[:3], source), []),
                       is_higher_better(source), family.entry_confidence(fam, confidence, size),
                       cell_seed(seed, key))
    lost_a, lost_b = lost
    note = family.attrition_note("B", lost_b, "A", lost_a, confidence)
    fields = family.verdict_fields(sp, scenario, metric, confidence, size, equivalence_pct,
                                   note)
    return MetricComparison(
        scenario=scenario, level=level, stack=stack, metric=metric,
        higher_is_better=is_higher_better(metric),
        headline=HEADLINE_METRICS.get(scenario) == metric, n_a=len(a), n_b=len(b),
        mean_a=sum(a) / len(a) if a else None, mean_b=sum(b) / len(b) if b else None,
        ratio=finite(sp.ratio), ci_low=finite(sp.low), ci_high=finite(sp.high),
        method=sp.method, p_value=finite(sp.p_value), verdict=fields["verdict"],
        family=fields["family"], confidence=fields["confidence"],
        p_adjusted=fields["p_adjusted"], verdict_why=fields["verdict_why"], status=sp.status,
        lost_a=lost_a.lost, total_a=lost_a.total, lost_b=lost_b.lost, total_b=lost_b.total,
        b_lost_more=note[1] and lost_b.lost * lost_a.total > lost_a.lost * lost_b.total)


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
    confidence = _setting(a, "confidence", DEFAULT_CONFIDENCE, 1)
    equivalence_pct = _setting(a, "equivalence_pct", verdicts.DEFAULT_EQUIVALENCE_PCT, 100)
    seed = a.manifest["seed"]
    va = metric_values(group_ok(a.trials), warnings)
    vb = metric_values(group_ok(b.trials), warnings)
    lost_a, lost_b = attrition(a.trials), attrition(b.trials)
    keys, unknown = [], set()
    if any(k[0] == CAPACITY for k in (*va, *vb)):
        warnings.append("capacity sweeps are not compared rung by rung (each run's climb "
                        "chooses its rungs): compare the knees in each run's report")
    for key in sorted(set(va) | set(vb), key=sort_key):
        if key[0] == CAPACITY:
            continue
        try:
            is_higher_better(key[3])
        except ValueError:
            unknown.add(key[3])
            continue
        keys.append(key)
    levels = (confidence, equivalence_pct, family.family_size(keys))
    rows = [_row(key, va, vb, (lost_a.get(key[:3], NO_TRIALS), lost_b.get(key[:3], NO_TRIALS)),
                 levels, seed) for key in keys]
    warnings.extend(f"metric {m!r} has no known orientation: not compared"
                    for m in sorted(unknown))
    cells_a = {k[:3] for k in va if k[0] != CAPACITY}
    cells_b = {k[:3] for k in vb if k[0] != CAPACITY}
    return Comparison(
        run_a=str(a.manifest["run_id"]), run_b=str(b.manifest["run_id"]),
        confidence=confidence, rows=rows,
        only_in_a=[where(k) for k in sorted(cells_a - cells_b, key=sort_key)],
        only_in_b=[where(k) for k in sorted(cells_b - cells_a, key=sort_key)],
        warnings=warnings, headline_tests=levels[2])


def to_json(comparison: Comparison, fail_pct: float | None = None,
            allow_missing: bool = False) -> dict[str, Any]:
    """The comparison as plain JSON data; with ``fail_pct``, the gate's word on every row
    (``gate``) and the failing rows (``regressions``)."""
    data = asdict(comparison)
    if fail_pct is not None:
        data["fail_on_regression_pct"] = fail_pct
        data["threshold"] = threshold_words(fail_pct)
        data["allow_missing"] = allow_missing
        gate = comparison.gate(fail_pct, allow_missing)
        data["gate"] = [asdict(g) for g in gate]
        data["regressions"] = [asdict(g) for g in gate if g.outcome == FAIL]
    return data


def threshold_words(pct: float) -> str:
    """The gate's threshold in words: ``slower by more than 10%`` (on the worse direction)."""
    return f"slower by more than {pct:g}%"


# --- rendering (pure text; the CLI prints it) ---------------------------------------------

def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def format_ratio(row: MetricComparison) -> str:
    """``0.501x [0.488, 0.514]`` (three decimals: run-to-run differences are small)."""
    return format_interval(row.ratio, row.ci_low, row.ci_high, digits=3)


def render_table(comparison: Comparison) -> str:
    """One line per row: cell, metric, both means, ratio B/A with its CI (family-wise for
    the headline family), the adjusted p-value and the verdict."""
    pct = f"{comparison.confidence:.0%}"
    header = (f"{'scenario':<8} {'level':<7} {'stack':<22} {'metric':<26} {'A mean':>10} "
              f"{'B mean':>10} {'B vs A (' + pct + ' CI)':<28} {'p adj.':>8}  verdict")
    lines = [f"A = {comparison.run_a}", f"B = {comparison.run_b}",
             "ratio > 1: B is better (faster, or more throughput)", "", header,
             "-" * len(header)]
    for r in comparison.rows:
        title = metric_title(r.metric)
        metric = f"{title} *" if r.family == family.HEADLINE else title
        lines.append(f"{r.scenario:<8} {level_label(r.scenario, r.level):<7} {r.stack:<22} "
                     f"{metric:<26} {_num(r.mean_a):>10} {_num(r.mean_b):>10} "
                     f"{format_ratio(r):<28} {_num(r.p_adjusted):>8}  {r.verdict}"
                     + (f" ({r.verdict_why})" if r.verdict_why else ""))
    if not comparison.rows:
        lines.append("(no cell has ok trials in both runs)")
    lines.append(f"* headline family ({comparison.headline_tests} tests, Bonferroni "
                 f"family-wise {comparison.confidence:.0%}); the rest exploratory")
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
             f"| Scenario | Level | Stack | Metric | A mean | B mean | B vs A ({pct} CI) | "
             "p adj. | Verdict |", "|---|---|---|---|--:|--:|--:|--:|---|"]
    for r in comparison.rows:
        metric = _md(metric_title(r.metric))
        shown = f"**{metric}**" if r.family == family.HEADLINE else metric
        lines.append(f"| {_md(r.scenario)} | {_md(level_label(r.scenario, r.level))} | "
                     f"{_md(r.stack)} | {shown} | "
                     f"{_num(r.mean_a)} | {_num(r.mean_b)} | {_md(format_ratio(r))} | "
                     f"{_num(r.p_adjusted)} | {_md(r.verdict)} |")
    if not comparison.rows:
        lines.append("| - | - | - | no cell has ok trials in both runs | | | | | |")
    for label, cells in (("Only in A", comparison.only_in_a), ("Only in B", comparison.only_in_b)):
        if cells:
            lines += ["", f"{label}: {_md(', '.join(cells))}"]
    return "\n".join(lines)


def describe_regression(row: GateRow) -> str:
    """One line naming a failing row and why."""
    return (f"{row.scenario} {level_label(row.scenario, row.level)} {row.stack} "
            f"{metric_title(row.metric)}: {row.reason}")
