"""What ``compare`` prints, line for line: the text table and the Markdown table of a
small comparison (a headline row, an exploratory row, cells in one run only), and of an
empty one; Markdown escapes what a run folder says."""

from __future__ import annotations

import dataclasses

from harness.analyse.compare import Comparison, MetricComparison, render_markdown, render_table

ROWS = [
    MetricComparison("fanout", 10, "quart|hypercorn\nx", "duration_s", False, True, 3, 3, 1.0,
                     0.5, 2.0, 1.9, 2.1, "fieller", 0.001, "faster", family="headline",
                     confidence=0.975, p_adjusted=0.002),
    MetricComparison("clients", 50, "fastapi", "mean_response_s", False, False, 3, 3, 0.2,
                     0.25, 0.8, 0.7, 1.02, "fieller", 0.2, "inconclusive",
                     verdict_why="needs 12 trials"),
]
COMPARISON = Comparison("run_a", "run*bX", 0.95, ROWS, only_in_a=["rate 100 x"],
                        only_in_b=["fanout 1 y", "fanout 2 z"], headline_tests=2)
HEADER = ("scenario level   stack                  metric                         A mean     "
          "B mean B vs A ({pct} CI)                p adj.  verdict")


def test_the_text_table() -> None:
    header = HEADER.format(pct="95%")
    plain = dataclasses.replace(COMPARISON, rows=[dataclasses.replace(ROWS[0], stack="quart|hypercorn"),
                                                  ROWS[1]])
    assert render_table(plain).splitlines() == [
        "A = run_a", "B = run*bX", "ratio > 1: B is better (faster, or more throughput)", "",
        header, "-" * len(header),
        "fanout   N=10    quart|hypercorn        Total duration (s) *                1        "
        "0.5 2.000x [1.900, 2.100]           0.002  faster",
        "clients  C=50    fastapi                Mean response time (s)            0.2       "
        "0.25 0.800x [0.700, 1.020]               -  inconclusive (needs 12 trials)",
        "* headline family (2 tests, Bonferroni family-wise 95%); the rest exploratory",
        "only in A: rate 100 x",
        "only in B: fanout 1 y, fanout 2 z",
    ]


def test_the_markdown_table_escapes_the_run_folders_words() -> None:
    assert render_markdown(COMPARISON).splitlines() == [
        "Run B `run\\*bX` against run A `run\\_a`; a ratio above 1 means B is better (faster, "
        "or more throughput). **Bold**: headline metric.",
        "",
        "| Scenario | Level | Stack | Metric | A mean | B mean | B vs A (95% CI) | p adj. | Verdict |",
        "|---|---|---|---|--:|--:|--:|--:|---|",
        "| fanout | N=10 | quart\\|hypercorn x | **Total duration (s)** | 1 | 0.5 | "
        "2.000x \\[1.900, 2.100\\] | 0.002 | faster |",
        "| clients | C=50 | fastapi | Mean response time (s) | 0.2 | 0.25 | "
        "0.800x \\[0.700, 1.020\\] | - | inconclusive |",
        "",
        "Only in A: rate 100 x",
        "",
        "Only in B: fanout 1 y, fanout 2 z",
    ]


def test_an_empty_comparison_says_so() -> None:
    empty = Comparison("a", "b", 0.9, [])
    header = HEADER.format(pct="90%")
    assert render_table(empty).splitlines()[4:] == [
        header, "-" * len(header), "(no cell has ok trials in both runs)",
        "* headline family (1 tests, Bonferroni family-wise 90%); the rest exploratory"]
    assert render_markdown(empty).splitlines()[2:] == [
        "| Scenario | Level | Stack | Metric | A mean | B mean | B vs A (90% CI) | p adj. | Verdict |",
        "|---|---|---|---|--:|--:|--:|--:|---|",
        "| - | - | - | no cell has ok trials in both runs | | | | | |"]
