"""One sweep run, as a task any executor can run: its seed, its parameter draw, the simulation, its record.

Seeds: run ``i`` uses ``SeedSequence(seed, spawn_key=(i,))`` (what ``SeedSequence(seed).spawn(n)[i]`` gives), so
its seed never depends on the number of runs or on the order runs finish. That sequence spawns two children: the
first feeds the run's parameter draw, the second is the simulation's seed. Any run can be repeated alone with
``sim.run(scenario, SeedSequence(seed, spawn_key=(i, 1)), overrides=[f"{path}={value}" ...drawn])``. The drawn
values are set like ``--set`` what-ifs (``sim.overrides``): scenario fields or limits figures.
"""

from __future__ import annotations

import traceback
from typing import Any

import numpy as np
import pandas as pd

from sim.design_doc import design_doc_record
from sim.outcomes import OUTCOMES
from sim.overrides import set_values
from sim.scenario import Scenario
from sim.simulation import run
from sim.sweep.vary import VarySpec, draw_all


def run_seed(root: int, index: int) -> np.random.SeedSequence:
    """Run ``index``'s seed sequence: the ``index``-th child of ``SeedSequence(root)``, independent of the run count."""
    return np.random.SeedSequence(root, spawn_key=(index,))


def run_draw(specs: list[VarySpec], root: int, index: int) -> tuple[dict[str, float], np.random.SeedSequence]:
    """Run ``index``'s parameter draw (from its own Generator) and its simulation seed."""
    draw_seq, sim_seq = run_seed(root, index).spawn(2)
    return draw_all(specs, np.random.default_rng(draw_seq)), sim_seq


def _fleet_series(timeseries: pd.DataFrame) -> pd.DataFrame:
    fleet = timeseries[timeseries["cluster_id"] == "fleet"]
    numeric = [c for c in fleet.columns if c == "date" or pd.api.types.is_numeric_dtype(fleet[c])]
    numeric = [c for c in numeric if not pd.api.types.is_bool_dtype(fleet[c])]
    out = fleet[numeric].reset_index(drop=True)
    return out.astype({c: "float64" for c in out.columns if c not in ("date", "day")})


def _first_bind_limit(summary: dict[str, Any]) -> str | None:
    rows = [r for r in summary.get("decision_table") or [] if r.get("first_bind_day") is not None]
    return min(rows, key=lambda r: (r["first_bind_day"], r["limit"]))["limit"] if rows else None


# What a run's record keeps of its summary: the first shard, the binding limits and every outcome (sim.outcomes).
RECORD_KEYS = tuple(
    dict.fromkeys(
        ["first_shard_day", "first_shard_date", "first_shard_customers", "first_shard_limit", "placements_attempted"]
        + [o.key for o in OUTCOMES]
        + ["cost_eur_total"]
    )
)


def run_record(index: int, root: int, params: dict[str, float], status: str, error: str | None) -> dict[str, Any]:
    """A run's record before its outcome: which run, its seed, its drawn parameters, and how it ended."""
    return {
        "run": index,
        "seed_entropy": str(root),
        "seed_spawn_key": f"{index},1",
        "params": params,
        "status": status,
        "error": error,
    }


def run_one(scenario: Scenario, specs: list[VarySpec], root: int, index: int) -> tuple[dict[str, Any], pd.DataFrame]:
    """Run ``index`` of a sweep. An exception becomes a ``failed`` record carrying the seed and the error."""
    params, sim_seq = run_draw(specs, root, index)
    record = run_record(index, root, params, "ok", None)
    try:
        varied, _ = set_values(scenario, list(params.items()), label="--vary")
        result = run(varied, sim_seq)
    except Exception as exc:
        last = traceback.extract_tb(exc.__traceback__)[-1:]
        where = f" at {last[0].filename}:{last[0].lineno}" if last else ""
        record.update(status="failed", error=f"{type(exc).__name__}: {exc}{where}")
        return record, pd.DataFrame()
    summary = result.summary
    record.update({key: summary.get(key) for key in RECORD_KEYS})
    record["first_bind_limit"] = _first_bind_limit(summary)
    record.update(design_doc_record(summary.get("design_doc")))
    return record, _fleet_series(result.timeseries)


def run_chunk(
    scenario: Scenario, specs: list[VarySpec], root: int, indices: list[int]
) -> list[tuple[dict[str, Any], pd.DataFrame]]:
    """Several runs in one task (fewer round trips on a remote executor)."""
    return [run_one(scenario, specs, root, i) for i in indices]
