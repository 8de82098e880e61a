"""--vary parsing, its errors (API and CLI exit 2), seeds and draws."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from placement.limits import load_profile
from sim.cli import app
from sim.sweep import run_draw, run_seed
from sim.sweep.vary import VaryError, parse_all, parse_vary

TINY = Path(__file__).with_name("tiny.yaml")
SEED = load_profile("seed")


def test_parses_every_distribution():
    assert parse_vary("longhorn.max_volumes=uniform:400:1000", SEED).params == (400.0, 1000.0)
    assert parse_vary("etcd.objects_per_service=triangular:6:8:12", SEED).params == (6.0, 8.0, 12.0)
    assert parse_vary("longhorn.replicas=choice:1,2,3", SEED).params == (1.0, 2.0, 3.0)
    catalog = parse_vary("longhorn.max_volumes=catalog", SEED)
    assert (catalog.kind, catalog.params) == ("catalog", (400.0, 1000.0))


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("longhorn.max_volume=uniform:1:2", "unknown limits figure"),
        ("longhorn=uniform:1:2", "section"),
        ("longhorn.max_volumes=uniform:1000:400", "low 1000 is above high 400"),
        ("longhorn.max_volumes=uniform:4x0:1000", "'4x0' is not a number"),
        ("longhorn.max_volumes=uniform:400", "2 numbers"),
        ("longhorn.max_volumes=triangular:400:1200:1000", "mode 1200 is outside"),
        ("longhorn.max_volumes=normal:1:2", "unknown distribution 'normal'"),
        ("longhorn.max_volumes=choice:", "comma-separated"),
        ("longhorn.max_volumes=choice:1,,2", "comma-separated"),
        ("longhorn.max_volumes=uniform:nan:2", "not a finite number"),
        ("longhorn.max_volumes", "PATH=DISTRIBUTION"),
        ("kubernetes.max_nodes=catalog", "no catalog range"),
    ],
)
def test_bad_specs_name_the_spec(spec, needle):
    with pytest.raises(VaryError) as info:
        parse_vary(spec, SEED)
    assert repr(spec) in str(info.value)
    assert needle in str(info.value)


def test_a_path_varied_twice_is_an_error():
    with pytest.raises(VaryError, match="more than once"):
        parse_all(["longhorn.max_volumes=catalog", "longhorn.max_volumes=uniform:1:2"], SEED)


def test_cli_bad_vary_exits_2_naming_the_spec(tmp_path):
    result = CliRunner().invoke(
        app,
        ["sweep", str(TINY), "--runs", "2", "--out", str(tmp_path / "o"), "--vary", "longhorn.max_volumes=uniform:9:1"],
    )
    assert result.exit_code == 2
    assert "longhorn.max_volumes=uniform:9:1" in result.output
    assert "above high" in result.output


def test_run_seed_does_not_depend_on_the_run_count():
    spawned = np.random.SeedSequence(7).spawn(10)
    for i in (0, 3, 9):
        assert run_seed(7, i).generate_state(4).tolist() == spawned[i].generate_state(4).tolist()


def test_draws_are_per_run_within_bounds_and_repeatable():
    specs = parse_all(["longhorn.max_volumes=uniform:400:1000", "longhorn.replicas=choice:1,2,3",
                       "etcd.objects_per_service=triangular:6:8:12"], SEED)  # fmt: skip
    draws = [run_draw(specs, 3, i)[0] for i in range(200)]
    assert draws[5] == run_draw(specs, 3, 5)[0]
    assert draws[0] != draws[1]
    volumes = [d["longhorn.max_volumes"] for d in draws]
    assert min(volumes) >= 400 and max(volumes) <= 1000
    assert {d["longhorn.replicas"] for d in draws} == {1.0, 2.0, 3.0}
    tri = np.array([d["etcd.objects_per_service"] for d in draws])
    assert tri.min() >= 6 and tri.max() <= 12 and abs(np.median(tri) - 8.5) < 1.0
