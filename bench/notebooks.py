"""Wall time of the planners' notebooks in smoke mode, each built from its jupytext source and executed by nbmake's
runner as the tests do, against the start of a kernel that runs nothing.

``python -m bench.notebooks [--full]``. "kernel start" is a notebook with one empty cell: starting the kernel and
stopping it. Each notebook's "beyond kernel start" is its time less that. "kernel CPU" is the CPU time (user + system)
of the kernel process and its children, read when they have exited: on a loaded machine it stays near what the work
costs while the wall time stretches. ``--full`` sets ``CAPPLAN_QUICK=0`` (full mode: tens of minutes).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

import jupytext
import nbformat
from nbformat.v4 import new_code_cell, new_notebook
from nbmake.nb_run import NotebookRun

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
CELL_TIMEOUT = 3600


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(path: Path) -> tuple[float, float]:
    """Wall seconds, and CPU seconds of the (exited) kernel and its children."""
    cpu, start = children_cpu(), time.perf_counter()
    result = NotebookRun(path, CELL_TIMEOUT).execute()
    elapsed = time.perf_counter() - start
    if result.error is not None:
        raise SystemExit(f"{path.name}: cell {result.error.failing_cell_index} failed\n{result.error.trace}")
    return elapsed, children_cpu() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="full mode (CAPPLAN_QUICK=0)")
    args = parser.parse_args()
    os.environ["CAPPLAN_QUICK"] = "0" if args.full else "1"
    (NOTEBOOKS / "_build").mkdir(exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix="bench-", dir=NOTEBOOKS / "_build"))
    try:
        empty = new_notebook(cells=[new_code_cell("")])
        empty.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(empty, build / "empty.ipynb")
        print(f"mode: {'full' if args.full else 'smoke'}; load average {os.getloadavg()[0]:.2f}")
        kernel, kernel_cpu = timed(build / "empty.ipynb")
        print(f"{'kernel start':<20} wall {kernel:7.1f} s   kernel CPU {kernel_cpu:6.1f} s")
        total = total_cpu = 0.0
        for source in sorted(NOTEBOOKS.glob("*.py")):
            path = build / f"{source.stem}.ipynb"
            nbformat.write(jupytext.read(source), path)
            elapsed, cpu = timed(path)
            total, total_cpu = total + elapsed - kernel, total_cpu + cpu - kernel_cpu
            print(f"{source.stem:<20} wall {elapsed:7.1f} s   kernel CPU {cpu:6.1f} s   "
                  f"beyond kernel start: wall {elapsed - kernel:6.1f} s, CPU {cpu - kernel_cpu:6.1f} s")  # fmt: skip
        print(f"{'all, beyond kernels':<20} wall {total:7.1f} s   CPU {total_cpu:6.1f} s   "
              f"(load average now {os.getloadavg()[0]:.2f})")  # fmt: skip
    finally:
        shutil.rmtree(build, ignore_errors=True)


if __name__ == "__main__":
    main()
