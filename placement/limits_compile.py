"""A validated limits profile compiled to the plain values of ``placement.limit_values``."""

from __future__ import annotations

from typing import Any

from placement.limit_values import ControlPlaneType, Costs, Limits, RunNodePrice, StorageLimits, StorageNodeType


def _int_figures(section: Any, *names: str) -> dict[str, int]:
    """The section's figures of these names as whole numbers, keyed by name (the compiled field has the same)."""
    return {name: getattr(section, name).int_value for name in names}


# ``profile`` is a validated ``placement.limits.LimitsProfile``; it is not imported, even for typing, because
# ``LimitsProfile.compile`` calls this module and the two would import each other.
def compile_profile(profile: Any) -> Limits:
    """The plain, frozen ``Limits`` of a validated profile: what the engine and the simulator read."""
    k8s, run, etcd = profile.kubernetes, profile.run_node, profile.etcd

    def storage(provider: str, section: Any) -> StorageLimits:
        replicas = section.replicas.int_value
        dedicated = section.storage_node is not None and section.dedicated_storage_nodes.value >= 0.5
        osd_ram = section.osd_ram_bytes_per_disk.int_value
        disks = section.disks_per_node.int_value
        node = section.storage_node
        return StorageLimits(
            provider=provider,
            max_volumes=section.max_volumes.int_value,
            min_nodes=section.min_nodes.int_value,
            replicas=replicas,
            # Without storage nodes the OSDs run on every run node beside the provider's base daemons.
            base_ram_bytes_per_node=section.base_ram_bytes_per_node.int_value + (0 if dedicated else disks * osd_ram),
            ram_bytes_per_volume=section.ram_bytes_per_volume.int_value
            + replicas * section.ram_bytes_per_replica.int_value,
            ram_bytes_per_replica=section.ram_bytes_per_replica.int_value,
            etcd_objects_per_replica=section.etcd_objects_per_replica.int_value,
            cpu_cores_per_node=section.cpu_cores_per_node.value,
            cpu_cores_per_instance=section.cpu_cores_per_instance.value,
            osd_ram_bytes_per_disk=osd_ram,
            disks_per_node=disks,
            daemon_ram_bytes_per_cluster=section.mon_count.int_value * section.mon_ram_bytes.int_value
            + section.mgr_count.int_value * section.mgr_ram_bytes.int_value
            + section.mds_count.int_value * section.mds_ram_bytes.int_value
            + section.controller_ram_bytes.int_value,
            osd_cpu_cores_per_disk=section.osd_cpu_cores_per_disk.value,
            daemon_cpu_cores_per_cluster=section.daemon_cpu_cores.value,
            disk_usable_fraction=section.disk_usable_fraction.value,
            storage_node=None
            if not dedicated or node is None
            else StorageNodeType(
                node.type,
                node.ram_bytes.int_value,
                node.disk_bytes.int_value,
                node.eur_month.value,
                node.setup_eur.value,
            ),
            operations_eur_month=section.operations_eur_per_cluster_month.value,
            etcd_objects_per_volume=section.etcd_objects_per_volume.int_value
            + replicas * section.etcd_objects_per_replica.int_value,
            provisioners=section.provisioners,
            volume_crd=None
            if section.volume_crd is None
            else (
                section.volume_crd.group,
                section.volume_crd.version,
                section.volume_crd.plural,
                section.volume_crd.kind,
            ),
            counted_crds=tuple((c.group, c.version, c.plural, c.kind) for c in section.counted_crds),
            **_int_figures(section, "system_pods_per_node", "etcd_objects_per_node", "etcd_objects_per_cluster"),
        )

    costs = profile.costs
    return Limits(
        profile=profile.name,
        # Every figure of the kubernetes section is a whole-number field of the same name.
        **_int_figures(k8s, *type(k8s).model_fields),
        etcd_objects_per_customer=etcd.objects_per_customer.int_value,
        etcd_objects_per_service=etcd.objects_per_service.int_value,
        run_node_ram_bytes=run.ram_bytes.int_value,
        run_node_system_bytes=sum(
            f.int_value
            for f in (
                run.os_reserved_bytes,
                run.kube_reserved_bytes,
                run.eviction_bytes,
                run.k3s_agent_bytes,
                run.traefik_bytes,
            )
        ),
        storage={provider: storage(provider, section) for provider, section in profile.storage.items()},
        run_node_system_pods=run.system_pods_per_node.int_value,
        etcd_events_per_service=etcd.events_per_service.int_value,
        etcd_objects_per_node=etcd.objects_per_node.int_value,
        etcd_objects_per_cluster=etcd.objects_per_cluster.int_value,
        run_node_disk_bytes=run.disk_bytes.int_value,
        control_plane_types={
            t.name: ControlPlaneType(t.name, t.vcpu, t.ram_bytes, t.comfortable_objects, t.tight_objects, t.eur_month)
            for t in profile.control_plane_types
        },
        control_plane_ladder=profile.control_plane_ladder,
        costs=Costs(
            price_multiplier=costs.price_multiplier.value,
            object_storage_eur_month_base=costs.object_storage_eur_month_base.value,
            object_storage_eur_per_tb_month=costs.object_storage_eur_per_tb_month.value,
            object_storage_included_tb=costs.object_storage_included_tb.value,
            run_node_types={
                t.name: RunNodePrice(
                    t.name,
                    t.ram_bytes,
                    t.cores,
                    t.eur_month,
                    t.setup_eur,
                    t.max_pods or k8s.max_pods_per_node.int_value,
                )
                for t in costs.run_node_types
            },
            default_run_node_type=costs.default_run_node_type,
        ),
    )
