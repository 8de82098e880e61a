"""The customers and their services: one row per customer and per service, as numpy arrays.

Rows are those of ``sim.sampling.Draws`` (customer ``i``'s services are ``service_start[i]`` to
``service_start[i+1]-1``); these arrays hold what happened to them: a customer's state and home cluster,
a service's run node and what it added there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

PENDING, ACTIVE, LOST, CHURNED = 0, 1, 2, 3
STATE_NAMES = ("pending", "active", "lost", "churned")


@dataclass(slots=True)
class Population:
    state: np.ndarray  # int8 per customer: PENDING, ACTIVE, LOST (its first service fit nowhere), CHURNED
    home: np.ndarray  # cluster number per customer, -1 before it is placed
    customer_volumes: np.ndarray  # volumes per customer, for the per-customer quota
    departed: np.ndarray  # churn day per customer, NaN while it stays
    service_node: np.ndarray  # run node per service, -1 when not (or no longer) placed
    service_need: np.ndarray  # RAM bytes the service took on its node
    service_objects: np.ndarray  # etcd objects the service added to its cluster
    service_volumes: np.ndarray  # volume bytes of the service, 0 without a volume
    service_disk: np.ndarray  # raw disk its volume's replicas took on its cluster (``Footprint.disk_bytes``)
    service_seq: np.ndarray  # placement order, for the packing checks
    # Cluster number per service where it was last placed, kept after its customer leaves (-1: never placed): what
    # a service's run node no longer says once it is released (an export of the run as of an earlier day).
    service_cluster: np.ndarray
    cells: Cells = field(init=False, repr=False, compare=False)  # the columns' elements, for placements

    def __post_init__(self) -> None:
        self.cells = Cells(self, COLUMNS)

    @classmethod
    def empty(cls, customers: int, services: int) -> Population:
        return cls(
            state=np.zeros(customers, dtype=np.int8),
            home=np.full(customers, -1, dtype=np.int64),
            customer_volumes=np.zeros(customers, dtype=np.int64),
            departed=np.full(customers, np.nan),
            service_node=np.full(services, -1, dtype=np.int64),
            service_need=np.zeros(services, dtype=np.int64),
            service_objects=np.zeros(services, dtype=np.int64),
            service_volumes=np.zeros(services, dtype=np.int64),
            service_disk=np.zeros(services, dtype=np.int64),
            service_seq=np.full(services, -1, dtype=np.int64),
            service_cluster=np.full(services, -1, dtype=np.int64),
        )


COLUMNS = tuple(name for name in Population.__dataclass_fields__ if name != "cells")


class Cells:
    """Memoryviews over named numpy arrays of an owner, by the same names: one element read (``cells.home[i]``, a
    Python int or float, as ``item`` gives it) or stored through them costs about half numpy's ``item`` or
    ``array[i] = value`` (no method call, no index parsing), and the array sees the store (the same memory). A
    placement reads and stores a few dozen single elements. An owner that replaces an array makes its cells anew."""

    def __init__(self, owner: object, names: tuple[str, ...]) -> None:
        for name in names:
            setattr(self, name, memoryview(getattr(owner, name)))


def active_on(days: np.ndarray, signup_day: np.ndarray, departed_day: np.ndarray, lost: np.ndarray) -> np.ndarray:
    """Customers active on each of ``days``: signed up by it and not churned by it (``departed_day`` NaN while they
    stay). A lost customer, whose first service fit nowhere, never was one. Each customer counts once, however many
    clusters hold its namespaces."""
    kept = ~lost
    signed = np.sort(signup_day[kept])
    left = np.sort(departed_day[kept & ~np.isnan(departed_day)])
    return np.searchsorted(signed, days, side="right") - np.searchsorted(left, days, side="right")
