"""What the planners' notebooks (``notebooks/*.py``) share: smoke or full mode, where the scenarios are, sweeps that
stop on a failed run, and the sweep tables as a plot and a sentence need them.

    mode = NotebookMode.from_env()           # CAPPLAN_QUICK=0: full mode; anything else (or unset): smoke mode
    runs = mode.pick(smoke=4, full=100)
    scenario = sim.load_scenario(mode.scenarios / "stage1.yaml")

Smoke mode is what the test suite runs: small fixed-seed runs whose numbers are real simulator output at that size.
Full mode runs the sizes a planner acts on.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from sim.sweep.core import SweepResult, sweep
from sim.sweep.executors import process_pool

MODE_VARIABLE = "CAPPLAN_QUICK"
T = TypeVar("T")


def find_scenarios(start: Path | None = None) -> Path:
    """The repository's ``scenarios/`` folder: from ``start`` (the working directory) upwards, as a notebook runs
    from ``notebooks/`` or a build folder below the repository."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "scenarios").is_dir():
            return folder / "scenarios"
    raise FileNotFoundError(f"no scenarios/ folder in {here} or above it: run the notebook inside the repository")


@dataclass(frozen=True, slots=True)
class NotebookMode:
    full: bool
    scenarios: Path

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, start: Path | None = None) -> NotebookMode:
        environ = os.environ if environ is None else environ
        pd.set_option("display.width", 160)
        pd.set_option("display.max_columns", 30)
        return cls(full=environ.get(MODE_VARIABLE, "1") == "0", scenarios=find_scenarios(start))

    @property
    def name(self) -> str:
        return "full mode" if self.full else f"smoke mode ({MODE_VARIABLE}=0 for full mode)"

    def pick(self, smoke: T, full: T) -> T:
        return full if self.full else smoke


def run_sweep(
    scenario: Any,
    runs: int,
    *,
    executor: Any = None,
    vary: tuple[str, ...] | list[str] = (),
    seed: int = 2026,
    metric: str = "first_shard",
) -> SweepResult:
    """``sim.sweep`` that raises on a failed run, naming it. Run i gets the same draw and seed in every sweep with the
    same ``vary`` and ``seed``, so sweeps of different scenarios are paired run by run."""
    result = sweep(scenario, runs, vary=list(vary), executor=executor, seed=seed, metric=metric)
    if not result.failed.empty:
        raise RuntimeError(f"sweep runs failed:\n{result.failed[['run', 'seed_spawn_key', 'error']].to_string()}")
    return result


class NotebookSweeps:
    """A notebook's sweeps on one executor; ``shutdown()`` in the last cell.

    Full mode (or no mode given): one local process pool, so its workers start once. It works from a Jupyter kernel
    (no ``__main__`` file, the spawn/forkserver trap): the pool runs ``sim.sweep``'s own importable ``run_chunk``, and
    nothing defined in the notebook is pickled. Smoke mode: the few short runs in the kernel's own process (one
    thread), which costs less than starting workers that import the simulator; the runs and their results are the
    same. Every sweep has the same ``seed``, so run i of two sweeps with the same ``vary`` has the same draw and
    simulation seed (paired).
    """

    def __init__(
        self,
        mode: NotebookMode | None = None,
        seed: int = 2026,
        metric: str = "first_shard",
        workers: int | None = None,
    ) -> None:
        self.seed, self.metric = seed, metric
        in_process = mode is not None and not mode.full
        self.pool: cf.Executor = cf.ThreadPoolExecutor(max_workers=1) if in_process else process_pool(workers)

    def run(self, scenario: Any, runs: int, vary: tuple[str, ...] | list[str] = ()) -> SweepResult:
        return run_sweep(scenario, runs, executor=self.pool, vary=vary, seed=self.seed, metric=self.metric)

    def shutdown(self) -> None:
        self.pool.shutdown()


def band(result: SweepResult, metric: str, scale: float = 1) -> pd.DataFrame:
    """One daily fleet metric's p10/p50/p90 by date, from the sweep's bands table."""
    table = result.bands[result.bands["metric"] == metric].set_index("date")
    return table[["p10", "p50", "p90"]] / scale


def plot_band(ax: Any, result: SweepResult, metric: str, label: str, scale: float = 1, color: Any = None) -> None:
    """The p10-p90 band shaded and the p50 as a line, on a matplotlib axis."""
    b = band(result, metric, scale)
    ax.fill_between(b.index, b["p10"], b["p90"], alpha=0.25, color=color, linewidth=0)
    ax.plot(b.index, b["p50"], color=color, label=f"{label} (p50; band p10-p90)")


def binding_shares(result: SweepResult, which: str) -> str:
    """Each limit's share of the runs that it triggered the first shard in (``which="first_shard"``) or bound first
    in (``which="first_bind"``), most first: ``"volumes:longhorn 75%, pods_per_node 25%"``."""
    counts = result.binding_counts.sort_values(f"{which}_runs", ascending=False, kind="stable")
    counts = counts[counts[f"{which}_runs"] > 0]
    pairs = zip(counts["limit"], counts[f"{which}_share"], strict=True)
    return ", ".join(f"{limit} {share:.0%}" for limit, share in pairs)
