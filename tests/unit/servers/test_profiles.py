"""The upstream's latency profiles: seeded samplers recover the quantiles they promise.

Tolerances over 10 000 draws: the standard error of an empirical p-quantile is
sqrt(p(1-p)/n)/f(x_p); for the profiles below that is under 1 % of the value at the
median and under 3 % at p99, so 3 % and 8 % bounds fail only on a real error.
"""

from __future__ import annotations

import math

import pytest

from servers.profiles import Profile, Sampler

DRAWS = 10_000


def draws(profile: Profile, requested_ms: float = 100.0, seed: int = 7) -> list[float]:
    sampler = Sampler(profile, seed)
    return sorted(sampler.delay_ms(requested_ms) for _ in range(DRAWS))


def empirical(values: list[float], q: float) -> float:
    return values[max(0, math.ceil(q * len(values)) - 1)]


def test_fixed_serves_the_requested_delay() -> None:
    assert set(draws(Profile())) == {100.0}
    assert Profile().quantile(100, 0.99) == 100.0


def test_uniform_stays_in_its_band_and_recovers_its_quantiles() -> None:
    profile = Profile("uniform", jitter_ms=20)
    values = draws(profile)
    assert values[0] >= 80.0 and values[-1] <= 120.0
    for q in (0.1, 0.5, 0.9, 0.99):
        assert empirical(values, q) == pytest.approx(profile.quantile(100, q), rel=0.03)
    assert profile.quantile(100, 0.99) == pytest.approx(119.6)


def test_uniform_never_goes_below_zero() -> None:
    values = draws(Profile("uniform", jitter_ms=50), requested_ms=10)
    assert min(values) >= 0.0


def test_lognormal_recovers_median_and_p99() -> None:
    profile = Profile("lognormal", median_ms=80, p99_ms=400)
    values = draws(profile)
    assert empirical(values, 0.5) == pytest.approx(80, rel=0.03)
    assert empirical(values, 0.99) == pytest.approx(400, rel=0.08)
    assert profile.quantile(0, 0.5) == pytest.approx(80)
    assert profile.quantile(0, 0.99) == pytest.approx(400)


def test_bimodal_tail_fraction_and_factor() -> None:
    profile = Profile("bimodal", tail_fraction=0.05, tail_factor=10)
    values = draws(profile)
    assert set(values) == {100.0, 1000.0}
    tail = sum(v == 1000.0 for v in values) / DRAWS
    assert tail == pytest.approx(0.05, abs=0.006)  # 3 standard errors of a proportion
    assert empirical(values, 0.99) == 1000.0
    assert profile.quantile(100, 0.99) == 1000.0
    assert profile.quantile(100, 0.9) == 100.0


def test_error_rate_and_independence_from_the_delays() -> None:
    quiet = Sampler(Profile("uniform", jitter_ms=10), 3)
    noisy = Sampler(Profile("uniform", jitter_ms=10, error_rate=0.1), 3)
    pairs = [(quiet.delay_ms(50), noisy.delay_ms(50), noisy.fails()) for _ in range(DRAWS)]
    assert all(a == b for a, b, _ in pairs)  # errors do not shift the delays drawn
    rate = sum(f for _, _, f in pairs) / DRAWS
    assert rate == pytest.approx(0.1, abs=0.009)
    assert not any(quiet.fails() for _ in range(100))


def test_seeded_draws_repeat_and_differ_by_seed() -> None:
    profile = Profile("lognormal", median_ms=20, p99_ms=100)
    assert draws(profile, seed=1) == draws(profile, seed=1)
    assert draws(profile, seed=1) != draws(profile, seed=2)


@pytest.mark.parametrize(("fields", "word"), [
    ({"kind": "pareto"}, "profile"),
    ({"kind": "lognormal", "median_ms": 80, "p99_ms": 40}, "median_ms"),
    ({"kind": "bimodal", "tail_factor": 0.5}, "tail_factor"),
    ({"error_rate": 1.5}, "error_rate"),
    ({"jitter_ms": -1}, "jitter_ms"),
    ({"jitter_ms": math.nan}, "jitter_ms"),
])
def test_bad_profiles_are_refused_by_name(fields: dict[str, object], word: str) -> None:
    with pytest.raises(ValueError, match=word):
        Profile(**fields)  # type: ignore[arg-type]
