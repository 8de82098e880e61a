"""The simulator against queueing theory (sim-anchors §6).

Each test runs independent replications (seeds spawned from one SeedSequence) and compares the estimate
with the closed form. The tolerance is a confidence interval computed from the replications themselves:
z * standard error, with z for a family-wise error of 0.1 % over the points compared (Bonferroni).
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest

import sim
from sim.distributions import DAYS_PER_MONTH
from tests.sim.conftest import NO_SYSTEM_PODS, months, queue_scenario

FAMILY_ALPHA = 0.001


def z_for(points: int) -> float:
    return NormalDist().inv_cdf(1 - FAMILY_ALPHA / (2 * points))


def replications(scenario, count: int, entropy: int):
    return [sim.run(scenario, seed) for seed in np.random.SeedSequence(entropy).spawn(count)]


def fleet(result):
    ts = result.timeseries
    return ts[ts["cluster_id"] == "fleet"].set_index("day")


def customers_at(results, days: list[int]) -> np.ndarray:
    """Replications x days matrix of customers in the system at the start of each day."""
    return np.array([[fleet(r).loc[d, "customers"] for d in days] for r in results], dtype=float)


def assert_mean_and_variance(samples: np.ndarray, expected: np.ndarray) -> None:
    """Poisson(m): mean m and variance m, each within its replication confidence interval."""
    reps, points = samples.shape
    z = z_for(2 * points)
    mean = samples.mean(axis=0)
    se_mean = samples.std(axis=0, ddof=1) / math.sqrt(reps)
    assert np.all(np.abs(mean - expected) <= z * se_mean), (mean, expected, z * se_mean)
    variance = samples.var(axis=0, ddof=1)
    fourth = ((samples - mean) ** 4).mean(axis=0)
    se_variance = np.sqrt(np.maximum(fourth - variance**2, 0) / reps)
    assert np.all(np.abs(variance - expected) <= z * se_variance), (variance, expected, z * se_variance)


LAMBDA = 20.0  # sign-ups per day
MEAN_LIFETIME = 5.0  # days
DAYS = [2, 5, 15]


def test_mm_infinity_transient_mean_and_variance():
    scenario = queue_scenario(
        arrivals_per_day=LAMBDA,
        lifetime={"kind": "exponential", "mean_months": months(MEAN_LIFETIME)},
        horizon_days=max(DAYS),
    )
    results = replications(scenario, 120, entropy=1)
    assert all(r.summary["placements_rejected"] == 0 for r in results)
    t = np.array(DAYS, dtype=float)
    expected = LAMBDA * MEAN_LIFETIME * (1 - np.exp(-t / MEAN_LIFETIME))
    assert_mean_and_variance(customers_at(results, DAYS), expected)


def lognormal_mean_in_system(t: float, rate: float, mean: float, sigma: float) -> float:
    """M/G/inf from empty: m(t) = rate * integral_0^t (1 - G(u)) du for a lognormal G with this mean."""
    mu = math.log(mean) - sigma**2 / 2
    u = np.linspace(0.0, t, 20001)[1:]
    survival = 0.5 * np.vectorize(math.erfc)((np.log(u) - mu) / (sigma * math.sqrt(2)))
    survival = np.concatenate(([1.0], survival))
    return rate * float(np.trapezoid(survival, np.linspace(0.0, t, 20001)))


def test_mg_infinity_lognormal_lifetimes_keep_the_mean():
    sigma = 0.75
    days = [5, 40]
    scenario = queue_scenario(
        arrivals_per_day=LAMBDA,
        lifetime={"kind": "lognormal", "mean_months": months(MEAN_LIFETIME), "sigma": sigma},
        horizon_days=max(days),
    )
    results = replications(scenario, 120, entropy=2)
    expected = np.array([lognormal_mean_in_system(t, LAMBDA, MEAN_LIFETIME, sigma) for t in days])
    # Insensitivity: once the lifetimes have (almost all) run out, the mean is rate x mean lifetime,
    # whatever their distribution.
    assert expected[-1] == pytest.approx(LAMBDA * MEAN_LIFETIME, rel=0.005)
    assert_mean_and_variance(customers_at(results, days), expected)


def erlang_b(offered: float, servers: int) -> float:
    blocking = 1.0
    for k in range(1, servers + 1):
        blocking = offered * blocking / (k + offered * blocking)
    return blocking


def test_erlang_b_rejected_fraction_with_fixed_capacity():
    """Two run nodes capped at 5 pods each: 10 slots, one 1-pod service per customer, no operator."""
    arrivals, mean_lifetime, warm_up = 8.0, 1.0, 10
    overrides = {**NO_SYSTEM_PODS, "kubernetes.max_pods_per_node": 5}
    scenario = queue_scenario(
        arrivals_per_day=arrivals,
        lifetime={"kind": "exponential", "mean_months": months(mean_lifetime)},
        horizon_days=300,
        overrides=overrides,
    )
    results = replications(scenario, 12, entropy=3)
    fractions = []
    for result in results:
        rows = fleet(result).loc[warm_up:]
        fractions.append(rows["placements_rejected"].sum() / rows["placements_attempted"].sum())
        assert result.summary["placements_rejected"] == result.summary["customers_lost"]
    fractions = np.array(fractions)
    expected = erlang_b(arrivals * mean_lifetime, 10)
    half_width = z_for(1) * fractions.std(ddof=1) / math.sqrt(len(fractions))
    assert abs(fractions.mean() - expected) <= half_width, (fractions.mean(), expected, half_width)
    assert 0.1 < expected < 0.15  # the test is about real blocking, not a vanishing fraction


def test_littles_law_on_a_steady_run():
    """L = lambda W: time-average customers against sign-up rate x observed mean sojourn."""
    arrivals, mean_lifetime, start, end = 10.0, 10.0, 60, 300
    scenario = queue_scenario(
        arrivals_per_day=arrivals,
        lifetime={"kind": "lognormal", "mean_months": months(mean_lifetime), "sigma": 0.5},
        horizon_days=end + 100,
    )
    gaps = []
    for result in replications(scenario, 10, entropy=4):
        rows = fleet(result).loc[start : end - 1]
        occupancy = rows["customers"].mean()
        rate = rows["signups"].sum() / len(rows)
        customers = result.customers
        window = customers[(customers["signup_day"] >= start) & (customers["signup_day"] < end)]
        assert window["departed_day"].notna().all()  # 100 days after the window, every one of them has left
        sojourn = (window["departed_day"] - window["signup_day"]).mean()
        gaps.append(occupancy / (rate * sojourn) - 1.0)
    gaps = np.array(gaps)
    half_width = z_for(1) * gaps.std(ddof=1) / math.sqrt(len(gaps))
    assert abs(gaps.mean()) <= half_width, (gaps.mean(), half_width)
    assert abs(arrivals * mean_lifetime - occupancy) < 0.2 * arrivals * mean_lifetime  # sanity: near steady state


def test_monthly_churn_means_that_share_leaves_within_a_month():
    scenario = queue_scenario(arrivals_per_day=50, lifetime={"kind": "monthly", "rate": 0.3}, horizon_days=1)
    result = sim.run(scenario, 5)
    assert result.summary["customers_signed_up"] > 0
    from sim.sampling import sample_lifetimes

    lifetimes = sample_lifetimes(scenario.churn, 200_000, np.random.default_rng(0))
    share = (lifetimes <= DAYS_PER_MONTH).mean()
    se = math.sqrt(0.3 * 0.7 / len(lifetimes))
    assert abs(share - 0.3) <= z_for(1) * se
