"""The summaries ``bench.router_http`` prints after its placement rounds: each rate's p99 ratios to the database
floor round by round, with their median and spread (``print_rounds``), and where a paced placement's cost above the
database floor goes, against the HTTP and booking floors (``print_split``)."""

from __future__ import annotations

import numpy as np

from bench.router_wrk import Run, workers_label

UNLIKE = 0.01  # errors, as a share of a side's answers, past which a pair is not a comparison (``print_rounds``)


def spread(values: list[float]) -> str:
    """The median of ``values`` with their range (and quartiles, from four values on)."""
    low, q1, median, q3, high = np.percentile(values, [0, 25, 50, 75, 100])
    quartiles = f", quartiles {q1:.2f}-{q3:.2f}×" if len(values) >= 4 else ""
    return f"**{median:.2f}×** (range {low:.2f}-{high:.2f}×{quartiles})"


def print_rounds(
    pairs: dict[str, list[tuple[Run, Run]]], loads: dict[str, list[float]], workers: int, duration: float
) -> None:
    """Each rate's placements against their floor, round by round (with the load average over the pair), and the
    median and spread of the rounds' ratios; under the table, the rates whose runs were not like for like (more
    than ``UNLIKE`` of a side's answers errors: the fleet's room ran out, so the floor's statements undid themselves
    cheaply, or the router answered 409)."""
    print(
        f"\n| placements, PostgreSQL, {workers_label(workers)} | p99 / floor p99, round by round (load) | "
        "p99 ratio: median (spread) | "
        "CPU / floor CPU: median (spread) |"
    )
    print("|---|---|---|---|")
    for label, rounds in pairs.items():
        p99_ratios = [placed.p99 / floor.p99 for floor, placed in rounds]
        cpu_ratios = [placed.cpu_ms / floor.cpu_ms for floor, placed in rounds if placed.cpu_ms and floor.cpu_ms]
        each = ", ".join(f"{ratio:.2f}× ({load:.1f})" for ratio, load in zip(p99_ratios, loads[label], strict=True))
        cpu = spread(cpu_ratios) if cpu_ratios else ""
        print(f"| {label} | {each} | {spread(p99_ratios)} | {cpu} |")
    for label, rounds in pairs.items():
        floor_errors = max(floor.errors / max(floor.rate * duration, 1) for floor, _ in rounds)
        router_errors = max(placed.errors / max(placed.rate * duration, 1) for _, placed in rounds)
        if max(floor_errors, router_errors) > UNLIKE:
            print(
                f"not like for like, {label}: up to {floor_errors:.0%} of the floor's statements lost a guard and up "
                f"to {router_errors:.0%} of the router's answers were errors (the seeded room ran out): its ratios "
                "compare unequal work"
            )


def print_split(splits: dict[str, list[tuple[Run, Run, Run, Run]]]) -> None:
    """Where a placement's cost goes, round by round: the database floor; the HTTP floor (the same requests answered
    at once); the booking floor (the HTTP floor sending the database floor's statement: both floors in one request,
    ``bench.router_floor``); and the placements. The placements' p99 against each floor's, and their CPU and median
    above the booking floor's: the router's own work (the decision, the hold, the statement's parameters, the cache
    and the metrics)."""
    for label, rounds in splits.items():
        print(
            f"\n| {label}: where a placement goes | database floor p50 / p99 / CPU ms | HTTP floor | booking floor | "
            "placements | placements' p99 / booking floor's | placements above the booking floor: p50, CPU ms "
            "(share of its CPU) |"
        )
        print("|---|---|---|---|---|---|---|")
        ratios, own_cpu, own_share = [], [], []
        for number, (floor, http, booking, placed) in enumerate(rounds, 1):
            cells = [f"{run.p50:.2f} / {run.p99:.2f} / {run.cpu_ms or 0:.2f}" for run in (floor, http, booking, placed)]
            ratios.append(placed.p99 / booking.p99)
            above = f"{placed.p50 - booking.p50:.2f}"
            if placed.cpu_ms and booking.cpu_ms:
                cpu = placed.cpu_ms - booking.cpu_ms
                own_cpu.append(cpu)
                own_share.append(cpu / placed.cpu_ms)
                above += f", {cpu:.2f} ({cpu / placed.cpu_ms:.0%})"
            print(f"| round {number} | {' | '.join(cells)} | {ratios[-1]:.2f}× | {above} |")
        booking_ratios = [booking.p99 / floor.p99 for floor, _, booking, _ in rounds]
        summary = (
            f"{label}: the booking floor's p99 is {spread(booking_ratios)} the database floor's; the placements' is "
            f"{spread(ratios)} the booking floor's"
        )
        if own_cpu:
            summary += (
                f"; the placements' CPU above the booking floor's: median {np.median(own_cpu):.2f} ms a placement "
                f"({np.median(own_share):.0%} of theirs)"
            )
        print(summary)
