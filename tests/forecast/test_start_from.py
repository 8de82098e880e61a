"""Starting a scenario from the live fleet: the router's database (SQLite and PostgreSQL, built through the router),
a folder of collector snapshots and examples/state.yaml; and the bad sources."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from placement.router.db import normalise_url
from sim.sampling import draw
from sim.scenario import Scenario, load_scenario
from sim.simulation import run
from sim.start_from.build import ASSUMED, ESTIMATED, MEASURED, read_source, start_from
from sim.start_from.sources import StartFromError
from tests.forecast.conftest import NOW, ROOT, History, build_history

BASE = ROOT / "scenarios" / "stage1.yaml"


def base() -> Scenario:
    return load_scenario(BASE)


def basis(started, figure: str) -> str:
    rows = started.provenance[started.provenance["figure"] == figure]
    assert len(rows) == 1, figure
    return rows["basis"].iloc[0]


def value(started, figure: str) -> str:
    return started.provenance.loc[started.provenance["figure"] == figure, "value"].iloc[0]


def day_zero(scenario: Scenario) -> pd.DataFrame:
    short = scenario.model_copy(update={"horizon_days": 2, "horizon_years": None})
    frame = run(short, 3).timeseries
    return frame[(frame["day"] == 0) & (frame["cluster_id"] != "fleet")].set_index("cluster_id")


def ledger_active(history: History) -> pd.DataFrame:
    state = read_source(history.url, NOW)
    return state.ledger[state.ledger["released_at"].isna()]


@pytest.mark.parametrize("which", ["sqlite_history", "pg_history"])
def test_router_database_gives_the_fleet_the_ledger_and_the_unseen_customers(which, request):
    history: History = request.getfixturevalue(which)
    state = read_source(history.url, NOW)
    assert state.kind == "router_db" and len(state.ledger) == history.services
    started = start_from(base(), state)
    scenario = started.scenario
    clusters = {c.id: c for c in scenario.fleet.clusters}
    assert set(clusters) == {"eu-west-1", "eu-west-2", "us-east-1"}
    assert (clusters["eu-west-2"].storage_provider, clusters["us-east-1"].ctrl_node_type) == ("rook-ceph", "CX32")
    assert scenario.start_from.live.closed == ["us-east-1"]  # draining: closed to new customers
    assert scenario.start_date == NOW.date()
    # The ledger's active customers per cluster are measured, with their services' RAM and volume bytes.
    active = ledger_active(history)
    live = scenario.start_from.live.customers
    for cluster_id in ("eu-west-1", "eu-west-2"):
        mine = [c for c in live if c.cluster == cluster_id and c.measured]
        held = active[active["cluster_id"] == cluster_id]
        assert len(mine) == held["customer_id"].nunique()
        assert sum(len(c.ram) for c in mine) == len(held)
        assert sum(sum(c.ram) for c in mine) == int(held["ram_bytes"].sum())
        # Each service's own request, not the reservation's footprint (with a Longhorn volume's storage RAM), which
        # the simulator adds again when it places the service.
        assert set(held["ram_bytes"]) == {1024**3}
        assert (
            sum(sum(c.volume) for c in mine)
            == int(held["volume_bytes"].sum())
            == 2 * 1024**3 * int(held["volumes"].sum())
        )
        estimated = [c for c in live if c.cluster == cluster_id and not c.measured]
        assert len(estimated) == history.unseen[cluster_id]
        assert value(started, f"clusters.{cluster_id}.customers_not_in_ledger") == str(history.unseen[cluster_id])
    assert sum(not c.measured for c in live if c.cluster == "us-east-1") == 12
    assert started.estimated_customers == 2 * 15 + 12
    # Enough history: growth, churn and the region mix are fitted; the rest is the base scenario's.
    assert basis(started, "growth") == MEASURED and started.growth_fit.enough
    assert started.growth_fit.chosen.growth() == scenario.growth
    assert basis(started, "churn") == MEASURED and started.churn_fit.events == history.churned
    assert scenario.regions == {"eu-west": float(history.customers), "us-east": 0.0}
    assert basis(started, "clusters.eu-west-1.ctrl_nodes") == ASSUMED  # the router does not know it
    assert basis(started, "operator") == ASSUMED and scenario.operator == base().operator
    # The simulated fleet on day 0 holds what the snapshot and the ledger say.
    first = day_zero(scenario)
    assert first.loc["us-east-1", "open"] == False  # noqa: E712 - numpy bool
    for cluster_id in ("eu-west-1", "eu-west-2"):
        customers = sum(1 for c in live if c.cluster == cluster_id)
        assert first.loc[cluster_id, "customers"] == customers
        assert first.loc[cluster_id, "services"] == sum(len(c.ram) for c in live if c.cluster == cluster_id)
        # At the snapshot's levels: its requested RAM (the estimated customers take what the ledger's services and
        # their volumes' storage RAM leave), its volumes, and at least its etcd objects.
        load = next(c.load for c in state.clusters if c.id == cluster_id)
        assert abs(first.loc[cluster_id, "ram_requested_bytes"] - load.ram_requested_bytes) < 1024**2
        assert first.loc[cluster_id, "volumes"] == load.volumes
        assert first.loc[cluster_id, "etcd_objects"] >= load.etcd_objects


def test_the_database_is_opened_read_only_and_never_migrated(sqlite_history, tmp_path):
    path = Path(sqlite_history.url.removeprefix("sqlite:///"))
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    read_source(sqlite_history.url, NOW)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    # A SQLite file that is not the router's is refused, not migrated.
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE things (id INTEGER)").connection.commit()
    with pytest.raises(StartFromError, match="not a router database"):
        read_source(str(other), NOW)
    assert [r[0] for r in sqlite3.connect(other).execute("SELECT name FROM sqlite_master")] == ["things"]


def test_postgresql_source_is_read_in_a_read_only_transaction(pg_history):
    from sqlalchemy import text

    from sim.start_from.sources import _read_only_engine

    engine = _read_only_engine(pg_history.url)
    with engine.connect() as conn:
        assert conn.execute(text("SHOW transaction_read_only")).scalar() == "on"
    engine.dispose()
    assert normalise_url(pg_history.url).startswith("postgresql+psycopg://")


def test_state_file_starts_from_its_snapshots_and_says_everything_is_estimated():
    started = start_from(base(), read_source(str(ROOT / "examples" / "state.yaml"), NOW))
    scenario = started.scenario
    assert [c.id for c in scenario.fleet.clusters] == ["eu-west-1", "eu-west-2", "us-east-1"]
    assert started.measured_customers == 0 and started.estimated_customers == 240 + 70 + 20
    assert basis(started, "growth") == ASSUMED and scenario.growth == base().growth
    assert basis(started, "customers_estimated") == ESTIMATED
    first = day_zero(scenario)
    assert first["customers"].to_dict() == {"eu-west-1": 240, "eu-west-2": 70, "us-east-1": 20}
    assert first["services"].to_dict() == {"eu-west-1": 275, "eu-west-2": 82, "us-east-1": 23}
    # eu-west-1's snapshot has more volumes (497) than services (275); a simulated service holds one at most, so the
    # rest are held on the cluster: the run starts at the measured level, 3 volumes short of Longhorn's 500.
    assert first["volumes"].to_dict() == {"eu-west-1": 497, "eu-west-2": 64, "us-east-1": 20}
    assert any("eu-west-1: its snapshot counts 497 volumes" in w and "222 volumes are held" in w
               for w in started.warnings)  # fmt: skip
    held = started.provenance.set_index("figure")
    assert held.loc["clusters.eu-west-1.held_volumes", "value"] == "222"
    # The snapshot's etcd objects and requested RAM, as measured (the model counts more objects on us-east-1 than
    # its snapshot, which is kept and said).
    assert first["etcd_objects"].to_dict() == {"eu-west-1": 2680, "eu-west-2": 800, "us-east-1": 285}
    assert any("us-east-1: the model starts it at 285 etcd objects where its snapshot measured 230" in w
               for w in started.warnings)  # fmt: skip
    measured_ram = {"eu-west-1": 201 + 188 + 174, "eu-west-2": 40 + 36 + 31, "us-east-1": 20 + 18}
    ram = (first["ram_requested_bytes"] / 2**30).round(3).to_dict()
    assert ram == pytest.approx(measured_ram, abs=1e-3)  # the volumes' storage RAM not counted twice
    assert scenario.start_from.live.closed == ["us-east-1"]


def snapshot_document(cluster_id: str, observed_at, customers: int, provider: str = "longhorn") -> dict:
    return {
        "cluster_id": cluster_id,
        "load": {
            "observed_at": observed_at.isoformat(),
            "ctrl_node_type": "CX52",
            "run_nodes": [{"name": f"run-{i}", "allocatable_ram": "250Gi", "requested_ram": "40Gi"} for i in range(3)],
            "volumes": customers,
            "services": 2 * customers,
            "customers": customers,
            "pods": 2 * customers,
            "etcd_objects": 12 * customers,
        },
        "inventory": {
            "nodes": 4, "run_nodes": 3, "run_nodes_not_ready": [], "run_nodes_unschedulable": [],
            "control_plane_node": "cp-1", "control_plane_nodes": {"cp-1": "CX52", "cp-2": "CX52", "cp-3": "CX52"},
            "storage_provider": provider, "volume_storage_classes": [], "pvcs_by_storage_class": {},
            "longhorn_volumes_by_robustness": None, "pods_terminated": 0, "pods_pending_unscheduled": 0,
            "object_counts": {}, "requests": 10, "list_restarts": 0,
        },
    }  # fmt: skip


def write_snapshots(folder: Path, documents: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, document in enumerate(documents):
        (folder / f"snapshot-{i}.json").write_text(json.dumps(document))
    return folder


def test_snapshot_folder_takes_each_clusters_newest_snapshot(tmp_path):
    folder = write_snapshots(
        tmp_path / "snaps",
        [
            snapshot_document("eu-west-1", NOW - timedelta(days=2), 30),
            snapshot_document("eu-west-1", NOW - timedelta(hours=1), 40),
            snapshot_document("ceph-1", NOW - timedelta(hours=2), 25, "rook-ceph"),
        ],
    )
    started = start_from(base(), read_source(str(folder), NOW))
    clusters = {c.id: c for c in started.scenario.fleet.clusters}
    assert clusters["eu-west-1"].customers == 40 and clusters["ceph-1"].customers == 25
    assert clusters["ceph-1"].storage_provider == "rook-ceph" and clusters["ceph-1"].ctrl_nodes == 3
    assert basis(started, "clusters.ceph-1.storage_provider") == MEASURED
    assert basis(started, "clusters.ceph-1.ctrl_nodes") == MEASURED
    assert basis(started, "clusters.ceph-1.region") == ASSUMED  # a snapshot does not know its region
    assert (
        "the source does not say the region of ceph-1, eu-west-1: taken as eu-west (the base fleet's cluster of the "
        "same id, else the base's first region); its growth and sign-ups follow that region"
    ) in started.warnings
    assert started.estimated_customers == 65
    first = day_zero(started.scenario)
    assert first.loc["eu-west-1", "services"] == 80 and first.loc["eu-west-1", "volumes"] == 40


# --- bad sources ------------------------------------------------------------------------------------------------


def test_an_unreachable_database_is_a_clear_error():
    with pytest.raises(StartFromError, match=r"router database postgresql\+psycopg://postgres:\*\*\*@127.0.0.1:1/x"):
        read_source("postgresql://postgres:secret@127.0.0.1:1/x", NOW)
    with pytest.raises(StartFromError, match="no such SQLite file"):
        read_source("/nonexistent/router.db", NOW)


def test_an_empty_ledger_is_refused(tmp_path):
    from placement.router.store import open_store
    from placement.state import ClusterIn

    url = f"sqlite:///{tmp_path / 'empty.db'}"
    store = open_store(url)
    store.add_cluster(ClusterIn(id="a", name="a", region="eu", task_queue="q-a", registry_url="r:5000").to_model())
    store.dispose()
    with pytest.raises(StartFromError, match=r"ledger .* is empty"):
        read_source(url, NOW)


def test_a_database_of_an_older_migration_is_refused_naming_what_it_lacks(tmp_path):
    """The reader never migrates: a database before the reservations' disk (0007) is told to upgrade, by name."""
    from placement.router.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0006")
    before = (tmp_path / "old.db").read_bytes()
    with pytest.raises(StartFromError) as refused:
        read_source(url, NOW)
    message = str(refused.value)
    assert "its schema is older than this reader's (migration 0006; no column " in message
    assert "reservations.disk_bytes" in message and "placement db upgrade" in message
    assert (tmp_path / "old.db").read_bytes() == before  # nothing written


def test_snapshots_from_the_future_are_refused_as_the_router_refuses_them(tmp_path):
    ahead = write_snapshots(tmp_path / "ahead", [snapshot_document("eu-west-1", NOW + timedelta(minutes=10), 3)])
    with pytest.raises(StartFromError, match="ahead of the clock"):
        read_source(str(ahead), NOW)
    # Within the router's clock skew (300 s) a snapshot is accepted.
    near = write_snapshots(tmp_path / "near", [snapshot_document("eu-west-1", NOW + timedelta(minutes=4), 3)])
    assert read_source(str(near), NOW).clusters[0].load.customers == 3


def test_a_state_file_that_fails_validation_names_the_line(tmp_path):
    bad = tmp_path / "state.yaml"
    text = (ROOT / "examples" / "state.yaml").read_text().replace("volumes: 497", "volumes: -4", 1)
    bad.write_text(text)
    with pytest.raises(StartFromError, match=r"line \d+: clusters\[0\]\.load\.volumes"):
        read_source(str(bad), NOW)


def test_a_control_plane_the_base_cannot_size_is_refused_saying_what_would_size_it(tmp_path):
    text = (ROOT / "examples" / "state.yaml").read_text().replace("ctrl_node_type: CX52", "ctrl_node_type: CX42", 1)
    (tmp_path / "state.yaml").write_text(text)
    with pytest.raises(StartFromError, match=r"cluster eu-west-1: control-plane type 'CX42' is not on the ladder") as e:
        start_from(base(), read_source(str(tmp_path / "state.yaml"), NOW))
    assert "operator.control_plane.ladder" in str(e.value) and "limits_profile" in str(e.value)


def test_a_malformed_snapshot_names_its_file(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "x.json").write_text('{"cluster_id": "a"}')
    with pytest.raises(StartFromError, match=r"x\.json: not a collector snapshot"):
        read_source(str(folder), NOW)
    (tmp_path / "empty").mkdir()
    with pytest.raises(StartFromError, match="no collector snapshots"):
        read_source(str(tmp_path / "empty"), NOW)
    with pytest.raises(StartFromError, match="not a directory"):
        read_source(str(tmp_path / "missing"), NOW)


def test_older_snapshots_in_the_folder_give_the_days_before_their_levels(tmp_path):
    folder = write_snapshots(
        tmp_path / "trend",
        [
            snapshot_document("eu-west-1", NOW - timedelta(days=40), 10),  # before the trend window: left out
            snapshot_document("eu-west-1", NOW - timedelta(days=14, minutes=1), 20),
            snapshot_document("eu-west-1", NOW - timedelta(days=7, minutes=1), 30),
            snapshot_document("eu-west-1", NOW - timedelta(minutes=1), 40),
        ],
    )
    history = start_from(base(), read_source(str(folder), NOW)).scenario.start_from.live.history
    assert [(h.days_before, h.customers, h.pods) for h in history] == [(0, 40, 80), (7, 30, 60), (14, 20, 40)]


def test_what_a_snapshot_counts_beyond_its_customers_is_held_for_the_whole_run(tmp_path):
    """Volumes beyond one a service, etcd objects and raw disk the customers do not bring start the run at the
    measured level, and no customer takes them back when leaving."""
    document = snapshot_document("eu-west-1", NOW - timedelta(minutes=1), 40)  # 40 customers, 80 services
    document["load"] |= {"volumes": 200, "etcd_objects": 5000, "disk_bytes": 4 * 2**40}
    started = start_from(base(), read_source(str(write_snapshots(tmp_path / "held", [document])), NOW))
    held = {row.figure: int(row.value) for row in started.provenance.itertuples() if ".held_" in row.figure}
    assert held["clusters.eu-west-1.held_volumes"] == 200 - 80  # each estimated service holds one volume
    assert set(held) == {f"clusters.eu-west-1.held_{m}" for m in ("volumes", "etcd_objects", "disk_bytes")}
    assert any("120 volumes are held" in w and "their sizes are unknown" in w for w in started.warnings)
    # Every customer leaves within weeks; what is held stays.
    scenario = started.scenario
    leaving = scenario.model_copy(
        update={
            "churn": scenario.churn.model_copy(update={"rate": 0.9}),
            "growth": scenario.growth.model_copy(update={"start_per_month": 0.0, "slope_per_month": 0.0}),
        }
    )
    short = leaving.model_copy(update={"horizon_days": 120, "horizon_years": None})
    series = run(short, 3).timeseries
    mine = series[series["cluster_id"] == "eu-west-1"].set_index("day")
    assert mine.loc[0, ["volumes", "etcd_objects", "disk_bytes"]].tolist() == [200, 5000, 4 * 2**40]
    assert mine["customers"].iloc[-1] < 5
    assert (mine["volumes"] >= held["clusters.eu-west-1.held_volumes"]).all()
    empty = mine[mine["services"] == 0]  # no customer left: only what is held
    assert len(empty) and (empty["volumes"] == held["clusters.eu-west-1.held_volumes"]).all()
    assert (mine["disk_bytes"] >= held["clusters.eu-west-1.held_disk_bytes"]).all()


def test_a_cluster_keeps_its_measured_run_node_size_and_grows_with_it(tmp_path):
    """Run nodes of another size than the operator's type: the headroom is the measured nodes', and the nodes the
    operator adds to that cluster are their size."""
    document = snapshot_document("eu-west-1", NOW - timedelta(minutes=1), 40)
    document["load"]["run_nodes"] = [
        {"name": f"run-{i}", "allocatable_ram": "60Gi", "requested_ram": "45Gi", "max_pods": 250} for i in range(3)
    ]
    document["load"]["disk_capacity_bytes"] = 3 * 2**40  # Longhorn's share of their disks, 1 TiB a node
    started = start_from(base(), read_source(str(write_snapshots(tmp_path / "small", [document])), NOW))
    spec = started.scenario.fleet.clusters[0]
    assert (spec.run_node_allocatable_bytes, spec.run_node_max_pods, spec.run_node_disk_bytes) == (
        60 * 2**30, 250, 2**40,
    )  # fmt: skip
    assert any("eu-west-1: its run nodes measure 60.0 GiB allocatable" in w and "max-pods 250" in w
               and "1.00 TiB of raw disk" in w for w in started.warnings)  # fmt: skip
    assert basis(started, "clusters.eu-west-1.run_node_size") == MEASURED
    fast = started.scenario.model_copy(
        update={
            "growth": started.scenario.growth.model_copy(update={"start_per_month": 300.0}),
            "regions": {"eu-west": 1.0},
            "horizon_days": 60,
            "horizon_years": None,
        }
    )
    mine = run(fast, 1).timeseries.query("cluster_id == 'eu-west-1'").set_index("day")
    assert mine.loc[0, "ram_allocatable_bytes"] == 3 * 60 * 2**30
    assert mine.loc[0, "ram_requested_bytes"] == 3 * 45 * 2**30  # 75 % of the measured nodes, not 18 % of the type's
    grown = mine[mine["run_nodes"] > 3]
    assert len(grown), "the operator adds run nodes to a cluster at 75 % of its RAM that keeps taking customers"
    assert (grown["ram_allocatable_bytes"] == grown["run_nodes"] * 60 * 2**30).all()
    assert (mine["disk_capacity_bytes"] == mine["run_nodes"] * 2**40).all()
    # A snapshot of the type's own size keeps the type (the shipped state file's 250 GiB nodes).
    state = start_from(base(), read_source(str(ROOT / "examples" / "state.yaml"), NOW)).scenario
    assert {c.run_node_allocatable_bytes for c in state.fleet.clusters} == {None}


def test_a_region_with_clusters_that_the_mix_gives_no_customers_is_said(tmp_path):
    """Without a ledger, a base whose mix leaves out a region the source's clusters are in gives way to the
    customers per region at the start; a region whose clusters hold no customer then gets none, and that is said.
    A base naming every region of the source's keeps its (assumed) mix."""
    document = yaml.safe_load((ROOT / "examples" / "state.yaml").read_text())
    document["clusters"][2]["load"].update(customers=0, services=0, pods=0, volumes=0, etcd_objects=0)
    document["clusters"][2]["load"]["run_nodes"] = [
        {"name": f"run-{i}", "allocatable_ram": "250Gi", "requested_ram": "0Gi", "pods": 0} for i in range(2)
    ]
    (tmp_path / "state.yaml").write_text(yaml.safe_dump(document))
    started = start_from(base(), read_source(str(tmp_path / "state.yaml"), NOW))  # stage 1: {eu-west: 1.0}
    assert started.scenario.regions == {"eu-west": 310.0, "us-east": 0.0}
    assert basis(started, "regions") == ESTIMATED
    assert [w for w in started.warnings if w.startswith(("region ", "the base's regions"))] == [
        "the base's regions mix {'eu-west': 1.0} leaves out regions of the source's clusters (['eu-west', "
        "'us-east']): new customers come to them in the shares of their customers now {'eu-west': 310.0, "
        "'us-east': 0.0}",
        "region us-east has clusters (or one on order) but the regions' mix (estimated: {'eu-west': 310.0, "
        "'us-east': 0.0}) gives it no new customers: its clusters grow only by their customers' own new services",
    ]
    state = read_source(str(ROOT / "examples" / "state.yaml"), NOW)
    stage1 = start_from(base(), state)  # us-east-1 holds 20 of the 330 customers
    assert stage1.scenario.regions == {"eu-west": 310.0, "us-east": 20.0}
    assert not any(w.startswith("region ") for w in stage1.warnings)
    stage2 = start_from(load_scenario(ROOT / "scenarios" / "stage2.yaml"), state)
    assert stage2.scenario.regions == {"eu-west": 0.65, "us-east": 0.35}
    assert basis(stage2, "regions") == ASSUMED
    assert [w for w in stage2.warnings if w.startswith(("region ", "the base's regions", "the regions'"))] == [
        "the regions' mix (assumed: {'eu-west': 0.65, 'us-east': 0.35}) sends new customers to ['us-east'], where "
        "the source has no open cluster: the engine places them on other regions' clusters until the operator opens "
        "one there"
    ]  # us-east-1 is draining
    # A cluster on order in a region no base names: the mix is the customers', which gives it none, and that is said.
    document = yaml.safe_load((ROOT / "examples" / "state.yaml").read_text())
    ordered = {**document["clusters"][1], "cluster": {**document["clusters"][1]["cluster"], "id": "ap-south-1",
               "region": "ap-south", "task_queue": "deployer-ap-south-1", "status": "provisioning"}}  # fmt: skip
    document["clusters"].append(ordered)
    (tmp_path / "ordered.yaml").write_text(yaml.safe_dump(document))
    opening = start_from(
        load_scenario(ROOT / "scenarios" / "stage2.yaml"), read_source(str(tmp_path / "ordered.yaml"), NOW)
    )
    assert opening.scenario.regions == {"ap-south": 0.0, "eu-west": 310.0, "us-east": 20.0}
    assert any(w.startswith("region ap-south has clusters (or one on order) but the regions' mix (estimated")
               for w in opening.warnings)  # fmt: skip
    # A base naming more regions than the fleet's (stage 2's us-east, which its own fleet opens later) keeps its
    # mix, and says where the new customers find no cluster. Collector snapshots do not say a cluster's region:
    # the start puts them in the base's first region.
    documents = [snapshot_document(f"fsn-{i}", NOW - timedelta(minutes=1), 30 + 10 * i) for i in range(2)]
    folder = write_snapshots(tmp_path / "snapshots", documents)
    unsaid = start_from(load_scenario(ROOT / "scenarios" / "stage2.yaml"), read_source(str(folder), NOW))
    assert unsaid.scenario.regions == {"eu-west": 0.65, "us-east": 0.35}
    assert basis(unsaid, "regions") == ASSUMED
    assert (
        "the regions' mix (assumed: {'eu-west': 0.65, 'us-east': 0.35}) sends new customers to ['us-east'], "
        "where the source has no open cluster: the engine places them on other regions' clusters until the operator "
        "opens one there" in unsaid.warnings
    )


def test_a_fleet_in_regions_the_base_does_not_name_takes_the_new_customers_itself(tmp_path):
    """A state file whose only region is not in the base's mix: the base's regions have no cluster, and their
    sign-ups would have filled this fleet until the simulated operator opened clusters there. The fleet's own
    region takes the new customers instead, and the operator opens no cluster elsewhere."""
    document = yaml.safe_load((ROOT / "examples" / "state.yaml").read_text())
    document["clusters"] = document["clusters"][:2]
    for entry in document["clusters"]:
        entry["cluster"]["region"] = "eu-central"
    (tmp_path / "state.yaml").write_text(yaml.safe_dump(document))
    state = read_source(str(tmp_path / "state.yaml"), NOW)
    started = start_from(load_scenario(ROOT / "scenarios" / "stage2.yaml"), state)
    assert started.scenario.regions == {"eu-central": 310.0}
    assert basis(started, "regions") == ESTIMATED
    short = started.scenario.model_copy(update={"horizon_days": 60, "horizon_years": None})
    result = run(short, 1)
    series = result.timeseries[result.timeseries["cluster_id"] != "fleet"]
    opened = set(series["cluster_id"]) - {"eu-west-1", "eu-west-2"}
    assert all(cluster_id.startswith("eu-central") for cluster_id in opened), opened
    grown = series[series["day"] == series["day"].max()]["customers"].sum()
    assert grown > 310, "the fleet's own region takes the new customers"


def test_unschedulable_run_nodes_are_counted_and_said(tmp_path):
    """A cordoned run node: the simulator has no such state, so the run counts it, and the output says so."""
    document = yaml.safe_load((ROOT / "examples" / "state.yaml").read_text())
    document["clusters"][1]["load"]["run_nodes"][2]["schedulable"] = False
    (tmp_path / "state.yaml").write_text(yaml.safe_dump(document))
    started = start_from(base(), read_source(str(tmp_path / "state.yaml"), NOW))
    assert [w for w in started.warnings if "unschedulable" in w] == [
        "cluster eu-west-2: 1 of its 3 run nodes are unschedulable in the snapshot (run-3): the run counts them as "
        "schedulable run nodes, with their RAM and pods; if they do not return, its RAM and pod dates are late"
    ]
    assert {c.id: c.run_nodes for c in started.scenario.fleet.clusters}["eu-west-2"] == 3
    plain = start_from(base(), read_source(str(ROOT / "examples" / "state.yaml"), NOW))
    assert not any("unschedulable" in w for w in plain.warnings)


def test_a_stale_snapshot_is_said(tmp_path):
    """A state file written 15 days before the forecast: the run starts from its levels as now's, and says that
    the growth since is missing from the start."""
    document = yaml.safe_load((ROOT / "examples" / "state.yaml").read_text())
    for entry in document["clusters"]:
        entry["load"]["observed_at"] = (NOW - timedelta(days=15)).isoformat()
    (tmp_path / "stale.yaml").write_text(yaml.safe_dump(document))
    started = start_from(base(), read_source(str(tmp_path / "stale.yaml"), NOW))
    stale = [w for w in started.warnings if "newest snapshot is" in w]
    assert [w.split(":")[0] for w in stale] == ["cluster eu-west-1", "cluster eu-west-2", "cluster us-east-1"]
    assert all("15.0 days old" in w and "the growth since is not in the start (the source has no ledger)" in w
               and w.endswith("so its dates lean late by up to 15 days of growth") for w in stale)  # fmt: skip
    fresh = start_from(base(), read_source(str(ROOT / "examples" / "state.yaml"), NOW))
    assert not any("newest snapshot is" in w for w in fresh.warnings)


def test_a_state_file_lists_a_cluster_on_order_without_a_load(tmp_path):
    """A cluster being provisioned has no snapshot yet: a state file may list it without one, with ``created_at``
    (when it was ordered). The start takes it as an order due the base operator's lead time after that."""
    document = yaml.safe_load((ROOT / "examples" / "state.yaml").read_text())
    ordered_at = NOW - timedelta(days=10)
    document["clusters"].append(
        {"cluster": {**document["clusters"][1]["cluster"], "id": "eu-west-9", "task_queue": "deployer-eu-west-9",
                     "status": "provisioning", "created_at": ordered_at.isoformat()}}
    )  # fmt: skip
    (tmp_path / "state.yaml").write_text(yaml.safe_dump(document))
    scenario = load_scenario(ROOT / "scenarios" / "stage2.yaml")
    started = start_from(scenario, read_source(str(tmp_path / "state.yaml"), NOW))
    lead = scenario.operator.shard.lead_days
    assert [(o.id, o.region, o.storage_provider) for o in started.scenario.start_from.live.on_order] == [
        ("eu-west-9", "eu-west", "rook-ceph")
    ]
    assert started.scenario.start_from.live.on_order[0].due_days == pytest.approx(lead - 10)
    assert basis(started, "clusters.eu-west-9.on_order") == MEASURED
    assert "eu-west-9" not in {c.id for c in started.scenario.fleet.clusters}
    assert any(w.startswith("cluster eu-west-9 is on order (provisioning)") for w in started.warnings)


def test_a_provisioning_cluster_with_a_snapshot_is_started_empty_and_said_and_a_fleet_only_on_order_is_refused(
    tmp_path,
):
    """The router places nothing on a cluster until it is active: what a provisioning cluster's snapshot counts is
    not simulated, and the warning says so. A source whose every cluster is on order has nothing to start from."""
    document = yaml.safe_load((ROOT / "examples" / "state.yaml").read_text())
    document["clusters"][1]["cluster"]["status"] = "provisioning"
    (tmp_path / "state.yaml").write_text(yaml.safe_dump(document))
    started = start_from(load_scenario(BASE), read_source(str(tmp_path / "state.yaml"), NOW))
    assert "eu-west-2" not in {c.id for c in started.scenario.fleet.clusters}
    said = [w for w in started.warnings if w.startswith("cluster eu-west-2 is on order (provisioning)")]
    assert len(said) == 1 and said[0].endswith(
        ". Its snapshot counts 70 customers, 82 services, 64 volumes: the start leaves them out (it starts the "
        "cluster empty when due)"
    )
    for entry in document["clusters"]:
        entry["cluster"]["status"] = "provisioning"
    (tmp_path / "ordered.yaml").write_text(yaml.safe_dump(document))
    with pytest.raises(StartFromError, match=r"cannot start from it:\n  no cluster to start from: every cluster it "
                       r"lists is provisioning \(on order\)"):  # fmt: skip
        start_from(load_scenario(BASE), read_source(str(tmp_path / "ordered.yaml"), NOW))


def test_a_snapshot_with_services_and_no_requested_ram_is_said(tmp_path):
    """Pods without requests (or a state file that leaves them out) measure 0; the model's services on a Longhorn
    cluster still take their volumes' storage RAM, so the start is above the snapshot, and that is said rather than
    passed over as nothing measured."""
    document = yaml.safe_load((ROOT / "examples" / "state.yaml").read_text())
    for node in document["clusters"][0]["load"]["run_nodes"]:
        node["requested_ram"] = 0
    (tmp_path / "state.yaml").write_text(yaml.safe_dump(document))
    started = start_from(base(), read_source(str(tmp_path / "state.yaml"), NOW))
    said = [w for w in started.warnings if w.startswith("cluster eu-west-1: its snapshot measures no requested RAM")]
    assert len(said) == 1 and "the model starts it at " in said[0] and said[0].endswith("if the snapshot is right")
    assert day_zero(started.scenario)["ram_requested_bytes"]["eu-west-1"] > 0
    assert not any("measures no requested RAM" in w for w in start_from(base(), read_source(
        str(ROOT / "examples" / "state.yaml"), NOW)).warnings)  # fmt: skip


def test_customers_asking_for_a_region_without_a_cluster_keep_their_region_in_the_measured_mix(tmp_path):
    """A quarter of the customers ask for ap-south, where the fleet has no cluster: the engine places them in
    eu-west, and the ledger keeps the region they asked for, so the measured mix gives ap-south its quarter (the
    forecast's customers of it take the best cluster of any region, or one the operator opens there) and eu-west
    keeps only its own. A ledger that does not say the region (rows from before migration 0010) counts them in
    eu-west, and where the base sends customers to ap-south, that is said."""
    url = f"sqlite:///{tmp_path / 'router.db'}"
    history = build_history(url, weeks=12, per_week=8.0, asking=("eu-west", "eu-west", "eu-west", "ap-south"))
    state = read_source(url, NOW)
    firsts = state.ledger.groupby("customer_id")["region"].first()
    assert firsts.notna().all() and (firsts == "ap-south").sum() == history.customers // 4
    started = start_from(base(), state)
    assert basis(started, "regions") == MEASURED
    assert started.scenario.regions == {
        "eu-west": float(history.customers - history.customers // 4),
        "us-east": 0.0,
        "ap-south": float(history.customers // 4),
    }
    assert not any(w.startswith("regions: the base sends") for w in started.warnings)
    assert (
        f"the regions' mix (measured: {started.scenario.regions}) sends new customers to ['ap-south'], where the "
        "source has no open cluster: the engine places them on other regions' clusters until the operator opens one "
        "there" in started.warnings
    )
    assert set(day_zero(started.scenario).index) >= {"eu-west-1", "eu-west-2"}  # it runs
    # Those on the fleet keep the region they asked for: they live outside it (which orders a cluster there), and
    # their later services ask for it.
    live = started.scenario.start_from.live.customers
    active = state.ledger[state.ledger["released_at"].isna()]
    asked = active.groupby("customer_id")["region"].first()  # one customer per cluster it holds services on
    per_cluster = active.drop_duplicates(["cluster_id", "customer_id"])["customer_id"].map(asked)
    assert sorted(c.region for c in live if c.measured) == sorted(per_cluster.tolist())
    assert all(c.region is None for c in live if not c.measured)  # estimated: their cluster's
    draws = draw(started.scenario, np.random.SeedSequence(3), 10.0)
    names = list(started.scenario.regions)
    home = {spec.id: names.index(spec.region) for spec in started.scenario.fleet.clusters}
    expected = [names.index(c.region) if c.region else home[c.cluster] for c in live]
    assert draws.region[: len(live)].tolist() == expected and names.index("ap-south") in expected
    # The same ledger without the regions asked for: each customer counts in its first cluster's region.
    with sqlite3.connect(tmp_path / "router.db") as conn:
        conn.execute("UPDATE reservations SET region = NULL")
    legacy = read_source(url, NOW)
    unasked = start_from(base(), legacy)
    assert unasked.scenario.regions == {"eu-west": float(history.customers), "us-east": 0.0}
    asks_ap_south = base().model_copy(update={"regions": {"eu-west": 0.8, "ap-south": 0.2}})
    said = [w for w in start_from(asks_ap_south, legacy).warnings if w.startswith("regions: the base sends")]
    assert len(said) == 1 and said[0].startswith(
        f"regions: the base sends ap-south 20% of new customers to regions where the source has no cluster; "
        f"{history.customers:,} customers' reservations do not say the region they asked for"
    )
    assert said[0].endswith("lean early once its clusters are no longer the best")
    assert not any(w.startswith("regions: the base sends") for w in start_from(asks_ap_south, state).warnings)
