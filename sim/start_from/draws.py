"""The initial customers of a live start take their measured services instead of drawn ones (``sim.sampling``).

Customer rows ``0..n-1`` of a run are the initial fleet's, in the order of ``fleet.clusters`` (``sim.sampling.draw``);
``LiveFleet.customers`` is in that order too, one entry per customer. Every stream still draws its values for
those rows, so the grown customers after them get the same draws as without the live start.

A measured customer has lived ``age_days`` already: under lifetimes that are not memoryless (lognormal), its
lifetime from now is drawn given it has lasted that long (``remaining_lifetimes``), from a stream of its own
(``live_lifetime``). An estimated customer (not in the ledger) was on the fleet before the ledger's first
reservation: it is taken to have lived the ledger's span (``LiveFleet.unseen_lived_days``), the least it can have;
without a ledger its age is unknown, and its lifetime is drawn as a new customer's (``unaged_note`` says which).

A measured customer keeps the region its requests asked for (``live_regions``), which may not be its cluster's:
the engine places a customer of a region without an open cluster elsewhere, and such customers living outside
their region are what orders a cluster there.

A measured customer that signed up recently has not created all its services yet:
``sim.sampling.add_pending_services`` gives it, from a stream of its own (``live_pending``), the services the
customer mix would still bring. It draws the customer's total from the mix's count law and, for each service
beyond those measured, a creation delay from the mix's delay law; the ones whose delay exceeds the customer's age
are still to come, created that much later (after the start). Estimated customers (age unknown) get none. They are
inserted after each customer's measured services, so every other draw of the run is unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim.distributions import LognormalLifetime
from sim.start_from.spec import LiveFleet


@dataclass(frozen=True)
class Measured:
    """A live start's customers as arrays (read-only), in their order: services per customer, each service's RAM and
    volume bytes, each customer's age in days (NaN: estimated, age unknown), and the customers whose region asked
    for is known: their rows, the regions' names and each row's name (an index into them)."""

    counts: np.ndarray
    ram: np.ndarray
    volume: np.ndarray
    ages: np.ndarray
    asked_rows: np.ndarray
    asked_names: tuple[str, ...]
    asked_name: np.ndarray


def measured(live: LiveFleet) -> Measured:
    """``live``'s customers as arrays, made once per ``LiveFleet`` (a frozen model): every run of a forecast starts
    from the same one, and reading its thousands of customer models cost about half of a run's draws."""
    global _LAST
    if _LAST is None or _LAST[0] is not live:
        customers = live.customers
        asked = [(row, c.region) for row, c in enumerate(customers) if c.region is not None]
        names = tuple(dict.fromkeys(name for _, name in asked))
        number = {name: k for k, name in enumerate(names)}
        arrays = Measured(
            np.array([len(c.ram) for c in customers], dtype=np.int64),
            np.array([size for c in customers for size in c.ram], dtype=np.int64),
            np.array([size for c in customers for size in c.volume], dtype=np.int64),
            np.array([np.nan if c.age_days is None else c.age_days for c in customers], dtype=float),
            np.array([row for row, _ in asked], dtype=np.int64),
            names,
            np.array([number[name] for _, name in asked], dtype=np.int64),
        )
        for array in (arrays.counts, arrays.ram, arrays.volume, arrays.ages, arrays.asked_rows, arrays.asked_name):
            array.setflags(write=False)
        _LAST = (live, arrays)
    return _LAST[1]


_LAST: tuple[LiveFleet, Measured] | None = None  # the last live start read, kept by identity (it is frozen)


def live_service_counts(live: LiveFleet, initial: int) -> np.ndarray:
    """Services per initial customer, measured."""
    if len(live.customers) != initial:
        raise ValueError(
            f"start_from.live lists {len(live.customers)} customers but the fleet's clusters hold {initial}"
        )
    return measured(live).counts


def set_live_sizes(live: LiveFleet, ram: np.ndarray, volume: np.ndarray) -> None:
    """Overwrite the initial customers' services' RAM and volume bytes (the first rows) with the measured ones."""
    sizes = measured(live)
    ram[: len(sizes.ram)] = sizes.ram
    volume[: len(sizes.volume)] = sizes.volume


def live_regions(live: LiveFleet, region_names: list[str], region: np.ndarray) -> None:
    """Overwrite the initial customers' regions (the first rows: their cluster's) with the region each asked for,
    where the ledger says it and the scenario has it: a customer placed outside its region counts as living
    elsewhere (``World.customers_outside_region``, whose count orders a cluster there), and its later services
    ask for its region."""
    arrays = measured(live)
    if not len(arrays.asked_rows):
        return
    index = {name: number for number, name in enumerate(region_names)}
    codes = np.array([index.get(name, -1) for name in arrays.asked_names], dtype=np.int64)[arrays.asked_name]
    kept = codes >= 0
    region[arrays.asked_rows[kept]] = codes[kept]


def remaining_lifetimes(live: LiveFleet, churn, lifetime: np.ndarray, rng: np.random.Generator) -> None:
    """Overwrite the lifetimes of the initial customers (the first rows) whose age is known, or bounded below for
    the estimated ones (``LiveFleet.unseen_lived_days``), with the time each has left, drawn from the law given
    the customer has lived that long: for lognormal lifetimes, by inverting the law's distribution function over
    (F(age), 1). Memoryless laws (a constant hazard) are left as drawn."""
    if not isinstance(churn, LognormalLifetime):
        return
    ages = measured(live).ages
    if live.unseen_lived_days is not None:
        ages = np.where(np.isfinite(ages), ages, live.unseen_lived_days)
    known = np.flatnonzero(np.isfinite(ages))
    if not len(known):
        return
    from statistics import NormalDist  # (scipy is the parent's only: a worker's start-up)

    normal = NormalDist()
    mu = churn.mu_days
    uniform = rng.random(len(known))
    for row, customer in enumerate(known.tolist()):
        age = float(ages[customer])
        lived = normal.cdf((math.log(age) - mu) / churn.sigma) if age > 0 else 0.0
        share = min(lived + (1.0 - lived) * float(uniform[row]), 1.0 - 1e-16)
        total = math.exp(mu + churn.sigma * normal.inv_cdf(max(share, 1e-300)))
        lifetime[customer] = max(total - age, 0.0)


def unaged_note(live: LiveFleet, churn) -> str | None:
    """What the start takes for the estimated customers' ages under lognormal lifetimes (None: nothing to say)."""
    unaged = sum(c.age_days is None for c in live.customers)
    if not unaged or not isinstance(churn, LognormalLifetime):
        return None
    if live.unseen_lived_days is not None:
        return (
            f"churn: lifetimes are lognormal, and {unaged:,} customers are not in the ledger: each is taken to have "
            f"lived {live.unseen_lived_days:.0f} days, the ledger's span (it was on the fleet before the first "
            "reservation), the least it can have; an older one's hazard differs, so the churn of them is a bound"
        )
    return (
        f"churn: lifetimes are lognormal, and {unaged:,} customers' ages are unknown (the source has no ledger): each "
        "is drawn as a new customer's, whose first months are the law's least likely to leave; older, they leave "
        "sooner, so the churn of them leans low and the dates early"
    )
