"""A live start carries what the router's database knows beyond today's load into the simulated operator: the
clusters being provisioned (ordered, not delivered) and the level history of the days before (older snapshots).
Built from a real stage 2 run whose operator had two clusters on order."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from placement.router.store import open_store
from sim.config import compile_scenario
from sim.decisions import ON_ORDER_AT_START
from sim.forecast.backtest import full_run
from sim.forecast.core import prepare
from sim.forecast.export import as_of, export_router_db
from sim.forecast.orders import KIND_INDEX, first_orders
from sim.forecast.runs import ForecastTask
from sim.log import Log
from sim.objects import mean_count
from sim.operator import Operator
from sim.sampling import signup_rate_per_day
from sim.scenario import ClusterSpec, load_scenario
from sim.simulation import simulate
from sim.start_from.build import read_source, start_from
from sim.start_from.carry import warm_history
from sim.start_from.regions import signup_regions
from sim.start_from.sources import LiveState
from tests.forecast.conftest import ROOT


@pytest.fixture(scope="module")
def stage2():
    """A stage 2 run and the first day between 30 and 80 with the most new clusters on order (two on this seed:
    us-east-1, ordered for the region's demand, and eu-west-6)."""
    scenario = load_scenario(ROOT / "scenarios" / "stage2.yaml")
    run = full_run(scenario, 110, seed=0)
    clusters = [o for o in run.orders if o.kind == "cluster"]

    def in_flight(day: int) -> dict[str, float]:
        return {run.world.fleet.clusters[o.cluster].cluster.id: o.due - day for o in clusters if o.day <= day < o.due}

    day = max(range(30, 80), key=lambda d: (len(in_flight(d)), -d))
    assert len(in_flight(day)) >= 2
    return scenario, run, day, in_flight(day)


@pytest.fixture(scope="module")
def started(stage2, tmp_path_factory):
    scenario, run, day, _ = stage2
    url = export_router_db(run.world, run.timeseries, day, tmp_path_factory.mktemp("carry") / "router.db", run.orders)
    now = as_of(run.world.config.start, day)
    store = open_store(url, migrate=False, clock=lambda: now)  # the router itself reads the exported rows
    try:
        statuses = {c.id: c.status for c in store.list_clusters()}
    finally:
        store.dispose()
    return prepare(url, scenario, now=now, horizon_days=40), statuses


def test_clusters_on_order_are_exported_as_provisioning_and_started_as_orders_due_when_the_run_received_them(
    stage2, started
):
    _, _, _, in_flight = stage2
    started, statuses = started
    assert {cid for cid, status in statuses.items() if status == "provisioning"} == set(in_flight)
    live = started.scenario.start_from.live
    assert {o.id: o.due_days for o in live.on_order} == pytest.approx(in_flight)
    assert not set(in_flight) & {c.id for c in started.scenario.fleet.clusters}  # not in the fleet yet
    assert set(started.provenance["figure"]) >= {f"clusters.{cid}.on_order" for cid in in_flight}
    trend = started.provenance.set_index("figure").loc["operator trend"]
    assert trend["basis"] == "measured" and trend["value"].startswith("28 days of older snapshots")


def test_the_forecasts_operator_receives_them_and_does_not_order_them_again(stage2, started):
    _, _, _, in_flight = stage2
    started, _ = started
    world, log = simulate(compile_scenario(started.scenario), np.random.SeedSequence(5))
    ids = [world.fleet.clusters[o.cluster].cluster.id for o in log.orders if o.kind == "cluster"]
    carried = [o for o in log.orders if o.kind == "cluster" and world.fleet.clusters[o.cluster].cluster.id in in_flight]
    assert sorted(ids.count(cid) for cid in in_flight) == [1] * len(in_flight)  # each ordered once, not again
    assert all(o.day == 0.0 for o in carried)
    assert {world.fleet.clusters[o.cluster].cluster.id: o.due for o in carried} == pytest.approx(in_flight)
    for order in carried:
        assert world.fleet.clusters[order.cluster].active  # delivered within the 40 days
        # A successor relieves its region's fullest open cluster: that one closes once the successor arrives.
        if order.trigger is not None:
            assert not world.fleet.clusters[order.trigger].open
    # The real operator's orders, said as such: not a limit or a region's demand, and left out of the forecast's
    # table of the simulated operator's orders, which would otherwise tell the planner to order them again today.
    assert {o.limit for o in carried} == {ON_ORDER_AT_START}
    clusters = tuple(c.id for c in started.scenario.fleet.clusters)
    ids_by_number = [info.cluster.id for info in world.fleet.clusters]
    days, limits = first_orders(log.orders, ids_by_number, clusters)
    kind = KIND_INDEX["cluster"]
    for i, cluster in enumerate(clusters):
        mine = [o for o in log.orders if o.kind == "cluster" and o.trigger is not None
                and ids_by_number[o.trigger] == cluster and o.limit != ON_ORDER_AT_START]  # fmt: skip
        assert (days[i, kind] == mine[0].day) if mine else np.isnan(days[i, kind])
        assert limits[i][kind] == (mine[0].limit if mine else None)
    for cid, due in in_flight.items():
        assert any(w.startswith(f"cluster {cid} is on order (provisioning)") and f"due in {due:.0f} days" in w
                   for w in started.warnings)  # fmt: skip


def test_the_operator_starts_with_the_trend_the_older_snapshots_measured(stage2, started):
    _, run, day, _ = stage2
    started, _ = started
    live = started.scenario.start_from.live
    config = compile_scenario(started.scenario.model_copy(update={"horizon_days": 0.5}))
    world, _ = simulate(config, np.random.SeedSequence(5))  # the start's fleet with its customers placed
    operator = Operator(world, Log())
    warm_history(operator, live.history)
    assert len(operator.history) == 28  # the 28 days before; the first look adds today's
    series = run.timeseries
    rises = []
    for number, info in enumerate(world.fleet.clusters[: len(started.scenario.fleet.clusters)]):
        cid = info.cluster.id
        then = series[(series["cluster_id"] == cid) & (series["day"] == day - 28)]
        today = series[(series["cluster_id"] == cid) & (series["day"] == day)]
        if then.empty:
            continue
        change = int(today["pods"].iloc[0]) - int(then["pods"].iloc[0])
        assert operator.history[0]["pods"][number] == max(int(world.fleet.view("pods")[number]) - change, 0)
        # The placements to date rise by the placements the snapshots measured (the rate a cluster kept full keeps
        # room for), and the fleet's count continues the history's.
        measured = {level.days_before: level.placements for level in live.history if level.cluster == cid}
        rise = operator.history[-1]["placed_to_date"][number] - operator.history[0]["placed_to_date"][number]
        assert rise == sum(measured.get(d, 0) for d in range(1, 28))
        rises.append(rise)
        assert world.fleet.view("placed_to_date")[number] - operator.history[-1]["placed_to_date"][number] == (
            measured.get(0, 0)
        )
        # The measured counters are today's again once the history is built.
        assert world.fleet.view("pods")[number] == operator.history[-1]["pods"][number] + (
            int(today["pods"].iloc[0])
            - int(series[(series["cluster_id"] == cid) & (series["day"] == day - 1)]["pods"].iloc[0])
        )
    assert max(rises) > 0


def test_the_region_mix_counts_the_sign_ups_in_the_region_they_asked_for():
    # 100 days of eu-west only, then a us-east cluster: from then on 60 sign-ups in eu-west and 40 in us-east.
    # Before, a fifth of the sign-ups asked for us-east and were placed in eu-west (no cluster in theirs).
    start = pd.Timestamp("2026-01-01", tz="UTC")
    rows = [("eu", start + pd.Timedelta(days=d / 2), "us-east" if d % 5 == 0 else "eu-west") for d in range(200)]
    rows += [
        ("us", start + pd.Timedelta(days=100 + k / 2), "us-east") if k % 5 < 2
        else ("eu", start + pd.Timedelta(days=100 + k / 2), "eu-west")
        for k in range(100)
    ]  # fmt: skip
    ledger = pd.DataFrame(
        {
            "customer_id": [f"c{k}" for k in range(len(rows))],
            "cluster_id": [cluster for cluster, _, _ in rows],
            "reserved_at": [at for _, at, _ in rows],
            "region": [region for _, _, region in rows],
        }
    )
    specs = [ClusterSpec(id="eu", region="eu-west", run_nodes=3), ClusterSpec(id="us", region="us-east", run_nodes=3)]
    now = start + pd.Timedelta(days=160)
    # The ledger says the region each asked for: every sign-up counts in it.
    assert signup_regions(LiveState("router_db", "test", now, (), ledger), specs) == {
        "eu-west": 160.0 + 60.0,
        "us-east": 40.0 + 40.0,
    }
    # A ledger from before migration 0010 does not: counted in their first cluster's region, the whole ledger would
    # say 15 % us-east; the sign-ups since us-east had a cluster say 40 %.
    legacy = ledger.assign(region=None)
    assert signup_regions(LiveState("router_db", "test", now, (), legacy), specs) == {"eu-west": 60.0, "us-east": 40.0}
    # A region asked for where the fleet has no cluster keeps its share.
    asking = ledger.assign(region=ledger["region"].where(ledger.index % 10 != 1, "ap-south"))
    mix = signup_regions(LiveState("router_db", "test", now, (), asking), specs)
    assert mix == {"eu-west": 220.0 - 20.0, "us-east": 80.0 - 10.0, "ap-south": 30.0}


def test_a_start_without_older_snapshots_assumes_the_trend_from_the_growth_law():
    """The shipped state file has no older snapshots. eu-west-1 is at its volume close level (the operator closes
    it on day 0) and us-east-1 is draining, so eu-west-2 takes the region's sign-ups: its assumed rise is all of them,
    and the operator orders its run nodes on day 0 rather than a week later, when its own days first give a trend."""
    now = datetime(2026, 12, 5, tzinfo=UTC)
    stage2 = load_scenario(ROOT / "scenarios" / "stage2.yaml")
    started = start_from(stage2, read_source(str(ROOT / "examples" / "state.yaml"), now))
    live = started.scenario.start_from.live
    assert live.history == [] and [rise.cluster for rise in live.assumed_rise] == ["eu-west-2"]
    per_day = signup_rate_per_day(stage2.growth, np.array([0.0]), now.date())[0] * 0.65
    rise = live.assumed_rise[0]
    assert rise.customers == pytest.approx(per_day)
    assert rise.pods == pytest.approx(per_day * mean_count(stage2.customers.services))
    trend = started.provenance.set_index("figure").loc["operator trend"]
    assert trend["basis"] == "assumed" and trend["value"].startswith("eu-west: 10.68 sign-ups a day")

    def first_orders(scenario):
        short = scenario.model_copy(update={"horizon_days": 30, "horizon_years": None})
        world, log = simulate(compile_scenario(short), 1)
        nodes = {}
        for order in log.orders:
            if order.kind == "nodes":
                nodes.setdefault(world.fleet.clusters[order.cluster].cluster.id, order.day)
        return nodes, log.rejected

    assumed, rejected = first_orders(started.scenario)
    assert assumed == {"eu-west-2": 0.0}  # none for eu-west-1, closed on day 0 with its growth gone
    cold = started.scenario.start_from.model_copy(update={"live": live.model_copy(update={"assumed_rise": []})})
    without, rejected_without = first_orders(started.scenario.model_copy(update={"start_from": cold}))
    assert without["eu-west-2"] >= 7 and rejected < rejected_without / 2


def test_the_forecast_follows_the_clusters_on_order_from_their_arrival(stage2, started):
    """Rows and orders for each cluster on order that arrives within the horizon: its limits' days from the
    forecast's start, its levels at its arrival; the run's own, run alone, say the same."""
    import concurrent.futures as cf

    from sim.forecast.core import forecast
    from sim.forecast.runs import run_forecast

    _, _, _, in_flight = stage2
    started, _ = started
    with cf.ThreadPoolExecutor(1) as pool:
        result = forecast(started, 2, seed=3, executor=pool)
    fleet = [c.id for c in started.scenario.fleet.clusters]
    assert list(dict.fromkeys(result.table["cluster"])) == fleet + list(in_flight)
    regions = [f"{region} (region)" for region in dict.fromkeys([*started.scenario.regions])]
    assert list(dict.fromkeys(result.orders["cluster"])) == fleet + list(in_flight) + regions
    clusters = tuple(fleet + list(in_flight))
    task = ForecastTask(started.scenario, clusters, started.growth_fit, started.churn_fit)
    alone = run_forecast(task, 3, 0)
    for cid, due in in_flight.items():
        mine = result.table[result.table["cluster"] == cid]
        assert set(mine["basis"]) == {f"on order, due in {due:g} days: levels at its arrival"}
        i = clusters.index(cid)
        assert mine["used"].tolist() == pytest.approx(alone.used[i].tolist(), nan_ok=True)
        assert (mine["p10_days"].dropna() >= due - 1).all()  # nothing binds before it arrives
