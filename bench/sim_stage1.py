"""Stage-1 benchmark: one run of scenarios/stage1.yaml (~5K customers, two years). Target: <= 3 s per run.

    python -m bench.sim_stage1 [--runs 3]

Runs in one process pinned to one core; prints each run's wall time and the median.
"""

from __future__ import annotations

import argparse
import statistics

from bench.sim_common import describe, peak_rss_mib, pin_to_one_core, timed_run

TARGET_SECONDS = 3.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--packing-checks", action="store_true", help="keep the scenario's CP-SAT packing checks (off: the sim alone)"
    )
    args = parser.parse_args()
    print(f"sim stage1 benchmark ({pin_to_one_core()})")
    times = []
    for seed in range(args.runs):
        seconds, result = timed_run("stage1", seed, packing_checks=args.packing_checks)
        times.append(seconds)
        print(f"  seed {seed}: {seconds:.2f} s  ({describe(result)})")
    median = statistics.median(times)
    verdict = "within" if median <= TARGET_SECONDS else "OVER"
    print(
        f"median {median:.2f} s per run, min {min(times):.2f} s ({verdict} the {TARGET_SECONDS:g} s target); "
        f"peak RSS {peak_rss_mib():.0f} MiB"
    )


if __name__ == "__main__":
    main()
