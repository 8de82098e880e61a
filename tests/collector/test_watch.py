"""The watch loop's backoff schedule, with a recorded sleep instead of a clock."""

from __future__ import annotations

from placement.collector.errors import CollectError
from placement.collector.watch import backoff_delay, watch


def test_backoff_doubles_from_the_start_and_stops_at_the_cap():
    assert [backoff_delay(k, 60, 300) for k in range(1, 9)] == [5, 10, 20, 40, 80, 160, 300, 300]
    assert [backoff_delay(k, 2, 10) for k in range(1, 5)] == [2, 4, 8, 10]


class _Cluster:
    def __init__(self, outcomes):
        self.outcomes = list(outcomes)

    def collect(self):
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


class _Sink:
    def __init__(self):
        self.written = []

    def write(self, snapshot):
        self.written.append(snapshot)
        return "memory"


def _snapshot(pods):
    from placement.collector.snapshot import Inventory, Snapshot
    from placement.state import ClusterLoadIn

    inventory = Inventory(
        nodes=0,
        run_nodes=0,
        run_nodes_not_ready=[],
        run_nodes_unschedulable=[],
        control_plane_node=None,
        storage_provider=None,
        volume_storage_classes=[],
        pvcs_by_storage_class={},
        longhorn_volumes_by_robustness=None,
        pods_terminated=0,
        pods_pending_unscheduled=0,
        object_counts={},
        requests=0,
        list_restarts=0,
    )
    return Snapshot(
        cluster_id="c", load=ClusterLoadIn(run_nodes=[], ctrl_node_type="CX32", pods=pods), inventory=inventory
    )


def test_failures_keep_the_previous_snapshot_and_back_off():
    first, second = _snapshot(1), _snapshot(2)
    outcomes = [first, CollectError("a"), CollectError("b"), CollectError("c"), second, CollectError("d")]
    sink, slept, lines = _Sink(), [], []
    ok = watch(
        _Cluster(outcomes).collect, [sink], interval=60, backoff_cap=15, cycles=6, log=lines.append, sleep=slept.append
    )
    assert not ok
    assert sink.written == [first, second]
    assert slept == [60, 5, 10, 15, 60]  # the last cycle does not sleep
    assert "collection failed (3 in a row), keeping the previous snapshot: c; retry in 15s" in lines


def test_an_unexpected_error_fails_one_cycle_and_the_loop_goes_on():
    first = _snapshot(1)
    outcomes = [TypeError("'NoneType' object is not subscriptable"), first]
    sink, slept, lines = _Sink(), [], []
    ok = watch(
        _Cluster(outcomes).collect, [sink], interval=60, backoff_cap=300, cycles=2, log=lines.append, sleep=slept.append
    )
    assert ok
    assert sink.written == [first]
    assert lines[0] == (
        "collection failed (1 in a row), keeping the previous snapshot: unexpected TypeError: "
        "'NoneType' object is not subscriptable; retry in 5s"
    )


def test_warnings_are_logged_when_they_change():
    quiet, warned = _snapshot(1), _snapshot(2)
    warned = warned.model_copy(update={"inventory": warned.inventory.model_copy(update={"warnings": ["k3s label"]})})
    sink, lines = _Sink(), []
    watch(
        _Cluster([warned, warned, quiet, warned]).collect,
        [sink],
        interval=1,
        backoff_cap=1,
        cycles=4,
        log=lines.append,
        sleep=lambda _: None,
    )
    assert [line for line in lines if line.startswith("warning:")] == ["warning: k3s label", "warning: k3s label"]
