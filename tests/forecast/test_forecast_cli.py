"""``sim forecast`` through its real entry point (``python -m sim``): the table and the page, the bands, the
same bytes for the same seed, and the bad sources (exit 2, a message naming the problem, nothing written)."""

from __future__ import annotations

import html
import json
import math
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.forecast.core import MIN_BAND_RUNS, censored_percentile
from sim.forecast.runs import LIMITS
from tests.forecast.conftest import NOW, ROOT, History
from tests.forecast.test_start_from import snapshot_document, write_snapshots

BASE = ROOT / "scenarios" / "stage1.yaml"
AS_OF = NOW.isoformat()


def sim(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sim", *args], capture_output=True, text=True, cwd=ROOT, timeout=900, check=False
    )


def forecast(source: str, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return sim(
        "forecast", "--start-from", source, "--base", str(BASE), "--runs", "4", "--horizon-days", "60",
        "--as-of", AS_OF, "--workers", "2", "--out", str(out), *extra,
    )  # fmt: skip


@pytest.fixture(scope="module")
def two_forecasts(sqlite_history: History, tmp_path_factory) -> tuple[Path, Path]:
    first, second = tmp_path_factory.mktemp("first"), tmp_path_factory.mktemp("second")
    for out in (first, second):
        done = forecast(sqlite_history.url, out, "--seed", "11")
        assert done.returncode == 0, done.stderr
    return first, second


def test_the_same_seed_gives_the_same_bytes(two_forecasts):
    first, second = two_forecasts
    names = sorted(p.name for p in first.iterdir())
    assert {"forecast.parquet", "forecast.csv", "forecast.html", "provenance.csv", "meta.json"} <= set(names)
    assert names == sorted(p.name for p in second.iterdir())
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


@pytest.mark.parametrize("scheduler", ["dask", "address"])
def test_on_dask_the_same_seed_gives_the_process_pools_bytes(two_forecasts, sqlite_history, tmp_path, scheduler):
    """The sweep's executors: a Dask LocalCluster of --workers (``--scheduler dask``), or a running cluster's
    scheduler by its address; the runs, their seeds and so every byte written are the process pool's."""
    from distributed import LocalCluster

    out = tmp_path / "out"
    if scheduler == "dask":
        done = forecast(sqlite_history.url, out, "--seed", "11", "--scheduler", "dask")
    else:
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
            done = forecast(sqlite_history.url, out, "--seed", "11", "--scheduler", cluster.scheduler_address)
    assert done.returncode == 0, done.stderr
    pool = two_forecasts[0]
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in pool.iterdir())
    for path in pool.iterdir():
        assert (out / path.name).read_bytes() == path.read_bytes(), path.name


def test_every_cluster_and_catalogue_limit_has_a_row_with_ordered_bands(two_forecasts, sqlite_history):
    table = pd.read_parquet(two_forecasts[0] / "forecast.parquet")
    assert sorted(table["cluster"].unique()) == ["eu-west-1", "eu-west-2", "us-east-1"]
    assert len(table) == 3 * len(LIMITS) and set(table["limit"]) == set(LIMITS)
    for row in table.itertuples():
        bands = [getattr(row, f"{q}_days") for q in ("p10", "p50", "p90")]
        known = [b for b in bands if not pd.isna(b)]
        # A band beyond the horizon stays beyond it for the higher percentiles.
        assert bands[: len(known)] == known, row
        assert known == sorted(known) and all(0 <= b <= 60 for b in known), row
        if known:
            assert row.order_by_days == pytest.approx(bands[0] - row.lead_days)
            assert str(row.p10_date) == str(NOW.date() + timedelta(days=math.floor(bands[0])))
        else:
            assert pd.isna(row.order_by_days)
    # The draining cluster is closed: the operator closes, not orders, for its shard limits; RAM is run nodes.
    ram = table[(table["cluster"] == "eu-west-1") & (table["limit"] == "ram_per_run_node")].iloc[0]
    assert ram["action"].startswith("order run nodes") and ram["lead_days"] == 14
    volumes = table[(table["cluster"] == "eu-west-2") & (table["limit"] == "volumes")].iloc[0]
    assert volumes["action"].startswith("close the cluster")
    # The start is measured from the ledger, with the customers the router never saw estimated.
    assert set(table["basis"]) == {"measured, with estimated customers"}


def test_the_page_and_meta_say_what_is_measured_estimated_and_assumed(two_forecasts, sqlite_history):
    out = two_forecasts[0]
    page = (out / "forecast.html").read_text()
    meta = pd.read_json(out / "meta.json", typ="series")
    header = meta["header"]
    assert header["customers_estimated"] == sum(sqlite_history.unseen.values()) + 12
    assert header["customers_measured"] > 0 and header["runs_ok"] == 4 and header["seed"] == 11
    assert f"<strong>{header['customers_estimated']}\nestimated</strong>" in page
    assert "growth fitted to" in header["growth"] and "Growth fits" in page
    provenance = pd.read_csv(out / "provenance.csv")
    assert {"measured", "estimated", "assumed"} <= set(provenance["basis"])
    runs = pd.read_csv(out / "runs.csv")
    assert list(runs["run"]) == [0, 1, 2, 3] and set(runs["status"]) == {"ok"}
    assert runs["growth_kind"].notna().all()  # every run drew its growth from the fits


def test_a_different_seed_draws_different_growth(two_forecasts, sqlite_history, tmp_path):
    done = forecast(sqlite_history.url, tmp_path, "--seed", "12", "--runs", "2")
    assert done.returncode == 0, done.stderr
    mine = pd.read_csv(tmp_path / "runs.csv")["growth"].tolist()
    theirs = pd.read_csv(two_forecasts[0] / "runs.csv")["growth"].tolist()[:2]
    assert mine != theirs


def test_censored_percentiles():
    nan = math.nan
    assert censored_percentile([nan, nan, nan], 0.1) is None
    assert censored_percentile([10, 20, nan, nan], 0.1) == 10.0  # position 0.5 of 4: clamped to the first
    assert censored_percentile([10, 20, nan, nan], 0.5) is None  # interpolates toward a censored run
    assert censored_percentile([10, 20, 30], 0.5) == 20
    assert censored_percentile(list(range(1, 11)), 0.1) == pytest.approx(1.1)  # order statistic 0.1 x 11
    assert censored_percentile(list(range(1, 11)), 0.9) == pytest.approx(9.9)


def test_below_the_fewest_runs_of_a_band_p10_and_p90_are_the_runs_range_and_the_outputs_say_so(two_forecasts):
    enough = np.arange(1.0, MIN_BAND_RUNS + 1)  # MIN_BAND_RUNS runs: both order statistics exist
    assert censored_percentile(enough, 0.1) == 1.0 and censored_percentile(enough, 0.9) == MIN_BAND_RUNS
    fewer = np.linspace(1.0, 2.0, MIN_BAND_RUNS - 1)  # one fewer: clamped to the runs' range
    assert censored_percentile(fewer, 0.1) == 1.0 and censored_percentile(fewer, 0.9) == 2.0
    # The forecasts above ran 4: their meta and page say what their band is.
    warning = (
        "4 successful runs: p10 and p90 are the runs' own range, not an 80 % band "
        f"(that takes at least {MIN_BAND_RUNS} runs)"
    )
    assert warning in json.loads((two_forecasts[0] / "meta.json").read_text())["warnings"]
    assert html.escape(warning) in (two_forecasts[0] / "forecast.html").read_text()


def test_the_warnings_are_printed_too(tmp_path):
    done = sim("forecast", "--start-from", "examples/state.yaml", "--runs", "2", "--horizon-days", "30",
               "--as-of", AS_OF, "--out", str(tmp_path / "out"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    printed = " ".join(done.stderr.split())
    assert "warning: 2 successful runs: p10 and p90 are the runs' own range" in printed
    assert "warning: cluster eu-west-1: its snapshot counts 497 volumes, its customers as simulated 275" in printed
    # The soonest limits, each with its order-by date, said overdue as the page colours it.
    table = pd.read_csv(tmp_path / "out" / "forecast.csv").dropna(subset=["p50_days"])
    soonest = table.sort_values("p50_days").head(5)
    assert len(soonest)
    for row in soonest.itertuples():
        line = f"{row.cluster} {row.limit_name}: binds in {row.p50_days:.0f} days (p50, {row.p50_date}); order by"
        assert line in printed
        overdue = f"order by {row.order_by_date} (overdue: order now):" in printed
        assert overdue == (row.order_by_days <= 0), row


@pytest.mark.parametrize("runs", [10, 20])
def test_the_band_of_n_runs_holds_one_more_draw_of_the_same_law_eight_times_in_ten(runs):
    # The truth is one more draw: a band of type 7 quantiles would hold it 0.8(n-1)/(n+1) of the time (65 % at
    # 10 runs); the prediction band holds it 80 % (binomial error over 4,000 trials: +-1.3 %).
    rng = np.random.default_rng(17)
    draws = rng.lognormal(3.0, 0.5, size=(4000, runs + 1))
    inside = [censored_percentile(row[:-1], 0.1) <= row[-1] <= censored_percentile(row[:-1], 0.9) for row in draws]
    assert np.mean(inside) == pytest.approx(0.8, abs=0.03)


# --- bad sources: exit 2, the problem named, nothing written -----------------------------------------------------


def refused(source: str, tmp_path: Path, match: str) -> None:
    out = tmp_path / "out"
    done = forecast(source, out)
    assert done.returncode == 2, done.stderr
    assert match in " ".join(done.stderr.split()), done.stderr
    assert not out.exists()


def test_an_unreachable_database_is_refused(tmp_path):
    refused("postgresql://postgres:secret@127.0.0.1:1/nowhere", tmp_path, "cannot read it")
    refused(str(tmp_path / "missing.db"), tmp_path, "no such SQLite file")


def test_an_empty_ledger_is_refused(tmp_path):
    from placement.router.store import open_store
    from placement.state import ClusterIn

    url = f"sqlite:///{tmp_path / 'empty.db'}"
    store = open_store(url)
    store.add_cluster(ClusterIn(id="a", name="a", region="eu", task_queue="q-a", registry_url="r:5000").to_model())
    store.dispose()
    refused(url, tmp_path, "the ledger (reservations) is empty")


def test_snapshots_from_the_future_are_refused(tmp_path):
    folder = write_snapshots(tmp_path / "ahead", [snapshot_document("eu-west-1", NOW + timedelta(hours=1), 3)])
    refused(str(folder), tmp_path, "ahead of the clock")


def test_a_state_file_failing_validation_is_refused(tmp_path):
    bad = tmp_path / "state.yaml"
    bad.write_text((ROOT / "examples" / "state.yaml").read_text().replace("volumes: 497", "volumes: -4", 1))
    refused(str(bad), tmp_path, "clusters[0].load.volumes")


def test_bad_options_are_refused(tmp_path):
    done = forecast("examples/state.yaml", tmp_path / "out", "--every", "6h")
    assert done.returncode == 2 and "give --publish" in done.stderr
    done = forecast("examples/state.yaml", tmp_path / "out", "--cpu-share", "0.5")
    assert done.returncode == 2 and "--cpu-share caps a standing forecast's runs: give --every" in done.stderr
    done = forecast("examples/state.yaml", tmp_path / "out", "--cpu-share", "0", "--every", "6h", "--publish", "x")
    assert done.returncode == 2 and "--cpu-share" in done.stderr
    done = forecast("examples/state.yaml", tmp_path / "out", "--as-of", "yesterday")
    assert done.returncode == 2 and "--as-of 'yesterday'" in done.stderr
    done = forecast("examples/state.yaml", tmp_path / "out", "--base", str(tmp_path / "none.yaml"))
    assert done.returncode == 2 and "--base" in done.stderr
    assert not (tmp_path / "out").exists()


# --- publishing into the router's forecasts tables ----------------------------------------------------------------


def test_publish_writes_the_forecast_into_the_routers_table(sqlite_history: History, tmp_path):
    import shutil

    from placement.router.db import normalise_url
    from placement.router.forecasts import forecast_engine, latest_forecast

    source = normalise_url(sqlite_history.url).removeprefix("sqlite:///")
    copy = tmp_path / "router.db"
    shutil.copy(source, copy)
    url = f"sqlite:///{copy}"
    done = forecast(url, tmp_path / "out", "--runs", "2", "--seed", "4", "--publish", url)
    assert done.returncode == 0, done.stderr
    engine = forecast_engine(url)
    try:
        stored = latest_forecast(engine)
    finally:
        engine.dispose()
    table = pd.read_parquet(tmp_path / "out" / "forecast.parquet")
    assert stored is not None and stored.runs == 2 and stored.seed == 4 and stored.horizon_days == 60
    assert stored.as_of == NOW and len(stored.rows) == len(table)
    said = json.loads((tmp_path / "out" / "meta.json").read_text())["warnings"]
    assert said and stored.warnings == tuple(said)  # the caveats travel with the numbers (2 runs: no 80 % band)
    orders = pd.read_csv(tmp_path / "out" / "orders.csv")
    published = {(o.cluster, o.order): o for o in stored.orders}
    assert len(published) == len(orders) > 0
    for row in orders.itertuples():  # the operator's orders too, their days from as_of (noon)
        order = published[(row.cluster, row.order)]
        assert (order.runs_ordering, order.lead_days) == (row.runs_ordering, row.lead_days)
        assert order.p50_days is None if pd.isna(row.p50_days) else order.p50_days == pytest.approx(row.p50_days - 0.5)
    by_key = {(r.cluster, r.limit): r for r in stored.rows}
    volumes = by_key[("eu-west-2", "rook-ceph.volumes")]
    assert volumes.used == table[(table["cluster"] == "eu-west-2") & (table["limit"] == "volumes")]["used"].iloc[0]
    # Days count from as_of (noon), the runs' from midnight of the start date.
    for row in table.itertuples():
        if not pd.isna(row.p50_days):
            from placement.catalogue import BY_KEY

            stored_row = by_key[(row.cluster, BY_KEY[row.limit].view.format(provider=row.storage_provider))]
            assert stored_row.p50_days == pytest.approx(row.p50_days - 0.5)


def test_publish_to_a_database_without_the_forecasts_table_is_refused_before_any_run(tmp_path):
    import sqlite3

    empty = tmp_path / "plain.db"
    sqlite3.connect(empty).close()
    done = forecast("examples/state.yaml", tmp_path / "out", "--publish", f"sqlite:///{empty}")
    assert done.returncode == 2 and "no forecasts table" in " ".join(done.stderr.split()), done.stderr
    assert not (tmp_path / "out").exists()


def test_publish_to_a_missing_sqlite_file_is_refused_and_makes_no_file(tmp_path):
    missing = tmp_path / "router.db"
    done = forecast("examples/state.yaml", tmp_path / "out", "--publish", str(missing))
    assert done.returncode == 2 and "no such SQLite file" in " ".join(done.stderr.split()), done.stderr
    assert not missing.exists() and not (tmp_path / "out").exists()
