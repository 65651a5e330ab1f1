"""The verdict fields every comparison carries (``family.verdict_fields``), from speedups
built by hand: the family and the level its interval is built at, the adjusted p-value,
the verdict with its why, the magnitude, the survivorship note, the basis of a rate."""

from __future__ import annotations

import pytest

from harness.analyse import family
from harness.analyse.stats import Speedup


def speedup(ratio: float | None, low: float | None, high: float | None, p: float | None,
            status: str = "ok", n: int = 10) -> Speedup:
    return Speedup(ratio, low, high, "fieller", n, n, p, None, status=status)


def test_a_headline_speedup_is_family_wise() -> None:
    fields = family.verdict_fields(speedup(2.5, 2.2, 2.8, 0.004), "fanout", "duration_s",
                                   0.95, 4, 5.0)
    assert fields == {
        "family": "headline", "confidence": pytest.approx(1 - 0.05 / 4),
        "adjustment": "bonferroni", "p_adjusted": pytest.approx(0.016), "verdict": "faster",
        "verdict_why": None, "trials_needed": None, "magnitude": "large speedup",
        "attrition": None, "estimated_from": None,
    }


def test_an_exploratory_metric_is_unadjusted() -> None:
    fields = family.verdict_fields(speedup(0.8, 0.7, 0.9, 0.004), "clients",
                                   "mean_response_s", 0.9, 4, 5.0)
    assert (fields["family"], fields["confidence"], fields["adjustment"]) == (
        "exploratory", 0.9, None)
    assert fields["p_adjusted"] == pytest.approx(0.004)
    assert fields["verdict"] == "slower" and fields["magnitude"] == "small to moderate slowdown"


def test_an_adjusted_p_value_is_capped_at_one_and_a_family_is_at_least_one() -> None:
    fields = family.verdict_fields(speedup(1.01, 0.9, 1.1, 0.4), "fanout", "duration_s",
                                   0.95, 3, 5.0)
    assert fields["p_adjusted"] == 1.0
    alone = family.verdict_fields(speedup(1.01, 0.9, 1.1, 0.4), "fanout", "duration_s",
                                  0.95, 0, 5.0)
    assert alone["p_adjusted"] == pytest.approx(0.4) and alone["confidence"] == pytest.approx(0.95)
    assert family.entry_confidence("headline", 0.95, 0) == pytest.approx(0.95)
    assert family.entry_confidence("exploratory", 0.95, 10) == 0.95


def test_a_rate_is_estimated_from_the_durations() -> None:
    fields = family.verdict_fields(speedup(2.0, 1.8, 2.2, 0.01), "clients", "throughput_rps",
                                   0.95, 2, 5.0)
    assert fields["estimated_from"] == "duration_s" and fields["family"] == "headline"


def test_equivalent_and_withheld_verdicts_carry_no_magnitude() -> None:
    same = family.verdict_fields(speedup(1.0, 0.98, 1.02, 0.9), "fanout", "duration_s",
                                 0.95, 1, 5.0)
    assert same["verdict"] == "equivalent" and same["magnitude"] is None
    note = "s failed or was invalid in 5 of 10 trials, b in 0 of 10"
    withheld = family.verdict_fields(speedup(3.0, 2.5, 3.5, 0.001), "fanout", "duration_s",
                                     0.95, 1, 5.0, (note, True))
    assert (withheld["verdict"], withheld["verdict_why"]) == ("undetermined", f"survivorship: {note}")
    assert withheld["magnitude"] is None and withheld["attrition"] == note
    stated = family.verdict_fields(speedup(3.0, 2.5, 3.5, 0.001), "fanout", "duration_s",
                                   0.95, 1, 5.0, (note, False))
    assert stated["verdict"] == "faster" and stated["attrition"] == note
    assert stated["magnitude"] == "large speedup"


def test_too_few_trials_stay_insufficient_whatever_was_lost() -> None:
    few = family.verdict_fields(speedup(2.0, None, None, None, status="insufficient", n=1),
                                "fanout", "duration_s", 0.95, 1, 5.0, ("lost", True))
    assert few["verdict"] == "insufficient data" and few["p_adjusted"] is None
    assert few["magnitude"] is None


def test_inconclusive_says_how_many_trials_would_settle_it() -> None:
    fields = family.verdict_fields(speedup(1.2, 0.9, 1.5, 0.2), "fanout", "duration_s",
                                   0.95, 1, 5.0)
    assert fields["verdict"] == "inconclusive"
    assert isinstance(fields["trials_needed"], int) and fields["trials_needed"] > 10
