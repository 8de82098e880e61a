"""A scenario started from a router database runs the growth fitted to its ledger: where that growth cannot be run
over the scenario's horizon (a few months of fast growth, extrapolated for years), the refusal names the fit and
what to change; where the horizon is far beyond the history, the run's warnings say what its dates lean on."""

from __future__ import annotations

import math
import subprocess
import sys
from datetime import timedelta

import numpy as np
import pytest
import yaml
from fastapi.testclient import TestClient

from placement.router.app import create_app
from placement.router.config import RouterSettings
from placement.router.store import open_store
from sim.scenario import load_scenario
from sim.start_from.resolve import started_scenario
from sim.start_from.sources import StartFromError
from tests.forecast.conftest import AUTH, NOW, ROOT, TOKEN, Clock, cluster_body, load_body

WEEKS = 16
MONTHLY_GROWTH = 0.4  # sign-ups grow 40 % a month: 30 a month now


def fast_growing_history(path) -> None:
    """A router database whose ledger holds ``WEEKS`` weeks of sign-ups growing ``MONTHLY_GROWTH`` a month."""
    rng = np.random.default_rng(1)
    months = WEEKS * 7 / 30.436875
    peak = 30.0 * 1.05
    candidates = np.sort(rng.uniform(-months, 0, rng.poisson(peak * months)))
    signups = candidates[rng.random(len(candidates)) < 30.0 * np.exp(math.log1p(MONTHLY_GROWTH) * candidates) / peak]
    clock = Clock(NOW - timedelta(weeks=WEEKS))
    store = open_store(f"sqlite:///{path}", clock=clock)
    try:
        client = TestClient(create_app(store, RouterSettings(db_url="unused", tokens=(TOKEN,))))
        assert client.post("/v1/clusters", json=cluster_body("eu-west-1", "eu-west"), headers=AUTH).status_code == 201
        for number, month in enumerate(signups.tolist()):
            clock.now = NOW + timedelta(days=month * 30.436875)
            body = load_body(clock.now, 4, f"{number // 2 + 1}Gi", customers=number, services=number, pods=number)
            assert client.put("/v1/clusters/eu-west-1/load", json=body, headers=AUTH).status_code == 200
            request = {"customer_id": f"cust-{number}", "ram": "1Gi", "region": "eu-west"}
            placement = {"request_id": f"r-{number}", "service_name": "web", "request": request}
            assert client.post("/v1/placements", json=placement, headers=AUTH).status_code == 201
        clock.now = NOW
        body = load_body(NOW - timedelta(hours=1), 4, "40Gi", customers=len(signups), services=len(signups))
        assert client.put("/v1/clusters/eu-west-1/load", json=body, headers=AUTH).status_code == 200
    finally:
        store.dispose()


@pytest.fixture(scope="module")
def scenario_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fitted")
    fast_growing_history(folder / "router.db")
    base = yaml.safe_load((ROOT / "scenarios" / "stage2.yaml").read_text())
    base.pop("packing_checks", None)
    base["start_from"] = {"kind": "router_db", "url": "router.db", "as_of": NOW.isoformat()}
    files = {}
    for years in (2, 5):
        base["horizon_years"] = years
        files[years] = folder / f"live-{years}y.yaml"
        files[years].write_text(yaml.safe_dump(base))
    return files


def test_a_fitted_growth_that_a_run_cannot_hold_is_refused_naming_the_fit(scenario_files):
    with pytest.raises(StartFromError) as refused:
        started_scenario(load_scenario(scenario_files[5]))
    message = str(refused.value)
    assert message.startswith("the growth fitted to the ledger (exponential, start_per_month ")
    assert "sign-ups) cannot be run over the scenario's 1,826 days: about " in message
    assert message.endswith("more than a run holds (10,000,000 customers); shorten horizon_days or horizon_years")
    # Through the command: status 2, naming the file's start_from, and nothing written.
    out = scenario_files[5].parent / "out-5y"
    done = subprocess.run(
        [sys.executable, "-m", "sim", "run", str(scenario_files[5]), "--out", str(out), "--quiet"],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 2
    assert f"{scenario_files[5]}: start_from: the growth fitted to the ledger (exponential" in " ".join(
        done.stderr.split()
    )
    assert not out.exists()


def test_a_horizon_far_beyond_the_history_is_among_the_runs_warnings(scenario_files):
    started = started_scenario(load_scenario(scenario_files[2]))
    notes = started.start_from.live.notes
    note = next(n for n in notes if n.startswith("growth: fitted to"))
    assert "and the run goes 730 days" in note and "now, and the run follows the chosen exponential; a turn" in note
