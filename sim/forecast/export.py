"""A simulated fleet on day DAY, written as the router's database would hold it (for ``sim backtest``).

The database is made by the router's own code: its migrations (``placement.router.store.open_store``), its
cluster and load-snapshot writes (``add_cluster``, ``put_load``, so the counters are the router's), and its table
definitions (``placement.router.db``) for the ledger, which is written in bulk (a placement through the API per
simulated service would take minutes and change nothing the reader sees).

What goes in, from one run of the scenario past DAY (its world at the end, its time series):

- every cluster delivered by DAY, with its region and storage provider; ``draining`` when it was closed to new
  customers on DAY; its load snapshot of DAY (run nodes, requested RAM, pods, services, customers, volumes, etcd
  objects; the cluster's totals split evenly over its run nodes), observed a minute before DAY ends, and those of
  the ``HISTORY_DAYS`` days before (the router keeps every snapshot it received);
- every cluster the operator had ordered by DAY and not yet received, as ``provisioning`` (registered when it was
  ordered, no snapshot): the capacity on order a real fleet's database lists;
- one reservation per service a grown customer created by DAY and the simulator placed, on the cluster it was on
  that day (``clusters_on``: where it was last placed, less the migrations after DAY), released when its customer
  churned by DAY, holding what the router's reservation holds (the footprint's RAM, with its volume's storage
  RAM, etcd objects and raw disk); the service's own request in the services table; its volume's size.

The scenario's initial customers were never placed through the router: they are in the snapshots only, so the
forecast estimates them, as it would customers placed before a real router.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import insert

from placement.router import db
from placement.router.store import open_store
from placement.state import ClusterIn, ClusterLoadIn, RunNodeIn
from sim.log import OrderRecord
from sim.start_from.sources import HISTORY_DAYS
from sim.start_from.spec import ON_ORDER_STATUS
from sim.world import World

OBSERVED_BEFORE = timedelta(minutes=1)


def as_of(start, day: int) -> datetime:
    """The clock of the exported database: midnight starting day ``day`` after the scenario's start."""
    return datetime(start.year, start.month, start.day, tzinfo=UTC) + timedelta(days=day)


def export_router_db(
    world: World, timeseries: pd.DataFrame, day: int, path: str | Path, orders: list[OrderRecord] = ()
) -> str:
    """Write the fleet of ``world`` as of ``day`` into a new SQLite router database at ``path``; its URL.
    ``orders``: the run's orders (``Log.orders``), for the clusters still on order on ``day``."""
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path}: exists; a backtest writes a new router database")
    url = f"sqlite:///{path}"
    now = as_of(world.config.start, day)
    clusters = timeseries[timeseries["cluster_id"] != "fleet"]
    rows = clusters[clusters["day"] == day]
    store = open_store(url, clock=lambda: now)
    try:
        for row in rows.itertuples():
            status = "active" if row.open else "draining"
            store.add_cluster(_cluster(row.cluster_id, row.region, row.storage_provider, status, day, now))
        infos = world.fleet.clusters
        for order in orders:
            if order.kind == "cluster" and order.day <= day < order.due - 1e-9:
                info = infos[order.cluster]
                store.add_cluster(_cluster(info.cluster.id, info.region, info.provider, ON_ORDER_STATUS,
                                           day - order.day, now))  # fmt: skip
        # Older snapshots first, so each cluster's newest (today's) is its current one.
        history = clusters[(clusters["day"] >= day - HISTORY_DAYS) & (clusters["day"] <= day)]
        history = history[history["cluster_id"].isin(set(rows["cluster_id"]))].sort_values("day", kind="stable")
        for row in history.itertuples():
            observed = as_of(world.config.start, int(row.day)) - OBSERVED_BEFORE
            store.put_load(row.cluster_id, _snapshot(row, observed).to_model())
        ledger = ledger_rows(world, day, now, set(rows["cluster_id"]))
        with store.engine.begin() as conn:
            if ledger["services"]:
                conn.execute(insert(db.services), ledger["services"])
                conn.execute(insert(db.reservations), ledger["reservations"])
            if ledger["volumes"]:
                conn.execute(insert(db.volumes), ledger["volumes"])
    finally:
        store.dispose()
    return url


def _cluster(cluster_id: str, region: str, provider: str, status: str, age_days: float, now: datetime):
    """The cluster's row as the router registers it, ``age_days`` before ``now``."""
    return ClusterIn(
        id=cluster_id,
        name=cluster_id,
        region=region,
        task_queue=f"deployer-{cluster_id}",
        storage_provider=provider,
        registry_url=f"{cluster_id}.registry:5000",
        status=status,
        created_at=now - timedelta(days=float(age_days)),
    ).to_model()


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (i < total % parts) for i in range(parts)]


def _snapshot(row, observed_at: datetime) -> ClusterLoadIn:
    nodes = max(int(row.run_nodes), 1)
    allocatable = _split(int(row.ram_allocatable_bytes), nodes)
    requested = _split(int(row.ram_requested_bytes), nodes)
    pods = _split(int(row.pods), nodes)
    return ClusterLoadIn(
        observed_at=observed_at,
        ctrl_node_type=str(row.ctrl_node_type),
        run_nodes=[
            RunNodeIn(name=f"run-{i + 1}", allocatable_ram=allocatable[i], requested_ram=requested[i], pods=pods[i])
            for i in range(nodes)
        ],
        volumes=int(row.volumes),
        services=int(row.services),
        customers=int(row.customers),
        pods=int(row.pods),
        etcd_objects=int(row.etcd_objects),
    )


def clusters_on(world: World, day: float) -> np.ndarray:
    """Per service, the cluster number it was on at time ``day`` if it was placed by then (-1: never placed).

    The run's end is not ``day``: a released service has no run node any more (and a spilled one was not on its
    customer's home), and a migration after ``day`` moved it. Its last cluster, with the moves after ``day`` taken
    back, latest first, is where it was."""
    placed_on = world.population.service_cluster.copy()
    for moved_day, service, source in reversed(world.moves):
        if moved_day <= day:
            break
        placed_on[service] = source
    return placed_on


def ledger_rows(world: World, day: int, now: datetime, clusters: set[str]) -> dict[str, list[dict]]:
    """The services, reservations and volumes rows of the grown customers' services created by ``day``."""
    draws, people = world.draws, world.population
    ids = [info.cluster.id for info in world.fleet.clusters]
    start = now - timedelta(days=day)
    out: dict[str, list[dict]] = {"services": [], "reservations": [], "volumes": []}
    customers = np.flatnonzero((draws.forced_cluster < 0) & (draws.signup <= day) & (people.home >= 0))
    placed_on = clusters_on(world, day)
    for customer in customers.tolist():
        departed = float(people.departed[customer])
        first, last = int(draws.service_start[customer]), int(draws.service_start[customer + 1])
        customer_id = f"cust-{customer:07d}"
        region = world.config.regions[draws.region[customer]]
        for k, service in enumerate(range(first, last)):
            created = float(draws.service_created[service])
            if created > day or (np.isfinite(departed) and created >= departed):
                continue
            number = int(placed_on[service])
            if number < 0:  # never placed (rejected): the router holds no row for it
                continue
            need = int(people.service_need[service])
            cluster = ids[number]
            if cluster not in clusters:
                continue
            at = start + timedelta(days=created)
            released = start + timedelta(days=departed) if np.isfinite(departed) and departed <= day else None
            service_id = f"{customer_id}-svc-{k}"
            ram = int(draws.service_ram[service])
            volume = int(draws.service_volume[service])
            out["services"].append(
                {"id": service_id, "cluster_id": cluster, "customer_id": customer_id, "name": f"svc-{k}",
                 "ram_bytes": ram, "pods": 1, "created_at": at}
            )  # fmt: skip
            out["reservations"].append(
                {"request_id": service_id, "body_hash": "backtest", "service_id": service_id, "cluster_id": cluster,
                 "customer_id": customer_id, "ram_bytes": need, "pods": 1, "volumes": int(volume > 0),
                 "objects": int(people.service_objects[service]), "disk_bytes": int(people.service_disk[service]),
                 "new_customer": k == 0, "reserved_at": at, "released_at": released,
                 "response": {"cluster_id": cluster}, "region": region}
            )  # fmt: skip
            if volume and released is None:
                out["volumes"].append(
                    {"id": f"{service_id}-vol", "service_id": service_id, "cluster_id": cluster,
                     "mount_path": "/data", "size_bytes": volume, "created_at": at}
                )  # fmt: skip
    return out
