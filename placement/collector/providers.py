"""Storage providers as the collector sees them: which storage classes are theirs, and what their volume limit counts.

``PROVIDERS`` is the only place that says so; the snapshot code reads it and holds no provider name of its own.
Longhorn's limit is on Longhorn volumes (its ``volumes.longhorn.io`` objects), and a volume outlives its PVC (a
retained, detached volume whose PVC was deleted still counts), so Longhorn is counted from its CRD. Ceph RBD's
limit is reached through the images behind PVCs, so Rook-Ceph is counted as PVCs on its classes.

When storage providers become data in the limits profile (issue 13), each profile entry carries these three
fields (name, provisioner patterns, the CRD to count or none for PVCs) and replaces its row here one for one;
``volumes_against_limit`` stays the one rule that picks the count.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from placement.collector import resources as r


@dataclass(frozen=True, slots=True)
class StorageProviderVolumes:
    name: str
    provisioners: tuple[str, ...]  # fnmatch patterns of the CSI provisioner names of the provider's storage classes
    volume_crd: r.Resource | None  # the limit counts these objects; None: it counts PVCs on the provider's classes

    def provides(self, provisioner: str) -> bool:
        return any(fnmatchcase(provisioner, pattern) for pattern in self.provisioners)

    @property
    def counted_as(self) -> str:
        if self.volume_crd is None:
            return "PVCs on its storage classes"
        return f"{self.volume_crd.plural}.{self.volume_crd.group} objects"


PROVIDERS: dict[str, StorageProviderVolumes] = {
    p.name: p
    for p in (
        StorageProviderVolumes("longhorn", ("driver.longhorn.io",), r.LONGHORN_VOLUMES),
        StorageProviderVolumes("rook-ceph", ("*.rbd.csi.ceph.com",), None),
    )
}


def volumes_against_limit(provider: StorageProviderVolumes, pvcs: int, crd_objects: int | None) -> int:
    """The snapshot's ``volumes``: what the provider's volume limit counts."""
    if provider.volume_crd is None:
        return pvcs
    if crd_objects is None:
        raise ValueError(f"{provider.name} counts {provider.counted_as}, which were not listed")
    return crd_objects
