"""Per-request state shared by the filter and score plugins (kube-scheduler's CycleState)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from placement.footprint import Footprint
from placement.limits import Limits
from placement.model import ClusterLoad, PlacementRequest
from placement.policy import Policy

_new_object = object.__new__


@dataclass(slots=True)
class Cycle:
    request: PlacementRequest
    policy: Policy
    limits: Limits
    now: datetime | None
    volume_count: int
    _footprints: dict

    @classmethod
    def start(cls, request: PlacementRequest, policy: Policy, now: datetime | None) -> Cycle:
        # ``cls(...)``, the same value, filled by plain stores (a class call costs more than them, once a request).
        cycle = _new_object(cls)
        cycle.request = request
        cycle.policy = policy
        cycle.limits = policy.limits
        cycle.now = now
        cycle.volume_count = len(request.volumes)
        cycle._footprints = {}
        return cycle

    def footprint(self, provider: str, run_nodes: int | None = None) -> Footprint:
        """What the service adds to a cluster with this storage provider (filled on first use); ``run_nodes``:
        the cluster's, when it has fewer than the provider's replicas (None: a cluster of full size)."""
        key = provider
        # Without volumes the replicas do not enter the footprint: a cluster's size gives the full-size one.
        if run_nodes is not None and self.volume_count:
            storage = self.limits.storage[provider]
            replicas = storage.replicas_on(run_nodes)
            if replicas != storage.replicas:  # fewer run nodes than replicas; else the same as at full size
                key = (provider, replicas)
        footprint = self._footprints.get(key)
        if footprint is None:
            footprint = self._footprints[key] = Footprint.of(self.request, self.limits, provider, run_nodes)
        return footprint

    def snapshot_age_seconds(self, load: ClusterLoad) -> float | None:
        if self.now is None or load.observed_at is None:
            return None
        return (self.now - load.observed_at).total_seconds()
