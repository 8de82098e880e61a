"""``sim.sweep`` inside a Jupyter kernel, where nbmake runs the notebooks.

A kernel has no ``__main__`` file, the known trap for spawn/forkserver pools (ecosystem notes §4). The default
process pool and a pool shared across sweeps both work there, because what they run is ``sim.sweep``'s own
importable ``run_chunk``; nothing is pickled from the kernel's ``__main__``.
"""

from __future__ import annotations

from pathlib import Path

from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

TINY = Path(__file__).resolve().parents[1] / "sweep" / "tiny.yaml"


def test_sweep_in_a_jupyter_kernel_with_the_default_and_a_shared_pool(tmp_path):
    cell = f"""\
import sim
from sim.sweep import process_pool

scenario = sim.load_scenario({str(TINY)!r})
vary = ["longhorn.max_volumes=catalog"]
default = sim.sweep(scenario, 2, vary=vary, seed=3)
with process_pool(2) as pool:
    first = sim.sweep(scenario, 2, vary=vary, executor=pool, seed=3)
    second = sim.sweep(scenario.model_copy(update={{"horizon_days": 60}}), 2, vary=vary, executor=pool, seed=3)
for result in (default, first, second):
    assert result.failed.empty, result.failed[["run", "error"]].to_string()
assert default.runs.equals(first.runs)
assert len(second.bands["day"].unique()) < len(first.bands["day"].unique())
"""
    notebook = new_notebook(cells=[new_code_cell(cell)])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    resources = {"metadata": {"path": str(tmp_path)}}
    client = NotebookClient(notebook, timeout=300, kernel_name="python3", resources=resources)
    client.execute()  # raises CellExecutionError, with the kernel's traceback, if the cell fails
