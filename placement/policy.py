"""Engine policy: which filters are strict, which score strategy, which weights, which quotas.

``PolicyConfig`` is the YAML form (pydantic, validated at the edge). ``Policy`` is the compiled form the
engine reads: plain attributes and the compiled ``Limits`` of the chosen limits profile.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from placement.limits import Limits, LimitsProfile, load_profile
from placement.quantity import PositiveBytes
from placement.scoring import MAX_NODE_SCORE, validate_shape
from placement.units import format_bytes
from placement.yamlio import field_error

RamStrategy = Literal["least_allocated", "most_allocated", "requested_to_capacity_ratio", "balanced_allocation"]
SCORER_NAMES = ("region", "ram_headroom", "volume_headroom", "control_plane_headroom")


class QuotaConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_volume_size: PositiveBytes = 50 * 1024**3
    max_volumes_per_service: int = Field(default=1, ge=0)
    max_volumes_per_customer: int = Field(default=5, ge=0)


class PlanOverride(BaseModel):
    """One plan's own defaults; what it leaves out comes from the fleet-wide ``defaults``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ram: PositiveBytes | None = None
    volume_size: PositiveBytes | None = None


class DefaultsConfig(BaseModel):
    """The sizes a request gets when it leaves them out: the design document's ``selectCluster`` input names only
    a region and whether the service has a volume. ``plans`` overrides them per plan."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ram: PositiveBytes = 512 * 1024**2
    volume_size: PositiveBytes = 10 * 1024**3
    plans: dict[str, PlanOverride] = Field(default_factory=dict)

    def for_plan(self, plan: str) -> RequestDefaults:
        override = self.plans.get(plan)
        ram = override.ram if override and override.ram is not None else self.ram
        volume_size = override.volume_size if override and override.volume_size is not None else self.volume_size
        return RequestDefaults(ram, volume_size)


class RamScoringConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    strategy: RamStrategy = "least_allocated"
    # kube-scheduler accepts resource weights 1..100.
    resources: dict[Literal["memory", "pods"], int] = Field(default_factory=lambda: {"memory": 1})
    shape: list[tuple[int, int]] = Field(default_factory=lambda: [(0, 10), (100, 0)])

    @field_validator("resources")
    @classmethod
    def _weights(cls, value: dict[str, int]) -> dict[str, int]:
        if not value:
            raise ValueError("name at least one resource")
        for name, weight in value.items():
            if not 1 <= weight <= MAX_NODE_SCORE:
                raise ValueError(f"weight of {name} must be in 1..100, got {weight}")
        return value

    @field_validator("shape")
    @classmethod
    def _shape(cls, value: list[tuple[int, int]]) -> list[tuple[int, int]]:
        return validate_shape(value)


class StaleSnapshotConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_age_seconds: float | None = Field(default=900.0, gt=0)
    action: Literal["reject", "allow"] = "reject"


class PolicyConfig(BaseModel):
    """The policy YAML."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    limits_profile: str = "seed"
    region_mode: Literal["strict", "preferred"] = "preferred"
    stale_snapshot: StaleSnapshotConfig = StaleSnapshotConfig()
    ram_scoring: RamScoringConfig = RamScoringConfig()
    volume_shape: list[tuple[int, int]] = Field(default_factory=lambda: [(0, 10), (80, 5), (100, 0)])
    control_plane_comfort_score: int = Field(default=8, ge=0, le=10)
    weights: dict[str, int] = Field(
        default_factory=lambda: {"region": 3, "ram_headroom": 1, "volume_headroom": 1, "control_plane_headroom": 1}
    )
    quotas: dict[str, QuotaConfig] = Field(default_factory=lambda: {"default": QuotaConfig()})
    defaults: DefaultsConfig = DefaultsConfig()

    @field_validator("volume_shape")
    @classmethod
    def _shape(cls, value):
        return validate_shape(value)

    @field_validator("weights")
    @classmethod
    def _weights(cls, value: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(value) - set(SCORER_NAMES))
        if unknown:
            raise ValueError(f"unknown scorers {unknown}; known: {list(SCORER_NAMES)}")
        for name, weight in value.items():
            if not 0 <= weight <= 10:
                raise ValueError(f"weight of {name} must be in 0..10, got {weight}")
        return value

    @model_validator(mode="after")
    def _default_plan(self) -> PolicyConfig:
        if "default" not in self.quotas:
            raise ValueError("quotas must define the 'default' plan")
        return self

    @model_validator(mode="after")
    def _defaults_within_quotas(self) -> PolicyConfig:
        # A default volume the plan's own quota refuses would turn every `has_volume: true` into a 409.
        for plan in sorted(set(self.quotas) | set(self.defaults.plans)):
            size = self.defaults.for_plan(plan).volume_size_bytes
            limit = self.quotas.get(plan, self.quotas["default"]).max_volume_size
            if size > limit:
                override = self.defaults.plans.get(plan)
                own = override is not None and override.volume_size is not None
                loc = ("defaults", "plans", plan, "volume_size") if own else ("defaults", "volume_size")
                message = f"{format_bytes(size)} is above plan {plan!r}'s max_volume_size {format_bytes(limit)}"
                raise field_error(loc, message, size)
        return self

    def compile(self, profile: LimitsProfile | None = None) -> Policy:
        limits = (profile or load_profile(self.limits_profile)).compile()
        return Policy(
            limits=limits,
            region_mode=self.region_mode,
            max_snapshot_age_seconds=self.stale_snapshot.max_age_seconds,
            stale_action=self.stale_snapshot.action,
            ram_strategy=self.ram_scoring.strategy,
            ram_resource_weights=dict(self.ram_scoring.resources),
            ram_shape=tuple(self.ram_scoring.shape),
            volume_shape=tuple(self.volume_shape),
            control_plane_comfort_score=self.control_plane_comfort_score,
            weights=tuple((name, self.weights.get(name, 0)) for name in SCORER_NAMES if self.weights.get(name, 0)),
            quotas={
                plan: Quota(q.max_volume_size, q.max_volumes_per_service, q.max_volumes_per_customer)
                for plan, q in self.quotas.items()
            },
            defaults={plan: self.defaults.for_plan(plan) for plan in set(self.quotas) | set(self.defaults.plans)},
        )


@dataclass(frozen=True, slots=True)
class Quota:
    max_volume_size_bytes: int
    max_volumes_per_service: int
    max_volumes_per_customer: int


@dataclass(frozen=True, slots=True)
class RequestDefaults:
    """A plan's sizes for a request that leaves them out."""

    ram_bytes: int
    volume_size_bytes: int


@dataclass(frozen=True, slots=True)
class Policy:
    limits: Limits
    region_mode: str
    max_snapshot_age_seconds: float | None
    stale_action: str
    ram_strategy: str
    ram_resource_weights: dict[str, int]
    ram_shape: tuple[tuple[int, int], ...]
    volume_shape: tuple[tuple[int, int], ...]
    control_plane_comfort_score: int
    weights: tuple[tuple[str, int], ...]  # only the scorers with a non-zero weight, in a fixed order
    quotas: dict[str, Quota]
    defaults: dict[str, RequestDefaults]  # per plan; "default" is always there

    def quota(self, plan: str) -> Quota:
        return self.quotas.get(plan, self.quotas["default"])

    def request_defaults(self, plan: str) -> RequestDefaults:
        return self.defaults.get(plan, self.defaults["default"])

    def with_limits(self, limits: Limits) -> Policy:
        return replace(self, limits=limits)


def load_policy(path: str | Path | None = None, profile: str | LimitsProfile | None = None) -> Policy:
    """Load a policy YAML (or the shipped default) and compile it against a limits profile.

    ``profile`` overrides the policy's own ``limits_profile``: a name, a path or a loaded profile.
    """
    from placement.yamlio import load_yaml_model, parse_yaml_model

    if path is None:
        text = resources.files("placement.data.policy").joinpath("default.yaml").read_text()
        config = parse_yaml_model(text, PolicyConfig, source="placement/data/policy/default.yaml")
    else:
        config = load_yaml_model(Path(path), PolicyConfig)
    if isinstance(profile, str):
        profile = load_profile(profile)
    return config.compile(profile)


@cache
def default_policy() -> Policy:
    return load_policy()
