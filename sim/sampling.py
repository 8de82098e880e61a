"""Bulk random draws for a run: sign-up times, lifetimes, services, sizes.

Everything a run will ever need is drawn up front, vectorised (SimPy performance rule 4: pre-sample in bulk).

Common random numbers: each driver draws from its own ``numpy.random.Generator``, spawned from the run's
``SeedSequence`` under a fixed name (``STREAMS``): arrivals, churn, each customer attribute and each service
attribute. Every array is filled in customer (or service) order, one value per row, so customer ``i`` gets the
same region, lifetime draw and services whatever the other streams do. Two scenarios run on the same seed are
paired: more growth adds customers at the end of each array and leaves the first ones as they were, and a
higher churn rate scales the same exponential draws instead of reshuffling them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from sim.distributions import (
    DAYS_PER_MONTH,
    ChoiceCount,
    ChoiceSize,
    ConstantGrowth,
    CountDistribution,
    DelayDistribution,
    ExponentialDelay,
    ExponentialGrowth,
    ExponentialLifetime,
    FixedCount,
    FixedSize,
    GeometricCount,
    Growth,
    LinearGrowth,
    LogisticGrowth,
    LognormalLifetime,
    LognormalSize,
    MonthlyChurn,
    NoChurn,
    PiecewiseGrowth,
    PoissonCount,
    SizeDistribution,
)
from sim.scenario import Scenario
from sim.start_from.draws import (
    live_regions,
    live_service_counts,
    measured,
    remaining_lifetimes,
    set_live_sizes,
)
from sim.start_from.spec import LiveFleet, live_of


def signup_rate_per_day(growth: Growth, days: np.ndarray, start: date) -> np.ndarray:
    """The expected sign-ups per day at each time in ``days`` (days since ``start``)."""
    months = days / DAYS_PER_MONTH
    if isinstance(growth, ConstantGrowth):
        rate = np.full_like(days, growth.rate_per_month, dtype=float)
    elif isinstance(growth, LinearGrowth):
        rate = np.maximum(growth.start_per_month + growth.slope_per_month * months, 0.0)
    elif isinstance(growth, ExponentialGrowth):
        rate = growth.start_per_month * (1.0 + growth.monthly_growth) ** months
    elif isinstance(growth, LogisticGrowth):
        span = growth.max_per_month - growth.min_per_month
        rate = growth.min_per_month + span / (
            1.0 + np.exp(-growth.steepness_per_month * (months - growth.midpoint_months))
        )
    elif isinstance(growth, PiecewiseGrowth):
        return _piecewise_rate(growth, days, start)
    else:  # pragma: no cover - the union is closed
        raise TypeError(type(growth))
    return rate / DAYS_PER_MONTH


def _piecewise_rate(growth: PiecewiseGrowth, days: np.ndarray, start: date) -> np.ndarray:
    rows = growth.monthly or []
    index = {row.month: row.signups for row in rows}
    first, last = rows[0].month, rows[-1].month
    rate = np.zeros_like(days, dtype=float)
    whole_days = np.floor(days).astype(np.int64)
    for offset in np.unique(whole_days):
        day = start + timedelta(days=int(offset))
        key = f"{day.year:04d}-{day.month:02d}"
        if key in index:
            count = index[key]
        elif key > last and growth.after_data == "hold":
            count = index[last]
        else:
            count = 0.0 if key < first or growth.after_data == "zero" else index[last]
        month_days = _days_in_month(day)
        rate[whole_days == offset] = count / month_days
    return rate


def _days_in_month(day: date) -> int:
    following = date(day.year + (day.month == 12), day.month % 12 + 1, 1)
    return (following - date(day.year, day.month, 1)).days


def signup_times(growth: Growth, horizon: float, start: date, rng: np.random.Generator) -> np.ndarray:
    """Sign-up times (days, sorted) of a Poisson process with the growth's rate, on [0, horizon).

    Inversion: the rate is taken as constant on a grid of at most one day, its integral is piecewise linear,
    and sorted uniform points on the integral's range map back through it. Exact for a piecewise-constant
    rate, so exact for ``constant`` and ``piecewise``.
    """
    steps = max(int(np.ceil(horizon)), 1000)
    edges = np.linspace(0.0, horizon, steps + 1)
    midpoints = (edges[:-1] + edges[1:]) / 2
    if isinstance(growth, PiecewiseGrowth):
        # The monthly rate changes on day boundaries: evaluate it at each cell's day.
        midpoints = edges[:-1] + 1e-9
    rate = signup_rate_per_day(growth, midpoints, start)
    cumulative = np.concatenate(([0.0], np.cumsum(rate * np.diff(edges))))
    total = cumulative[-1]
    count = int(rng.poisson(total)) if total > 0 else 0
    points = np.sort(rng.uniform(0.0, total, size=count))
    return np.interp(points, cumulative, edges)


def sample_counts(dist: CountDistribution, n: int, rng: np.random.Generator) -> np.ndarray:
    if isinstance(dist, FixedCount):
        return np.full(n, dist.value, dtype=np.int64)
    if isinstance(dist, PoissonCount):
        counts = 1 + rng.poisson(dist.mean - 1.0, size=n)
    elif isinstance(dist, GeometricCount):
        counts = rng.geometric(1.0 / dist.mean, size=n)
    elif isinstance(dist, ChoiceCount):
        counts = rng.choice(np.asarray(dist.values), size=n, p=_probabilities(dist.weights, len(dist.values)))
    else:  # pragma: no cover
        raise TypeError(type(dist))
    if getattr(dist, "max", None) is not None:
        counts = np.minimum(counts, dist.max)
    return counts.astype(np.int64)


def sample_sizes(dist: SizeDistribution, n: int, rng: np.random.Generator) -> np.ndarray:
    if isinstance(dist, FixedSize):
        return np.full(n, dist.value, dtype=np.int64)
    if isinstance(dist, LognormalSize):
        sizes = rng.lognormal(np.log(dist.median), dist.sigma, size=n)
        low = dist.min if dist.min is not None else 1
        sizes = np.clip(sizes, low, dist.max if dist.max is not None else None)
        return np.ceil(sizes).astype(np.int64)
    if isinstance(dist, ChoiceSize):
        return rng.choice(
            np.asarray(dist.values, dtype=np.int64), size=n, p=_probabilities(dist.weights, len(dist.values))
        )
    raise TypeError(type(dist))  # pragma: no cover


def sample_delays(dist: DelayDistribution, n: int, rng: np.random.Generator) -> np.ndarray:
    if isinstance(dist, ExponentialDelay):
        return rng.exponential(dist.mean_days, size=n) if dist.mean_days > 0 else np.zeros(n)
    return np.full(n, dist.days, dtype=float)


def sample_lifetimes(churn, n: int, rng: np.random.Generator) -> np.ndarray:
    """Customer lifetimes in days (``inf`` without churn)."""
    if isinstance(churn, NoChurn):
        return np.full(n, np.inf)
    if isinstance(churn, MonthlyChurn):
        mean_days = DAYS_PER_MONTH / -np.log1p(-churn.rate)
        return rng.exponential(mean_days, size=n)
    if isinstance(churn, ExponentialLifetime):
        return rng.exponential(churn.mean_months * DAYS_PER_MONTH, size=n)
    if isinstance(churn, LognormalLifetime):
        return rng.lognormal(churn.mu_days, churn.sigma, size=n)
    raise TypeError(type(churn))  # pragma: no cover


def _probabilities(weights: list[float] | None, n: int) -> np.ndarray:
    if weights is None:
        return np.full(n, 1.0 / n)
    array = np.asarray(weights, dtype=float)
    return array / array.sum()


@dataclass(frozen=True, slots=True)
class Draws:
    """Every random quantity of a run, customer-major.

    Customers ``0..n_initial-1`` are the initial fleet's, all signed up at time 0 on ``forced_cluster``;
    the rest arrive by the growth process. Customer ``i``'s services are ``service_start[i]`` to
    ``service_start[i+1]-1``; its first service is created at sign-up, the others after ``service_delay``.
    """

    signup: np.ndarray  # float days, sorted
    lifetime: np.ndarray  # float days (inf: never churns)
    region: np.ndarray  # int index into the scenario's regions
    forced_cluster: np.ndarray  # int index into the initial fleet, -1 for grown customers
    service_start: np.ndarray  # int, length customers + 1
    service_created: np.ndarray  # float days
    service_ram: np.ndarray  # int bytes
    service_volume: np.ndarray  # int bytes, 0: no volume

    @property
    def customers(self) -> int:
        return len(self.signup)


# One stream per driver and attribute, by position: the spawn key of stream k is the run's spawn key plus (k,).
# Append new streams at the end; never reorder (that would change every seed's outputs).
STREAMS = (
    "arrivals",
    "churn",
    "customer_region",
    "customer_services",
    "service_delay",
    "service_ram",
    "service_has_volume",
    "service_volume_size",
    "live_pending",
    "live_lifetime",
)


def streams(seed: np.random.SeedSequence) -> dict[str, np.random.Generator]:
    """The run's generators, one per entry of ``STREAMS``, each on its own child of ``seed``."""
    return {
        name: np.random.default_rng(
            np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, k), pool_size=seed.pool_size)
        )
        for k, name in enumerate(STREAMS)
    }


def draw(scenario: Scenario, seed: np.random.SeedSequence, horizon: float) -> Draws:
    """All draws for one run of ``horizon`` days, each from its own stream (common random numbers)."""
    rng = streams(seed)
    mix = scenario.customers
    region_names = list(scenario.regions)
    specs = scenario.fleet.clusters
    per_cluster = np.array([spec.customers for spec in specs], dtype=np.int64)  # the initial customers, in order
    grown = signup_times(scenario.growth, horizon, scenario.start_date, rng["arrivals"])
    n_initial = int(per_cluster.sum())
    n = n_initial + len(grown)
    signup = np.concatenate((np.zeros(n_initial), grown))
    forced = np.full(n, -1, dtype=np.int64)
    weights = _probabilities(list(scenario.regions.values()), len(region_names))
    region = rng["customer_region"].choice(len(region_names), size=n, p=weights)
    if n_initial:
        forced[:n_initial] = np.repeat(np.arange(len(specs)), per_cluster)
        home_regions = [region_names.index(spec.region) if spec.region in region_names else 0 for spec in specs]
        region[:n_initial] = np.repeat(home_regions, per_cluster)
    lifetime = sample_lifetimes(scenario.churn, n, rng["churn"])
    counts = sample_counts(mix.services, n, rng["customer_services"])
    live = live_of(scenario.start_from)
    if live is not None:
        counts[:n_initial] = live_service_counts(live, n_initial)
        live_regions(live, region_names, region)
        remaining_lifetimes(live, scenario.churn, lifetime, rng["live_lifetime"])
    service_start = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    total = int(service_start[-1])
    owner_signup = np.repeat(signup, counts)
    delay = sample_delays(mix.service_delay, total, rng["service_delay"])
    first = np.zeros(total, dtype=bool)
    first[service_start[:-1]] = True
    initial_services = np.repeat(forced >= 0, counts)
    delay[first | initial_services] = 0.0
    ram = sample_sizes(mix.ram, total, rng["service_ram"])
    has_volume = rng["service_has_volume"].random(total) < mix.volume_probability
    volume = np.where(has_volume, sample_sizes(mix.volume_size, total, rng["service_volume_size"]), 0).astype(np.int64)
    if live is not None:
        set_live_sizes(live, ram, volume)
        counts, delay, ram, volume = add_pending_services(
            live, mix, rng["live_pending"], counts, service_start, delay, ram, volume
        )
        service_start = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        owner_signup = np.repeat(signup, counts)
    return Draws(signup, lifetime, region.astype(np.int64), forced, service_start, owner_signup + delay, ram, volume)


PENDING_TRIES = 64  # draws of a live customer's services, until one agrees with what was measured


def add_pending_services(live: LiveFleet, mix, rng: np.random.Generator, counts, service_start, delay, ram, volume):
    """Counts, delays (from sign-up), RAM and volume bytes with each measured live customer's services still to
    come inserted after its measured ones (``mix``: the scenario's customer mix).

    Conditioned on what was measured: a customer of age ``a`` with ``c`` services has created exactly ``c - 1`` of
    its later services by ``a``. Its total and its later services' delays are drawn from the mix until a draw
    agrees (rejection, up to ``PENDING_TRIES`` draws); the services of that draw not created by ``a`` are still to
    come, that much later. (Drawing the total alone and keeping the delays past ``a`` would ignore what ``c``
    says: with Poisson counts, a customer that already made two services has as many still to come as one that
    made one, not fewer.) A customer no draw agrees with (more services than the mix makes likely at its age)
    gets none."""
    n = len(live.customers)
    ages = measured(live).ages
    if not n or not np.isfinite(ages).any():
        return counts, delay, ram, volume
    undecided = np.flatnonzero(np.isfinite(ages))
    owners, remaining = [], []
    for _ in range(PENDING_TRIES):
        if not len(undecided):
            break
        later = np.maximum(sample_counts(mix.services, len(undecided), rng) - 1, 0)
        row = np.repeat(np.arange(len(undecided)), later)
        delays = sample_delays(mix.service_delay, len(row), rng)
        age = ages[undecided][row]
        made = np.bincount(row, weights=delays <= age, minlength=len(undecided))
        agrees = made == counts[undecided] - 1
        still = agrees[row] & (delays > age)
        owners.append(undecided[row[still]])
        remaining.append(delays[still] - age[still])
        undecided = undecided[~agrees]
    owner = np.concatenate(owners) if owners else np.zeros(0, dtype=np.int64)
    if not len(owner):
        return counts, delay, ram, volume
    order = np.argsort(owner, kind="stable")  # each customer's, after its measured services
    owner, later_days = owner[order], np.concatenate(remaining)[order]
    new_ram = sample_sizes(mix.ram, len(owner), rng)
    with_volume = rng.random(len(owner)) < mix.volume_probability
    new_volume = np.where(with_volume, sample_sizes(mix.volume_size, len(owner), rng), 0).astype(np.int64)
    at = service_start[owner + 1]
    counts = counts.copy()
    counts[:n] += np.bincount(owner, minlength=n)
    return (
        counts,
        np.insert(delay, at, later_days),
        np.insert(ram, at, new_ram),
        np.insert(volume, at, new_volume),
    )
