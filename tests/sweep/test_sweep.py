"""Sweeps end to end: process pool vs a real Dask LocalCluster, failed runs, resume bookkeeping, aggregation."""

from __future__ import annotations

import concurrent.futures as cf
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim
from placement.limits import load_profile
from sim.sweep import (
    SweepError,
    dask_executor,
    parse_all,
    prepare_out,
    process_pool,
    read_run,
    run_draw,
    run_path,
    write_run,
)
from sim.sweep.stats import bands, binding_counts, first_shard, sensitivity
from sim.sweep.vary import VarySpec

TINY = Path(__file__).with_name("tiny.yaml")
VARY = ["longhorn.max_volumes=catalog", "etcd.objects_per_service=triangular:6:8:12"]


@pytest.fixture(scope="module")
def scenario():
    return sim.load_scenario(TINY)


@pytest.fixture(scope="module")
def pool_result(scenario):
    with process_pool(2) as pool:
        return sim.sweep(scenario, 6, vary=VARY, executor=pool, seed=11)


def test_process_pool_and_dask_local_cluster_give_identical_runs(scenario, pool_result, tmp_path):
    with dask_executor(workers=2) as executor:
        dask_result = sim.sweep(scenario, 6, vary=VARY, executor=executor, seed=11, chunk_size=2, out=tmp_path)
    pd.testing.assert_frame_equal(pool_result.runs, dask_result.runs)
    pd.testing.assert_frame_equal(pool_result.bands, dask_result.bands)
    for i in range(6):
        assert read_run(run_path(tmp_path, i))[0]["status"] == "ok"
    assert (tmp_path / "report.html").read_text().count("data:image/png;base64") == 4


def test_runs_match_single_runs_with_the_recorded_seed(scenario, pool_result):
    row = pool_result.runs.iloc[3]
    overrides = {p.removeprefix("param:"): row[p] for p in pool_result.runs.columns if p.startswith("param:")}
    alone = sim.run(scenario.model_copy(update={"limits_overrides": overrides}),
                    np.random.SeedSequence(11, spawn_key=(3, 1)))  # fmt: skip
    assert alone.summary["first_shard_day"] == row["first_shard_day"]
    fleet = alone.timeseries[alone.timeseries["cluster_id"] == "fleet"]
    band = pool_result.bands[pool_result.bands["metric"] == "customers"]
    assert len(band) == len(fleet)
    assert (band["p10"].to_numpy() <= band["p90"].to_numpy()).all()


def test_a_sweep_skips_the_packing_checks(scenario, pool_result):
    from sim.scenario import PackingChecks

    checked = scenario.model_copy(update={"packing_checks": PackingChecks(days=[30])})
    with process_pool(2) as pool:
        result = sim.sweep(checked, 6, vary=VARY, executor=pool, seed=11)
    pd.testing.assert_frame_equal(pool_result.runs, result.runs)


def test_a_run_that_raises_is_recorded_and_the_sweep_goes_on(scenario, tmp_path):
    # A run that draws a Longhorn minimum of 20 run nodes makes the scenario invalid (its cluster has 3, the
    # operator's cap is 10): that run raises, the others go on.
    vary = ["longhorn.min_nodes=choice:2,20"]
    specs = parse_all(vary, load_profile(scenario.limits_profile))
    doomed = [i for i in range(5) if run_draw(specs, 11, i)[0]["longhorn.min_nodes"] == 20]
    assert 0 < len(doomed) < 5
    with cf.ThreadPoolExecutor(2) as pool:
        result = sim.sweep(scenario, 5, vary=vary, executor=pool, seed=11, out=tmp_path)
    failed = result.failed
    assert failed["run"].tolist() == doomed
    assert failed["seed_spawn_key"].tolist() == [f"{i},1" for i in doomed]
    assert all("ConfigError" in error and "at least 20 run nodes" in error for error in failed["error"])
    assert (result.runs["status"] == "ok").sum() == 5 - len(doomed)
    assert read_run(run_path(tmp_path, doomed[0]))[0]["status"] == "failed"
    assert result.first_shard["runs_ok"].iloc[0] == 5 - len(doomed)


def test_resume_refuses_other_arguments_and_ignores_partial_files(tmp_path):
    manifest = {"scenario": "x", "scenario_sha256": "a", "runs": 3, "seed": 0, "vary": []}
    assert prepare_out(tmp_path, manifest) == {}
    write_run(tmp_path, {"run": 0, "status": "ok", "params": {}}, pd.DataFrame({"day": [0], "customers": [1.0]}))
    run_path(tmp_path, 1).write_bytes(b"PAR1 truncated")  # a torn file is not a finished run
    (tmp_path / "runs" / ".run-000002.parquet.x.tmp").write_bytes(b"partial")
    done = prepare_out(tmp_path, manifest)
    assert sorted(done) == [0]
    assert not list((tmp_path / "runs").glob(".*.tmp"))
    with pytest.raises(SweepError, match=r"different arguments \(runs: 3 there, 4 now\)"):
        prepare_out(tmp_path, {**manifest, "runs": 4})
    other = tmp_path / "other"
    other.mkdir()
    (other / "stray.txt").write_text("x")
    with pytest.raises(SweepError, match="not empty"):
        prepare_out(other, manifest)
    assert json.loads((tmp_path / "manifest.json").read_text()) == manifest


def _outcome(run, limit, day, param, status="ok"):
    series = pd.DataFrame({"day": [0, 1], "date": pd.to_datetime(["2026-01-01", "2026-01-02"]),
                           "customers": [float(run), float(run * 2)]})  # fmt: skip
    record = {"run": run, "status": status, "params": {"a.b": param}, "first_shard_day": day,
              "first_shard_limit": limit, "first_bind_limit": "etcd", "first_shard_date": None}  # fmt: skip
    return record, series


def test_bands_and_counts_on_a_synthetic_frame():
    outcomes = [_outcome(r, "volumes" if r < 7 else None, 100.0 + 10 * r if r < 7 else None, float(r))
                for r in range(10)]  # fmt: skip
    outcomes.append(_outcome(10, None, None, 0.0, status="failed"))
    b = bands(outcomes).set_index(["metric", "day"])
    assert b.loc[("customers", 1), "p50"] == pytest.approx(9.0)
    assert b.loc[("customers", 0), "p10"] == pytest.approx(0.9)
    assert b.loc[("customers", 0), "runs"] == 10
    from sim.sweep.stats import runs_frame

    runs = runs_frame(outcomes, [VarySpec("a.b", "uniform", (0.0, 9.0), "a.b=uniform:0:9")])
    counts = binding_counts(runs).set_index("limit")
    assert counts.loc["volumes", "first_shard_runs"] == 7
    assert counts.loc["(no shard)", "first_shard_share"] == pytest.approx(0.3)
    assert counts.loc["etcd", "first_bind_share"] == 1.0
    sens = sensitivity(runs, [VarySpec("a.b", "uniform", (0.0, 9.0), "a.b=uniform:0:9")], "first_shard").iloc[0]
    assert sens["spearman_rho"] == pytest.approx(1.0)
    assert sens["swing"] == pytest.approx(10 * (sens["high_value"] - sens["low_value"]))
    assert (sens["metric"], sens["unit"], sens["runs_used"]) == ("first_shard", "days", 7)
    # One percentile method: the first-shard dates are the start date plus the day percentiles.
    first = first_shard(runs, "2026-01-01").set_index("statistic")
    for name in ("p10", "p50", "p90"):
        day = first.loc[name, "first_shard_day"]
        assert first.loc[name, "first_shard_date"] == pd.Timestamp("2026-01-01") + pd.Timedelta(days=int(day))
    assert first.loc["p10", "first_shard_day"] == pytest.approx(np.percentile(100 + 10 * np.arange(7), 10))


def test_cli_on_a_dask_local_cluster_writes_the_tables(tmp_path, pool_result):
    from typer.testing import CliRunner

    from sim.cli import app

    out = tmp_path / "cli"
    args = ["sweep", str(TINY), "--runs", "6", "--seed", "11", "--workers", "2", "--out", str(out)]
    for spec in VARY:
        args += ["--vary", spec]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    for name in ("runs", "bands", "first_shard", "binding_counts", "sensitivity"):
        assert (out / f"{name}.parquet").exists()
    pd.testing.assert_frame_equal(pd.read_parquet(out / "runs.parquet"), pool_result.runs)
    sens = pd.read_parquet(out / "sensitivity.parquet")
    assert sorted(sens["parameter"]) == ["etcd.objects_per_service", "longhorn.max_volumes"]


def test_cli_on_an_existing_scheduler_gives_the_pools_runs(tmp_path, pool_result):
    """``--scheduler tcp://HOST:PORT``: the sweep's runs go to a running cluster's workers, by its address."""
    from distributed import LocalCluster
    from typer.testing import CliRunner

    from sim.cli import app

    out = tmp_path / "cli"
    args = ["sweep", str(TINY), "--runs", "6", "--seed", "11", "--out", str(out)]
    for spec in VARY:
        args += ["--vary", spec]
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        result = CliRunner().invoke(app, [*args, "--scheduler", cluster.scheduler_address])
    assert result.exit_code == 0, result.output
    pd.testing.assert_frame_equal(pd.read_parquet(out / "runs.parquet"), pool_result.runs)
