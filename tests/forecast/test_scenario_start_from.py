"""A scenario that names its live source (``start_from:``): ``sim run``, ``sim sweep`` and ``sim forecast --base``
start from it through their real entry points (``python -m sim``), read once and as of its ``as_of``; the bare
string shorthand and a path beside the scenario file; a bad source or time is refused naming the field."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from placement.yamlio import ConfigError
from sim.config import compile_scenario
from sim.scenario import load_scenario
from sim.simulation import run
from sim.start_from.resolve import needs_reading, started_scenario
from sim.start_from.spec import RouterDatabase, SnapshotFolder, StateFile

ROOT = Path(__file__).resolve().parents[2]
STATE = ROOT / "examples" / "state.yaml"


def sim(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sim", *args], capture_output=True, text=True, cwd=cwd, timeout=900, check=False
    )


def live_scenario(folder: Path, start_from: str, horizon_days: int = 60) -> Path:
    """Stage 2's mix and operator with ``start_from: <start_from>`` (YAML text), beside a copy of the state file."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(STATE, folder / "state.yaml")
    lines = [
        line
        for line in (ROOT / "scenarios" / "stage2.yaml").read_text().splitlines()
        if not line.startswith(("packing_checks", "horizon_years", "horizon_days", "name:"))
    ]
    text = "\n".join([f"name: live-{folder.name}", f"horizon_days: {horizon_days}", *lines])
    path = folder / "live.yaml"
    path.write_text(f"{text}\nstart_from: {start_from}\n")
    return path


def test_the_shorthand_and_a_path_beside_the_scenario(tmp_path):
    scenario = load_scenario(live_scenario(tmp_path / "short", "state.yaml"))
    assert isinstance(scenario.start_from, StateFile)
    assert scenario.start_from.path == str(tmp_path / "short" / "state.yaml")  # beside the scenario, not the cwd
    assert needs_reading(scenario)
    for text, kind in (("var/router.db", RouterDatabase), ("postgresql://router@db/placement", RouterDatabase),
                       ("snapshots/", SnapshotFolder)):  # fmt: skip
        assert isinstance(load_scenario(live_scenario(tmp_path / kind.__name__, text)).start_from, kind)
    url = load_scenario(live_scenario(tmp_path / "pg", "postgresql://router@db/placement")).start_from.url
    assert url == "postgresql://router@db/placement"  # a URL is not a path


def test_an_unread_source_is_refused_by_compile_and_read_by_run(tmp_path):
    scenario = load_scenario(
        live_scenario(tmp_path / "api", "{kind: state, path: state.yaml, as_of: 2026-12-01T00:00:00Z}")
    )
    with pytest.raises(ConfigError, match="start_from: the live source is not read yet"):
        compile_scenario(scenario)
    started = started_scenario(scenario)
    assert [c.id for c in started.fleet.clusters] == ["eu-west-1", "eu-west-2", "us-east-1"]
    assert str(started.start_date) == "2026-12-01" and started.start_from.as_of == scenario.start_from.as_of
    assert any("222 volumes are held" in note for note in started.start_from.live.notes)
    assert started_scenario(started) is started  # read once
    result = run(scenario, 1)  # the Python API reads it too
    first = result.timeseries[(result.timeseries["day"] == 0) & (result.timeseries["cluster_id"] != "fleet")]
    assert first.set_index("cluster_id")["volumes"].to_dict() == {"eu-west-1": 497, "eu-west-2": 64, "us-east-1": 20}
    assert any("222 volumes are held" in warning for warning in result.summary["warnings"])


def test_sim_run_starts_from_the_scenarios_source_the_same_bytes_each_time(tmp_path):
    path = live_scenario(tmp_path / "run", "{kind: state, path: state.yaml, as_of: 2026-12-01T00:00:00Z}")
    outs = []
    for name in ("a", "b"):
        done = sim("run", str(path), "--seed", "3", "--out", str(tmp_path / name), "--quiet")
        assert done.returncode == 0, done.stderr
        outs.append(tmp_path / name)
    said = " ".join(done.stdout.split())
    assert "warning: cluster eu-west-1: its snapshot counts 497 volumes" in said
    summary = json.loads((outs[0] / "summary.json").read_text())
    assert summary["start_date"] == "2026-12-01"
    series = pd.read_parquet(outs[0] / "timeseries.parquet")
    assert set(series.loc[series["day"] == 0, "cluster_id"]) == {"eu-west-1", "eu-west-2", "us-east-1", "fleet"}
    for name in ("summary.json", "timeseries.parquet", "events.parquet", "report.html", "decisions.csv"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name


def test_sim_sweep_and_forecast_take_the_scenarios_source(tmp_path):
    path = live_scenario(tmp_path / "both", "{kind: state, path: state.yaml, as_of: 2026-12-01T00:00:00Z}", 30)
    done = sim("sweep", str(path), "--runs", "2", "--out", str(tmp_path / "sweep"))
    assert done.returncode == 0, done.stderr
    runs = pd.read_parquet(tmp_path / "sweep" / "runs.parquet")
    assert (runs["status"] == "ok").all() and len(runs) == 2
    done = sim("forecast", "--base", str(path), "--runs", "2", "--horizon-days", "30", "--out", str(tmp_path / "fc"))
    assert done.returncode == 0, done.stderr
    meta = json.loads((tmp_path / "fc" / "meta.json").read_text())
    assert meta["header"]["as_of"].startswith("2026-12-01T00:00:00") and "state.yaml" in meta["header"]["source"]
    table = pd.read_csv(tmp_path / "fc" / "forecast.csv")
    assert set(table["cluster"]) == {"eu-west-1", "eu-west-2", "us-east-1"}
    done = sim("forecast", "--base", str(ROOT / "scenarios" / "stage2.yaml"), "--out", str(tmp_path / "none"))
    assert done.returncode == 2 and "give --start-from SOURCE, or a --base scenario with a start_from: key" in (
        done.stderr
    )
    assert not (tmp_path / "none").exists()


def test_a_bad_source_or_time_is_refused_naming_the_field(tmp_path):
    missing = live_scenario(tmp_path / "missing", "nowhere.yaml")
    done = sim("run", str(missing), "--out", str(tmp_path / "out"))
    assert done.returncode == 2 and "start_from:" in done.stderr and "nowhere.yaml" in done.stderr
    assert not (tmp_path / "out").exists()
    naive = live_scenario(tmp_path / "naive", "{kind: state, path: state.yaml, as_of: 2026-12-01T00:00:00}")
    done = sim("run", str(naive), "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert "start_from.state.as_of" in done.stderr and "give a time zone" in done.stderr
