"""When should new clusters go Ceph? The static crossover of the storage cost model, with its band and drivers.

``storage_crossover`` answers the question with numbers from the one storage cost model
(``placement.storage_cost.cluster_cost``) and the limits profile's figures, each with its source and range:

- the crossover: the expected volumes per cluster above which a Rook-Ceph cluster costs less per month than
  the Longhorn clusters that would hold the same volumes (and stays cheaper);
- its p10-p90 band: the crossover at draws of every storage figure from its catalog range (uniform, as
  ``--vary PATH=catalog`` draws), from a ``SeedSequence``;
- the same without the operations-cost estimate, and how much of the answer rests on it;
- a tornado: the crossover with each figure at its low and its high end, the others at their values;
- a date and a customer count: when a cluster of the larger region of the shipped growth (stage 2, then stage 3)
  would hold that many volumes, were storage no limit (``growth_path``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from placement.limits import Limits, LimitsProfile, load_profile
from placement.storage_cost import Workload, cluster_cost, largest_cluster_volumes
from sim.distributions import MonthlyChurn, NoChurn
from sim.initial_fleet import mean_size
from sim.objects import mean_count
from sim.sampling import DAYS_PER_MONTH, signup_rate_per_day
from sim.scenario import Scenario, load_scenario

INCUMBENT, CHALLENGER = "longhorn", "rook-ceph"
# Expected volumes per cluster the crossover is looked for at (log-spaced; the answer's resolution is ~1.5 %).
GRID = np.unique(np.round(np.geomspace(20, 60_000, 500)))
# The storage cost model's figures a sweep and the tornado vary (those of them with a catalog range).
COST_FIGURES = (
    "max_volumes",
    "replicas",
    "base_ram_bytes_per_node",
    "ram_bytes_per_volume",
    "ram_bytes_per_replica",
    "cpu_cores_per_node",
    "cpu_cores_per_instance",
    "osd_ram_bytes_per_disk",
    "osd_cpu_cores_per_disk",
    "disks_per_node",
    "mon_ram_bytes",
    "mgr_ram_bytes",
    "mds_count",
    "mds_ram_bytes",
    "controller_ram_bytes",
    "daemon_cpu_cores",
    "disk_usable_fraction",
    "dedicated_storage_nodes",
    "storage_node.eur_month",
    "operations_eur_per_cluster_month",
)
OPERATIONS = "operations_eur_per_cluster_month"
SHIPPED_GROWTH = ("stage2.yaml", "stage3.yaml")


def workload_of(scenario: Scenario) -> Workload:
    """What each volume of the scenario's customer mix brings with it (means of its distributions)."""
    mix = scenario.customers
    services = mean_count(mix.services)
    volumes = services * mix.volume_probability
    if volumes <= 0:
        raise ValueError(f"scenario {scenario.name!r} has no volumes (customers.volume_probability is 0)")
    return Workload(
        customers_per_volume=1 / volumes,
        services_per_volume=services / volumes,
        ram_bytes_per_volume=services * mean_size(mix.ram) / volumes,
        pods_per_volume=services * mix.pods_per_service / volumes,
        volume_bytes=mean_size(mix.volume_size),
    )


def storage_figure_paths(profile: LimitsProfile, providers: Sequence[str] = (INCUMBENT, CHALLENGER)) -> list[str]:
    """The cost model's figures of ``providers`` that have a catalog range (low < high), and the run node's disk."""
    paths = []
    for provider in providers:
        for name in COST_FIGURES:
            path = f"{provider}.{name}"
            try:
                figure = profile.figure(path)
            except KeyError:
                continue
            if figure.low is not None and figure.high is not None and figure.low < figure.high:
                paths.append(path)
    disk = profile.figure("run_node.disk_bytes")
    if disk.low is not None and disk.high is not None and disk.low < disk.high:
        paths.append("run_node.disk_bytes")
    return paths


def crossover_volumes(limits: Limits, workload: Workload, ceiling: float = np.inf) -> float:
    """The smallest expected volumes per cluster from which a Ceph cluster costs less than the Longhorn clusters
    for the same volumes, at every count up to ``ceiling`` (inf: Ceph is not cheaper within the grid and ceiling)."""
    grid = GRID[ceiling >= GRID]
    if not len(grid):
        return np.inf
    cheaper = (
        cluster_cost(limits, CHALLENGER, grid, workload)["total"]
        < cluster_cost(limits, INCUMBENT, grid, workload)["total"]
    )
    if not cheaper[-1]:
        return np.inf
    dearer = np.flatnonzero(~cheaper)
    return float(grid[dearer[-1] + 1]) if len(dearer) else float(grid[0])


def _without_operations(profile: LimitsProfile) -> LimitsProfile:
    return profile.with_values({f"{p}.{OPERATIONS}": 0.0 for p in (INCUMBENT, CHALLENGER)})


def _band(values: np.ndarray) -> dict[str, float]:
    """p10/p50/p90 (inf where more than that share of draws found no crossover)."""
    finite = np.where(np.isfinite(values), values, np.inf)
    return {
        q: float(np.quantile(finite, p, method="inverted_cdf")) for q, p in (("p10", 0.1), ("p50", 0.5), ("p90", 0.9))
    }


def sweep_crossover(
    profile: LimitsProfile, workload: Workload, draws: int, seed: int, ceiling: float = np.inf
) -> pd.DataFrame:
    """One row per draw: every varied figure's drawn value, the crossover, and the crossover without operations."""
    paths = storage_figure_paths(profile)
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    rows = []
    for _ in range(draws):
        values = {path: float(rng.uniform(profile.figure(path).low, profile.figure(path).high)) for path in paths}
        drawn = profile.with_values(values)
        rows.append(
            {
                **values,
                "crossover_volumes": crossover_volumes(drawn.compile(), workload, ceiling),
                "crossover_volumes_without_operations": crossover_volumes(
                    _without_operations(drawn).compile(), workload, ceiling
                ),
            }
        )
    return pd.DataFrame(rows)


def tornado(profile: LimitsProfile, workload: Workload, ceiling: float = np.inf) -> pd.DataFrame:
    """The crossover with each figure at its low and at its high end (the others at their values), largest swing
    first; a side without a crossover counts at ``ceiling`` (or the grid's end) for the swing."""
    base = crossover_volumes(profile.compile(), workload, ceiling)
    cap = min(ceiling, float(GRID[-1]))
    rows = []
    for path in storage_figure_paths(profile):
        figure = profile.figure(path)
        low = crossover_volumes(profile.with_values({path: figure.low}).compile(), workload, ceiling)
        high = crossover_volumes(profile.with_values({path: figure.high}).compile(), workload, ceiling)
        rows.append(
            {
                "figure": path,
                "low": figure.low,
                "value": figure.value,
                "high": figure.high,
                "unit": figure.unit,
                "crossover_at_low": low,
                "crossover_at_high": high,
                "swing": abs(min(high, cap) - min(low, cap)),
                "source": figure.source,
            }
        )
    table = pd.DataFrame(rows).sort_values("swing", ascending=False, kind="stable").reset_index(drop=True)
    table.attrs["crossover_at_values"] = base
    return table


def _customers_path(scenario: Scenario, start_customers: float) -> pd.DataFrame:
    """Expected customers by day over the scenario's horizon: its growth's expected sign-ups less its churn."""
    days = np.arange(int(scenario.horizon_years * 365.25) + 1, dtype=float)
    signups = signup_rate_per_day(scenario.growth, days, scenario.start_date)
    churn = scenario.churn
    if isinstance(churn, NoChurn):
        hazard = 0.0
    elif isinstance(churn, MonthlyChurn):
        hazard = -np.log1p(-churn.rate) / DAYS_PER_MONTH
    else:  # lifetimes with a mean: a constant hazard of 1 / mean (a steady-state approximation)
        hazard = 1 / (churn.mean_months * DAYS_PER_MONTH)
    customers = np.empty(len(days))
    level = start_customers
    for i, arriving in enumerate(signups):
        customers[i] = level
        level = level * np.exp(-hazard) + arriving
    dates = [scenario.start_date + timedelta(days=int(d)) for d in days]
    largest_share = max(scenario.regions.values()) / sum(scenario.regions.values())
    return pd.DataFrame({"date": pd.to_datetime(dates), "customers": customers, "largest_region_share": largest_share})


def growth_path(scenarios: Sequence[Scenario], workload: Workload, cap_volumes: float) -> pd.DataFrame:
    """The shipped growth, one scenario after the other (each from its own start date and initial fleet): expected
    customers, and the volumes one cluster of the larger region would hold were storage no limit (the region's
    volumes, split over as many clusters as the non-storage limits need, ``cap_volumes`` each)."""
    parts = []
    for index, scenario in enumerate(scenarios):
        start = sum(spec.customers for spec in scenario.fleet.clusters)
        part = _customers_path(scenario, start)
        if index + 1 < len(scenarios):
            part = part[part["date"] < pd.Timestamp(scenarios[index + 1].start_date)]
        part["scenario"] = scenario.name
        parts.append(part)
    path = pd.concat(parts, ignore_index=True)
    region_volumes = path["customers"] * path["largest_region_share"] / workload.customers_per_volume
    clusters = np.maximum(np.ceil(region_volumes / cap_volumes), 1)
    path["volumes_per_cluster"] = region_volumes / clusters
    return path


def when(path: pd.DataFrame, volumes: float) -> tuple[date | None, float | None]:
    """The first date (and the fleet's customers then) at which a cluster would hold ``volumes`` volumes."""
    reached = np.flatnonzero(path["volumes_per_cluster"].to_numpy() >= volumes) if np.isfinite(volumes) else []
    if not len(reached):
        return None, None
    row = path.iloc[int(reached[0])]
    return row["date"].date(), float(row["customers"])


def quarter(day: date | None) -> str:
    return "never within the shipped growth" if day is None else f"{day.year}-Q{(day.month - 1) // 3 + 1}"


@dataclass
class CrossoverAnswer:
    """The answer and everything it rests on (tables are pandas frames)."""

    profile: str
    crossover: float  # at the profile's values
    band: dict[str, float]  # p10/p50/p90 over the draws
    band_without_operations: dict[str, float]
    crossover_without_operations: float
    largest_cluster_volumes: float
    dates: dict[str, tuple[date | None, float | None]]  # per band quantile: (date, customers)
    draws: pd.DataFrame
    tornado: pd.DataFrame
    growth: pd.DataFrame
    costs: pd.DataFrame  # per provider and grid point: the cost parts at the profile's values
    sources: pd.DataFrame
    operations_share: float  # of draws whose answer moves by more than 10 % without operations
    notes: list[str] = field(default_factory=list)

    @property
    def sentence(self) -> str:
        """The answer in words, first: the number, its band and the assumptions it rests on."""
        p10, p50, p90 = (self.band[q] for q in ("p10", "p50", "p90"))
        day, customers = self.dates["p50"]
        ops = self.band_without_operations["p50"]
        if not np.isfinite(p50):
            return (
                f"New clusters should stay on Longhorn: in more than half of {len(self.draws)} draws of the storage "
                f"cost figures Rook-Ceph is not cheaper below {self.largest_cluster_volumes:,.0f} volumes per cluster, "
                f"the most one cluster holds before another limit binds (profile {self.profile}; "
                f"without the operations-cost estimate: {_volumes(ops)})."
            )
        start = self.growth["date"].iloc[0].date()
        if day is None:
            when_text = "at no date of the shipped stage 2 and stage 3 growth"
        elif day <= start:
            when_text = f"already when stage 2 starts ({quarter(day)}, ~{customers / 1000:.1f}K customers)"
        else:
            when_text = f"from about {quarter(day)}, at ~{customers / 1000:.1f}K customers"
        return (
            f"New clusters should go Rook-Ceph once they are expected to hold more than ~{p50:,.0f} volumes each "
            f"(p10-p90 {_volumes(p10)} to {_volumes(p90)}), {when_text} in the shipped stage 2 and 3 growth; "
            f"this rests on the {self.profile} profile's storage figures, the operations-cost estimate "
            f"(without it: {_volumes(ops)}), dedicated Ceph storage nodes and the stage 2 customer mix."
        )


def format_volumes(value: float) -> str:
    """A crossover as text: ``"1,234 volumes"``, or ``"no crossover"`` for a draw where Ceph never pays."""
    return _volumes(value)


def _volumes(value: float) -> str:
    return f"{value:,.0f} volumes" if np.isfinite(value) else "no crossover"


def cost_sources(profile: LimitsProfile, providers: Sequence[str] = (INCUMBENT, CHALLENGER)) -> pd.DataFrame:
    """Every figure the storage cost model reads, with its value, range, unit and source."""
    paths = [f"{p}.{name}" for p in providers for name in COST_FIGURES]
    paths += ["run_node.ram_bytes", "run_node.disk_bytes", "costs.price_multiplier"]
    rows = []
    for path in paths:
        try:
            figure = profile.figure(path)
        except KeyError:
            continue
        rows.append({"figure": path, "value": figure.value, "low": figure.low, "high": figure.high,
                     "unit": figure.unit, "source": figure.source})  # fmt: skip
    costs = profile.costs
    node = next(t for t in costs.run_node_types if t.name == costs.default_run_node_type)
    rows.append({"figure": f"costs.run_node_types.{node.name}.eur_month", "value": node.eur_month, "low": None,
                 "high": None, "unit": "EUR/month", "source": node.source})  # fmt: skip
    for name in profile.control_plane_ladder:
        ctrl = next(t for t in profile.control_plane_types if t.name == name)
        rows.append({"figure": f"control_plane_types.{name}.eur_month", "value": ctrl.eur_month, "low": None,
                     "high": None, "unit": "EUR/month", "source": ctrl.source})  # fmt: skip
    return pd.DataFrame(rows)


def cost_curves(limits: Limits, workload: Workload, grid: np.ndarray = GRID) -> pd.DataFrame:
    """Per provider and expected volumes per cluster: each cost part, EUR per month and per volume-month."""
    frames = []
    for provider in (INCUMBENT, CHALLENGER):
        parts = cluster_cost(limits, provider, grid, workload)
        frame = pd.DataFrame({name: np.asarray(value, dtype=float) for name, value in parts.items()})
        frame.insert(0, "volumes", grid)
        frame.insert(0, "provider", provider)
        frame["eur_per_volume_month"] = frame["total"] / frame["volumes"]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def storage_crossover(
    profile: str | LimitsProfile = "seed",
    *,
    draws: int = 200,
    seed: int = 2026,
    growth: Sequence[str | Path | Scenario] | None = None,
    scenarios_dir: str | Path | None = None,
) -> CrossoverAnswer:
    """The answer to "when should new clusters go Ceph?" (see the module's doc). ``growth``: the scenarios whose
    growth and customer mix turn volumes per cluster into a date (default: the shipped stage 2 and stage 3)."""
    if draws < 10:
        raise ValueError(f"draws must be at least 10 for a p10-p90 band, got {draws}")
    profile = profile if isinstance(profile, LimitsProfile) else load_profile(profile)
    base = Path(scenarios_dir) if scenarios_dir is not None else _shipped_scenarios()
    loaded = [
        s if isinstance(s, Scenario) else load_scenario(base / s if not Path(s).exists() else s)
        for s in (growth or SHIPPED_GROWTH)
    ]
    workload = workload_of(loaded[0])
    limits = profile.compile()
    ceiling = largest_cluster_volumes(limits, workload)
    table = sweep_crossover(profile, workload, draws, seed, ceiling)
    band = _band(table["crossover_volumes"].to_numpy())
    without = _band(table["crossover_volumes_without_operations"].to_numpy())
    path = growth_path(loaded, workload, ceiling)
    with_ops, no_ops = table["crossover_volumes"].to_numpy(), table["crossover_volumes_without_operations"].to_numpy()
    moved = ~np.isclose(np.minimum(with_ops, GRID[-1]), np.minimum(no_ops, GRID[-1]), rtol=0.1)
    return CrossoverAnswer(
        profile=profile.name,
        crossover=crossover_volumes(limits, workload, ceiling),
        band=band,
        band_without_operations=without,
        crossover_without_operations=crossover_volumes(_without_operations(profile).compile(), workload, ceiling),
        largest_cluster_volumes=ceiling,
        dates={q: when(path, v) for q, v in band.items()},
        draws=table,
        tornado=tornado(profile, workload, ceiling),
        growth=path,
        costs=cost_curves(limits, workload),
        sources=cost_sources(profile),
        operations_share=float(moved.mean()),
    )


def _shipped_scenarios() -> Path:
    for root in (Path.cwd(), *Path.cwd().parents, Path(__file__).resolve().parents[1]):
        if (root / "scenarios" / SHIPPED_GROWTH[0]).is_file():
            return root / "scenarios"
    raise FileNotFoundError(f"no scenarios/{SHIPPED_GROWTH[0]} found from {Path.cwd()}; pass scenarios_dir")
