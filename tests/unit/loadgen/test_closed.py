"""Closed-loop partials and their exact merge: merged histograms equal the histogram of
every sample, counts add up, and one partial gives the builtin record unchanged."""

from __future__ import annotations

import random

from hdrh.histogram import HdrHistogram
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.loadgen.closed import merge_closed, partial_of
from harness.loadgen.drivers import Outcome, ScenarioResult, combine_bursts
from harness.loadgen.schedule import RateSpec
from harness.loadgen.tally import Partial, Tally, merge
from harness.rundir.format import encode_latencies, latency_summary


def burst(latencies: list[float], duration: float, failures: int = 0,
          status: int = 502) -> ScenarioResult:
    outcomes = [Outcome("ok", x) for x in latencies]
    outcomes += [Outcome("http_status", 0.01, f"HTTP {status} from u", status)
                 for _ in range(failures)]
    ok = [x for x in latencies]
    clients = len(outcomes)
    return ScenarioResult(outcomes, duration, {
        "duration_s": duration, "mean_response_s": sum(ok) / len(ok) if ok else 0.0,
        "throughput_rps": clients / duration})


def test_one_partial_gives_the_builtin_figures_unchanged() -> None:
    result = combine_bursts([burst([0.1, 0.2, 0.15], 0.3), burst([0.11, 0.12, 0.3], 0.31)], 3)
    merged = merge_closed([partial_of(result, 3)])
    hdr, hist = encode_latencies(result.ok_latencies_s())
    assert merged.hdr == hdr
    assert merged.latency_ms == latency_summary(hist, sum(result.ok_latencies_s()),
                                                max(result.ok_latencies_s()))
    assert merged.metrics == result.metrics
    assert merged.bursts == result.bursts
    assert merged.counts() == result.counts()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.0005, 30.0), min_size=1, max_size=300), st.integers(1, 6),
       st.integers(0, 2**31))
def test_merged_histogram_equals_the_histogram_of_every_sample(
        samples: list[float], workers: int, seed: int) -> None:
    rng = random.Random(seed)
    shares: list[list[float]] = [[] for _ in range(workers)]
    for sample in samples:
        shares[rng.randrange(workers)].append(sample)
    partials = [partial_of(burst(share, max(share, default=0.0) + 0.001), len(share))
                for share in shares if share]
    merged = merge_closed(partials)
    whole, hist = encode_latencies(samples)
    assert HdrHistogram.decode(merged.hdr).get_total_count() == len(samples)
    assert merged.hdr == whole
    assert merged.latency_ms["p99"] == latency_summary(hist, sum(samples), max(samples))["p99"]
    assert merged.latency_ms["max"] == round(1000 * max(samples), 4)
    assert merged.request_counts["ok"] == merged.request_counts["total"] == len(samples)


def test_bursts_last_from_release_to_the_last_answer_of_any_worker() -> None:
    a = combine_bursts([burst([0.1] * 3, 0.30), burst([0.1] * 3, 0.20)], 3)
    b = combine_bursts([burst([0.1] * 2, 0.25), burst([0.1] * 2, 0.40)], 2)
    merged = merge_closed([partial_of(a, 3), partial_of(b, 2)])
    assert [x["duration_s"] for x in merged.bursts] == [0.3, 0.4]
    assert [x["ok"] for x in merged.bursts] == [5, 5]
    assert merged.metrics["duration_s"] == 0.4           # the steady burst (the second)
    assert merged.metrics["throughput_rps"] == 5 / 0.4
    assert merged.metrics["first_burst_throughput_rps"] == 5 / 0.3
    assert merged.metrics["mean_response_s"] == 0.1      # over the steady bursts' answers


def test_failures_merge_by_kind_and_status_and_tolerated_statuses_pass() -> None:
    a = partial_of(burst([0.1], 0.2, failures=2, status=502), 3)
    b = partial_of(burst([0.1], 0.2, failures=1, status=500), 2)
    merged = merge_closed([a, b])
    assert merged.request_counts["http_status"] == 3
    assert merged.first_error() == "3 of 5 requests failed (3 http_status; first: HTTP 502 from u)"
    assert merged.first_error((502,)) == ("1 of 5 requests failed (1 http_status; "
                                          "first: HTTP 500 from u)")
    only_502 = merge_closed([a])
    assert only_502.first_error((502,)) is None


def test_pool_waits_add_up_exactly() -> None:
    outcomes = [Outcome("ok", 0.1, pool_wait_ms=w) for w in (1.5, 2.5)]
    a = partial_of(ScenarioResult(outcomes, 0.1, {"duration_s": 0.1}), 2)
    b = partial_of(ScenarioResult([Outcome("ok", 0.1, pool_wait_ms=4.0)], 0.1,
                                  {"duration_s": 0.1}), 1)
    pool = merge_closed([a, b]).pool_wait
    assert (pool.count, pool.sum_ms, pool.max_ms) == (3, 8.0, 4.0)


def test_rate_partials_merge_to_the_histogram_of_every_sample() -> None:
    rng = random.Random(3)
    tallies = [Tally() for _ in range(3)]
    samples = []
    for i in range(500):
        latency = rng.uniform(0.001, 2.0)
        samples.append(latency)
        tallies[i % 3].answered(Outcome("ok", latency), 10.0, 10.0, 10.0 + latency)
    partials = [Partial.of(t, 10.0, 0.1, 0.0, 1.0) for t in tallies]
    result = merge(RateSpec(100, 5, 10), 500, partials)
    whole, _ = encode_latencies(samples)
    assert result.hdr == whole
    assert result.request_counts["ok"] == 500
