"""A standing forecast's runs take idle CPU time only; the process that writes into the router's database does not
(a writer descheduled inside its transaction would hold SQLite's one write lock)."""

import functools
import os
from pathlib import Path

import pytest

from sim.forecast import publish
from sim.forecast.publish import (
    DEFAULT_CPU_SHARE,
    IDLE_CGROUP,
    background_priority,
    cpu_cgroup,
    cpu_quota,
    idle_cgroup,
    quota_possible,
    standing_cpu_cores,
    standing_workers,
)
from sim.sweep.executors import process_pool

AUTOGROUP = Path("/proc/self/autogroup")


def _autogroup() -> str:
    return AUTOGROUP.read_text()


def test_the_forecast_workers_run_at_background_priority_and_the_parent_is_left_alone():
    before = (os.nice(0), os.sched_getscheduler(0), os.getsid(0))
    with process_pool(1, background_priority) as pool:
        nice = pool.submit(os.nice, 0).result()
        policy = pool.submit(os.sched_getscheduler, 0).result()
    assert nice == 19
    if hasattr(os, "SCHED_IDLE"):
        assert policy == os.SCHED_IDLE
    assert (os.nice(0), os.sched_getscheduler(0), os.getsid(0)) == before


@pytest.mark.skipif(not AUTOGROUP.exists(), reason="Linux autogroup scheduling")
def test_the_forecast_workers_weigh_least_against_other_sessions_and_the_parents_group_is_left_alone():
    """SCHED_IDLE counts only inside a scheduling group (a session under autogroup): each worker takes a session of
    its own and gives its group the lowest weight, nice 19, so that it yields to the router and PostgreSQL too.

    A process in the kernel's default group (a session never moved by setsid since boot, as in some CI containers)
    reads an empty ``/proc/self/autogroup``; the worker's group must differ from the parent's either way."""
    mine = _autogroup()
    with process_pool(1, background_priority) as pool:
        session = pool.submit(os.getsid, 0).result()
        pid = pool.submit(os.getpid).result()
        group = pool.submit(_autogroup).result()
    assert session == pid != os.getsid(0)
    assert group.split()[-2:] == ["nice", "19"]
    assert group.split()[0].startswith("/autogroup-")
    assert group.split()[0] != (mine.split() or ["the default group"])[0]
    assert _autogroup() == mine


def _idle_cgroup_possible() -> bool:
    own = cpu_cgroup()
    return own is not None and os.access(own, os.W_OK) and (own / "cpu.idle").exists()


def _where() -> tuple[str, str]:
    group = cpu_cgroup()
    return str(group), (group / "cpu.idle").read_text().strip()


@pytest.mark.skipif(not _idle_cgroup_possible(), reason="a writable CPU cgroup with cpu.idle (Linux 5.15+, as root)")
def test_the_forecast_workers_share_an_idle_cgroup_below_the_parents_and_the_parent_stays():
    """A router task woken onto a core a worker holds runs at once only when the worker's group is idle (cpu.idle 1);
    group weights alone (autogroup nice 19) let the worker finish its slice first."""
    mine = _where()
    with process_pool(2, background_priority) as pool:
        places = {pool.submit(_where).result() for _ in range(4)}
    assert places == {(str(Path(mine[0]) / IDLE_CGROUP), "1")}
    assert _where() == mine


def _fake_proc(tmp_path, monkeypatch, cgroup: str, mountinfo: str) -> None:
    (tmp_path / "cgroup").write_text(cgroup)
    (tmp_path / "mountinfo").write_text(mountinfo)
    monkeypatch.setattr(publish, "PROC_CGROUP", tmp_path / "cgroup")
    monkeypatch.setattr(publish, "MOUNTINFO", tmp_path / "mountinfo")


def test_the_cpu_cgroup_is_found_in_v1_hybrid_v2_and_partial_mounts(tmp_path, monkeypatch):
    v1 = "35 25 0:30 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct\n"
    unified = "36 25 0:31 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"
    _fake_proc(tmp_path, monkeypatch, "4:cpu,cpuacct:/user.slice\n1:name=systemd:/x\n0::/x\n", unified + v1)
    assert cpu_cgroup() == Path("/sys/fs/cgroup/cpu,cpuacct/user.slice")
    # A container's mount shows its part of the hierarchy only (root /docker/abc), the process's path is the whole's.
    partial = "35 25 0:30 /docker/abc /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n"
    _fake_proc(tmp_path, monkeypatch, "3:cpu:/docker/abc/job\n", partial)
    assert cpu_cgroup() == Path("/sys/fs/cgroup/cpu/job")
    _fake_proc(tmp_path, monkeypatch, "3:cpu:/elsewhere\n", partial)
    assert cpu_cgroup() is None
    # Lines that are not what proc(5) gives are passed over, not a worker's crash.
    _fake_proc(tmp_path, monkeypatch, "garbage\n3:cpu:/docker/abc/job\n", "short line\n- -\n1 2 - x y z\n" + partial)
    assert cpu_cgroup() == Path("/sys/fs/cgroup/cpu/job")
    # v2: the unified hierarchy counts only where the CPU controller is on for the process's cgroup (cpu.max).
    mount = tmp_path / "unified"
    (mount / "app.slice").mkdir(parents=True)
    v2 = f"30 25 0:27 / {mount} rw - cgroup2 cgroup2 rw\n"
    _fake_proc(tmp_path, monkeypatch, "0::/app.slice\n", v2)
    assert cpu_cgroup() is None
    (mount / "app.slice" / "cpu.max").write_text("max 100000\n")
    assert cpu_cgroup() == mount / "app.slice"


def test_without_a_cpu_cgroup_the_idle_cgroup_step_changes_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(publish, "PROC_CGROUP", tmp_path / "missing")
    assert cpu_cgroup() is None
    assert idle_cgroup() is False
    # A cgroup this process cannot make a child in: False, and nothing made.
    monkeypatch.setattr(publish, "cpu_cgroup", lambda: tmp_path / "gone" / "own")
    assert idle_cgroup() is False
    assert not (tmp_path / "gone").exists()
    # Already in one (a worker's own pool, say): it stays, and no group is nested in it.
    monkeypatch.setattr(publish, "cpu_cgroup", lambda: tmp_path / IDLE_CGROUP)
    assert idle_cgroup() is True
    assert not (tmp_path / IDLE_CGROUP).exists()


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="Linux scheduling policy")
def test_a_plain_pool_keeps_the_normal_policy():
    with process_pool(1) as pool:
        assert pool.submit(os.sched_getscheduler, 0).result() != os.SCHED_IDLE
        assert pool.submit(os.getsid, 0).result() == os.getsid(0)


@pytest.mark.parametrize(("cpus", "given", "expected"), [(2, None, 1), (8, None, 7), (1, None, 1), (None, None, 1)])
def test_a_standing_forecast_leaves_a_core_to_the_router_unless_told_otherwise(monkeypatch, cpus, given, expected):
    monkeypatch.setattr(os, "cpu_count", lambda: cpus)
    assert standing_workers(given) == expected
    assert standing_workers(3) == 3  # --workers given: as given


def _cap(group: Path) -> str:
    if (group / "cpu.max").exists():
        return (group / "cpu.max").read_text().split()[0]
    return (group / "cpu.cfs_quota_us").read_text().strip()


def _own_cap() -> str:
    return _cap(cpu_cgroup())


def test_the_cpu_cap_is_written_as_cgroup_v2_and_v1_take_it(tmp_path):
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "cpu.max").write_text("max 100000\n")
    assert cpu_quota(v2, 0.5) is True
    assert (v2 / "cpu.max").read_text() == "50000 100000"
    assert cpu_quota(v2, None) is True
    assert (v2 / "cpu.max").read_text() == "max 100000"
    v1 = tmp_path / "v1"
    v1.mkdir()
    assert cpu_quota(v1, 1.5) is True
    assert (v1 / "cpu.cfs_period_us").read_text() == "100000"
    assert (v1 / "cpu.cfs_quota_us").read_text() == "150000"
    assert cpu_quota(v1, 0.000001) is True
    assert (v1 / "cpu.cfs_quota_us").read_text() == "1000"  # the kernel's least quota, 1 ms a period
    assert cpu_quota(v1, None) is True
    assert (v1 / "cpu.cfs_quota_us").read_text() == "-1"
    assert cpu_quota(tmp_path / "gone", 0.5) is False  # a group that cannot be written: False, nothing made
    assert not (tmp_path / "gone").exists()


def test_a_standing_forecasts_cap_is_a_share_of_its_workers_cores():
    assert standing_cpu_cores(1, DEFAULT_CPU_SHARE) == 0.5
    assert standing_cpu_cores(3, 0.25) == 0.75
    assert standing_cpu_cores(2, 1.0) is None  # a share of 1: no cap
    assert standing_cpu_cores(2, None) is None


def test_without_a_cpu_cgroup_no_cap_is_possible(tmp_path, monkeypatch):
    monkeypatch.setattr(publish, "PROC_CGROUP", tmp_path / "missing")
    assert quota_possible() is False


@pytest.mark.skipif(not _idle_cgroup_possible(), reason="a writable CPU cgroup with cpu.idle (Linux 5.15+, as root)")
def test_the_forecast_workers_idle_cgroup_takes_the_cap_they_are_given_and_the_next_start_replaces_it():
    """Every worker sets its group's cap as it joins (one group for every standing forecast), so a cap left by an
    earlier forecast is never the one that holds."""
    mine = _own_cap()
    try:
        with process_pool(2, functools.partial(background_priority, 0.75)) as pool:
            caps = {pool.submit(_own_cap).result() for _ in range(4)}
        assert caps == {"75000"}
        with process_pool(1, functools.partial(background_priority, None)) as pool:
            assert pool.submit(_own_cap).result() in {"-1", "max"}
    finally:
        cpu_quota(Path(cpu_cgroup()) / IDLE_CGROUP, None)
    assert _own_cap() == mine
