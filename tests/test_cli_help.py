"""Every flag's help is printed literally (no rich markup, no emoji codes), through the real entry points; and the
capacity plan's money cells survive an 80-column terminal."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from placement.cli import app as placement_app
from sim.cli import app as sim_app

BIN = Path(sys.executable).parent
ENV = {**os.environ, "COLUMNS": "80", "TERM": "dumb"}


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _commands(group, path: tuple[str, ...] = ()):
    yield path, group
    if hasattr(group, "commands"):  # a group (typer may vendor its own click)
        for name, command in group.commands.items():
            yield from _commands(command, (*path, name))


@pytest.mark.parametrize(("name", "app"), [("sim", sim_app), ("placement", placement_app)])
def test_every_flag_help_renders_literally(name, app):
    runner = CliRunner()
    root = typer.main.get_command(app)
    checked = 0
    for path, command in _commands(root):
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "80"})
        assert result.exit_code == 0, (path, result.output)
        shown = _squash(result.output)
        for param in command.params:
            text = getattr(param, "help", None)
            if text:
                # typer's rich help would turn ":A:" into an emoji and "[0]" into a style tag
                assert _squash(text) in shown, (name, path, param.name, text)
                checked += 1
    assert checked > 20


def test_sim_sweep_help_through_the_entry_point_shows_the_grammar():
    result = subprocess.run([str(BIN / "sim"), "sweep", "--help"], capture_output=True, text=True, env=ENV, timeout=120)
    assert result.returncode == 0, result.stderr
    squashed = _squash(result.stdout)
    assert "PATH=uniform:A:B|triangular:A:MODE:B|choice:V1,V2,...|catalog" in squashed
    assert "fleet.clusters[0].run_nodes" in squashed
    assert "🅰" not in result.stdout and "\x1b[" not in result.stdout
    result = subprocess.run([str(BIN / "sim"), "run", "--help"], capture_output=True, text=True, env=ENV, timeout=120)
    assert "limits.kubernetes.max_pods_per_node=250" in _squash(result.stdout)


def test_capacity_money_cells_are_whole_at_80_columns(tmp_path):
    demand = tmp_path / "demand.yaml"
    demand.write_text(
        "customers: 3000\nservices:\n  - {ram: 2Gi, volume: 10Gi, count: 2000}\n  - {ram: 8Gi, count: 800}\n"
    )
    command = [str(BIN / "placement"), "optimize", "capacity", "--demand", str(demand), "--time-limit", "2"]
    table = subprocess.run(command, capture_output=True, text=True, env=ENV, timeout=120)
    assert table.returncode == 0, table.stderr
    assert "…" not in table.stdout
    assert max(len(line) for line in table.stdout.splitlines()) <= 80
    rows = [line for line in table.stdout.splitlines() if line.startswith("│")]
    assert len(rows) >= 2  # this demand needs several clusters
    for row in rows:
        cells = [cell.strip() for cell in row.strip("│").split("│")]
        assert re.fullmatch(r"\d{1,3}(,\d{3})*\.\d\d", cells[-1]), row  # EUR/month, whole
        assert cells[0] in ("longhorn", "rook-ceph"), row
