"""The model beside each measurement, and the metric vocabulary's directions."""

from __future__ import annotations

import pytest

from harness.analyse import model
from harness.analyse.metrics import METRICS, is_higher_better, level_label, level_title


def test_orientation() -> None:
    assert is_higher_better("throughput_rps")
    assert is_higher_better("calls_per_s")
    assert is_higher_better("achieved_rps")
    for metric in ("duration_s", "mean_response_s", "p50_ms", "p99_ms", "p999_ms"):
        assert not is_higher_better(metric)
    with pytest.raises(ValueError, match="unknown metric"):
        is_higher_better("bogus")


def test_expected_fanout_duration() -> None:
    assert model.expected_fanout_duration_s(10, 0.1, "sequential") == pytest.approx(1.0)
    assert model.expected_fanout_duration_s(10, 0.1, "concurrent") == 0.1
    with pytest.raises(ValueError, match="fanout_mode"):
        model.expected_fanout_duration_s(10, 0.1, "parallel")
    with pytest.raises(ValueError):
        model.expected_fanout_duration_s(0, 0.1, "sequential")


def test_expected_clients() -> None:
    # 100 clients, 8 slots: ceil(100/8) = 13 waves of 0.1 s = 1.3 s; 100/1.3 = 76.923 req/s
    assert model.expected_clients_duration_s(100, 0.1, 8) == pytest.approx(1.3)
    assert model.expected_clients_throughput(100, 0.1, 8) == pytest.approx(76.92307692)
    # exact multiple: 16 clients, 8 slots -> 2 waves -> 0.2 s -> 80 req/s
    assert model.expected_clients_throughput(16, 0.1, 8) == pytest.approx(80.0)
    # an event loop (no slot limit): one wave -> 100 / 0.1 = 1000 req/s
    assert model.expected_clients_duration_s(100, 0.1, None) == 0.1
    assert model.expected_clients_throughput(100, 0.1, None) == pytest.approx(1000.0)
    with pytest.raises(ValueError):
        model.expected_clients_throughput(100, 0.1, 0)


def test_efficiency() -> None:
    assert model.efficiency(500.0, 1000.0, higher_is_better=True) == 0.5
    # measured duration 0.4 s against a model of 0.1 s -> 0.25
    assert model.efficiency(0.4, 0.1, higher_is_better=False) == pytest.approx(0.25)
    with pytest.raises(ValueError):
        model.efficiency(0.0, 1.0, higher_is_better=True)




def test_every_metric_has_a_unit_and_titles_start_upper_case() -> None:
    for name, metric in METRICS.items():
        assert metric.unit, name
        assert metric.title[0].isupper() or metric.title.startswith("p"), name


def test_level_words() -> None:
    assert level_label("fanout", 50) == "N=50" and level_label("clients", 200) == "C=200"
    assert level_label("rate", 400) == "400 req/s"
    assert level_title("fanout", 1) == "N = 1 upstream call per request"
    assert level_title("clients", 10) == "C = 10 concurrent clients"


def test_a_pool_smaller_than_n_makes_concurrent_fanout_wait_in_waves() -> None:
    assert model.expected_fanout_duration_s(50, 0.1, "concurrent", pool=10) == pytest.approx(0.5)
    assert model.expected_fanout_duration_s(50, 0.1, "concurrent", pool=1000) == 0.1
    assert model.expected_fanout_duration_s(5, 0.1, "sequential", pool=1) == pytest.approx(0.5)


def test_the_pool_model_line() -> None:
    assert model.pool_bound_rps(10, 0.1) == pytest.approx(100.0)
    assert model.pool_bound_rps(100, 0.05) == pytest.approx(2000.0)
    with pytest.raises(ValueError, match="connections"):
        model.pool_bound_rps(0, 0.1)
    with pytest.raises(ValueError, match="query_s"):
        model.pool_bound_rps(10, 0.0)
