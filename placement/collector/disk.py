"""The storage provider's disk, where the provider reports it: the raw disk the replicas sit on.

- Longhorn: each ``nodes.longhorn.io`` object's ``status.diskStatus`` (per disk: ``storageMaximum``,
  ``storageAvailable``, ``storageScheduled``, the replicas' provisioned size) and ``spec.disks`` (per disk:
  ``storageReserved``, held back from scheduling).
- Rook-Ceph: the ``cephclusters.ceph.rook.io`` object's ``status.ceph.capacity`` (``bytesTotal``,
  ``bytesAvailable``, ``bytesUsed``), which Rook copies from ``ceph df`` (its ``lastUpdated`` says when).

Which reader applies is found from the provider's counted custom resources (the limits profile's data): a provider
with neither kind reports no disk, and the snapshot says so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from placement.collector import resources as r
from placement.collector.errors import CollectError, MissingResource
from placement.collector.providers import StorageProviderVolumes
from placement.units import to_count


class StorageDisk(BaseModel):
    """The provider's raw disk as it reports it, in bytes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    read_from: str = Field(description="the objects and fields the figures were read from")
    disks: int = Field(description="disks (Longhorn) or clusters (Ceph) reported")
    total_bytes: int
    available_bytes: int
    used_bytes: int = Field(description="total less available")
    scheduled_bytes: int | None = Field(default=None, description="Longhorn: replicas' provisioned size on the disks")
    reserved_bytes: int | None = Field(default=None, description="Longhorn: held back from scheduling (spec.disks)")
    updated_at: str | None = Field(default=None, description="Ceph: when Rook last read the capacity")


def _bytes(value: Any, where: str) -> int:
    try:
        return to_count(value)
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise CollectError(f"{where}: not a byte count ({value!r}): {exc}") from exc


class _LonghornDisks:
    def __init__(self) -> None:
        self.disks = self.total = self.available = self.scheduled = self.reserved = 0

    def add(self, node: dict[str, Any]) -> None:
        name = (node.get("metadata") or {}).get("name")
        spec_disks = (node.get("spec") or {}).get("disks") or {}
        for disk, status in ((node.get("status") or {}).get("diskStatus") or {}).items():
            where = f"nodes.longhorn.io {name} disk {disk}"
            self.disks += 1
            self.total += _bytes(status.get("storageMaximum", 0), f"{where} storageMaximum")
            self.available += _bytes(status.get("storageAvailable", 0), f"{where} storageAvailable")
            self.scheduled += _bytes(status.get("storageScheduled", 0), f"{where} storageScheduled")
            self.reserved += _bytes((spec_disks.get(disk) or {}).get("storageReserved", 0), f"{where} storageReserved")

    def result(self) -> StorageDisk:
        return StorageDisk(
            read_from="nodes.longhorn.io status.diskStatus (storageMaximum, storageAvailable, storageScheduled)",
            disks=self.disks,
            total_bytes=self.total,
            available_bytes=self.available,
            used_bytes=self.total - self.available,
            scheduled_bytes=self.scheduled,
            reserved_bytes=self.reserved,
        )


class _CephCapacity:
    def __init__(self) -> None:
        self.clusters = self.total = self.available = self.used = 0
        self.updated: str | None = None

    def add(self, cluster: dict[str, Any]) -> None:
        name = (cluster.get("metadata") or {}).get("name")
        capacity = ((cluster.get("status") or {}).get("ceph") or {}).get("capacity") or {}
        if not capacity:
            return  # Rook has not read the capacity yet (a new cluster): no figures from this one
        where = f"cephclusters.ceph.rook.io {name} status.ceph.capacity"
        self.clusters += 1
        self.total += _bytes(capacity.get("bytesTotal", 0), f"{where}.bytesTotal")
        self.available += _bytes(capacity.get("bytesAvailable", 0), f"{where}.bytesAvailable")
        self.used += _bytes(capacity.get("bytesUsed", 0), f"{where}.bytesUsed")
        self.updated = capacity.get("lastUpdated") or self.updated

    def result(self) -> StorageDisk | None:
        if not self.clusters:
            return None
        return StorageDisk(
            read_from="cephclusters.ceph.rook.io status.ceph.capacity (bytesTotal, bytesAvailable, bytesUsed)",
            disks=self.clusters,
            total_bytes=self.total,
            available_bytes=self.available,
            used_bytes=self.used,
            updated_at=self.updated,
        )


# (group, kind) of a custom resource that reports disk -> its reader.
READERS: dict[tuple[str, str], Callable[[], Any]] = {
    ("longhorn.io", "Node"): _LonghornDisks,
    ("ceph.rook.io", "CephCluster"): _CephCapacity,
}


def read_disk(source: Any, provider: StorageProviderVolumes | None, warnings: list[str]) -> StorageDisk | None:
    """The provider's disk from the first of its counted custom resources that reports one (None: none does, or
    its CRD is not served; then a warning says so)."""
    for resource in provider.counted_crds if provider else ():
        reader = READERS.get((resource.group, resource.kind))
        if reader is None:
            continue
        try:
            disk = source.fold(resource, reader).result()
        except MissingResource:
            warnings.append(f"{_name(resource)} is not served: no disk figures")
            return None
        if disk is None:
            warnings.append(f"{_name(resource)} reports no capacity yet: no disk figures")
        return disk
    return None


def load_disk(disk: StorageDisk | None, usable_fraction: float) -> dict[str, int | None]:
    """The load's ``disk_bytes`` and ``disk_capacity_bytes`` (the catalogue's ``disk`` limit) from the disk the
    provider reports: none reported, no capacity known (nothing is refused for disk).

    Longhorn schedules replicas by their provisioned size: the used level is ``storageScheduled``, and a disk takes
    a replica while its scheduled size stays within ``storageMaximum - storageReserved`` (over-provisioning 100 %,
    the default) and under the share the provider fills (``disk_usable_fraction``: 1 - its minimal available
    percentage). Ceph's raw used bytes are its used level against ``bytesTotal`` times that share (its full ratio).
    """
    if disk is None or not disk.disks:  # no disk reported (no Longhorn node lists one yet)
        return {"disk_bytes": 0, "disk_capacity_bytes": None}
    usable = round(disk.total_bytes * usable_fraction)
    if disk.scheduled_bytes is not None:
        return {
            "disk_bytes": disk.scheduled_bytes,
            "disk_capacity_bytes": min(disk.total_bytes - (disk.reserved_bytes or 0), usable),
        }
    return {"disk_bytes": disk.used_bytes, "disk_capacity_bytes": usable}


def _name(resource: r.Resource) -> str:
    return f"{resource.plural}.{resource.group}"
