"""The notebooks as code: jupytext percent sources that build, execute in smoke mode and show what they compute."""

from __future__ import annotations

import re
import shutil
import subprocess

import jupytext
import nbformat
import pytest

from tests.notebooks.conftest import NAMES, NOTEBOOKS, SOURCES, outputs


def test_the_three_notebooks_are_sources_only():
    assert NAMES == ["growth_planning", "longhorn_vs_ceph", "router_decisions"]
    assert not (NOTEBOOKS / "build.py").exists()
    if shutil.which("git") and (NOTEBOOKS.parent / ".git").exists():
        tracked = subprocess.run(["git", "ls-files", "notebooks"], cwd=NOTEBOOKS.parent, capture_output=True,
                                 text=True, check=True).stdout.split()  # fmt: skip
        assert not [p for p in tracked if p.endswith(".ipynb")], "notebooks are built from the .py sources"


def _without_version(text: str) -> str:
    return re.sub(r"(?m)^#\s+jupytext_version: .*\n", "", text)


@pytest.mark.parametrize("source", SOURCES, ids=NAMES)
def test_source_is_canonical_jupytext_percent(source):
    """What jupytext writes back is the file itself, so opening, editing and saving in Jupyter (paired) adds no
    churn, and the notebook runs on the python3 kernel."""
    text = source.read_text()
    notebook = jupytext.reads(text, fmt="py:percent")
    # The header names the jupytext version that last wrote the file; any version writes the same cells.
    assert _without_version(jupytext.writes(notebook, fmt="py:percent")) == _without_version(text)
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    nbformat.validate(notebook)
    assert notebook.cells[0].cell_type == "markdown" and notebook.cells[0].source.startswith("# ")


@pytest.mark.parametrize("name", NAMES)
def test_notebook_executes_and_draws(executed, name):
    notebook = executed(name)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.execution_count is not None for cell in code)
    assert outputs(notebook, "image/png"), f"{name} drew no figure"
