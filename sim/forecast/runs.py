"""One Monte Carlo run of a forecast, as a task any ``concurrent.futures`` executor runs (a process pool, Dask).

Seeds as a sweep's (``sim.sweep.runs.run_seed``): run ``i`` uses ``SeedSequence(seed, spawn_key=(i,))``, whose
first child draws the run's growth and churn laws from their fits and whose second is the simulation's seed, so a
run never depends on the run count, the executor or the order runs finish.

Growth: the fitted kinds (``sim.growth_fit``) are averaged by their information-criterion weights: each run draws
a kind with its weight, then that kind's parameters from its fit's covariance. A single chosen kind's covariance
says nothing of the chance that another kind continues the history, which at a year ahead is most of the
uncertainty. Churn: a constant hazard drawn from its Gamma posterior, or lognormal lifetimes from their fit's
covariance, by their weights (``sim.churn_fit``). Without a fit, the base scenario's laws stand.

A run gives, per initial cluster and catalogue limit, the first day (after the start) its used level reaches the
capacity the cluster has on day 0 (``sim.planning.measures``); NaN when it does not within the horizon.

A run whose drawn growth would sign up more customers within the horizon than ``signup_budget`` allows (a short
history's exponential, drawn from the upper tail of its fit: 70 % a month for two years is 30 million sign-ups)
stops on the day its expected sign-ups reach the budget (``stop_day``), and says so (``stopped_day``). Such a run
was refused before (more than a run holds), and dropping it took the fastest growth out of the bands; run to the
horizon, one would take hours and gigabytes. By the day a run has signed up ten times the customers it started with,
its clusters have mostly reached what they can: a limit not reached then counts as not within the horizon, and the
forecast says how many such limits runs that went on reached after that day (``sim.forecast.core.stopped_note``).
"""

from __future__ import annotations

import hashlib
import math
import pickle
import time
import traceback
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sim.churn_fit import ChurnFit
from sim.collect import cluster_series
from sim.config import MAX_EXPECTED_SIGNUPS, RunConfig, compile_scenario, expected_signups_by_day
from sim.forecast.orders import first_orders, first_region_orders
from sim.forecast.refusals import turned_away
from sim.growth_fit import GrowthFit
from sim.opening import Openings
from sim.planning import RESOURCES
from sim.scenario import Scenario
from sim.simulation import simulate
from sim.sweep.runs import run_seed

LIMITS = tuple(m.key for m in RESOURCES)  # every catalogue limit, in the catalogue's order
# A run's expected sign-ups: at least this many, else this many times the customers it starts with. 250,000 sign-ups
# are about 20 s and 250 MB of a run (bench.sim_1m: 1.2M in 90 s, 1 GB).
SIGNUP_BUDGET_FLOOR = 250_000
SIGNUP_BUDGET_PER_CUSTOMER = 10


@dataclass(frozen=True)
class ForecastTask:
    """What every run needs (pickled once per task): the started scenario with its horizon, and the fits."""

    scenario: Scenario
    clusters: tuple[str, ...]  # the initial clusters, in the order of the result's rows
    growth_fit: GrowthFit | None
    churn_fit: ChurnFit | None
    signup_floor: int = SIGNUP_BUDGET_FLOOR  # ``signup_budget``'s floor
    regions: tuple[str, ...] = ()  # the regions the result reports new clusters and turned-away customers for


@dataclass
class RunOutcome:
    """One run: its index, status, error, the laws it drew, and the bind day per (cluster, limit)."""

    index: int
    status: str
    error: str | None
    drawn: dict[str, Any]
    bind_days: np.ndarray  # clusters x LIMITS, float days, NaN: not within the horizon
    used: np.ndarray  # day-0 used level, clusters x LIMITS
    capacity: np.ndarray  # day-0 capacity, clusters x LIMITS
    cpu_seconds: float = 0.0  # the run's CPU time in its worker (machine-dependent: for benchmarks, never written)
    # Per cluster and order kind (``sim.forecast.orders``): the first day the operator ordered it, and why.
    first_orders: np.ndarray | None = None
    order_limits: list | None = None
    # Per region (``ForecastTask.regions``): the first day the operator ordered a cluster for its demand
    # (``sim.forecast.orders.first_region_orders``), and its new customers turned away (``sim.forecast.refusals``).
    region_orders: np.ndarray | None = None
    turned_away: np.ndarray | None = None
    first_turned_away: float = math.nan  # the day the first was (NaN: none)
    signed_up: int = 0  # new customers within the run


def draw_laws(task: ForecastTask, rng: np.random.Generator) -> tuple[dict[str, Any], dict[str, Any]]:
    """This run's scenario update (growth, churn) and what was drawn, for the run table."""
    update: dict[str, Any] = {}
    drawn: dict[str, Any] = {
        "growth_kind": None,
        "growth": None,
        "churn_kind": None,
        "churn": None,
        "stopped_day": None,
    }
    fit = task.growth_fit
    if fit is not None and fit.enough:
        weights = fit.weights()
        kinds = [f for f in fit.fits if weights[f.kind] > 0]
        probabilities = np.array([weights[f.kind] for f in kinds])
        chosen = kinds[int(rng.choice(len(kinds), p=probabilities / probabilities.sum()))]
        growth = chosen.draw(rng)
        update["growth"] = growth
        drawn["growth_kind"] = chosen.kind
        drawn["growth"] = ", ".join(f"{k}={v:.4g}" for k, v in growth.model_dump().items() if k != "kind")
    if task.churn_fit is not None and task.churn_fit.fitted:
        churn = task.churn_fit.draw(rng)
        update["churn"] = churn
        drawn["churn_kind"] = churn.kind
        drawn["churn"] = ", ".join(f"{k}={v:.4g}" for k, v in churn.model_dump().items() if k != "kind")
    return update, drawn


def bind_days(timeseries: pd.DataFrame, scenario: Scenario, clusters: tuple[str, ...], config: RunConfig | None = None):
    """Per cluster of ``clusters`` and limit: the first day the used level reaches its day-0 capacity (NaN: never
    within the run), and the day-0 used level and capacity. ``config``: ``scenario`` compiled, if the caller has it."""
    config = config or compile_scenario(scenario)
    rows = timeseries[timeseries["cluster_id"].isin(clusters)]
    shape = (len(clusters), len(LIMITS))
    days, used0, capacity0 = np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)
    day = rows["day"].to_numpy(dtype=float)
    # Each row's cluster as a code, hashed once (comparing every row's id string once per cluster cost more).
    codes, ids = pd.factorize(rows["cluster_id"].to_numpy())
    code_of = {cluster: code for code, cluster in enumerate(ids.tolist())}
    # Every limit's used level and capacity per row (``sim.planning.measures``' own, without the shares and the
    # frame of them it builds), as one matrix each, a row per limit: a cluster's rows are taken and compared for all
    # limits at once (per limit, numpy's calls cost more than the comparisons).
    limits, policy = config.limits, scenario.operator
    used_all = np.array([measure.used(rows) for measure in RESOURCES], dtype=float)
    capacity_all = np.array([measure.capacity(rows, limits, policy) for measure in RESOURCES], dtype=float)
    for i, cluster in enumerate(clusters):
        code = code_of.get(cluster)
        if code is None:
            continue
        mine = np.flatnonzero(codes == code)
        mine = mine[np.argsort(day[mine], kind="stable")]
        used = used_all[:, mine]
        capacity = capacity_all[:, mine[0]]
        used0[i], capacity0[i] = used[:, 0], capacity
        # The first row at or over a finite capacity above 0 (none: NaN).
        reached = (used >= capacity[:, None]) & (np.isfinite(capacity) & (capacity > 0))[:, None]
        bound = reached.any(axis=1)
        days[i, bound] = day[mine[reached.argmax(axis=1)[bound]]]
    return days, used0, capacity0


def signup_budget(scenario: Scenario, floor: int = SIGNUP_BUDGET_FLOOR) -> int:
    """The most customers a forecast run expects to sign up (see the module's docstring)."""
    start = sum(spec.customers for spec in scenario.fleet.clusters)
    return min(max(floor, SIGNUP_BUDGET_PER_CUSTOMER * start), MAX_EXPECTED_SIGNUPS - start)


def stop_day(scenario: Scenario, floor: int = SIGNUP_BUDGET_FLOOR) -> int | None:
    """The first whole day by whose end the run's expected sign-ups reach ``signup_budget``; None when they do not
    within the horizon (the run goes to its end)."""
    expected = expected_signups_by_day(scenario)
    over = np.flatnonzero(~(expected < signup_budget(scenario, floor)))  # NaN or inf is over too
    return None if not len(over) else max(1, int(over[0]))


def run_forecast(task: ForecastTask, root: int, index: int) -> RunOutcome:
    """Run ``index`` of a forecast. An exception becomes a ``failed`` outcome carrying the error."""
    started = time.process_time()
    draw_seq, sim_seq = run_seed(root, index).spawn(2)
    update, drawn = draw_laws(task, np.random.default_rng(draw_seq))
    empty = np.full((len(task.clusters), len(LIMITS)), np.nan)
    try:
        scenario = task.scenario.model_copy(update=update)
        drawn["stopped_day"] = stopped = stop_day(scenario, task.signup_floor)
        if stopped is not None:
            scenario = scenario.model_copy(update={"horizon_days": float(stopped), "horizon_years": None})
        config = compile_scenario(scenario)
        world, log = simulate(config, sim_seq, openings=_OPENINGS)
        # Only the per-cluster levels: the costs, events, customers and decision table of a full ``collect``
        # would be thrown away.
        days, used, capacity = bind_days(cluster_series(world, log), scenario, task.clusters, config)
        ordered, why = first_orders(log.orders, [info.cluster.id for info in world.fleet.clusters], task.clusters)
        regional = first_region_orders(log.orders, [info.region for info in world.fleet.clusters], task.regions)
        away, first_away, signed_up = turned_away(world, task.regions)
    except Exception as exc:
        last = traceback.extract_tb(exc.__traceback__)[-1:]
        where = f" at {last[0].filename}:{last[0].lineno}" if last else ""
        return RunOutcome(index, "failed", f"{type(exc).__name__}: {exc}{where}", drawn, empty, empty, empty)
    cpu = time.process_time() - started
    return RunOutcome(
        index, "ok", None, drawn, days, used, capacity, cpu, ordered, why, regional, away, first_away, signed_up
    )


def run_forecast_chunk(task: ForecastTask | PackedTask, root: int, indices: list[int]) -> list[RunOutcome]:
    """Several runs in one task (fewer round trips on a remote executor)."""
    if isinstance(task, PackedTask):
        task = task.unpack()
    return [run_forecast(task, root, i) for i in indices]


@dataclass(frozen=True)
class PackedTask:
    """A ``ForecastTask`` pickled once by the forecast, with a key: every chunk sends these bytes (copying bytes
    costs next to nothing), and a worker unpickles them once for all the chunks it runs, not once per chunk (a
    started scenario holds every live customer: unpickling it was ~2 % of a run)."""

    key: str
    blob: bytes

    @classmethod
    def of(cls, task: ForecastTask) -> PackedTask:
        blob = pickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL)
        return cls(hashlib.sha256(blob).hexdigest(), blob)

    def unpack(self) -> ForecastTask:
        task = _UNPACKED.get(self.key)
        if task is None:
            _UNPACKED.clear()  # one forecast at a time per worker: keep only its task
            task = _UNPACKED[self.key] = pickle.loads(self.blob)
        return task


# Per process: the time-0 placements of the last run, which every later run of the same forecast replays.
_OPENINGS = Openings()
_UNPACKED: dict[str, ForecastTask] = {}  # per worker process: the forecast task it last unpacked, by key
