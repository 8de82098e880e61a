"""The committed notebooks are exactly what notebooks/build.py writes: stripped, python3, importing the project.

nbmake executes them (see pyproject.toml); these tests keep the committed JSON reviewable and honest.
"""

from __future__ import annotations

import ast
import importlib.util
import json
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
NAMES = ["longhorn_vs_ceph.ipynb", "growth_planning.ipynb", "router_decisions.ipynb"]
# Plotting and tables, the standard library, and the project; nothing that could stand in for placement or sim.
ALLOWED_IMPORTS = {"os", "pathlib", "tempfile", "dataclasses", "base64", "matplotlib", "numpy", "pandas", "yaml",
                   "IPython", "placement", "sim"}
# The notebooks that simulate: their bands, first-shard distributions and binding limits come from sim.sweep.
SWEEP_NOTEBOOKS = ["longhorn_vs_ceph.ipynb", "growth_planning.ipynb"]


def _build_module():
    spec = importlib.util.spec_from_file_location("notebooks_build", NOTEBOOKS / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_notebooks_match_the_generator(tmp_path):
    written = _build_module().build(tmp_path)
    assert sorted(p.name for p in written) == sorted(NAMES)
    for path in written:
        committed = json.loads((NOTEBOOKS / path.name).read_text())
        assert json.loads(path.read_text()) == committed, f"{path.name}: run `python notebooks/build.py` and commit"


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_stripped_and_runs_on_python3(name):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(notebook)
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code, name
    for cell in code:
        assert cell.outputs == [] and cell.execution_count is None, f"{name}: outputs must be stripped"
    assert notebook.cells[0].cell_type == "markdown" and notebook.cells[0].source.startswith("# ")


@pytest.mark.parametrize("name", NAMES)
def test_notebook_has_a_quick_mode_and_uses_the_project(name):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    source = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    assert 'os.environ.get("CAPPLAN_QUICK", "1") != "0"' in source
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module.split(".")[0])
    assert imported <= ALLOWED_IMPORTS, imported - ALLOWED_IMPORTS
    assert {"placement"} <= imported
    # Every plot is labelled: each `ax.set(...)`/`axes[i].set(...)` call gives a title, an x and a y label.
    for call in ast.walk(ast.parse(source)):
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "set":
            keywords = {k.arg for k in call.keywords}
            if keywords & {"title", "xlabel", "ylabel"}:
                assert {"title", "xlabel", "ylabel"} <= keywords, ast.unparse(call)


@pytest.mark.parametrize("name", SWEEP_NOTEBOOKS)
def test_bands_come_from_sim_sweep_on_a_pool_the_notebook_shuts_down(name):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    code = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    calls = {ast.unparse(node.func) for node in ast.walk(ast.parse("\n".join(code))) if isinstance(node, ast.Call)}
    assert "sim.sweep" in calls
    # No hand-rolled replications or percentiles: seeds and p10/p50/p90 are the sweep's.
    hand_rolled = {c for c in calls if c.split(".")[-1] in {"quantile", "percentile", "SeedSequence", "spawn"}}
    assert not hand_rolled, hand_rolled
    assert code[-1].strip() == "pool.shutdown()", "the last cell shuts the sweeps' process pool down"
