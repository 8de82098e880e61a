"""Storage providers as the collector sees them: which storage classes are theirs, and what their volume limit counts.

The limits profile says so (its ``storage:`` entries: CSI provisioner patterns, and the CRD whose objects the
volume limit counts, or none for PVCs on the provider's classes); ``providers_of`` reads it, and the snapshot code
holds no provider name of its own. Longhorn's limit is on Longhorn volumes (its ``volumes.longhorn.io`` objects),
and a volume outlives its PVC, so Longhorn is counted from its CRD. Ceph RBD's limit is reached through the images
behind PVCs, so Rook-Ceph is counted as PVCs on its classes. A new provider is a profile entry, and granting its
CRD in ``deploy/collector-rbac.yaml`` when it has one.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from placement.collector import resources as r
from placement.limits import Limits


@dataclass(frozen=True, slots=True)
class StorageProviderVolumes:
    name: str
    provisioners: tuple[str, ...]  # fnmatch patterns of the CSI provisioner names of the provider's storage classes
    volume_crd: r.Resource | None  # the limit counts these objects; None: it counts PVCs on the provider's classes
    counted_crds: tuple[r.Resource, ...] = ()  # its custom resources counted as etcd objects

    def provides(self, provisioner: str) -> bool:
        return any(fnmatchcase(provisioner, pattern) for pattern in self.provisioners)

    @property
    def counted_as(self) -> str:
        if self.volume_crd is None:
            return "PVCs on its storage classes"
        return f"{self.volume_crd.plural}.{self.volume_crd.group} objects"


def providers_of(limits: Limits) -> dict[str, StorageProviderVolumes]:
    """The profile's storage providers, in its order (the order ``--storage-provider`` detection tries them)."""
    return {
        name: StorageProviderVolumes(
            name,
            storage.provisioners,
            None if storage.volume_crd is None else r.custom_resource(*storage.volume_crd),
            tuple(r.custom_resource(*crd) for crd in storage.counted_crds),
        )
        for name, storage in limits.storage.items()
    }


def volumes_against_limit(provider: StorageProviderVolumes, pvcs: int, crd_objects: int | None) -> int:
    """The snapshot's ``volumes``: what the provider's volume limit counts."""
    if provider.volume_crd is None:
        return pvcs
    if crd_objects is None:
        raise ValueError(f"{provider.name} counts {provider.counted_as}, which were not listed")
    return crd_objects
