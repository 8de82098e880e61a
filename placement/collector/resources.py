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
LONGHORN_VOLUMES = Resource("longhorn.io", "v1beta2", "volumes", "Volume", "CustomObjectsApi", "")
RESOURCE_QUOTAS = Resource(
    "", "v1", "resourcequotas", "ResourceQuota", "CoreV1Api", "list_resource_quota_for_all_namespaces"
)

# The object kinds summed into the etcd estimate, in report order.
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
)

# Everything the collector may read, in either way of counting secrets.
ALL: tuple[Resource, ...] = (NODES, *ETCD_COUNTED, STORAGE_CLASSES, LONGHORN_VOLUMES, RESOURCE_QUOTAS)

SecretsCount = Literal["list", "quota"]
SECRETS_COUNTS: tuple[SecretsCount, ...] = ("list", "quota")


def read_by(secrets: SecretsCount) -> tuple[Resource, ...]:
    """What a collection may read when it counts secrets by listing them, or from ResourceQuotas."""
    left_out = RESOURCE_QUOTAS if secrets == "list" else SECRETS
    return tuple(resource for resource in ALL if resource is not left_out)
