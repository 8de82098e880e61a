"""``sim compare`` benchmark: stage 1 against the same scenario with kubelet max-pods 250, paired runs.

    python -m bench.sim_compare [--runs 8] [--workers 2]

Prints the wall time of the whole comparison (2 x runs simulations on a local process pool, the page not included)
and the answer it gives: the total-cost difference B - A with its p10/p50/p90 band.
"""

from __future__ import annotations

import argparse
import os
import time

import sim
from bench.sim_common import peak_rss_mib
from sim import fmt
from sim.compare import compare
from sim.overrides import apply_overrides
from sim.sweep.executors import process_pool


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    args = parser.parse_args()
    baseline = sim.load_scenario("scenarios/stage1.yaml")
    what_if, _ = apply_overrides(baseline, ["kubernetes.max_pods_per_node=250"])
    with process_pool(args.workers) as pool:
        started = time.perf_counter()
        result = compare(baseline, what_if, args.runs, seed=0, executor=pool)
        seconds = time.perf_counter() - started
    total = result.outcomes.set_index("outcome").loc["cost_total"]
    print(f"sim compare stage1 vs max-pods 250: {args.runs} paired runs per side on {args.workers} workers")
    print(f"  wall {seconds:.1f} s ({seconds / (2 * args.runs):.2f} s per simulation); parent peak RSS "
          f"{peak_rss_mib():.0f} MiB")  # fmt: skip
    print(
        f"  total cost A {fmt.eur(total['a_p50'])}, B {fmt.eur(total['b_p50'])}; B - A "
        f"{fmt.band(total['diff_p10'], total['diff_p50'], total['diff_p90'], 'EUR', signed=True)}, "
        f"B cheaper in {fmt.share(total['b_lower_share'], 0)} of runs"
    )


if __name__ == "__main__":
    main()
