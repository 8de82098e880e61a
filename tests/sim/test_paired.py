"""Common random numbers: each driver draws from its own stream, so two scenarios on one seed stay paired."""

from __future__ import annotations

import numpy as np
import pytest

import sim
from sim.sampling import STREAMS, draw
from tests.sim.conftest import SCENARIOS

HORIZON = 365.0


@pytest.fixture(scope="module")
def stage1():
    return sim.load_scenario(SCENARIOS / "stage1.yaml")


def _draws(scenario, seed: int = 3):
    return draw(scenario, np.random.SeedSequence(seed), HORIZON)


def _services_of(draws, customers: int) -> int:
    return int(draws.service_start[customers])


def test_more_growth_keeps_every_customers_attributes(stage1):
    base = _draws(stage1)
    faster = _draws(stage1.model_copy(update={"growth": stage1.growth.model_copy(update={"start_per_month": 300})}))
    assert faster.customers > base.customers * 1.3  # the growth change did change the arrivals
    n = base.customers
    np.testing.assert_array_equal(faster.region[:n], base.region)
    np.testing.assert_array_equal(faster.lifetime[:n], base.lifetime)
    np.testing.assert_array_equal(np.diff(faster.service_start[: n + 1]), np.diff(base.service_start))
    services = _services_of(base, n)
    np.testing.assert_array_equal(faster.service_ram[:services], base.service_ram)
    np.testing.assert_array_equal(faster.service_volume[:services], base.service_volume)


def test_churn_rate_scales_the_same_lifetimes_and_touches_nothing_else(stage1):
    base = _draws(stage1)
    churnier = _draws(stage1.model_copy(update={"churn": stage1.churn.model_copy(update={"rate": 0.05})}))
    np.testing.assert_array_equal(churnier.signup, base.signup)
    np.testing.assert_array_equal(churnier.service_ram, base.service_ram)
    ratio = churnier.lifetime / base.lifetime
    np.testing.assert_allclose(ratio, ratio[0])  # exponential lifetimes: the same draws, a new scale
    assert ratio[0] < 1


def test_volume_probability_does_not_reshuffle_sizes_or_arrivals(stage1):
    base = _draws(stage1)
    customers = stage1.customers.model_copy(update={"volume_probability": 0.5})
    more = _draws(stage1.model_copy(update={"customers": customers}))
    np.testing.assert_array_equal(more.signup, base.signup)
    np.testing.assert_array_equal(more.service_ram, base.service_ram)
    had = base.service_volume > 0
    np.testing.assert_array_equal(more.service_volume[had], base.service_volume[had])  # same draw per service
    assert (more.service_volume > 0).sum() > had.sum()


def test_streams_are_distinct_and_the_seed_replays(stage1):
    assert len(set(STREAMS)) == len(STREAMS)
    first, again, other = _draws(stage1, 5), _draws(stage1, 5), _draws(stage1, 6)
    np.testing.assert_array_equal(first.signup, again.signup)
    np.testing.assert_array_equal(first.service_ram, again.service_ram)
    assert not np.array_equal(first.signup[:50], other.signup[:50])
    # A spawned child (a sweep's run seed) gives its own streams, not its parent's.
    child = draw(stage1, np.random.SeedSequence(5, spawn_key=(0, 1)), HORIZON)
    assert not np.array_equal(first.signup[:50], child.signup[:50])
