"""The region mix of new customers a router's ledger measures (``sim.start_from.build``)."""

from __future__ import annotations

import pandas as pd

from sim.scenario import ClusterSpec
from sim.start_from.sources import LiveState
from sim.start_from.spec import LiveOrder

MIN_REGION_SIGNUPS = 50  # sign-ups since every region had a cluster, below which the whole ledger's mix is used


def signup_regions(state: LiveState, specs: list[ClusterSpec]) -> dict[str, float]:
    """The region mix of new customers: the region each customer's reservations asked for (the ledger's
    ``region``, migration 0010), else its first cluster's region. Where every sign-up says the region it asked
    for, over all of them; else over the sign-ups since every region had a cluster taking them (before a
    region's first cluster, its customers were placed elsewhere and counted for another region), or over all of
    them when fewer than ``MIN_REGION_SIGNUPS`` came since. A region asked for where the fleet has no cluster
    keeps its share: the forecast's customers of it take the best cluster of any region, as they did."""
    region_of = {s.id: s.region for s in specs}
    ledger = state.ledger.sort_values("reserved_at", kind="stable")
    firsts = ledger.groupby("customer_id")[["cluster_id", "reserved_at"]].first()
    firsts = firsts.assign(region=firsts.index.map(asked_regions(ledger)))
    asked = firsts["region"].notna()
    firsts = firsts.assign(region=firsts["region"].where(asked, firsts["cluster_id"].map(region_of)))
    firsts = firsts.dropna(subset=["region"])
    since = firsts
    if not asked.all():
        opened = firsts.groupby("region")["reserved_at"].min()
        since = firsts[firsts["reserved_at"] >= opened.max()] if len(opened) else firsts
    counts = (since if len(since) >= MIN_REGION_SIGNUPS else firsts)["region"].value_counts()
    if counts.empty:
        return {}
    regions = {region: float(counts.get(region, 0)) for region in dict.fromkeys([*region_of.values(), *counts.index])}
    return regions if sum(regions.values()) > 0 else {}


def asked_regions(ledger: pd.DataFrame) -> dict[str, str]:
    """Each customer's region as its first reservation that says one asked for it (none: not in the mapping)."""
    asked = ledger.dropna(subset=["region"]).sort_values("reserved_at", kind="stable")
    return asked.groupby("customer_id")["region"].first().to_dict()


def customer_regions(
    specs: list[ClusterSpec], on_order: list[LiveOrder], base_regions: dict[str, float]
) -> dict[str, float]:
    """Without a measured mix: each region's share of the customers the fleet starts with, where the base's mix
    leaves out a region the source's clusters (``specs``, and those ``on_order``) are in: that base was written
    for another fleet, and would send new customers to regions without a cluster (where the simulated operator
    opens clusters) and none to the fleet's own. {} where the base names every region of the fleet (it may name
    more: regions the fleet is to open, as stage 2's us-east), or where the fleet has no customer. A cluster whose
    region the source does not say is in the region the start gave it (the base's cluster of that id, else its
    first)."""
    fleet_regions = {spec.region for spec in specs} | {order.region for order in on_order}
    if fleet_regions <= {region for region, share in base_regions.items() if share > 0}:
        return {}
    counts = dict.fromkeys(sorted(fleet_regions), 0.0)
    for spec in specs:
        counts[spec.region] += spec.customers
    return counts if sum(counts.values()) > 0 else {}


def unseen_regions_note(base_regions: dict[str, float], measured: dict[str, float], ledger: pd.DataFrame) -> str | None:
    """Regions the base sends new customers to that the measured mix (``signup_regions``) cannot hold: the source
    has no cluster there, so their customers were placed in other regions (the engine's preferred region mode) and
    a ledger that does not say the region asked for (reservations from before migration 0010, or requests that
    named none) counts them there. None where every reservation says it."""
    unseen = {region: share for region, share in base_regions.items() if share > 0 and region not in measured}
    unasked = ledger["customer_id"].nunique() - len(asked_regions(ledger))
    if not unseen or not measured or not unasked:
        return None
    total = sum(base_regions.values())
    shares = ", ".join(f"{region} {share / total:.0%}" for region, share in unseen.items())
    return (
        f"regions: the base sends {shares} of new customers to regions where the source has no cluster; "
        f"{unasked:,} customers' reservations do not say the region they asked for (placed before the router's "
        "migration 0010, or their requests named none), so the measured mix counts them in the regions they were "
        f"placed in ({measured}), and the forecast's new customers keep to those regions' clusters, where such "
        "customers take the best cluster of any region (or one opened in theirs): the dates of a region that took "
        "them lean early once its clusters are no longer the best"
    )


def uncovered_regions_note(
    regions: dict[str, float], basis: str, open_regions: set[str], ordered_regions: set[str]
) -> str | None:
    """The regions the mix sends new customers to that have no open cluster and none on order, and what becomes of
    their customers meanwhile; None when every region is served."""
    served = open_regions | ordered_regions
    uncovered = sorted(region for region, share in regions.items() if share > 0 and region not in served)
    if not uncovered:
        return None
    # With no open cluster anywhere, a new customer's first service fits nowhere: it is lost (``sim.population``).
    meanwhile = (
        "the engine places them on other regions' clusters"
        if open_regions
        else "no open cluster in any region takes them: they are turned away"
    )
    return (
        f"the regions' mix ({basis}: {regions}) sends new customers to {uncovered}, where the source has no open "
        f"cluster: {meanwhile} until the operator opens one there"
    )
