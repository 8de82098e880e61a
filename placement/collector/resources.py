"""The Kubernetes resources the collector reads, and the client call that lists each one.

This catalogue is the single list of what the collector touches: the source only ever lists these (the ``list``
verb; never get or watch). ``read_by(secrets)`` is what one collection reads: with ``--secrets list`` (the default)
the secrets themselves, metadata only; with ``--secrets quota`` the ResourceQuotas that count them instead.
``deploy/collector-rbac.yaml`` and ``deploy/collector-rbac-quota.yaml`` grant ``list`` on exactly those (a test
holds each manifest to what a collection requests).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DEFAULT_PAGE_SIZE = 500  # objects per list request, as kubectl and client-go informers use
DEFAULT_COLLECTION_TIMEOUT = 300.0  # seconds for a whole collection, retries and their waits included


@dataclass(frozen=True, slots=True)
class Resource:
    """One listable resource type, listed at cluster scope (all namespaces)."""

    group: str  # "" is the core group
    version: str
    plural: str
    kind: str  # the object kind; a list answer's ``kind`` is this plus "List"
    api_class: str  # the class in ``kubernetes.client`` that lists it
    list_method: str  # its method; empty for custom resources, listed through CustomObjectsApi

    @property
    def group_version(self) -> str:
        return f"{self.group or 'core'}/{self.version}"

    @property
    def path(self) -> str:
        """The collection's URL path on the API server."""
        prefix = "/api" if not self.group else f"/apis/{self.group}"
        return f"{prefix}/{self.version}/{self.plural}"

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def custom(self) -> bool:
        return not self.list_method

    def __str__(self) -> str:
        return f"{self.plural} ({self.group_version})"


NODES = Resource("", "v1", "nodes", "Node", "CoreV1Api", "list_node")
NAMESPACES = Resource("", "v1", "namespaces", "Namespace", "CoreV1Api", "list_namespace")
PODS = Resource("", "v1", "pods", "Pod", "CoreV1Api", "list_pod_for_all_namespaces")
SERVICES = Resource("", "v1", "services", "Service", "CoreV1Api", "list_service_for_all_namespaces")
SECRETS = Resource("", "v1", "secrets", "Secret", "CoreV1Api", "list_secret_for_all_namespaces")
CONFIGMAPS = Resource("", "v1", "configmaps", "ConfigMap", "CoreV1Api", "list_config_map_for_all_namespaces")
PVCS = Resource(
    "",
    "v1",
    "persistentvolumeclaims",
    "PersistentVolumeClaim",
    "CoreV1Api",
    "list_persistent_volume_claim_for_all_namespaces",
)
ENDPOINTS = Resource("", "v1", "endpoints", "Endpoints", "CoreV1Api", "list_endpoints_for_all_namespaces")
DEPLOYMENTS = Resource("apps", "v1", "deployments", "Deployment", "AppsV1Api", "list_deployment_for_all_namespaces")
STATEFULSETS = Resource(
    "apps", "v1", "statefulsets", "StatefulSet", "AppsV1Api", "list_stateful_set_for_all_namespaces"
)
REPLICASETS = Resource("apps", "v1", "replicasets", "ReplicaSet", "AppsV1Api", "list_replica_set_for_all_namespaces")
INGRESSES = Resource(
    "networking.k8s.io", "v1", "ingresses", "Ingress", "NetworkingV1Api", "list_ingress_for_all_namespaces"
)
STORAGE_CLASSES = Resource(
    "storage.k8s.io", "v1", "storageclasses", "StorageClass", "StorageV1Api", "list_storage_class"
)
RESOURCE_QUOTAS = Resource(
    "", "v1", "resourcequotas", "ResourceQuota", "CoreV1Api", "list_resource_quota_for_all_namespaces"
)

SERVICE_ACCOUNTS = Resource(
    "", "v1", "serviceaccounts", "ServiceAccount", "CoreV1Api", "list_service_account_for_all_namespaces"
)
EVENTS = Resource("", "v1", "events", "Event", "CoreV1Api", "list_event_for_all_namespaces")
PERSISTENT_VOLUMES = Resource("", "v1", "persistentvolumes", "PersistentVolume", "CoreV1Api", "list_persistent_volume")
ENDPOINT_SLICES = Resource(
    "discovery.k8s.io",
    "v1",
    "endpointslices",
    "EndpointSlice",
    "DiscoveryV1Api",
    "list_endpoint_slice_for_all_namespaces",
)
DAEMONSETS = Resource("apps", "v1", "daemonsets", "DaemonSet", "AppsV1Api", "list_daemon_set_for_all_namespaces")
JOBS = Resource("batch", "v1", "jobs", "Job", "BatchV1Api", "list_job_for_all_namespaces")
LEASES = Resource("coordination.k8s.io", "v1", "leases", "Lease", "CoordinationV1Api", "list_lease_for_all_namespaces")
CSI_NODES = Resource("storage.k8s.io", "v1", "csinodes", "CSINode", "StorageV1Api", "list_csi_node")
VOLUME_ATTACHMENTS = Resource(
    "storage.k8s.io", "v1", "volumeattachments", "VolumeAttachment", "StorageV1Api", "list_volume_attachment"
)

# The object kinds summed into the etcd estimate, in report order: the kinds the limits profile's etcd figures
# count (per customer, service, volume, node and cluster; see placement/data/limits/published.yaml), so the live
# count and the model's agree. The storage provider's own custom resources (its ``counted_crds``) are added to
# these. RBAC, CRDs, APIServices and flow-control objects do not grow with the fleet and are not counted.
ETCD_COUNTED: tuple[Resource, ...] = (
    NAMESPACES,
    PODS,
    SERVICES,
    INGRESSES,
    SECRETS,
    CONFIGMAPS,
    PVCS,
    DEPLOYMENTS,
    STATEFULSETS,
    REPLICASETS,
    ENDPOINTS,
    ENDPOINT_SLICES,
    SERVICE_ACCOUNTS,
    DAEMONSETS,
    JOBS,
    EVENTS,
    NODES,
    LEASES,
    CSI_NODES,
    PERSISTENT_VOLUMES,
    VOLUME_ATTACHMENTS,
)


def custom_resource(group: str, version: str, plural: str, kind: str) -> Resource:
    """A custom resource of a storage provider (its volumes, replicas, per-node objects), listed as custom objects."""
    return Resource(group, version, plural, kind, "CustomObjectsApi", "")


def _shipped_provider_resources() -> tuple[Resource, ...]:
    # Every custom resource a shipped profile's storage providers name (their volume CRD and counted CRDs), in order.
    from placement.limits import PROFILE_NAMES, shipped_limits

    found: dict[tuple[str, str, str, str], None] = {}
    for name in PROFILE_NAMES:
        for storage in shipped_limits(name).storage.values():
            for crd in (storage.volume_crd, *storage.counted_crds):
                if crd is not None:
                    found.setdefault(crd)
    return tuple(custom_resource(*crd) for crd in found)


# Everything the collector may read, in either way of counting secrets: with the shipped profiles' providers'
# custom resources (deploy/collector-rbac.yaml grants them; a new provider's are a data change there).
ALL: tuple[Resource, ...] = (*ETCD_COUNTED, STORAGE_CLASSES, *_shipped_provider_resources(), RESOURCE_QUOTAS)

SecretsCount = Literal["list", "quota"]
SECRETS_COUNTS: tuple[SecretsCount, ...] = ("list", "quota")


def read_by(secrets: SecretsCount) -> tuple[Resource, ...]:
    """What a collection may read when it counts secrets by listing them, or from ResourceQuotas."""
    left_out = RESOURCE_QUOTAS if secrets == "list" else SECRETS
    return tuple(resource for resource in ALL if resource is not left_out)
