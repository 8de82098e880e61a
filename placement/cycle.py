"""Per-request state shared by the filter and score plugins (kube-scheduler's CycleState)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from placement.limits import Limits, StorageLimits
from placement.model import ClusterLoad, PlacementRequest
from placement.policy import Policy


@dataclass(slots=True)
class Cycle:
    request: PlacementRequest
    policy: Policy
    limits: Limits
    now: datetime | None
    volume_count: int
    # Both depend on the cluster's storage provider, so they are keyed by it and filled on first use.
    _ram_need: dict[str, int]
    _new_objects: dict[str, int]

    @classmethod
    def start(cls, request: PlacementRequest, policy: Policy, now: datetime | None) -> Cycle:
        return cls(request, policy, policy.limits, now, len(request.volumes), {}, {})

    def ram_need_bytes(self, storage: StorageLimits) -> int:
        """RAM the service takes on one node: its request plus the storage engine's per-volume overhead."""
        need = self._ram_need.get(storage.provider)
        if need is None:
            need = self.request.ram_bytes + self.volume_count * storage.ram_bytes_per_volume
            self._ram_need[storage.provider] = need
        return need

    def new_objects(self, storage: StorageLimits) -> int:
        """etcd objects the service adds: its own, its volumes' and, for a new customer, the namespace's."""
        count = self._new_objects.get(storage.provider)
        if count is None:
            request, limits = self.request, self.limits
            per_service = limits.etcd_objects_per_service if request.etcd_objects is None else request.etcd_objects
            count = per_service + self.volume_count * storage.etcd_objects_per_volume
            if request.new_customer:
                count += limits.etcd_objects_per_customer
            self._new_objects[storage.provider] = count
        return count

    def snapshot_age_seconds(self, load: ClusterLoad) -> float | None:
        if self.now is None or load.observed_at is None:
            return None
        return (self.now - load.observed_at).total_seconds()
