"""The Kubernetes resources the collector reads, and the client call that lists each one.

This catalogue is the single list of what the collector touches: the source lists only these, and
``deploy/collector-rbac.yaml`` grants get, list and watch on exactly these (a test holds the two together).
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PAGE_SIZE = 500  # objects per list request, as kubectl and client-go informers use


@dataclass(frozen=True, slots=True)
class Resource:
    """One listable resource type, listed at cluster scope (all namespaces)."""

    group: str  # "" is the core group
    version: str
    plural: str
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
    def custom(self) -> bool:
        return not self.list_method

    def __str__(self) -> str:
        return f"{self.plural} ({self.group_version})"


NODES = Resource("", "v1", "nodes", "CoreV1Api", "list_node")
NAMESPACES = Resource("", "v1", "namespaces", "CoreV1Api", "list_namespace")
PODS = Resource("", "v1", "pods", "CoreV1Api", "list_pod_for_all_namespaces")
SERVICES = Resource("", "v1", "services", "CoreV1Api", "list_service_for_all_namespaces")
SECRETS = Resource("", "v1", "secrets", "CoreV1Api", "list_secret_for_all_namespaces")
CONFIGMAPS = Resource("", "v1", "configmaps", "CoreV1Api", "list_config_map_for_all_namespaces")
PVCS = Resource("", "v1", "persistentvolumeclaims", "CoreV1Api", "list_persistent_volume_claim_for_all_namespaces")
ENDPOINTS = Resource("", "v1", "endpoints", "CoreV1Api", "list_endpoints_for_all_namespaces")
DEPLOYMENTS = Resource("apps", "v1", "deployments", "AppsV1Api", "list_deployment_for_all_namespaces")
STATEFULSETS = Resource("apps", "v1", "statefulsets", "AppsV1Api", "list_stateful_set_for_all_namespaces")
REPLICASETS = Resource("apps", "v1", "replicasets", "AppsV1Api", "list_replica_set_for_all_namespaces")
INGRESSES = Resource("networking.k8s.io", "v1", "ingresses", "NetworkingV1Api", "list_ingress_for_all_namespaces")
STORAGE_CLASSES = Resource("storage.k8s.io", "v1", "storageclasses", "StorageV1Api", "list_storage_class")
LONGHORN_VOLUMES = Resource("longhorn.io", "v1beta2", "volumes", "CustomObjectsApi", "")

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

# Everything the collector may read.
ALL: tuple[Resource, ...] = (NODES, *ETCD_COUNTED, STORAGE_CLASSES, LONGHORN_VOLUMES)
