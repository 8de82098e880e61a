"""Customers the router never saw: what a cluster's newest snapshot counts beyond the ledger's services then.

A snapshot observed at T counts the customers, services, requested RAM and volumes on the cluster at T. The ledger's
part of that is its reservations on the cluster that held at T: reserved by T, and still active or released after
it. Whatever the snapshot counts beyond them belongs to customers placed some other way (before the router, by
hand), who are estimated: each gets an equal share of the services, RAM and volumes left, with the base mix's mean
volume size (a snapshot has no sizes).

Counting the ledger at T, not now, matters on a busy router: services reserved after the snapshot are not in it
(counting them against it would leave the snapshot's own customers unexplained), and the customers of the
reservations since are not in the snapshot's namespaces either, whether or not the product API said they were new.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from placement.model import ClusterLoad
from sim.start_from.spec import LiveCustomer


@dataclass(frozen=True)
class LedgerAt:
    """The ledger's reservations on one cluster that held at a snapshot's time, summed as the snapshot counts."""

    customers: int
    services: int
    ram_bytes: int  # requested RAM with each volume's storage RAM (a reservation's footprint)
    volumes: int


def ledger_at(ledger: pd.DataFrame, cluster_id: str, observed: datetime, volume_ram: int) -> LedgerAt:
    """``ledger``'s part (``sim.start_from.sources.LEDGER_COLUMNS``) of ``cluster_id``'s snapshot observed at
    ``observed``. ``volume_ram``: the storage RAM a volume adds to its service's request on this cluster (an active
    row's ``ram_bytes`` is the service's request, a released one's its footprint's, which holds it already)."""
    if ledger.empty:
        return LedgerAt(0, 0, 0, 0)
    at = pd.Timestamp(observed)
    released = ledger["released_at"]
    held = (ledger["cluster_id"] == cluster_id) & (ledger["reserved_at"] <= at) & (released.isna() | (released > at))
    rows = ledger[held]
    active = rows["released_at"].isna().to_numpy()
    volumes = rows["volumes"].to_numpy(dtype=np.int64)
    ram = rows["ram_bytes"].to_numpy(dtype=np.int64) + np.where(active, volumes * volume_ram, 0)
    return LedgerAt(int(rows["customer_id"].nunique()), len(rows), int(ram.sum()), int(volumes.sum()))


def estimated_customers(
    cluster_id: str, load: ClusterLoad, known: LedgerAt, volume_mean: float, volume_ram: int
) -> tuple[list[LiveCustomer], str | None]:
    """The customers of ``load`` (the newest snapshot) beyond the ledger's ``known`` part of it, with the load it
    does not explain; and a note where the snapshot leaves them fewer services than customers. ``volume_ram`` as
    for ``ledger_at``."""
    unseen = load.customers - known.customers
    if unseen <= 0:
        return [], None
    services = load.services - known.services
    ram = load.ram_requested_bytes - known.ram_bytes
    volumes = load.volumes - known.volumes
    note = None
    if services < unseen:
        note = (
            f"cluster {cluster_id}: {unseen} customers not in the ledger but only {max(services, 0)} services "
            "unaccounted for: each is given one service"
        )
        services = unseen
    volumes = min(max(volumes, 0), services)
    # Placing a service with a volume adds the volume's storage RAM to its request: what is left is the requests'.
    ram_each = max(ram - volumes * volume_ram, 0) // services
    per_customer = [services // unseen + (i < services % unseen) for i in range(unseen)]
    customers, given = [], 0
    for count in per_customer:
        sizes = [int(volume_mean) if given + j < volumes else 0 for j in range(count)]
        given += count
        customers.append(LiveCustomer(cluster=cluster_id, ram=[ram_each] * count, volume=sizes, measured=False))
    return customers, note


def unmarked_note(ledger: pd.DataFrame, min_customers: int = 30) -> str | None:
    """What to say when no reservation of a ledger with ``min_customers`` or more is marked ``new_customer``: the
    product API does not send it, so between two snapshots the router counts neither a new customer's namespace nor
    its per-customer etcd objects, and the router's load now is that much below the model's start."""
    if ledger.empty or ledger["customer_id"].nunique() < min_customers or ledger["new_customer"].astype(bool).any():
        return None
    return (
        f"no reservation of the ledger's {ledger['customer_id'].nunique():,} customers is marked new_customer: the "
        "product API does not send it, so between snapshots the router counts no new customer's namespace or "
        "per-customer etcd objects (its load now reads low there; the forecast's sign-ups are the customers' first "
        "reservations all the same)"
    )
