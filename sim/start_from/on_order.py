"""The clusters a live source lists as being provisioned (``sim.start_from.build``): capacity already on order when
the forecast starts, which the runs deliver when due (``sim.start_from.carry.order_clusters``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sim.scenario import Scenario
from sim.start_from.sources import LiveState
from sim.start_from.spec import ASSUMED, MEASURED, ON_ORDER_STATUS, LiveOrder


def clusters_on_order(
    state: LiveState, base: Scenario, record: Callable[[str, Any, str, str], None], warnings: list[str]
) -> list[LiveOrder]:
    """Each ``provisioning`` cluster, due one new-cluster lead time (the base operator's) after it was registered.
    Said in a warning too: it is the real operator's order, which the forecast's tables of orders leave out."""
    lead = float(base.operator.shard.lead_days)
    where = f"{state.kind} {state.source}"
    orders = []
    for live in state.clusters:
        if live.status != ON_ORDER_STATUS:
            continue
        region = live.region or next(iter(base.regions))
        provider = live.provider or "longhorn"
        ordered = 0.0 if live.created_at is None else (state.now - live.created_at).total_seconds() / 86400.0
        due = max(lead - max(ordered, 0.0), 0.0)
        orders.append(LiveOrder(id=live.id, region=region, storage_provider=provider, due_days=due))
        basis = "registered at " + (live.created_at.isoformat() if live.created_at else "an unknown time (now)")
        why = f"{where}: status {ON_ORDER_STATUS}, {basis}, plus the base operator's shard.lead_days {lead:g}"
        record(f"clusters.{live.id}.on_order", f"due in {due:.1f} days", MEASURED if live.created_at else ASSUMED, why)
        since = (
            f"from its registration on {live.created_at.date().isoformat()}"
            if live.created_at
            else "from now, as the source does not say when it was ordered"
        )
        warnings.append(
            f"cluster {live.id} is on order ({ON_ORDER_STATUS}): a {provider} cluster in {region}, due in {due:.0f} "
            f"days (the base operator's shard.lead_days, {lead:g}, {since}); it takes its region's new customers "
            "from then, and the region's open cluster nearest a shard limit closes to them. The orders the forecast "
            "gives are the simulated operator's after it" + _held_note(live.load)
        )
    return orders


def _held_note(load: Any) -> str:
    """What a provisioning cluster's snapshot says it holds, which the start leaves out: the router places nothing
    on a cluster until it is active, so nothing the forecast simulates is on it before it is due."""
    if load is None:
        return ""
    held = [(load.customers, "customers"), (load.services, "services"), (load.volumes, "volumes")]
    held = [f"{count:,} {what}" for count, what in held if count]
    if not held:
        return ""
    return f". Its snapshot counts {', '.join(held)}: the start leaves them out (it starts the cluster empty when due)"
