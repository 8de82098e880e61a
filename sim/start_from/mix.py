"""The base scenario's customer mix checked against the router's ledger, figure by figure (``sim.start_from.build``).

The mix of new customers comes from the base scenario: the ledger cannot say what customers not yet signed up will
bring. But it measures what the fleet's customers did bring, and a base whose mix is far from it gives the wrong
dates: stage 2's 1.6 services a customer and 512Mi median RAM, on a fleet whose customers run one 4 GiB service
each, put the RAM limit a long way out and the pods-per-node limit too close. So each figure the ledger measures is
compared with the base's, and where the ledger has enough of it and the two differ by more than chance and more
than ``TOLERANCE``, the ledger's is used and a warning says so:

- ``ram``: the requests of the active services (the services table);
- ``volume_probability``: the share of services placed with a volume, released ones included;
- ``volume_size``: the active volumes' sizes;
- ``pods_per_service``: the pods a reservation held, rounded to a whole number;
- ``service_delay``: when a customer's later services came after its first, an exponential's mean fitted to them
  (each seen only because it came before its customer's age now: a truncated likelihood);
- ``services``: the services of customers who signed up long enough ago to have made them (five mean creation
  delays where the ledger has enough of them, else three, and still active: churn ends a customer's creating, not
  what it meant to make).

A measured size law is the ledger's own sizes where they are few (a PaaS's plans: ``choice``), else a lognormal
fitted to them (median, sigma, and their range as its bounds). A measured count law is the ledger's own counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

from placement.model import ClusterLoad
from placement.units import format_bytes
from sim.distributions import (
    ChoiceCount,
    ChoiceSize,
    ExponentialDelay,
    FixedCount,
    FixedSize,
    LognormalSize,
    PoissonCount,
)
from sim.growth_fit import MIN_HISTORY_WEEKS, signed_up_here
from sim.initial_fleet import mean_size
from sim.objects import mean_count
from sim.scenario import CustomerMix

MIN_SAMPLE = 30  # fewer services (or settled customers) than this: the base's figure stays, unchecked
TOLERANCE = 0.10  # a mean within this share of the base's stays the base's: close enough to plan on
Z_CHANCE = 3.0  # a difference within this many standard errors may be chance: the base's stays
MANY_VOLUMES = 0.05  # services holding more volumes each than 1 + this are said (a simulated one holds one)
MAX_CHOICES = 20  # more distinct sizes or counts than this: a fitted law instead of the ledger's own values
SETTLE_DELAYS = (5.0, 3.0)  # customers this many mean creation delays old count, the first that has enough


@dataclass
class MixCheck:
    """The mix to use, each figure's provenance (figure, value, basis, source) and what to say. ``measured`` and
    ``assumed``: the provenance bases of a figure the ledger replaced and of one the base keeps."""

    mix: CustomerMix
    measured: str
    assumed: str
    figures: list[tuple[str, str, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def keep(self, name: str, shown: str, why: str) -> None:
        """The base's figure ``name`` stays; ``why`` follows "base scenario" in its source."""
        self.figures.append((f"customers.{name}", shown, self.assumed, f"base scenario{why}"))

    def use(self, name: str, value, shown: str, source: str, note: str) -> None:
        """The ledger's ``value`` replaces the base's figure ``name``, and ``note`` says so."""
        self.mix = self.mix.model_copy(update={name: value})
        self.figures.append((f"customers.{name}", shown, self.measured, source))
        self.notes.append(note)


def check_mix(
    ledger: pd.DataFrame,
    now: datetime,
    base: CustomerMix,
    measured: str,
    assumed: str,
    min_weeks: float = MIN_HISTORY_WEEKS,
) -> MixCheck:
    """``base`` with each figure the ledger measures far from it replaced by the ledger's (``measured``, ``assumed``:
    the provenance bases). The creation delay is fitted only to ``min_weeks`` of ledger or more: over hours, the
    services a customer made in its first minutes say nothing of a delay of weeks."""
    check = MixCheck(base, measured, assumed)
    if ledger.empty:
        check.figures.append(("customers (mix of new customers)", "base scenario", assumed, "no ledger"))
        return check
    active = ledger[ledger["released_at"].isna()]
    ram = active["ram_bytes"].to_numpy(np.int64)
    _sizes(check, "ram", ram[ram > 0], "requests of the active services")
    volumes = ledger["volumes"].to_numpy(np.int64)
    with_volume = volumes > 0
    _share(check, with_volume)
    held = active[active["volumes"] > 0]
    per_volume = (held["volume_bytes"].to_numpy(np.int64) // held["volumes"].to_numpy(np.int64)).astype(np.int64)
    _sizes(check, "volume_size", per_volume[per_volume > 0], "sizes of the active volumes")
    counts = volumes[with_volume]
    if len(counts) >= MIN_SAMPLE and counts.mean() > 1 + MANY_VOLUMES:
        check.notes.append(
            f"customer mix: the ledger's services with a volume hold {counts.mean():.2f} volumes each, a simulated "
            "service one: new services' volumes, and their raw disk, lean low by that factor, and the dates of the "
            "volume and disk limits late"
        )
    _pods(check, ledger["pods"].to_numpy(np.int64))
    weeks = float((pd.Timestamp(now) - ledger["reserved_at"].min()).total_seconds()) / (7 * 86400.0)
    signed_up = signed_up_here(ledger)
    if weeks >= min_weeks:
        _delay(check, signed_up, now)
    else:
        why = f" ({weeks:.1f} weeks of ledger: fewer than {min_weeks:g} to fit it to)"
        check.keep("service_delay", _shown(base.service_delay), why)
    _services(check, signed_up, now)
    return check


def _differs(measured_mean: float, base_mean: float, standard_error: float) -> bool:
    gap = abs(measured_mean - base_mean)
    return gap > TOLERANCE * base_mean and gap > Z_CHANCE * standard_error


def _sizes(check: MixCheck, name: str, values: np.ndarray, what: str) -> None:
    base_law = getattr(check.mix, name)
    base_mean = mean_size(base_law)
    if len(values) < MIN_SAMPLE:
        check.keep(name, _shown(base_law), f" (the ledger: {len(values)} {what})")
        return
    mean = float(values.mean())
    error = float(values.std(ddof=1)) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    source = f"ledger: {len(values):,} {what}, mean {_gib(mean)}"
    if not _differs(mean, base_mean, error):
        check.keep(name, _shown(base_law), f", near the {source}")
        return
    law = _size_law(values)
    check.use(
        name, law, _shown(law), source,
        f"customer mix: the ledger's {what} average {_gib(mean)} where the base's {name} law averages "
        f"{_gib(base_mean)} ({mean / base_mean:.2f}x): new customers' {name} follows the ledger's ({_shown(law)})",
    )  # fmt: skip


def _own_law(values: np.ndarray, fixed: type, choice: type):
    """The ledger's own values as a law: one value fixed, a few a choice in their shares; None: too many."""
    distinct, counts = np.unique(values, return_counts=True)
    if len(distinct) == 1:
        return fixed(kind="fixed", value=int(distinct[0]))
    if len(distinct) <= MAX_CHOICES:
        weights = [round(c / counts.sum(), 6) for c in counts.tolist()]
        return choice(kind="choice", values=[int(v) for v in distinct.tolist()], weights=weights)
    return None


def _size_law(values: np.ndarray) -> FixedSize | ChoiceSize | LognormalSize:
    if own := _own_law(values, FixedSize, ChoiceSize):
        return own
    distinct = np.unique(values)
    logs = np.log(values.astype(float))
    return LognormalSize(
        kind="lognormal", median=int(round(math.exp(logs.mean()))), sigma=min(max(float(logs.std(ddof=1)), 0.01), 5.0),
        min=int(distinct[0]), max=int(distinct[-1]),
    )  # fmt: skip


def _share(check: MixCheck, with_volume: np.ndarray) -> None:
    base_share = check.mix.volume_probability
    if len(with_volume) < MIN_SAMPLE:
        check.keep("volume_probability", f"{base_share:g}", f" (the ledger: {len(with_volume)} services)")
        return
    share = float(with_volume.mean())
    error = math.sqrt(max(base_share * (1 - base_share), 1e-9) / len(with_volume))
    source = f"ledger: {int(with_volume.sum()):,} of {len(with_volume):,} services placed with a volume"
    gap = abs(share - base_share)
    if gap <= max(TOLERANCE * base_share, 0.02) or gap <= Z_CHANCE * error:
        check.keep("volume_probability", f"{base_share:g}", f", near the {source} ({share:.3f})")
        return
    check.use(
        "volume_probability", round(share, 4), f"{share:.4f}", source,
        f"customer mix: {share:.1%} of the ledger's services were placed with a volume where the base's "
        f"volume_probability is {base_share:.1%}: new customers' services follow the ledger's",
    )  # fmt: skip


def _pods(check: MixCheck, pods: np.ndarray) -> None:
    base_pods = check.mix.pods_per_service
    if len(pods) < MIN_SAMPLE:
        check.keep("pods_per_service", str(base_pods), f" (the ledger: {len(pods)} services)")
        return
    mean = float(pods.mean())
    chosen = max(1, int(round(mean)))
    source = f"ledger: {len(pods):,} services, {mean:.2f} pods each"
    if chosen == base_pods:
        check.keep("pods_per_service", str(base_pods), f", as the {source}")
        return
    check.use(
        "pods_per_service", chosen, str(chosen), source,
        f"customer mix: the ledger's services hold {mean:.2f} pods each where the base's pods_per_service is "
        f"{base_pods}: new services hold {chosen}",
    )  # fmt: skip


def _delay(check: MixCheck, ledger: pd.DataFrame, now: datetime) -> None:
    """The mean creation delay of a customer's later services, fitted to the ledger's: each one seen was made
    before its customer's age now, so its delay is an exponential's truncated there (maximum likelihood)."""
    base_law = check.mix.service_delay
    first = ledger.groupby("customer_id")["reserved_at"].transform("min")
    later = ledger["reserved_at"] > first
    delays = ((ledger["reserved_at"] - first)[later].dt.total_seconds() / 86400.0).to_numpy()
    ages = ((pd.Timestamp(now) - first)[later].dt.total_seconds() / 86400.0).to_numpy()
    if not isinstance(base_law, ExponentialDelay) or len(delays) < MIN_SAMPLE:
        why = f"the ledger: {len(delays)} later services" if len(delays) < MIN_SAMPLE else "a fixed delay"
        check.keep("service_delay", _shown(base_law), f" ({why})")
        return
    mean, error = _truncated_exponential_mean(delays, np.maximum(ages, delays))
    source = f"ledger: {len(delays):,} later services, made {mean:.1f} days after their customer's first (fitted)"
    if not _differs(mean, base_law.mean_days, error):
        check.keep("service_delay", _shown(base_law), f", near the {source}")
        return
    law = ExponentialDelay(kind="exponential", mean_days=round(mean, 2))
    check.use(
        "service_delay", law, _shown(law), source,
        f"customer mix: the ledger's later services came {mean:.1f} days after their customer's first (fitted, "
        f"± {error:.1f}) where the base's service_delay averages {base_law.mean_days:g}: new customers follow the "
        "ledger's",
    )  # fmt: skip


def _truncated_exponential_mean(delays: np.ndarray, limits: np.ndarray) -> tuple[float, float]:
    """The mean of an exponential law from draws each seen only below its limit, and its standard error."""
    from scipy.optimize import minimize_scalar  # the parent's only, as in sim.growth_fit

    def negative_log_likelihood(log_mean: float) -> float:
        mean = math.exp(log_mean)
        return float(np.sum(np.log(mean) + delays / mean + np.log(-np.expm1(-limits / mean))))

    top = math.log(max(float(limits.max()), 1.0) * 100)
    fit = minimize_scalar(negative_log_likelihood, bounds=(math.log(1e-3), top), method="bounded")
    mean = math.exp(fit.x)
    step = 1e-3  # the observed information, numerically, on the log scale
    around = [negative_log_likelihood(fit.x + offset) for offset in (-step, 0.0, step)]
    curvature = (around[0] - 2 * around[1] + around[2]) / step**2
    return mean, mean / math.sqrt(curvature) if curvature > 0 else math.inf


def _services(check: MixCheck, ledger: pd.DataFrame, now: datetime) -> None:
    base_law = check.mix.services
    delay = check.mix.service_delay
    one = delay.mean_days if isinstance(delay, ExponentialDelay) else delay.days + 1.0
    by_customer = (
        ledger.assign(held=ledger["released_at"].isna())
        .groupby("customer_id")
        .agg(first=("reserved_at", "min"), services=("service_id", "count"), active=("held", "any"))
    )
    age = (pd.Timestamp(now) - by_customer["first"]).dt.total_seconds() / 86400.0
    # The oldest customers that are enough: five delays old they have made 99.3 % of their later services, three
    # 95 % (the count then leans that much low).
    for delays in SETTLE_DELAYS:
        settled = by_customer[(age >= delays * one) & by_customer["active"]]["services"].to_numpy(np.int64)
        if len(settled) >= MIN_SAMPLE:
            break
    what = f"customers active and at least {delays * one:g} days old ({delays:g} mean creation delays)"
    if len(settled) < MIN_SAMPLE:
        check.keep("services", _shown(base_law), f" (the ledger: {len(settled)} {what})")
        return
    mean, base_mean = float(settled.mean()), mean_count(base_law)
    error = float(settled.std(ddof=1)) / math.sqrt(len(settled))
    source = f"ledger: {len(settled):,} {what}, {mean:.2f} services each"
    if not _differs(mean, base_mean, error):
        check.keep("services", _shown(base_law), f", near the {source}")
        return
    law = _own_law(settled, FixedCount, ChoiceCount) or PoissonCount(
        kind="poisson", mean=max(mean, 1.0), max=int(settled.max())
    )
    check.use(
        "services", law, _shown(law), source,
        f"customer mix: the ledger's settled customers ({len(settled):,}) made {mean:.2f} services each where the "
        f"base's services law averages {base_mean:.2f}: new customers follow the ledger's ({_shown(law)})",
    )  # fmt: skip


def _gib(value: float) -> str:
    return f"{value / 2**30:,.2f} GiB"


def _size(value: int) -> str:
    exact = format_bytes(value)
    return exact if not exact.isdigit() else f"{value / 2**30:.2f}Gi"


def _shown(law) -> str:
    """A law as people read it: sizes in binary units."""
    fields = law.model_dump(exclude_none=True)
    kind = fields.pop("kind")
    if isinstance(law, (FixedSize, ChoiceSize, LognormalSize)):
        for name in ("value", "median", "min", "max"):
            if name in fields:
                fields[name] = _size(fields[name])
        if "values" in fields:
            fields["values"] = [_size(v) for v in fields["values"]]
    if kind == "choice" and len(fields["values"]) > 6:
        return f"choice of {len(fields['values'])} values"
    return f"{kind} " + ", ".join(f"{k} {v}" for k, v in fields.items())


# Without a ledger a snapshot's averages are only said: far from the base's by more than this factor either way.
SNAPSHOT_FACTOR = 1.33


def snapshot_notes(loads: list[tuple[ClusterLoad, str]], base: CustomerMix, profile) -> list[str]:
    """Where a source without a ledger (a state file, collector snapshots) measures services far from the base's
    mix: their requested RAM each (less their volumes' storage RAM) and services a customer, over the clusters'
    newest snapshots (``loads``: each with its storage provider). The new customers stay the base's: nothing
    measures how they differ; the warning says which way the dates lean if they are like the present ones."""
    services = sum(load.services for load, _ in loads)
    customers = sum(load.customers for load, _ in loads)
    if services < MIN_SAMPLE:
        return []
    storage_ram = 0
    for load, provider in loads:
        storage = profile.storage[provider]
        storage_ram += load.volumes * storage.volume_ram_bytes(storage.replicas_on(len(load.run_nodes)))
    requested = sum(load.ram_requested_bytes for load, _ in loads) - storage_ram
    notes = []
    each, base_each = max(requested, 0) / services, mean_size(base.ram)
    if not 1 / SNAPSHOT_FACTOR <= each / base_each <= SNAPSHOT_FACTOR:
        notes.append(
            f"customer mix: the snapshots hold {_gib(each)} of requested RAM a service (less their volumes' storage "
            f"RAM; other pods' requests, such as DaemonSets', included) where the base's ram law averages "
            f"{_gib(base_each)}; new customers follow the base (no ledger measures them): if they are like the "
            f"present ones, the RAM dates lean {'late' if each > base_each else 'early'}"
        )
    if customers >= MIN_SAMPLE:
        per_customer, base_count = services / customers, mean_count(base.services)
        if not 1 / SNAPSHOT_FACTOR <= per_customer / base_count <= SNAPSHOT_FACTOR:
            lean = "late" if per_customer > base_count else "early"
            notes.append(
                f"customer mix: the snapshots count {per_customer:.2f} services a customer where the base's services "
                f"law averages {base_count:.2f}; new customers follow the base (no ledger measures them): if they "
                f"are like the present ones, the pods' and services' dates lean {lean}"
            )
    return notes
