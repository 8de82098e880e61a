"""Is the forecast calibrated, and does it beat ``predict_linear``? ``python -m bench.forecast_calibration``

For each stage scenario and seed: one full run (``sim.forecast.backtest.full_run``) past the last forecast day
plus 365 days; on each forecast day its state is exported as a router database, a 365-day forecast is made from
it (``--runs`` Monte Carlo runs), and every cluster x catalogue limit gives a forecast/truth pair with the
``predict_linear`` baseline (30-day window) beside it. The same pairs are scored 90 days ahead (everything past
day 90 censored) and 365 days ahead.

Counting (``sim.forecast.backtest.score``): a limit that does not bind within the horizon is "beyond it", later
than any day. The p10-p90 coverage counts the informative pairs, those whose truth or p90 is within the horizon
(a limit neither reached would only flatter the coverage); the truth is inside when p10 <= truth <= p90, a
censored truth inside when p90 is censored too. The median absolute error of the p50 day (and of the baseline)
is over the pairs whose truth is within the horizon, a censored estimate counting as the horizon.

The table also splits the pairs by what the run's operator had on order on the forecast day (run nodes for the
cluster, or a new cluster in its region): the router's database holds no orders, so the forecast's operator orders
again, later; the split shows what that costs.

The forecast's band is a prediction band (``sim.forecast.core``): its p10 and p90 sit on order statistics
0.1(n+1) and 0.9(n+1) of the n runs, between which a new draw from the same law falls with probability 0.8 for
any n >= 9 (fewer runs clamp the band to their range: (n-1)/(n+1)). The study prints that figure for its
``--runs`` beside the measured coverage: a perfect model scores it.

Must hold (issue 17): coverage 70-90 % at 90 and 365 days; forecast MAE <= half the baseline's at 365 days and
no worse at 90 days. Writes ``out/forecast_calibration/pairs.csv`` and prints the table.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from pathlib import Path

import pandas as pd

from placement.atomic import atomic_write
from sim.forecast.backtest import censor, forecast_at, full_run, score
from sim.scenario import load_scenario
from sim.sweep.executors import process_pool

ROOT = Path(__file__).resolve().parents[1]
HORIZONS = (90, 365)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # The defaults give the issue's +-6 % at both horizons: a coverage near 80 % takes about 171 informative pairs
    # (``pairs_for``), and a seed gives about 21 of them 90 days ahead and 34 at 365 days (stage 2 about 13 and 26,
    # stage 1 about 8 and 8; six seeds gave 125 and 207 at f49e6bf). About 12 minutes on two idle cores.
    parser.add_argument("--scenarios", nargs="+", default=["stage1", "stage2"])
    parser.add_argument("--seeds", type=int, default=9, help="full runs per scenario")
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1")
    parser.add_argument("--days", type=int, nargs="+", default=[90, 150, 210, 270, 330, 360], help="forecast days")
    parser.add_argument("--runs", type=int, default=10, help="Monte Carlo runs per forecast")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "forecast_calibration")
    return parser.parse_args()


def nominal_coverage(runs: int) -> float:
    """How often a new draw falls inside the p10-p90 band of ``runs`` draws of the same law: the band spans the
    order statistics 0.1(runs+1) to 0.9(runs+1), clamped to 1..runs, of runs + 1 equally likely gaps."""
    low, high = max(0.1 * (runs + 1), 1.0), min(0.9 * (runs + 1), float(runs))
    return (high - low) / (runs + 1)


# The precision the issue asks of each horizon's coverage: the half-width of its 95 % interval.
PRECISION = 0.06


def half_width(coverage: float, pairs: int) -> float:
    """The half-width of the normal approximation's 95 % interval of a coverage measured over ``pairs`` pairs."""
    return 1.96 * math.sqrt(max(coverage * (1 - coverage), 1e-9) / max(pairs, 1))


def pairs_for(coverage: float, precision: float = PRECISION) -> int:
    """The informative pairs a coverage near ``coverage`` needs for a 95 % interval of +-``precision``."""
    return math.ceil(1.96**2 * max(coverage * (1 - coverage), 1e-9) / precision**2)


def main() -> None:
    args = parse()
    started = time.perf_counter()
    load_at_start = os.getloadavg()[0]
    frames = []
    with process_pool(args.workers) as pool:
        for name in args.scenarios:
            scenario = load_scenario(ROOT / "scenarios" / f"{name}.yaml")
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                run = full_run(scenario, max(args.days) + max(HORIZONS), seed)
                for day in args.days:
                    result = forecast_at(
                        run, scenario, day, horizon_days=max(HORIZONS), runs=args.runs, seed=seed, executor=pool
                    )
                    pairs = result.pairs.assign(scenario=name, seed=seed)
                    frames.append(pairs)
                    print(f"{name} seed {seed} day {day}: {score(pairs)} ({time.perf_counter() - started:.0f} s)")
    pairs = pd.concat(frames, ignore_index=True)
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write(args.out / "pairs.csv", pairs.to_csv(index=False, lineterminator="\n"))
    rows = []
    for horizon in HORIZONS:
        scored = censor(pairs, horizon)
        in_flight = (scored["nodes_on_order"] > 0) | scored["cluster_on_order"]
        strata = [("nothing on order", scored[~in_flight]), ("orders in flight", scored[in_flight])]
        for label, part in [("all", scored), *list(scored.groupby("scenario")), *strata]:
            rows.append({"horizon_days": horizon, "scenarios": label} | score(part))
    table = pd.DataFrame(rows)
    print(
        f"\nforecast calibration: scenarios {args.scenarios}, seeds {args.first_seed}-"
        f"{args.first_seed + args.seeds - 1}, forecast days {args.days}, "
        f"{args.runs} runs per forecast, {time.perf_counter() - started:.0f} s wall, load average "
        f"{load_at_start:.1f} at the start and {os.getloadavg()[0]:.1f} at the end"
    )
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(
        f"a perfect model's expected coverage with {args.runs} runs a forecast: {nominal_coverage(args.runs):.1%} "
        f"(with 100 runs: {nominal_coverage(100):.1%})"
    )
    for horizon in HORIZONS:
        row = table[(table["horizon_days"] == horizon) & (table["scenarios"] == "all")].iloc[0]
        n, coverage = int(row["informative_pairs"]), row["coverage_p10_p90"]
        width = half_width(coverage, n)
        bar = 0.5 if horizon == 365 else 1.0
        precise = (
            f"within ±{PRECISION:.0%}" if width <= PRECISION
            else f"wider than ±{PRECISION:.0%}, which takes about {pairs_for(coverage)} pairs: more --seeds"
        )  # fmt: skip
        print(
            f"{horizon} days ahead: coverage {coverage:.1%} ± {width:.1%} over {n} pairs ({precise}; "
            f"{'met' if 0.7 <= coverage <= 0.9 else 'NOT met'}: 70-90 %); MAE p50 "
            f"{row['mae_p50_days']:.1f} d vs predict_linear {row['mae_baseline_days']:.1f} d "
            f"({'met' if row['mae_p50_days'] <= bar * row['mae_baseline_days'] else 'NOT met'}: <= {bar:g} x)"
        )


if __name__ == "__main__":
    main()
