"""The planners' notebooks, executed once per test session by nbmake's runner, in smoke mode.

The sources are jupytext percent-format scripts (``notebooks/*.py``); no ``.ipynb`` is committed. Each is turned into
a notebook with jupytext, in its own directory under ``notebooks/_build/`` (git-ignored; removed after the session), so
the notebook's working directory is inside the repository as it is when a planner opens it, and executed by
``nbmake.nb_run.NotebookRun``, what ``pytest --nbmake`` runs. ``CAPPLAN_QUICK`` defaults to on (smoke mode): small
fixed-seed runs. ``CAPPLAN_QUICK=0`` in the environment runs the tests on the full-size notebooks.
"""

from __future__ import annotations

import base64
import io
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import jupytext
import nbformat
import pytest
from nbmake.nb_run import NotebookRun
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
SOURCES = sorted(p for p in NOTEBOOKS.glob("*.py") if p.name != "conftest.py")
NAMES = [p.stem for p in SOURCES]


def build_ipynb(source: Path, out_dir: Path) -> Path:
    """The notebook of a jupytext source, outputs empty, written as ``out_dir/<stem>.ipynb``."""
    notebook = jupytext.read(source)
    target = out_dir / f"{source.stem}.ipynb"
    nbformat.write(notebook, target)
    return target


def outputs(notebook: nbformat.NotebookNode, mime: str) -> list:
    """Every output of the executed notebook's code cells carrying ``mime`` (e.g. ``image/png``), in order."""
    found = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if mime in output.get("data", {}):
                found.append(output["data"][mime])
    return found


def png_sizes(images: list[str]) -> list[tuple[int, int]]:
    """Width and height of each base64 PNG output (each must decode)."""
    return [Image.open(io.BytesIO(base64.b64decode(data))).size for data in images]


def text_outputs(notebook: nbformat.NotebookNode) -> str:
    """All printed text and plain-text results, in order."""
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if output.get("output_type") == "stream":
                parts.append(output["text"])
            elif "text/plain" in output.get("data", {}):
                parts.append(output["data"]["text/plain"])
    return "\n".join(parts)


@pytest.fixture(scope="session")
def build_dir() -> Iterator[Path]:
    (NOTEBOOKS / "_build").mkdir(exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="session-", dir=NOTEBOOKS / "_build"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def executed(build_dir: Path, pytestconfig: pytest.Config) -> Callable[[str], nbformat.NotebookNode]:
    """``executed("growth_planning")``: that notebook run once in smoke mode (cached for the session); a cell that
    raised fails the test with the kernel's traceback."""
    cell_timeout = pytestconfig.getoption("nbmake_timeout")  # pyproject's --nbmake-timeout, seconds per cell
    cache: dict[str, nbformat.NotebookNode] = {}

    def run(name: str) -> nbformat.NotebookNode:
        if name not in cache:
            notebook_path = build_ipynb(NOTEBOOKS / f"{name}.py", build_dir)
            result = NotebookRun(notebook_path, cell_timeout).execute()
            if result.error is not None:
                pytest.fail(f"{name}: cell {result.error.failing_cell_index} failed\n{result.error.trace}")
            nbformat.write(result.nb, build_dir / f"{name}.executed.ipynb")
            cache[name] = result.nb
        return cache[name]

    return run
