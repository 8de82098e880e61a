"""100K-customer benchmark: one run of scenarios/stage4.yaml (20K -> 100K+ customers over five years).

    python -m bench.sim_100k [--seed 0]

Targets: <= 60 s and <= 2 GB peak RSS on one core (the process is pinned to one core). Also profiles where
the time goes when --profile is given.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats

from bench.sim_common import describe, peak_rss_mib, pin_to_one_core, timed_run

TARGET_SECONDS = 60.0
TARGET_RSS_MIB = 2048


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", action="store_true", help="print the top functions by own time")
    parser.add_argument(
        "--packing-checks", action="store_true", help="keep the scenario's CP-SAT packing checks (off: the sim alone)"
    )
    args = parser.parse_args()
    print(f"sim 100K benchmark ({pin_to_one_core()})")
    profiler = cProfile.Profile() if args.profile else None
    if profiler:
        profiler.enable()
    seconds, result = timed_run("stage4", args.seed, packing_checks=args.packing_checks)
    if profiler:
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
    rss = peak_rss_mib()
    print(f"  {describe(result)}")
    print(
        f"wall {seconds:.1f} s ({'within' if seconds <= TARGET_SECONDS else 'OVER'} {TARGET_SECONDS:g} s), "
        f"peak RSS {rss:.0f} MiB ({'within' if rss <= TARGET_RSS_MIB else 'OVER'} {TARGET_RSS_MIB} MiB)"
    )


if __name__ == "__main__":
    main()
