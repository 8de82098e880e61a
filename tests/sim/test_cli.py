"""``sim run`` through its real entry point (typer's CliRunner on the installed app, and the console script)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from sim.cli import app

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]
STAGE1, STAGE2 = str(ROOT / "scenarios" / "stage1.yaml"), str(ROOT / "scenarios" / "stage2.yaml")


def test_run_writes_everything_and_prints_the_decision_table(stage1_short, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(stage1_short), "--seed", "4", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "Decision table" in result.output and "pods per run node" in result.output
    assert "Packing checks" in result.output and "2026-05-01" in result.output  # the check on day 120
    # Two clusters at about 800 customers, where the design document expects one for ~5,000: said plainly.
    said = " ".join(result.output.split())
    assert "design document: The design document expects 1 cluster(s) of 3-10 run nodes for ~5,000 customers" in said
    assert "design document: The model disagrees with the design document: its first new cluster" in said
    for name in ["timeseries.parquet", "events.parquet", "customers.parquet", "packing.parquet", "summary.json",
                 "report.html", "orders.csv", "decisions.csv"]:  # fmt: skip
        assert (out / name).stat().st_size > 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scenario"] == "stage1" and summary["horizon_days"] == 150
    assert summary["design_doc"]["agrees"] is False and summary["design_doc"]["clusters"] == 2
    assert [row["date"] for row in summary["packing_checks"]] == ["2026-05-01"]
    assert pd.read_parquet(out / "packing.parquet")["day"].tolist() == [120]
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 9  # eight plots (pods per node, utilisation) and the packing one
    for title in ["Customers and services", "RAM per cluster", "Volumes vs storage limit", "etcd objects",
                  "Nodes and clusters", "Cost", "Packing checks: greedy engine vs optimum",
                  "Run nodes at the packing checks"]:  # fmt: skip
        assert title in html
    events = pd.read_parquet(out / "events.parquet")
    assert {"limit_crossed", "node_ordered", "node_added"} <= set(events["kind"])


def test_profile_and_csv_format(stage1_short, tmp_path):
    out = tmp_path / "published"
    result = runner.invoke(
        app, ["run", str(stage1_short), "--profile", "published", "--format", "csv", "--out", str(out), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads((out / "summary.json").read_text())["limits_profile"] == "published"
    frame = pd.read_csv(out / "timeseries.csv")
    assert frame["ctrl_node_type"].dropna().str.startswith("CX").all()  # the published ladder's types


def test_bad_input_exits_2_and_writes_nothing(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nstart_date: 2026-01-01\nhorizon_days: ten\n")
    out = tmp_path / "never"
    result = runner.invoke(app, ["run", str(bad), "--out", str(out)])
    assert result.exit_code == 2
    assert "horizon_days" in result.output and "line 3" in result.output
    assert not out.exists()
    result = runner.invoke(app, ["run", str(bad), "--profile", "nonsense", "--out", str(out)])
    assert result.exit_code == 2 and not out.exists()
    result = runner.invoke(app, ["run", str(tmp_path / "missing.yaml"), "--out", str(out)])
    assert result.exit_code == 2 and "cannot read" in result.output and not out.exists()


def test_console_script_runs(stage1_short, tmp_path):
    sim_script = Path(sys.executable).parent / "sim"
    completed = subprocess.run(
        [str(sim_script), "run", str(stage1_short), "--out", str(tmp_path / "o"), "--seed", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert "First shard" in completed.stdout or "No shard" in completed.stdout
    assert (tmp_path / "o" / "report.html").exists()


def test_importing_sim_and_rendering_reports_leave_the_matplotlib_backend_alone():
    # A fresh interpreter: the import-time side effect is what matters (a notebook's inline backend), and
    # pyplot is never imported, so no figure is left in its registry.
    code = """
import sys
import matplotlib
matplotlib.use("template")
import sim, sim.report, sim.sweep.report
from sim.render import figure, png
fig = figure(figsize=(2, 2))
fig.subplots().plot([0, 1], [1, 0])
assert png(fig)
print(matplotlib.get_backend(), "matplotlib.pyplot" in sys.modules)
"""
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == ["template", "False"]


@pytest.mark.parametrize(
    "command",
    [
        ["run", STAGE1],
        ["sweep", STAGE1, "--runs", "2"],
        ["compare", STAGE1, STAGE2],
        ["forecast", "--start-from", str(ROOT / "examples" / "state.yaml"), "--runs", "2"],
        ["backtest", STAGE1, "--at", "30"],
    ],
    ids=lambda command: command[0],
)
@pytest.mark.parametrize("where", ["a file", "below a file"])
def test_an_out_that_cannot_be_a_folder_is_refused_before_any_run(tmp_path, command, where):
    """Checked when the command line is read: before, ``sim run --out FILE`` simulated the whole scenario and then
    ended in a FileExistsError traceback at its first write, with exit status 1."""
    taken = tmp_path / "taken"
    taken.write_text("not a folder\n")
    out = taken if where == "a file" else taken / "results"
    result = runner.invoke(app, [*command, "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--out'" in result.output and str(taken) in result.output
    assert "Traceback" not in result.output
    assert taken.read_text() == "not a folder\n" and sorted(tmp_path.iterdir()) == [taken]


def test_the_default_out_is_checked_too(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("out").write_text("")
    result = runner.invoke(app, ["run", STAGE1])
    assert result.exit_code == 2, result.output
    assert "out is a file, so out/stage1 cannot be made" in result.output


SCHEDULED = {
    "sweep": ["sweep", STAGE1, "--runs", "2"],
    "forecast": ["forecast", "--start-from", str(ROOT / "examples" / "state.yaml"), "--runs", "2"],
}


@pytest.mark.parametrize("command", SCHEDULED)
@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("bogus", "missing port number"),
        ("http://127.0.0.1:8786", "unknown address scheme 'http'"),
    ],
)
def test_a_scheduler_address_dask_cannot_dial_is_refused_when_read(tmp_path, command, address, message):
    out = tmp_path / "out"
    result = runner.invoke(app, [*SCHEDULED[command], "--scheduler", address, "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--scheduler'" in result.output and message in result.output
    assert not out.exists()


@pytest.mark.parametrize("command", SCHEDULED)
def test_an_unreachable_scheduler_is_a_clear_error_and_writes_nothing(tmp_path, command):
    """Before: a traceback of distributed's OSError (the forecast), after the source had been read."""
    import dask

    with socket.socket() as sock:  # a port nothing listens on: bound, never listening
        sock.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{sock.getsockname()[1]}"
        out = tmp_path / "out"
        with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
            result = runner.invoke(app, [*SCHEDULED[command], "--scheduler", address, "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert f"Dask scheduler {address}: cannot connect" in result.output
    assert "Traceback" not in result.output and not out.exists()
