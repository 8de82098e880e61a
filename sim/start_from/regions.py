"""The region mix of new customers a router's ledger measures (``sim.start_from.build``)."""

from __future__ import annotations

from sim.scenario import ClusterSpec
from sim.start_from.sources import LiveState
from sim.start_from.spec import LiveOrder

MIN_REGION_SIGNUPS = 50  # sign-ups since every region had a cluster, below which the whole ledger's mix is used


def signup_regions(state: LiveState, specs: list[ClusterSpec]) -> dict[str, float]:
    """The region mix of new customers: each customer's first cluster's region, over the ledger's sign-ups since
    every region had a cluster taking them (before a region's first cluster, its customers signed up elsewhere
    and counted for another region); over all of them when fewer than ``MIN_REGION_SIGNUPS`` came since."""
    region_of = {s.id: s.region for s in specs}
    ledger = state.ledger.sort_values("reserved_at", kind="stable")
    firsts = ledger.groupby("customer_id")[["cluster_id", "reserved_at"]].first()
    firsts = firsts.assign(region=firsts["cluster_id"].map(region_of)).dropna(subset=["region"])
    opened = firsts.groupby("region")["reserved_at"].min()
    since = firsts[firsts["reserved_at"] >= opened.max()] if len(opened) else firsts
    counts = (since if len(since) >= MIN_REGION_SIGNUPS else firsts)["region"].value_counts()
    if counts.empty:
        return {}
    regions = {region: float(counts.get(region, 0)) for region in dict.fromkeys(region_of.values())}
    return regions if sum(regions.values()) > 0 else {}


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


def unseen_regions_note(base_regions: dict[str, float], measured: dict[str, float]) -> str | None:
    """Regions the base sends new customers to that the measured mix (``signup_regions``) cannot hold: the source
    has no cluster there, so their customers were placed in other regions (the engine's preferred region mode) and
    the ledger, which keeps the cluster but not the region asked for, counts them there."""
    unseen = {region: share for region, share in base_regions.items() if share > 0 and region not in measured}
    if not unseen or not measured:
        return None
    total = sum(base_regions.values())
    shares = ", ".join(f"{region} {share / total:.0%}" for region, share in unseen.items())
    return (
        f"regions: the base sends {shares} of new customers to regions where the source has no cluster; the ledger "
        "keeps the cluster a customer was placed on, not the region it asked for, so the measured mix counts them "
        f"in the regions they were placed in ({measured}), and the forecast's new customers keep to those regions' "
        "clusters, where such customers take the best cluster of any region (or one opened in theirs): the dates "
        "of a region that took them lean early once its clusters are no longer the best"
    )
