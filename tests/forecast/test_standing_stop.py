"""A standing forecast (``sim forecast --every``) stopped with SIGTERM, as systemd and kill stop it, in the middle of
a tick: it exits with 143 and leaves none of its processes behind (its pool's workers run in sessions of their own,
so a process-group kill would not reach them)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time

import psutil

from placement.router.db import normalise_url
from sim.forecast import publish
from tests.forecast.conftest import ROOT, History
from tests.forecast.test_priority import _cap, _idle_cgroup_possible

BASE = ROOT / "scenarios" / "stage1.yaml"


def _workers(parent: psutil.Process) -> list[psutil.Process]:
    """The pool's workers: the fork server's children (grandchildren of the forecast process)."""
    return [grandchild for child in parent.children() for grandchild in child.children()]


def _cap_of(pid: int, deadline: float) -> str | None:
    """The CPU cap of the process's CPU cgroup once it has joined the forecast's idle cgroup (its pool's initializer
    moves it there as it starts), as ``cpu.max`` or ``cpu.cfs_quota_us`` give it."""
    while time.monotonic() < deadline:
        group = publish.cpu_cgroup(pid)
        if group is not None and group.name == publish.IDLE_CGROUP:
            return _cap(group)
        time.sleep(0.1)
    return None


def test_sigterm_mid_tick_exits_and_leaves_no_worker_behind(sqlite_history: History, tmp_path):
    copy = tmp_path / "router.db"
    shutil.copy(normalise_url(sqlite_history.url).removeprefix("sqlite:///"), copy)
    url = f"sqlite:///{copy}"
    command = [
        sys.executable, "-m", "sim", "forecast", "--start-from", url, "--base", str(BASE), "--runs", "400",
        "--horizon-days", "730", "--workers", "2", "--out", str(tmp_path / "out"), "--every", "1h", "--publish", url,
    ]  # fmt: skip
    # Output into files, not pipes: a worker left behind would hold a pipe open and hang the reading of it.
    log = tmp_path / "forecast.log"
    with log.open("w") as output:
        process = subprocess.Popen(command, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT)
    everything: list[psutil.Process] = []
    try:
        forecasting = psutil.Process(process.pid)
        workers: list[psutil.Process] = []
        deadline = time.monotonic() + 300  # a bound on a hung start, not a speed assertion
        while len(workers) < 2 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
            workers = _workers(forecasting)
        assert len(workers) == 2, log.read_text()
        if _idle_cgroup_possible():
            # Capped as a standing forecast's runs are by default: half of their two cores, one CPU in all.
            assert _cap_of(workers[0].pid, deadline) == "100000", log.read_text()
        everything = forecasting.children(recursive=True)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=300)
        _, alive = psutil.wait_procs(everything, timeout=60)
        assert alive == [], [(p.pid, p.cmdline()) for p in alive]
        said = log.read_text()
        assert process.returncode == 128 + signal.SIGTERM, said
        assert "published" not in said  # stopped inside the first tick, before its write
    finally:
        if _idle_cgroup_possible():  # the cap lifted, as the next forecast's start would set its own
            publish.cpu_quota(publish.cpu_cgroup() / publish.IDLE_CGROUP, None)
        for left in [*everything, psutil.Process(process.pid)] if process.poll() is None else everything:
            if left.is_running():
                left.kill()
        process.wait()
