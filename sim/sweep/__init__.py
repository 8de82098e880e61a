"""Monte Carlo sweeps of one scenario (see ``sim.sweep.core``). The package is also its main function::

    result = sim.sweep(scenario, 200, vary=["longhorn.max_volumes=catalog"], seed=0, out="out/sweep")
    with sim.sweep.process_pool(2) as pool: ...

Modules: ``core`` (``sweep``, ``SweepResult``), ``runs`` (one run as a task: seeds, draw, record), ``store`` (per-run
files, manifest, resume), ``executors`` (process pool, Dask), ``vary`` (``--vary`` specs), ``stats`` (bands,
first shard, binding limits, sensitivity), ``report`` (the HTML page), ``cli`` (``sim sweep``).
"""

from __future__ import annotations

import sys
import types

from sim.sweep.core import SweepResult, sweep
from sim.sweep.executors import dask_executor, process_pool
from sim.sweep.runs import run_chunk, run_draw, run_one, run_seed
from sim.sweep.store import SweepError, manifest_for, prepare_out, read_run, run_path, write_run
from sim.sweep.vary import VaryError, VarySpec, parse_all, parse_vary

__all__ = [
    "SweepError",
    "SweepResult",
    "VaryError",
    "VarySpec",
    "dask_executor",
    "manifest_for",
    "parse_all",
    "parse_vary",
    "prepare_out",
    "process_pool",
    "read_run",
    "run_chunk",
    "run_draw",
    "run_one",
    "run_path",
    "run_seed",
    "sweep",
    "write_run",
]


class _CallableModule(types.ModuleType):
    """``sim.sweep`` is both this package (``sim.sweep.process_pool``) and its function (``sim.sweep(...)``)."""

    def __call__(self, *args, **kwargs) -> SweepResult:
        return sweep(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
