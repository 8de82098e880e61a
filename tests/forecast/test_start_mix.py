"""The base's customer mix checked against the router's ledger: a figure far from the ledger's is replaced and said;
one near it, or one the ledger has too little of, stays the base's. Built through the router's HTTP API (the
``sqlite_history`` fixture: 1 GiB services, half of them with a 2 GiB volume, one or two a customer)."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

from sim.distributions import ChoiceCount, ChoiceSize, FixedSize, LognormalSize
from sim.initial_fleet import mean_size
from sim.objects import mean_count
from sim.scenario import load_scenario
from sim.start_from.build import ASSUMED, MEASURED, read_source, start_from
from sim.start_from.estimated import unmarked_note
from sim.start_from.mix import check_mix
from tests.forecast.conftest import NOW, ROOT
from tests.forecast.test_start_from import base, basis

GiB = 1024**3


def test_a_mix_far_from_the_ledgers_follows_the_ledger_and_says_so(sqlite_history):
    state = read_source(sqlite_history.url, NOW)
    started = start_from(base(), state)
    mix = started.scenario.customers
    # Stage 1's RAM (lognormal, median 512Mi: a mean of 0.64 GiB) against the ledger's 1 GiB requests.
    assert mix.ram == FixedSize(kind="fixed", value=GiB)
    assert basis(started, "customers.ram") == MEASURED
    # Half the services with a volume (stage 1: a quarter), each 2 GiB (stage 1: a mean of 6.9 GiB).
    active = state.ledger[state.ledger["released_at"].isna()]
    share = float((state.ledger["volumes"] > 0).mean())
    assert mix.volume_probability == round(share, 4) and 0.35 < share < 0.65
    assert mix.volume_size == FixedSize(kind="fixed", value=2 * GiB)
    assert int(active["volume_bytes"].max()) == 2 * GiB
    # Pods per service agree (one each), and 20 weeks hold too few customers 135 days old to check the services.
    assert basis(started, "customers.pods_per_service") == ASSUMED and mix.pods_per_service == 1
    assert basis(started, "customers.services") == ASSUMED and mix.services == base().customers.services
    said = [w for w in started.warnings if w.startswith("customer mix: ")]
    assert len(said) == 3 and any("0.64 GiB (1.56x)" in w for w in said), said
    # The customers the router never saw take the ledger's volume size too.
    estimated = [c for c in started.scenario.start_from.live.customers if not c.measured]
    assert {v for c in estimated for v in c.volume if v} == {2 * GiB}


def _ledger(
    rng: np.random.Generator, customers: int, ram: np.ndarray, counts: np.ndarray, days: float, delay: float = 1.0
):
    """A ledger of ``customers`` signing up evenly over ``days``, each making ``counts`` services, its later ones
    an exponential ``delay`` (mean days) after its first: those not made by now are not in it."""
    rows = []
    for number in range(customers):
        age = float(rng.uniform(0, days))
        first = NOW - timedelta(days=age)
        later = rng.exponential(delay, int(counts[number]) - 1)
        for k, after in enumerate([0.0, *later[later < age].tolist()]):
            rows.append(
                {"service_id": f"s{number}-{k}", "customer_id": f"c{number}", "cluster_id": "a",
                 "ram_bytes": int(ram[len(rows) % len(ram)]), "pods": 1, "volumes": 0, "volume_bytes": 0,
                 "new_customer": k == 0, "reserved_at": first + timedelta(days=after), "released_at": pd.NaT}
            )  # fmt: skip
    frame = pd.DataFrame(rows)
    frame["reserved_at"] = pd.to_datetime(frame["reserved_at"], utc=True)
    frame["released_at"] = pd.to_datetime(frame["released_at"], utc=True)
    return frame


def test_the_check_keeps_what_chance_explains_and_fits_what_it_does_not():
    stage2 = load_scenario(ROOT / "scenarios" / "stage2.yaml").customers
    rng = np.random.default_rng(3)
    # The base's own law, drawn: within chance and the tolerance, so the base's stays.
    drawn = np.clip(rng.lognormal(np.log(512 * 2**20), 0.7, 4000), 128 * 2**20, 16 * GiB).astype(np.int64)
    same = check_mix(_ledger(rng, 2000, drawn, np.full(2000, 2), 400), NOW, stage2, MEASURED, ASSUMED)
    assert same.mix.ram == stage2.ram and not [n for n in same.notes if "ram" in n]
    # Continuous sizes four times larger: a lognormal fitted to them, bounded by their range.
    larger = drawn * 4
    fitted = check_mix(_ledger(rng, 2000, larger, np.full(2000, 2), 400), NOW, stage2, MEASURED, ASSUMED)
    law = fitted.mix.ram
    assert isinstance(law, LognormalSize) and (law.min, law.max) == (int(larger.min()), int(larger.max()))
    assert abs(mean_size(law) / larger.mean() - 1) < 0.05
    # A PaaS's plans: a few sizes, kept as the ledger's own choice with its weights.
    plans = rng.choice([GiB, 2 * GiB, 4 * GiB], size=3000, p=[0.5, 0.3, 0.2])
    chosen = check_mix(_ledger(rng, 1500, plans, np.full(1500, 2), 400), NOW, stage2, MEASURED, ASSUMED).mix.ram
    assert isinstance(chosen, ChoiceSize) and chosen.values == [GiB, 2 * GiB, 4 * GiB]
    assert np.allclose(chosen.weights, [0.5, 0.3, 0.2], atol=0.03)
    # Customers making three services each, old enough to have made them: the ledger's count law.
    three = check_mix(_ledger(rng, 500, drawn, np.full(500, 3), 600), NOW, stage2, MEASURED, ASSUMED)
    assert mean_count(three.mix.services) == 3.0
    assert any("services each where the base's services law averages 1.60" in n for n in three.notes)
    spread = check_mix(_ledger(rng, 500, drawn, rng.integers(3, 6, 500), 600), NOW, stage2, MEASURED, ASSUMED)
    assert isinstance(spread.mix.services, ChoiceCount) and spread.mix.services.values == [3, 4, 5]
    # Later services 10 days after the first on average (stage 2: 45), those of the last weeks not made yet: the
    # truncated fit finds the mean, where the delays seen average less.
    quick = _ledger(rng, 3000, drawn, np.full(3000, 2), 60, delay=10.0)
    fitted_delay = check_mix(quick, NOW, stage2, MEASURED, ASSUMED)
    assert abs(fitted_delay.mix.service_delay.mean_days - 10.0) < 1.0
    seen = quick.groupby("customer_id")["reserved_at"].transform(lambda t: t - t.min()).dt.total_seconds() / 86400
    assert seen[seen > 0].mean() < 9.0
    assert any("service_delay averages 45" in n for n in fitted_delay.notes)
    # Customers the fleet had before the router (their first reservation not marked new_customer) came with services
    # the ledger never saw: where the API marks sign-ups, they are left out of the count.
    older = _ledger(rng, 500, drawn, np.full(500, 3), 600)
    before_router = older["customer_id"].isin([f"c{n}" for n in range(250)])
    partial = older[~(before_router & older["service_id"].str.endswith("-0"))]  # their first services unseen
    kept = check_mix(partial, NOW, stage2, MEASURED, ASSUMED)
    assert mean_count(kept.mix.services) == 3.0
    # Services with two volumes each: a simulated service holds one, and that is said.
    doubled = _ledger(rng, 100, drawn, np.full(100, 2), 400).assign(volumes=2, volume_bytes=4 * GiB)
    said = check_mix(doubled, NOW, stage2, MEASURED, ASSUMED).notes
    assert any("services with a volume hold 2.00 volumes each, a simulated service one" in n for n in said)
    assert not [n for n in same.notes if "volumes each" in n]
    # Too few services to tell: every figure stays the base's, and the provenance says why.
    few = check_mix(_ledger(rng, 10, drawn * 4, np.full(10, 2), 30), NOW, stage2, MEASURED, ASSUMED)
    assert few.mix == stage2 and not few.notes
    assert {basis for _, _, basis, _ in few.figures} == {ASSUMED}


def test_a_ledger_without_new_customer_marks_is_said():
    rng = np.random.default_rng(5)
    marked = _ledger(rng, 40, np.full(10, GiB), np.full(40, 2), 100)
    assert unmarked_note(marked) is None  # each customer's first reservation is marked
    unmarked = marked.assign(new_customer=False)
    assert "no reservation of the ledger's 40 customers is marked new_customer" in unmarked_note(unmarked)
    assert unmarked_note(unmarked.head(20)) is None  # too few customers to tell


def test_a_source_without_a_ledger_says_where_its_services_are_unlike_the_bases(tmp_path):
    """A state file's snapshots measure services far heavier than stage 2's and fewer a customer: the new customers
    stay the base's (nothing measures them), and the warnings say which way the dates lean."""
    import yaml

    document = yaml.safe_load((ROOT / "examples" / "state.yaml").read_text())
    (tmp_path / "state.yaml").write_text(yaml.safe_dump(document))
    stage2 = load_scenario(ROOT / "scenarios" / "stage2.yaml")
    started = start_from(stage2, read_source(str(tmp_path / "state.yaml"), NOW))
    said = [w for w in started.warnings if w.startswith("customer mix: the snapshots")]
    assert any("GiB of requested RAM a service" in w and "RAM dates lean late" in w for w in said), said
    assert any("1.15 services a customer where the base's services law averages 1.60" in w and "lean early" in w
               for w in said)  # fmt: skip
    assert started.scenario.customers == stage2.customers
    # Snapshots like the base's mix are not remarked on.
    for entry in document["clusters"]:
        load = entry["load"]
        load["services"], load["volumes"] = int(load["customers"] * 1.6), 0  # no volumes: no storage RAM
        for node in load["run_nodes"]:
            node["requested_ram"] = f"{int(0.64 * load['services'] / len(load['run_nodes']) * 1024)}Mi"
    (tmp_path / "state.yaml").write_text(yaml.safe_dump(document))
    alike = start_from(stage2, read_source(str(tmp_path / "state.yaml"), NOW))
    assert not [w for w in alike.warnings if w.startswith("customer mix: the snapshots")], alike.warnings
