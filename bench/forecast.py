"""A 100-run, 2-year forecast of a 10-cluster fleet with a year of history: ``python -m bench.forecast``.

The fleet: ``scenarios/stage2.yaml``'s customer mix and operator on ten clusters (two regions, Longhorn and
Rook-Ceph), 200 customers on five run nodes each at the start, growing linearly from 250 sign-ups a month;
simulated for a year and exported on day 365 as the router's SQLite database (``sim.forecast.export``: a year
of ledger, the day's load snapshots). Timed: the forecast from that database as ``sim forecast`` makes it (read,
fit, 100 runs of 730 days on a local process pool of ``--workers``, summarise, write Parquet, CSV and HTML).
Target: <= 60 s on the 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

# The simulator is imported in the functions, not here: a pool worker imports this module again (it is the
# ``__main__`` of ``python -m bench.forecast``), and ``sim forecast``'s workers import only what the runs need
# (``sim.forecast.core.WORKER_MODULES``, in the pool's fork server), not the command's modules.

ROOT = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 60.0


def fleet_scenario():
    from sim.scenario import ClusterSpec, Fleet, load_scenario

    base = load_scenario(ROOT / "scenarios" / "stage2.yaml")
    clusters = [
        ClusterSpec(
            id=f"{region}-{i + 1}",
            region=region,
            storage_provider="rook-ceph" if i % 2 else "longhorn",
            run_nodes=5,
            ctrl_node_type="CX52",
            ctrl_nodes=3,
            customers=200,
        )
        for region, count in (("eu-west", 6), ("us-east", 4))
        for i in range(count)
    ]
    return base.model_copy(
        update={
            "name": "bench-forecast-10-clusters",
            "fleet": Fleet(clusters=clusters),
            "growth": base.growth.model_copy(update={"start_per_month": 250.0, "slope_per_month": 5.0}),
            "packing_checks": None,
        }
    )


def main() -> None:
    from sim.forecast.backtest import full_run
    from sim.forecast.core import WORKER_MODULES, forecast, started_from
    from sim.forecast.export import as_of, export_router_db
    from sim.forecast.output import write_forecast
    from sim.start_from.build import read_source
    from sim.sweep.executors import process_pool

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--horizon-days", type=float, default=730)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    scenario = fleet_scenario()
    history = full_run(scenario, 366, seed=0)
    with tempfile.TemporaryDirectory() as folder:
        url = export_router_db(history.world, history.timeseries, 365, Path(folder) / "router.db", history.orders)
        started_at = time.perf_counter()
        state = read_source(url, as_of(history.world.config.start, 365))
        cpu = []
        # As ``sim forecast`` does: the workers start while the growth and churn are fitted.
        with process_pool(args.workers, start=True, preload=WORKER_MODULES) as pool:
            started = started_from(state, scenario, horizon_days=args.horizon_days)
            prepared = time.perf_counter()
            result = forecast(
                started, args.runs, seed=0, executor=pool, base_name=scenario.name,
                on_run=lambda outcome: cpu.append(outcome.cpu_seconds),
            )  # fmt: skip
        ran = time.perf_counter()
        write_forecast(result, Path(folder) / "out")
        done = time.perf_counter()
    elapsed = done - started_at
    head = result.header
    print(
        f"bench.forecast: {len(started.scenario.fleet.clusters)} clusters, {head['customers_measured']} customers "
        f"in the ledger + {head['customers_estimated']} estimated, {started.growth_fit.weeks:.0f} weeks of history; "
        f"{args.runs} runs x {args.horizon_days:g} days on {args.workers} workers"
    )
    print(f"  growth: {head['growth']}")
    print(
        f"  read + fit {prepared - started_at:.1f} s, runs {ran - prepared:.1f} s, write {done - ran:.1f} s: "
        f"total {elapsed:.1f} s (target <= {TARGET_SECONDS:g} s: {'met' if elapsed <= TARGET_SECONDS else 'NOT met'}); "
        f"{head['runs_ok']} of {head['runs']} runs ok; load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"  CPU: {sum(cpu):.1f} s in the workers' runs, {sum(cpu) / len(cpu):.2f} s a run; on {args.workers} idle "
        f"cores the runs alone would take about {sum(cpu) / args.workers:.0f} s"
    )


if __name__ == "__main__":
    main()
