"""100K-customer benchmark: one run of scenarios/stage4.yaml (20K -> 100K+ customers over five years).

    python -m bench.sim_100k [--seed 0] [--profile] [--packing-checks]

Targets: <= 25 s (issue 14) and <= 2 GB peak RSS on one core (the process is pinned to one core). Also profiles
where the time goes when --profile is given.
"""

from __future__ import annotations

from bench.sim_common import benchmark_main

if __name__ == "__main__":
    benchmark_main(__doc__, "sim 100K benchmark", "stage4", 25.0, 2048)
