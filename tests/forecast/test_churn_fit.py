"""Churn's shape from the ledger: lognormal lifetimes where the hazard changes with age, a constant hazard where
it does not, and a live start's measured customers keeping the lifetime they have already lived."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest

from sim.churn_fit import fit_churn
from sim.distributions import DAYS_PER_MONTH, LognormalLifetime, MonthlyChurn
from sim.start_from.draws import remaining_lifetimes
from sim.start_from.spec import LiveCustomer, LiveFleet
from tests.forecast.test_growth_fit import ledger

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _book(rng, lifetimes_days: np.ndarray):
    """A customer a day-ish over the last 300 days, each leaving after its lifetime if that is before now."""
    joined = rng.uniform(0, 300, size=len(lifetimes_days))
    left = joined - lifetimes_days
    return ledger([(f"c{i}", j, g if g > 0 else None) for i, (j, g) in enumerate(zip(joined, left, strict=True))], NOW)


def _lognormal_days(rng, mean_months: float, sigma: float, n: int) -> np.ndarray:
    return rng.lognormal(math.log(mean_months * DAYS_PER_MONTH) - sigma**2 / 2, sigma, size=n)


def test_lifetimes_whose_hazard_rises_with_age_are_fitted_as_lognormal():
    rng = np.random.default_rng(11)
    churn = fit_churn(_book(rng, _lognormal_days(rng, 36.0, 1.0, 4000)), NOW)
    assert churn.lognormal_weight > 0.99
    law = churn.churn()
    assert isinstance(law, LognormalLifetime)
    assert law.sigma == pytest.approx(1.0, abs=0.2)
    # Ten months of ledger see only the young end of the law: its hazard there is what the fit must hold.
    shape = churn.lognormal
    truth_mu = math.log(36.0) - 0.5
    for age in (2.0, 6.0, 9.0):
        z = (math.log(age) - truth_mu) / 1.0
        truth = math.exp(-(z**2) / 2) / math.sqrt(2 * math.pi) / age / (0.5 * math.erfc(z / math.sqrt(2)))
        assert shape.hazard_per_month(age) == pytest.approx(truth, rel=0.25)
    assert "lognormal lifetimes (mean " in churn.message and "chosen over the constant rate by BIC" in churn.message
    # The constant hazard, fitted as before, under-states the churn of customers older than the ledger's average.
    assert churn.hazard_per_month < shape.hazard_per_month(9.0) / 1.5
    # Each run draws the lognormal (weight ~1), its parameters spread by the fit's covariance.
    draws = [churn.draw(np.random.default_rng(k)) for k in range(200)]
    assert all(isinstance(d, LognormalLifetime) for d in draws)
    sigmas = np.array([d.sigma for d in draws])
    assert 0.01 < sigmas.std() < 0.3 and sigmas.mean() == pytest.approx(law.sigma, abs=0.05)


def test_a_constant_hazard_stays_a_constant_hazard():
    rng = np.random.default_rng(12)
    churn = fit_churn(_book(rng, rng.exponential(DAYS_PER_MONTH / 0.04, size=4000)), NOW)
    assert churn.lognormal is not None and churn.lognormal_weight < 0.5
    assert isinstance(churn.churn(), MonthlyChurn) and churn.churn().rate == pytest.approx(0.04, rel=0.15)
    assert "weigh" in churn.message and "against the constant rate" in churn.message
    assert all(isinstance(churn.draw(np.random.default_rng(k)), MonthlyChurn) for k in range(50))


def test_too_few_customers_gone_fit_no_shape():
    rng = np.random.default_rng(13)
    lifetimes = np.full(500, 10_000.0)
    lifetimes[:10] = 5.0
    churn = fit_churn(_book(rng, lifetimes), NOW)
    assert churn.events <= 10 and churn.lognormal is None and isinstance(churn.churn(), MonthlyChurn)


def test_a_measured_customer_lives_on_from_its_age_under_lognormal_lifetimes():
    """P(leaves within the next month | lived six) is the law's S(6) - S(7) over S(6), not the newborn's F(1)."""
    ages_months = [6.0] * 20000 + [None] * 5
    customers = [LiveCustomer(cluster="a", ram=[1], volume=[0], age_days=None if a is None else a * DAYS_PER_MONTH)
                 for a in ages_months]  # fmt: skip
    live = LiveFleet(customers=customers)
    law = LognormalLifetime(kind="lognormal", mean_months=36.0, sigma=1.0)
    lifetime = np.full(len(customers), -1.0)
    remaining_lifetimes(live, law, lifetime, np.random.default_rng(3))
    assert (lifetime[:20000] >= 0).all() and (lifetime[20000:] == -1.0).all()  # unknown ages are left as drawn
    mu = math.log(36.0) - 0.5

    def survival(months: float) -> float:
        return 0.5 * math.erfc((math.log(months) - mu) / math.sqrt(2))

    expected = 1 - survival(7.0) / survival(6.0)
    within = float(np.mean(lifetime[:20000] <= DAYS_PER_MONTH))
    assert within == pytest.approx(expected, abs=4 * math.sqrt(expected * (1 - expected) / 20000))
    assert expected > 2 * (1 - survival(1.0))  # what a newborn's draw would give is far below
    # Customers not in the ledger were on the fleet before its first reservation: they have lived its span at least.
    unseen = LiveFleet(customers=[c.model_copy(update={"age_days": None}) for c in customers],
                       unseen_lived_days=6.0 * DAYS_PER_MONTH)  # fmt: skip
    bounded = np.full(len(customers), -1.0)
    remaining_lifetimes(unseen, law, bounded, np.random.default_rng(5))
    within = float(np.mean(bounded <= DAYS_PER_MONTH))
    assert (bounded >= 0).all()
    assert within == pytest.approx(expected, abs=4 * math.sqrt(expected * (1 - expected) / len(customers)))
    constant = MonthlyChurn(kind="monthly", rate=0.02)
    untouched = np.full(len(customers), 5.0)
    remaining_lifetimes(live, constant, untouched, np.random.default_rng(3))  # memoryless: nothing to condition
    assert (untouched == 5.0).all()


def test_customers_of_unknown_age_under_lognormal_lifetimes_are_said(sqlite_history):
    from sim.scenario import load_scenario
    from sim.start_from.build import read_source, start_from
    from sim.start_from.draws import unaged_note
    from tests.forecast.conftest import NOW as AS_OF
    from tests.forecast.conftest import ROOT

    state = read_source(str(ROOT / "examples" / "state.yaml"), AS_OF)  # every customer estimated
    lognormal = start_from(load_scenario(ROOT / "scenarios" / "longhorn-vs-ceph.yaml"), state)
    said = [w for w in lognormal.warnings if w.startswith("churn: lifetimes are lognormal, and 330 customers' ages")]
    assert len(said) == 1 and said[0].endswith("so the churn of them leans low and the dates early")
    constant = start_from(load_scenario(ROOT / "scenarios" / "stage1.yaml"), state)
    assert not any(w.startswith("churn: lifetimes are lognormal") for w in constant.warnings)
    # With a ledger, those it does not hold were there before its first reservation: they lived its span at least.
    ledger = read_source(sqlite_history.url, AS_OF)
    started = start_from(load_scenario(ROOT / "scenarios" / "longhorn-vs-ceph.yaml"), ledger)
    live = started.scenario.start_from.live
    span = (AS_OF - ledger.ledger["reserved_at"].min()).total_seconds() / 86400
    assert live.unseen_lived_days == pytest.approx(span) and 0 < span <= 7 * sqlite_history.weeks
    unseen = sum(not c.measured for c in live.customers)
    assert unseen == sum(sqlite_history.unseen.values()) + 12  # us-east-1's 12 are all unseen
    # This ledger's churn is fitted as a constant hazard (memoryless: nothing said); under lognormal lifetimes:
    assert not any(w.startswith("churn: lifetimes are lognormal") for w in started.warnings)
    assert unaged_note(live, LognormalLifetime(kind="lognormal", mean_months=36.0, sigma=1.0)) == (
        f"churn: lifetimes are lognormal, and {unseen:,} customers are not in the ledger: each is taken to have "
        f"lived {span:.0f} days, the ledger's span (it was on the fleet before the first reservation), the least it "
        "can have; an older one's hazard differs, so the churn of them is a bound"
    )


def test_an_ageing_fleet_under_lognormal_lifetimes_is_no_change_in_churn():
    """The last 8 weeks' departures are compared with what the whole ledger's law expects of the customers at their
    ages: a constant rate would read the fleet's ageing (more leave as more are older) as a change in churn."""
    from sim.churn_fit import ChurnFit
    from sim.growth_recent import churn_from_ledger

    rng = np.random.default_rng(11)
    book = _book(rng, _lognormal_days(rng, 36.0, 1.0, 4000))
    churn, note = churn_from_ledger(book, NOW)
    assert note is None and churn == fit_churn(book, NOW) and isinstance(churn.churn(), LognormalLifetime)
    constant = ChurnFit(churn.events, churn.exposure_months, "")
    young, old = (np.array([0.0]), np.array([1.0])), (np.array([6.0]), np.array([7.0]))
    assert churn.expected_departures(*young) < constant.expected_departures(*young)
    assert churn.expected_departures(*old) > 1.5 * constant.expected_departures(*old)
    assert churn.expected_departures(*old) == pytest.approx(churn.lognormal.hazard_per_month(6.5), rel=0.05)
