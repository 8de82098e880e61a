"""1M-customer benchmark: one run of scenarios/stage5-1m.yaml (100K -> about 1M customers over five years).

    python -m bench.sim_1m [--seed 0] [--profile]

Targets: <= 180 s and <= 2 GB peak RSS on one core (the process is pinned to one core).
"""

from __future__ import annotations

from bench.sim_common import benchmark_main

if __name__ == "__main__":
    benchmark_main(__doc__, "sim 1M benchmark", "stage5-1m", 180.0, 2048)
