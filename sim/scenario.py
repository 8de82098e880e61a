"""The scenario: a declarative description of one growth study, kept apart from the engine that runs it.

Every model is pydantic v2, frozen, with ``extra="forbid"``; variants are discriminated unions on ``kind``.
``load_scenario`` is the only way in from a file. It resolves everything the file points at (a policy
YAML, a CSV of monthly sign-ups) into the model itself, so a loaded ``Scenario`` is self-contained:
``scenario.model_copy(update={"limits_overrides": {...}})`` is runnable anywhere (a Dask worker, a test).

The random laws it names (growth, churn, sizes, counts, delays) are in ``sim.distributions``. Units: sizes
are bytes (Kubernetes quantities such as ``512Mi`` are accepted), times are days unless a field says months.
"""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, ValidationInfo, field_validator, model_validator

from placement.limits import PROFILE_NAMES
from placement.model import StorageProvider
from placement.policy import PolicyConfig
from placement.units import to_bytes
from placement.yamlio import ConfigError, load_yaml_model
from sim.distributions import (
    Churn,
    CountDistribution,
    DelayDistribution,
    ExponentialDelay,
    FixedCount,
    FixedSize,
    Growth,
    MonthlySignups,
    NoChurn,
    PiecewiseGrowth,
    SizeDistribution,
    SpecModel,
    resolve_gaps,
)
from sim.operator_policy import MigrationPolicy, NPlusPolicy, ScaleDownPolicy, SpillPolicy
from sim.start_from.spec import StartFrom, beside

# The longest horizon a scenario may ask for. Hetzner prices, the limits and the design itself are not known that far
# ahead, and a run's memory grows with its customers: a horizon of centuries is a typo, not a study.
MAX_HORIZON_YEARS = 30

# --- customers ------------------------------------------------------------------------------------------------


class CustomerMix(SpecModel):
    services: CountDistribution = FixedCount(kind="fixed", value=1)
    service_delay: DelayDistribution = ExponentialDelay(kind="exponential", mean_days=30)
    ram: SizeDistribution = FixedSize(kind="fixed", value=to_bytes("512Mi"))
    volume_probability: float = Field(default=0.0, ge=0, le=1)
    volume_size: SizeDistribution = FixedSize(kind="fixed", value=to_bytes("5Gi"))
    pods_per_service: int = Field(default=1, ge=1)
    etcd_objects_per_customer: int | None = Field(default=None, ge=0, description="None: the limits profile's")
    etcd_objects_per_service: int | None = Field(default=None, ge=0, description="None: the limits profile's")
    plan: str = "default"


# --- fleet ----------------------------------------------------------------------------------------------------


class ClusterSpec(SpecModel):
    id: str = Field(min_length=1, max_length=63, pattern=r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
    region: str = Field(min_length=1)
    storage_provider: StorageProvider = "longhorn"
    run_nodes: int = Field(ge=0)
    ctrl_node_type: str | None = Field(default=None, description="a type on the ladder; None: see ctrl_rung")
    ctrl_rung: int | None = Field(
        default=None,
        description="position on the ladder instead of a type (0 first, -1 last), so the same "
        "scenario runs under either limits profile; neither: the first rung",
    )
    ctrl_nodes: int = Field(default=1, ge=1, description="control-plane nodes (3 for HA)")
    customers: int = Field(default=0, ge=0, description="customers already on the cluster at the start")
    run_node_allocatable_bytes: int | None = Field(
        default=None,
        gt=0,
        description="one run node's allocatable RAM as measured (a live start); the run nodes added to the cluster "
        "are its size. None: the operator's run node type's",
    )
    run_node_max_pods: int | None = Field(
        default=None, ge=1, description="its run nodes' max-pods as measured; None: the run node type's"
    )
    run_node_disk_bytes: int | None = Field(
        default=None,
        gt=0,
        description="raw disk one run node gives the storage provider as measured (its replicas on the run nodes); "
        "None: the run node type's",
    )

    @model_validator(mode="after")
    def _one_ctrl(self) -> ClusterSpec:
        if self.ctrl_node_type is not None and self.ctrl_rung is not None:
            raise ValueError("give ctrl_node_type or ctrl_rung, not both")
        return self

    def ctrl_type_on(self, ladder: tuple[str, ...]) -> str:
        if self.ctrl_node_type is not None:
            return self.ctrl_node_type
        return ladder[self.ctrl_rung or 0]


class Fleet(SpecModel):
    clusters: list[ClusterSpec] = Field(min_length=1)

    @field_validator("clusters")
    @classmethod
    def _unique(cls, clusters: list[ClusterSpec]) -> list[ClusterSpec]:
        ids = [c.id for c in clusters]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate cluster ids {dupes}")
        return clusters


# --- operator -------------------------------------------------------------------------------------------------


class ControlPlanePolicy(SpecModel):
    ladder: list[str] | None = Field(default=None, description="None: the limits profile's control_plane_ladder")
    upgrade_basis: Literal["comfortable", "tight"] = "comfortable"
    upgrade_at_fraction: float = Field(default=1.0, gt=0, le=1.5)
    lead_days: float = Field(default=1.0, ge=0)


class ShardTriggers(SpecModel):
    """When a cluster stops taking new customers, and when its successor is ordered.

    The defaults follow the design document: "Plan to shard around 500-1000 nodes / 50-100K pods".
    """

    nodes: int | None = Field(default=500, ge=1)
    pods: int | None = Field(default=50_000, ge=1)
    volumes_fraction: float | None = Field(default=1.0, gt=0, le=1, description="of the storage provider's max")
    etcd_objects: int | None = Field(default=None, ge=1, description="None: 80% of the k8s etcd-object limit")
    ctrl_tight_fraction: float | None = Field(
        default=1.0, gt=0, le=1, description="of the top ladder rung's tight objects"
    )
    prepare_fraction: float = Field(default=0.8, gt=0, le=1, description="order the successor at this share")
    close_fraction: float = Field(
        default=0.9, gt=0, le=1, description="close to new customers at this share (headroom for existing ones)"
    )
    lead_days: float = Field(default=30.0, ge=0)
    new_cluster_run_nodes: int | None = Field(default=None, ge=1, description="None: the provider's min nodes")
    new_cluster_ctrl_nodes: int = Field(default=3, ge=1)
    regional_cluster_at_customers: int | None = Field(
        default=None, ge=1, description="open a cluster in a region once this many of its customers live elsewhere"
    )


class FixedStorage(SpecModel):
    kind: Literal["fixed"]
    provider: StorageProvider

    @property
    def providers(self) -> tuple[str, ...]:
        """Every provider a new cluster may get under this rule."""
        return (self.provider,)


class SwitchStorage(SpecModel):
    """New clusters get ``before`` until any condition holds, then ``after``."""

    kind: Literal["switch"]
    before: StorageProvider = "longhorn"
    after: StorageProvider = "rook-ceph"
    on_date: date | None = None
    after_clusters: int | None = Field(default=None, ge=1, description="fleet size (clusters) that flips it")
    on_volume_shard: bool = Field(default=True, description="flip once a cluster shards on its volume limit")

    @model_validator(mode="after")
    def _some_condition(self) -> SwitchStorage:
        if self.on_date is None and self.after_clusters is None and not self.on_volume_shard:
            raise ValueError("a switch needs on_date, after_clusters or on_volume_shard")
        return self

    @property
    def providers(self) -> tuple[str, ...]:
        """Every provider a new cluster may get under this rule."""
        return (self.before, self.after)


def _storage_shorthand(value: Any) -> Any:
    # A provider's name alone means "fixed"; whether the limits profile has it is checked when compiled.
    if isinstance(value, str):
        return {"kind": "fixed", "provider": value}
    return value


NewClusterStorage = Annotated[
    FixedStorage | SwitchStorage, BeforeValidator(_storage_shorthand), Field(discriminator="kind")
]


class OperatorPolicy(SpecModel):
    auto_add_nodes: bool = True
    auto_upgrade_control_plane: bool = True
    auto_shard: bool = True
    run_node_type: str | None = Field(default=None, description="None: the limits profile's default run node type")
    node_order_at_ram_fraction: float = Field(default=0.8, gt=0, le=1)
    node_order_at_pods_fraction: float = Field(
        default=0.9,
        gt=0,
        le=1,
        description="pods are a count, not bins: no fragmentation, and the trend covers the lead time; "
        "a service that finds no pod room spills to another cluster of its region",
    )
    node_lead_days: float = Field(default=14.0, ge=0, description="Hetzner dedicated servers are not instant")
    max_run_nodes_per_cluster: int | None = Field(
        default=None,
        ge=1,
        description="None: as many as the cluster's pod CIDR holds (kubernetes.cluster_cidr_mask_size) less its "
        "control-plane nodes; a larger cap is refused, since a node past the pod CIDR's ranges runs no pod",
    )
    control_plane: ControlPlanePolicy = ControlPlanePolicy()
    shard: ShardTriggers = ShardTriggers()
    new_cluster_storage: NewClusterStorage = FixedStorage(kind="fixed", provider="longhorn")
    scale_down: ScaleDownPolicy = ScaleDownPolicy()
    n_plus: NPlusPolicy = NPlusPolicy()
    spill: SpillPolicy = SpillPolicy()
    migration: MigrationPolicy = MigrationPolicy()


class CostSettings(SpecModel):
    backup_used_fraction: float = Field(default=0.5, ge=0, le=1, description="share of volume bytes backed up")


# --- packing checks -------------------------------------------------------------------------------------------


class DesignDocStage(SpecModel):
    """What the design document expects of the stage a scenario replays: ``clusters`` clusters of
    ``run_nodes_per_cluster`` run nodes hold ``customers`` active customers. The run's output compares its own
    fleet with it and says plainly where they disagree (``sim.design_doc``)."""

    source: str = Field(min_length=1, description="where the design document says it")
    customers: int = Field(gt=0, description="the stage's size in active customers")
    clusters: int = Field(ge=1, description="clusters the design document expects for them")
    run_nodes_per_cluster: tuple[int, int] | None = Field(
        default=None, description="the run nodes per cluster it expects, as [fewest, most]"
    )

    @field_validator("run_nodes_per_cluster")
    @classmethod
    def _range(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        if value is not None and not 1 <= value[0] <= value[1]:
            raise ValueError(f"{list(value)}: needs 1 <= fewest <= most")
        return value


class PackingChecks(SpecModel):
    """On chosen days, the live services against the fewest run nodes and clusters that could hold them.

    At each check day (after that day's placements and the operator's look) the live services are grouped by
    their cluster's region and storage provider, and each group is packed by ``placement.optimize``: the L1
    bound, first-fit decreasing, CP-SAT, and the greedy engine (this scenario's policy) re-placing the same
    services in arrival order. CP-SAT runs on one worker with a deterministic time limit, so a seed replays.
    """

    days: list[int] = Field(default_factory=list, description="days since start_date")
    dates: list[date] = Field(default_factory=list, description="calendar dates, instead of or besides days")
    deterministic_time_limit: float = Field(
        default=10.0,
        gt=0,
        description="CP-SAT work per solve in its deterministic time units (about seconds on one core); "
        "not wall-clock, so a run replays",
    )
    max_nodes_per_cluster: int | None = Field(
        default=None, ge=1, description="None: operator.max_run_nodes_per_cluster"
    )
    ctrl_node_type: str | None = Field(default=None, description="None: the top rung of the control-plane ladder")

    @field_validator("days")
    @classmethod
    def _days(cls, days: list[int]) -> list[int]:
        if days and min(days) < 0:
            raise ValueError("days count from start_date and cannot be negative")
        return days

    @model_validator(mode="after")
    def _some_day(self) -> PackingChecks:
        if not self.days and not self.dates:
            raise ValueError("give days or dates (or leave packing_checks out)")
        return self

    def days_from(self, start: date) -> list[int]:
        """The check days, in order; a day named twice (as a day and a date) is checked once."""
        return sorted(set(self.days) | {(d - start).days for d in self.dates})


# --- the scenario ---------------------------------------------------------------------------------------------


class Scenario(SpecModel):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    description: str = ""
    start_date: date
    horizon_days: float | None = Field(default=None, ge=1, description="whole days are simulated")
    horizon_years: float | None = Field(default=None, gt=0)
    growth: Growth
    regions: dict[str, float] = Field(min_length=1, description="region mix of new customers (weights)")
    customers: CustomerMix = CustomerMix()
    churn: Churn = NoChurn(kind="none")
    fleet: Fleet
    limits_profile: str = Field(default="seed", description=f"one of {PROFILE_NAMES} or a profile YAML path")
    limits_overrides: dict[str, float] = Field(default_factory=dict, description="dotted figure path -> value")
    policy: PolicyConfig | str | None = Field(
        default=None,
        description="engine policy: inline, a path, or the default; its own limits_profile is ignored, the "
        "scenario's (or --profile) applies",
    )
    operator: OperatorPolicy = OperatorPolicy()
    costs: CostSettings = CostSettings()
    packing_checks: PackingChecks | None = Field(
        default=None, description="greedy engine vs the packing optimum on chosen days; None: no checks"
    )
    design_doc: DesignDocStage | None = Field(
        default=None, description="what the design document expects of this stage; None: no comparison"
    )
    start_from: StartFrom | None = Field(
        default=None, description="the live fleet to start from (sim.start_from); None: the fleet above"
    )

    @model_validator(mode="after")
    def _horizon(self) -> Scenario:
        if (self.horizon_days is None) == (self.horizon_years is None):
            raise ValueError("give exactly one of horizon_days and horizon_years")
        return self

    @field_validator("horizon_days", "horizon_years")
    @classmethod
    def _horizon_bound(cls, value: float | None, info: ValidationInfo) -> float | None:
        years = None if value is None else value / 365.25 if info.field_name == "horizon_days" else value
        if years is not None and years > MAX_HORIZON_YEARS:
            raise ValueError(
                f"{value:g} is past the longest horizon, {MAX_HORIZON_YEARS} years ({MAX_HORIZON_YEARS * 365.25:g} "
                "days): prices, limits and the design are not known that far ahead"
            )
        return value

    @field_validator("packing_checks")
    @classmethod
    def _checks_within_horizon(cls, checks: PackingChecks | None, info: ValidationInfo) -> PackingChecks | None:
        start = info.data.get("start_date")
        horizon = _horizon_days(info.data.get("horizon_days"), info.data.get("horizon_years"))
        if checks is None or start is None or horizon is None:
            return checks  # the missing fields have their own errors
        problems = packing_check_problems(checks, start, horizon)
        if problems:
            raise ValueError("; ".join(problems))
        return checks

    @field_validator("regions")
    @classmethod
    def _weights(cls, regions: dict[str, float]) -> dict[str, float]:
        if min(regions.values()) < 0 or sum(regions.values()) <= 0:
            raise ValueError("region weights must be non-negative and not all zero")
        return regions

    @property
    def days(self) -> float:
        return self.horizon_days if self.horizon_days is not None else self.horizon_years * 365.25


def _horizon_days(horizon_days: float | None, horizon_years: float | None) -> int | None:
    """The last simulated day (the run samples whole days), or None when the horizon itself is malformed."""
    if (horizon_days is None) == (horizon_years is None):
        return None
    return int(horizon_days if horizon_days is not None else horizon_years * 365.25)


def packing_check_problems(checks: PackingChecks, start: date, horizon: int) -> list[str]:
    """Check days before the start or past the last simulated day, each named by its field and position."""
    end = start + timedelta(days=horizon)
    problems = [
        f"days[{i}]: day {day} is past the horizon (the last simulated day is {horizon}, {end.isoformat()})"
        for i, day in enumerate(checks.days)
        if day > horizon
    ]
    for i, when in enumerate(checks.dates):
        if when < start:
            problems.append(f"dates[{i}]: {when.isoformat()} is before start_date {start.isoformat()}")
        elif when > end:
            problems.append(
                f"dates[{i}]: {when.isoformat()} is past the horizon (the last simulated day is {end.isoformat()})"
            )
    return problems


# --- loading --------------------------------------------------------------------------------------------------


def load_scenario(path: str | Path) -> Scenario:
    """Read, validate and resolve a scenario YAML. Raises ``ConfigError`` naming the file, line and field."""
    path = Path(path)
    scenario = load_yaml_model(path, Scenario)
    base = path.parent
    update: dict[str, Any] = {}
    if isinstance(scenario.policy, str):
        update["policy"] = load_yaml_model(_resolve(base, scenario.policy), PolicyConfig)
    growth = scenario.growth
    if isinstance(growth, PiecewiseGrowth) and growth.csv is not None and not growth.monthly:
        csv_path = _resolve(base, growth.csv)
        rows = read_monthly_csv(csv_path)
        try:
            rows = resolve_gaps(rows, growth.gaps)
        except ValueError as exc:
            raise ConfigError(str(csv_path), [str(exc)]) from None
        update["growth"] = growth.model_copy(update={"monthly": rows, "csv": str(_resolve(base, growth.csv))})
    if str(scenario.limits_profile) not in PROFILE_NAMES:
        update["limits_profile"] = str(_resolve(base, scenario.limits_profile))
    if scenario.start_from is not None:  # a file source is found beside the scenario, as the others are
        update["start_from"] = beside(scenario.start_from, base)
    return scenario.model_copy(update=update) if update else scenario


def _resolve(base: Path, name: str) -> Path:
    candidate = Path(name)
    return candidate if candidate.is_absolute() else base / candidate


def read_monthly_csv(path: Path) -> list[MonthlySignups]:
    """A CSV with a ``month,signups`` header; errors name the file and the line."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read: {exc.strerror or exc}"]) from None
    reader = csv.DictReader(text.splitlines())
    if reader.fieldnames is None or {"month", "signups"} - set(reader.fieldnames):
        raise ConfigError(str(path), [f"line 1: header must have the columns month,signups, got {reader.fieldnames}"])
    rows: list[MonthlySignups] = []
    problems: list[str] = []
    for line, record in enumerate(reader, start=2):
        try:
            rows.append(MonthlySignups(month=record["month"].strip(), signups=float(record["signups"])))
        except (ValueError, TypeError, AttributeError) as exc:
            message = str(exc).splitlines()[-1] if str(exc) else type(exc).__name__
            problems.append(f"line {line}: {record}: {message.strip()}")
    if not rows and not problems:
        problems.append("no data rows")
    months = [r.month for r in rows]
    if not problems and months != sorted(set(months)):
        problems.append("months must be increasing, each month once")
    if problems:
        raise ConfigError(str(path), problems)
    return rows
