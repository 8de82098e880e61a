"""The collector maps a storage provider that only the limits profile names (see tests/test_storage_providers.py)."""

from __future__ import annotations

from placement.limits import load_profile
from support.kube_fleets import generated_fleet
from support.kube_objects import pvc, storage_class
from tests.test_storage_providers import ENTRY, MAYASTOR


def mayastor_limits():
    data = load_profile("seed").model_dump(by_alias=True, exclude_none=True)
    data["storage"][MAYASTOR] = ENTRY
    return type(load_profile("seed")).model_validate(data).compile()


def test_the_collector_maps_the_new_provider_s_storage_classes(serve):
    cluster = generated_fleet(6, 120, customers=10, ceph=True)
    cluster.collections["/apis/storage.k8s.io/v1/storageclasses"] = [
        storage_class("mayastor-3", "io.openebs.csi-mayastor", default=True)
    ]
    cluster.collections["/api/v1/persistentvolumeclaims"] = [
        pvc(f"cust-{i % 10:04d}", f"v{i}", "mayastor-3") for i in range(7)
    ]
    snapshot = serve(cluster).collect(limits=mayastor_limits())
    assert snapshot.inventory.storage_provider == MAYASTOR
    assert snapshot.inventory.volume_storage_classes == ["mayastor-3"]
    assert snapshot.load.volumes == 7
    assert snapshot.inventory.volumes_counted_as == "PVCs on its storage classes"
