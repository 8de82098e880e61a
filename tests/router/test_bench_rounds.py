"""bench.router_http's summary of its placement rounds: a pair whose room ran out is said not to be a comparison."""

from __future__ import annotations

from bench.router_summary import print_rounds
from bench.router_wrk import Run


def run(name: str, rate: float, p99: float, errors: int) -> Run:
    return Run(name, 6, rate, 1.0, p99, 0.5, errors)


def test_a_rate_whose_floor_ran_out_of_room_is_flagged_and_a_clean_one_is_not(capsys):
    pairs = {
        "paced 200/s": [(run("floor", 280, 2.5, 0), run("placements", 275, 3.5, 0))] * 2,
        "saturated": [
            (run("floor", 3800, 13.0, 35_000), run("placements", 720, 78.0, 0)),
            (run("floor", 800, 13.0, 0), run("placements", 720, 78.0, 1_900)),
        ],
    }
    loads = {"paced 200/s": [0.5, 0.6], "saturated": [1.1, 1.9]}
    print_rounds(pairs, loads, 1, duration=10)
    out = capsys.readouterr().out
    assert "| paced 200/s | 1.40× (0.5), 1.40× (0.6) | **1.40×**" in out
    flagged = [line for line in out.splitlines() if line.startswith("not like for like")]
    assert flagged == [
        "not like for like, saturated: up to 92% of the floor's statements lost a guard and up to 26% of the "
        "router's answers were errors (the seeded room ran out): its ratios compare unequal work"
    ]
