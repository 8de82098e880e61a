"""A live start's recent customers still bring the services the mix says they have yet to create."""

from __future__ import annotations

import numpy as np

from sim.sampling import draw
from sim.scenario import ClusterSpec, Fleet, load_scenario
from sim.start_from.spec import LiveCustomer, LiveFleet, StateFile
from tests.forecast.conftest import ROOT

GiB = 1024**3


def scenario_with(ages):
    base = load_scenario(ROOT / "scenarios" / "stage1.yaml")
    customers = [LiveCustomer(cluster="eu-west-1", ram=[GiB], volume=[0], age_days=age) for age in ages]
    live = StateFile(kind="state", path="x.yaml", live=LiveFleet(customers=customers))
    fleet = Fleet(clusters=[ClusterSpec(id="eu-west-1", region="eu-west", run_nodes=3, customers=len(ages))])
    return base.model_copy(update={"fleet": fleet, "start_from": live, "packing_checks": None})


def test_only_young_measured_customers_get_services_still_to_come():
    ages = [None] * 200 + [0.0] * 200 + [10_000.0] * 200  # estimated, signed up today, signed up long ago
    draws = draw(scenario_with(ages), np.random.SeedSequence(5), 365)
    counts = np.diff(draws.service_start)[:600]
    assert (counts[:200] == 1).all() and (counts[400:] == 1).all()
    assert counts[200:400].mean() > 1.3  # the mix's 1.6 services per customer, one already measured
    for customer in range(200, 400):
        first, last = draws.service_start[customer], draws.service_start[customer + 1]
        assert draws.service_ram[first] == GiB  # the measured service stays first
        assert (draws.service_created[first + 1 : last] > 0).all()  # the others come later
    again = draw(scenario_with(ages), np.random.SeedSequence(5), 365)
    assert np.array_equal(again.service_created, draws.service_created)


def test_grown_customers_draw_the_same_with_or_without_pending_services():
    young = draw(scenario_with([0.0] * 50), np.random.SeedSequence(9), 200)
    unknown = draw(scenario_with([None] * 50), np.random.SeedSequence(9), 200)
    assert np.array_equal(young.signup, unknown.signup)
    grown_young = slice(young.service_start[50], None)
    grown_unknown = slice(unknown.service_start[50], None)
    assert np.array_equal(young.service_ram[grown_young], unknown.service_ram[grown_unknown])
    assert np.array_equal(young.service_created[grown_young], unknown.service_created[grown_unknown])


def test_what_is_still_to_come_is_conditioned_on_what_was_measured():
    """Stage 1's mix: 1 + Poisson(0.6) services, later ones after Exp(45 days). At 45 days, each later service is
    still to come with probability e^-1, independently of the others (Poisson thinning): a customer that made two
    services by then has as many still to come, 0.6 e^-1 = 0.22 on average, as one that made one."""
    base = scenario_with([])
    one = [LiveCustomer(cluster="eu-west-1", ram=[GiB], volume=[0], age_days=45.0) for _ in range(600)]
    two = [LiveCustomer(cluster="eu-west-1", ram=[GiB, GiB], volume=[0, 0], age_days=45.0) for _ in range(600)]
    live = StateFile(kind="state", path="x.yaml", live=LiveFleet(customers=one + two))
    fleet = Fleet(clusters=[ClusterSpec(id="eu-west-1", region="eu-west", run_nodes=3, customers=1200)])
    draws = draw(base.model_copy(update={"fleet": fleet, "start_from": live}), np.random.SeedSequence(3), 365)
    still = np.diff(draws.service_start)[:1200] - np.repeat([1, 2], 600)
    expected = 0.6 * np.exp(-1.0)
    assert abs(still[:600].mean() - expected) < 0.08
    assert abs(still[600:].mean() - expected) < 0.08
    for customer in range(600, 1200):  # the measured services stay first, the pending ones come after the start
        first, last = draws.service_start[customer], draws.service_start[customer + 1]
        assert (draws.service_created[first : first + 2] == 0).all()
        assert (draws.service_created[first + 2 : last] > 0).all()
