"""Kill a real `sim sweep` mid-run, rerun it: no finished run repeats and the results equal an uninterrupted sweep."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

import sim
from sim.sweep import process_pool

TINY = Path(__file__).with_name("tiny.yaml")
ARGS = ["--runs", "30", "--seed", "5", "--vary", "longhorn.max_volumes=uniform:400:1000"]


def _cli(out: Path) -> list[str]:
    return [sys.executable, "-m", "sim", "sweep", str(TINY), *ARGS, "--out", str(out)]


def _finished(out: Path) -> dict[str, int]:
    return {p.name: p.stat().st_ino for p in (out / "runs").glob("run-*.parquet")}


def test_resume_after_kill(tmp_path):
    out = tmp_path / "sweep"
    proc = subprocess.Popen(_cli(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while len(_finished(out)) < 4 if (out / "runs").exists() else True:
            assert proc.poll() is None, "the sweep ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    before = _finished(out)
    assert 4 <= len(before) < 30
    assert not (out / "runs.parquet").exists()

    resumed = subprocess.run(_cli(out), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming: {len(before)} of 30" in resumed.stderr
    after = _finished(out)
    assert len(after) == 30
    assert all(after[name] == inode for name, inode in before.items())  # finished runs were not rewritten

    with process_pool(2) as pool:
        whole = sim.sweep(sim.load_scenario(TINY), 30, vary=[ARGS[-1]], executor=pool, seed=5)
    pd.testing.assert_frame_equal(pd.read_parquet(out / "runs.parquet"), whole.runs)
    pd.testing.assert_frame_equal(pd.read_parquet(out / "bands.parquet"), whole.bands)

    other = subprocess.run([*_cli(out), "--seed", "6"], capture_output=True, text=True, timeout=120)
    assert other.returncode == 2 and "different arguments" in other.stderr and "seed: 5 there, 6 now" in other.stderr
