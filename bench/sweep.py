"""Sweep benchmark: N runs of the stage 2 scenario on 1 worker, on a 2-process pool and on a Dask LocalCluster.

    python -m bench.sweep [--runs 200] [--workers 2]

Reports wall time, runs/s, the parallel efficiency against one worker (T1 / (K * TK)) and Dask's overhead per run:
(T_dask - T_pool) * K / N, as a share of one run's time (T1 / N). With K workers on K cores that figure also holds
the CPU that Dask's scheduler, nannies and worker event loops take from the runs, so ``--overhead-runs M`` (default
40) also times one Dask worker against one pool worker on the same M runs, leaving a core for Dask's own processes,
as a remote cluster's scheduler would have: (T_dask1 - T_pool1) / M is what Dask adds to each task.
"""

from __future__ import annotations

import argparse
import time

import sim
from bench.sim_common import SCENARIOS
from sim.sweep import dask_executor, process_pool

VARY = ["longhorn.max_volumes=catalog", "etcd.objects_per_service=catalog"]


def timed(scenario, runs: int, executor, chunk_size: int = 1) -> tuple[float, sim.SweepResult]:
    started = time.perf_counter()
    result = sim.sweep(scenario, runs, vary=VARY, executor=executor, seed=0, chunk_size=chunk_size)
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--scenario", default="stage2")
    parser.add_argument("--overhead-runs", type=int, default=40, help="runs for the 1-worker Dask vs pool timing")
    args = parser.parse_args()
    scenario = sim.load_scenario(SCENARIOS / f"{args.scenario}.yaml")
    n, k = args.runs, args.workers
    with process_pool(1) as pool:
        t1, one = timed(scenario, n, pool)
    with process_pool(k) as pool:
        tk, many = timed(scenario, n, pool)
    started = time.perf_counter()
    with dask_executor(workers=k) as executor:
        startup = time.perf_counter() - started
        td, dask = timed(scenario, n, executor)
    assert one.runs.equals(many.runs) and one.runs.equals(dask.runs), "executors disagree"
    m = args.overhead_runs
    if m:
        with process_pool(1) as pool:
            tp1, pool_one = timed(scenario, m, pool)
        with dask_executor(workers=1) as executor:
            td1, dask_one = timed(scenario, m, executor)
        assert pool_one.runs.equals(dask_one.runs), "executors disagree"
    per_run = t1 / n
    overhead = (td - tk) * k / n
    print(f"scenario {args.scenario}, {n} runs, {k} workers, vary {VARY}")
    print("| executor | wall (s) | runs/s | parallel efficiency vs 1 worker |")
    print("|---|---|---|---|")
    print(f"| process pool, 1 worker | {t1:.1f} | {n / t1:.2f} | 1.00 |")
    print(f"| process pool, {k} workers | {tk:.1f} | {n / tk:.2f} | {t1 / (k * tk):.2f} |")
    print(f"| Dask LocalCluster, {k} workers | {td:.1f} | {n / td:.2f} | {t1 / (k * td):.2f} |")
    print(f"one run: {per_run:.2f} s; Dask LocalCluster start {startup:.2f} s (not in the wall time above)")
    share = 100 * overhead / per_run
    print(f"Dask overhead per run vs the process pool: {overhead * 1000:.0f} ms = {share:.1f} % of a run")
    if m:
        task_overhead = (td1 - tp1) / m
        print(
            f"one worker each, {m} runs: pool {tp1:.1f} s, Dask {td1:.1f} s; Dask adds {task_overhead * 1000:.0f} ms "
            f"per task = {100 * task_overhead / (tp1 / m):.1f} % of a run"
        )
    print(f"failed runs: {len(one.failed)}; first shard p50 day {one.first_shard['first_shard_day'].iloc[1]:.0f}")


if __name__ == "__main__":
    main()
