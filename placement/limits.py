"""Limits profiles: every limit, overhead and price, each with its source and its uncertainty.

A profile is YAML data validated by pydantic (``LimitsProfile``) and compiled into a plain, frozen
``Limits`` object that the engine and the simulator read in their hot loops. Figures are addressed by
dotted paths (``longhorn.max_volumes``), which is how sweeps override them.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

# The compiled forms, re-exported: callers import them from here.
from placement.limit_values import ControlPlaneType as ControlPlaneType
from placement.limit_values import Costs as Costs
from placement.limit_values import Limits as Limits
from placement.limit_values import RunNodePrice as RunNodePrice
from placement.limit_values import StorageLimits as StorageLimits
from placement.profile_checks import cluster_cidr_problems, field_errors, figure_problem, node_pod_problems
from placement.quantity import PositiveBytes
from placement.units import to_bytes

PROFILE_NAMES = ("seed", "published")


class Figure(BaseModel):
    """One number with its unit, its source and, where known, its uncertainty range."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: float
    unit: str
    source: str = Field(min_length=3)
    low: float | None = None
    high: float | None = None

    @model_validator(mode="before")
    @classmethod
    def _parse_quantities(cls, data: Any) -> Any:
        # Byte figures may be written as Kubernetes quantities ("3Gi") in the YAML.
        if isinstance(data, dict) and data.get("unit") == "bytes":
            data = dict(data)
            for key in ("value", "low", "high"):
                if isinstance(data.get(key), str):
                    data[key] = to_bytes(data[key])
        return data

    @model_validator(mode="after")
    def _range_holds_value(self) -> Figure:
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"low {self.low} is above high {self.high}")
        if self.low is not None and self.value < self.low:
            raise ValueError(f"value {self.value} is below its low bound {self.low}")
        if self.high is not None and self.value > self.high:
            raise ValueError(f"value {self.value} is above its high bound {self.high}")
        return self

    @property
    def int_value(self) -> int:
        return round(self.value)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _default(value: float, unit: str, source: str) -> Any:
    """A figure a profile may leave out (written before the field existed): its documented default."""
    return Field(default_factory=lambda: Figure(value=value, unit=unit, source=source))


class KubernetesSection(_Section):
    max_nodes: Figure
    max_pods_cluster: Figure
    max_namespaces: Figure
    max_services_cluster: Figure
    # The kubelet's --max-pods on run nodes: the value a run node type inherits unless it sets its own.
    max_pods_per_node: Figure
    max_etcd_objects: Figure
    etcd_quota_bytes: Figure
    # Each node's pod range (kube-controller-manager --node-cidr-mask-size-ipv4) bounds its max-pods.
    node_cidr_mask_size: Figure = _default(24, "bits", "kube-controller-manager --node-cidr-mask-size-ipv4 default 24")
    # The cluster's pod range (k3s --cluster-cidr) holds 2^(node mask - cluster mask) node ranges: a node past
    # them gets no pod range, so this caps the nodes (servers included) of one cluster.
    cluster_cidr_mask_size: Figure = _default(16, "bits", "k3s --cluster-cidr default 10.42.0.0/16 (docs.k3s.io)")


class RunNodeSection(_Section):
    ram_bytes: Figure
    os_reserved_bytes: Figure
    kube_reserved_bytes: Figure
    eviction_bytes: Figure
    k3s_agent_bytes: Figure
    traefik_bytes: Figure
    # Pods every run node carries whatever the storage (Traefik, ServiceLB's svclb-*): they count against max-pods.
    system_pods_per_node: Figure = _default(0, "pods", "not in this profile: none counted")
    # Raw data disk of a run node: what a provider without storage nodes keeps its replicas on.
    disk_bytes: Figure = _default(0, "bytes", "not in this profile: not known")


class StorageNodeSection(_Section):
    """The dedicated storage node a provider's data lives on: a named server type, its disk, RAM and price."""

    type: str = Field(min_length=1)
    ram_bytes: Figure
    disk_bytes: Figure
    eur_month: Figure
    setup_eur: Figure


class VolumeCrd(_Section):
    """The custom resource whose objects a storage provider's volume limit counts (Longhorn's ``volumes``)."""

    group: str = Field(min_length=1)
    version: str = Field(min_length=1)
    plural: str = Field(min_length=1)
    kind: str = Field(min_length=1)


class StorageSection(_Section):
    """One storage provider: its limits and overheads, and how the collector recognises and counts its volumes.

    ``provisioners`` are fnmatch patterns of the CSI provisioner names of its storage classes; its volumes are
    counted as objects of ``volume_crd`` when given (a volume can outlive its PVC), otherwise as PVCs on its
    classes.
    """

    max_volumes: Figure
    min_nodes: Figure
    replicas: Figure
    base_ram_bytes_per_node: Figure
    ram_bytes_per_volume: Figure
    # Objects per volume whatever its replicas (PVC, PV, VolumeAttachment, the provider's volume CRs) ...
    etcd_objects_per_volume: Figure
    # ... and per replica of it (Longhorn's Replica CR), so the replica count moves the object count.
    etcd_objects_per_replica: Figure = _default(0, "objects", "not in this profile: none counted")
    # The provider's pods on every run node (DaemonSets, per-node Deployments), counted against max-pods,
    system_pods_per_node: Figure = _default(0, "pods", "not in this profile: none counted")
    # its other objects per run node (its Node CRs, the pods' controllers), and those of its installation.
    etcd_objects_per_node: Figure = _default(0, "objects", "not in this profile: none counted")
    etcd_objects_per_cluster: Figure = _default(0, "objects", "not in this profile: none counted")
    provisioners: tuple[str, ...] = Field(min_length=1)
    volume_crd: VolumeCrd | None = None
    # The provider's custom resources whose objects its etcd figures count (per volume, replica, node and
    # installation): the collector lists them into its etcd count, so the live count and the model's agree.
    counted_crds: tuple[VolumeCrd, ...] = ()
    # --- the storage cost model (placement.storage_cost): each figure sourced, with its range -------------
    # One replica's processes (Longhorn's replica and sync agent); ram_bytes_per_volume is the rest (the engine).
    ram_bytes_per_replica: Figure = _default(0, "bytes", "not in this profile: none counted")
    cpu_cores_per_node: Figure = _default(0, "cores", "not in this profile: none counted")
    cpu_cores_per_instance: Figure = _default(0, "cores", "not in this profile: none counted")
    osd_ram_bytes_per_disk: Figure = _default(0, "bytes", "not in this profile: none counted")
    disks_per_node: Figure = _default(0, "disks", "not in this profile: none counted")
    mon_count: Figure = _default(0, "daemons", "not in this profile: none counted")
    mon_ram_bytes: Figure = _default(0, "bytes", "not in this profile: none counted")
    mgr_count: Figure = _default(0, "daemons", "not in this profile: none counted")
    mgr_ram_bytes: Figure = _default(0, "bytes", "not in this profile: none counted")
    mds_count: Figure = _default(0, "daemons", "not in this profile: none counted")
    mds_ram_bytes: Figure = _default(0, "bytes", "not in this profile: none counted")
    # Per-cluster controllers (Rook operator, CSI provisioners; Longhorn's driver deployer, CSI sidecars, UI).
    controller_ram_bytes: Figure = _default(0, "bytes", "not in this profile: none counted")
    daemon_cpu_cores: Figure = _default(0, "cores", "not in this profile: none counted")
    osd_cpu_cores_per_disk: Figure = _default(0, "cores", "not in this profile: none counted")
    disk_usable_fraction: Figure = _default(1, "ratio", "not in this profile: the whole disk")
    # 1: the data lives on dedicated storage nodes (storage_node); 0: on the run nodes.
    dedicated_storage_nodes: Figure = _default(0, "flag", "not in this profile: data on the run nodes")
    storage_node: StorageNodeSection | None = None
    operations_eur_per_cluster_month: Figure = _default(0, "EUR/month", "not in this profile: none counted")

    @model_validator(mode="after")
    def _storage_node_given(self) -> StorageSection:
        if self.dedicated_storage_nodes.value >= 0.5 and self.storage_node is None:
            raise ValueError("dedicated_storage_nodes is 1 but no storage_node type is given")
        return self


class EtcdSection(_Section):
    objects_per_customer: Figure
    objects_per_service: Figure
    # Events of a service's rollouts and restarts that are alive at a time (they expire after --event-ttl).
    events_per_service: Figure = _default(0, "objects", "not in this profile: none counted")
    objects_per_node: Figure = _default(0, "objects", "not in this profile: none counted")
    objects_per_cluster: Figure = _default(0, "objects", "not in this profile: none counted")


class CtrlNodeType(_Section):
    name: str
    vcpu: int = Field(gt=0)
    ram_bytes: PositiveBytes
    comfortable_objects: int = Field(gt=0)
    tight_objects: int = Field(gt=0)
    eur_month: float = Field(ge=0)
    source: str = Field(min_length=3)

    @model_validator(mode="after")
    def _ordered(self) -> CtrlNodeType:
        if self.tight_objects < self.comfortable_objects:
            raise ValueError("tight_objects must be at least comfortable_objects")
        return self


class RunNodeType(_Section):
    name: str
    ram_bytes: PositiveBytes
    cores: int = Field(gt=0)
    max_pods: int | None = Field(
        default=None, gt=0, description="kubelet --max-pods; None: kubernetes.max_pods_per_node"
    )
    eur_month: float = Field(ge=0)
    setup_eur: float = Field(ge=0)
    source: str = Field(min_length=3)


class CostsSection(_Section):
    price_multiplier: Figure
    object_storage_eur_month_base: Figure
    object_storage_eur_per_tb_month: Figure
    object_storage_included_tb: Figure
    run_node_types: tuple[RunNodeType, ...] = Field(min_length=1)
    default_run_node_type: str

    @model_validator(mode="after")
    def _default_exists(self) -> CostsSection:
        names = [t.name for t in self.run_node_types]
        if self.default_run_node_type not in names:
            raise ValueError(f"default_run_node_type {self.default_run_node_type!r} is not one of {names}")
        return self


class LimitsProfile(_Section):
    """The YAML form of a profile. Load with ``load_profile``; compile with ``.compile()``."""

    name: str
    description: str = ""
    kubernetes: KubernetesSection
    run_node: RunNodeSection
    storage: dict[str, StorageSection] = Field(min_length=1)
    etcd: EtcdSection
    control_plane_types: tuple[CtrlNodeType, ...] = Field(min_length=1)
    control_plane_ladder: tuple[str, ...] = Field(min_length=1)
    costs: CostsSection

    @model_validator(mode="after")
    def _storage_names(self) -> LimitsProfile:
        for name in self.storage:
            if not name or name != name.strip() or "." in name or ":" in name:
                raise ValueError(f"storage provider name {name!r}: a non-empty name without '.', ':' or spaces")
            if name in type(self).model_fields:
                raise ValueError(f"storage provider name {name!r} is a section name")
        return self

    @model_validator(mode="after")
    def _figures_in_range(self) -> LimitsProfile:
        problems = []
        for path in self.figure_paths():
            figure = self.figure(path)
            problem = figure_problem(path, figure.value, figure.unit)
            if problem is not None:
                problems.append((self._loc(path), problem, figure.value))
        k8s = self.kubernetes
        node_types = [node.max_pods for node in self.costs.run_node_types]
        problems += node_pod_problems(k8s.node_cidr_mask_size.value, k8s.max_pods_per_node.int_value, node_types)
        problems += cluster_cidr_problems(k8s.cluster_cidr_mask_size.value, k8s.node_cidr_mask_size.value)
        if problems:
            raise field_errors(problems)
        return self

    def _loc(self, path: str) -> tuple[str, ...]:
        parts = tuple(path.split("."))
        return (("storage", *parts) if parts[0] in self.storage else parts) + ("value",)

    @model_validator(mode="after")
    def _ladder_known(self) -> LimitsProfile:
        names = {t.name for t in self.control_plane_types}
        unknown = [n for n in self.control_plane_ladder if n not in names]
        if unknown:
            raise ValueError(f"control_plane_ladder names unknown node types {unknown}; known: {sorted(names)}")
        return self

    @property
    def providers(self) -> tuple[str, ...]:
        """The storage providers this profile knows, in file order."""
        return tuple(self.storage)

    # --- dotted-path access, used by sweeps: a storage provider's figures are ``longhorn.max_volumes`` ------
    def figure(self, path: str) -> Figure:
        node: Any = self
        for index, part in enumerate(path.split(".")):
            attr = part.replace("-", "_")
            if index == 0 and part in self.storage:
                node = self.storage[part]
            elif isinstance(node, BaseModel) and attr in type(node).model_fields and attr != "storage":
                node = getattr(node, attr)
            else:
                raise KeyError(f"unknown limits figure {path!r} (no {part!r})")
        if not isinstance(node, Figure):
            raise KeyError(f"{path!r} is a section, not a figure")
        return node

    def figure_paths(self) -> list[str]:
        """Every dotted path that names a figure, in file order."""
        paths: list[str] = []

        def walk(model: BaseModel, prefix: str) -> None:
            for key in type(model).model_fields:
                value = getattr(model, key)
                if isinstance(value, Figure):
                    paths.append(prefix + key)
                elif isinstance(value, BaseModel):
                    walk(value, prefix + key + ".")
                elif key == "storage":
                    for provider, section in value.items():
                        walk(section, prefix + provider + ".")

        walk(self, "")
        return paths

    def with_values(self, overrides: dict[str, float]) -> LimitsProfile:
        """A copy with some figures' values replaced (their sources and ranges kept)."""
        data = self.model_dump(by_alias=True)
        for path, value in overrides.items():
            self.figure(path)  # raises KeyError for an unknown path
            parts = path.split(".")
            node = data["storage"] if parts[0] in self.storage else data
            for part in parts[:-1]:
                node = node[part]
            figure = dict(node[parts[-1]])
            figure["value"] = value
            # An override may leave the catalog's range on purpose (a what-if study).
            figure["low"] = None if figure["low"] is not None and value < figure["low"] else figure["low"]
            figure["high"] = None if figure["high"] is not None and value > figure["high"] else figure["high"]
            node[parts[-1]] = figure
        return LimitsProfile.model_validate(data)

    def compile(self) -> Limits:
        from placement.limits_compile import compile_profile

        return compile_profile(self)


# --- loading ---------------------------------------------------------------------------------------------


def load_profile(name_or_path: str | Path) -> LimitsProfile:
    """Load a shipped profile by name (``seed``, ``published``) or any profile YAML by path."""
    from placement.yamlio import load_yaml_model

    text_name = str(name_or_path)
    if text_name in PROFILE_NAMES:
        return _shipped_profile(text_name)
    return load_yaml_model(Path(name_or_path), LimitsProfile)


@cache
def _shipped_profile(name: str) -> LimitsProfile:
    from placement.yamlio import parse_yaml_model

    text = resources.files("placement.data.limits").joinpath(f"{name}.yaml").read_text()
    return parse_yaml_model(text, LimitsProfile, source=f"placement/data/limits/{name}.yaml")


@cache
def shipped_limits(name: str = "seed") -> Limits:
    return _shipped_profile(name).compile()
