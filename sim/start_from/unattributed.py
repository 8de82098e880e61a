"""What a live start's newest snapshots count that its customers do not bring, held on each cluster as it is.

A live start places each customer's services (``sim.start_from.build``); a cluster's snapshot can count more than
they bring. Volumes beyond one a service (a simulated service holds at most one; the router's quotas allow more),
and etcd objects the limits profile does not count per service or per node (operators' own objects, CRDs'). Left
out, the run would start below the measured level, and a limit the fleet is already close to would bind late or
never: a Longhorn cluster at 497 of its 500 volumes read as half full.

``hold_unattributed`` adds the difference to the cluster's counters at time 0, once the start's customers are
placed (``sim.start_from.carry``). It stays for the whole run: no customer takes it back when leaving. The volumes
held bring their storage provider's objects. Their sizes are unknown (a snapshot counts volumes, not their
bytes), so they take no disk: a snapshot that measures its replicas' raw disk has that held as it is, and one that
does not leaves the disk to the customers' volumes, as the start estimates them. They bring no RAM, which the
snapshot measured with whatever holds them. A level the simulated start counts above the snapshot's is kept (the
model's own count) and reported, never cut.

``sim.start_from.gaps.start_levels`` makes the same comparison once before the runs, from the scenario's time-0
placements alone, so that the provenance and warnings show what is held, and where the model counts more than was
measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sim.start_from.spec import LiveFleet

# The measures compared, as (snapshot field of ``LiveLevel``, fleet counter): volumes first, since the volumes held
# bring objects of their own.
HELD = (("volumes", "volumes"), ("etcd_objects", "etcd_objects"), ("disk_bytes", "disk_bytes"))
# Requested RAM is compared, not held: it sits on run nodes, and a run node holds only its services' requests (an
# empty one can be removed). Pods are not compared: a snapshot counts every pod, the control plane's included.
COMPARED = (*HELD, ("ram_requested", "ram_requested"))
# A start this far from the snapshot's level (a share of it) is reported as a disagreement.
DISAGREE_SHARE = 0.05


@dataclass(frozen=True)
class StartGap:
    """One cluster's measure at time 0: the snapshot's, the simulated start's (its customers), and what is held."""

    cluster: str
    measure: str
    measured: int
    simulated: int
    held: int
    with_reservations: bool = False  # ``measured`` is the snapshot's with the router's reservations since

    @property
    def source(self) -> str:
        return "its snapshot with the router's reservations since" if self.with_reservations else "its snapshot"


def hold_unattributed(fleet: Any, live: LiveFleet) -> list[StartGap]:
    """Add to ``fleet``'s counters what each cluster's newest snapshot (``live.snapshots``) counts above its placed
    customers, and return every compared measure."""
    limits = fleet.limits
    gaps = []
    counters = fleet.counters
    for snapshot in live.snapshots:
        number = fleet.index.get(snapshot.cluster)
        if number is None:
            continue
        info = fleet.clusters[number]
        storage = limits.storage[info.provider]
        replicas = storage.replicas_on(int(counters["nodes"][number]))
        for field, counter in COMPARED:
            measured, simulated = int(getattr(snapshot, field)), int(counters[counter][number])
            held = max(measured - simulated, 0) if (field, counter) in HELD and measured > 0 else 0
            if held and counter == "volumes":
                counters["etcd_objects"][number] += held * storage.volume_objects(replicas)
            counters[counter][number] += held
            gaps.append(StartGap(snapshot.cluster, field, measured, simulated, held, snapshot.with_reservations))
        fleet._touch(number)
    return gaps


def gap_notes(gaps: list[StartGap]) -> list[str]:
    """The warnings a forecast shows: each level held, and each the simulated start is far from (over
    ``DISAGREE_SHARE`` of the snapshot's) and does not hold."""
    notes = []
    for gap in gaps:
        if gap.held:
            notes.append(
                f"cluster {gap.cluster}: {gap.source} counts {_shown(gap.measure, gap.measured)}, its customers as "
                f"simulated {_shown(gap.measure, gap.simulated)}; the other {_shown(gap.measure, gap.held)} are held "
                "on the cluster for the whole run (no customer takes them back)"
                + ("; their sizes are unknown, so they take no disk" if gap.measure == "volumes" else "")
            )
        elif gap.measured > 0 and abs(gap.simulated - gap.measured) > gap.measured * DISAGREE_SHARE:
            above = gap.simulated > gap.measured
            notes.append(
                f"cluster {gap.cluster}: the model starts it at {_shown(gap.measure, gap.simulated)} where "
                f"{gap.source} measured {_shown(gap.measure, gap.measured)} "
                + (
                    "(the limits profile's figures are above this fleet's): its dates for this limit are early"
                    if above
                    else "(requests of pods that are no customer's, such as DaemonSets'; not held, since a run node "
                    "holds only its services'): its dates for this limit are late"
                )
            )
        elif gap.measure == "ram_requested" and gap.measured == 0 and gap.simulated > 0:
            notes.append(
                f"cluster {gap.cluster}: {gap.source} measures no requested RAM (its pods request none, or the "
                f"source leaves it out); the model starts it at {_shown(gap.measure, gap.simulated)} (its services' "
                "requests and their volumes' storage RAM): its dates for this limit are early if the snapshot is right"
            )
    return notes


def _shown(measure: str, value: int) -> str:
    if measure == "ram_requested":
        return f"{value / 2**30:,.1f} GiB of requested RAM"
    if measure == "disk_bytes":
        return f"{value / 2**40:,.2f} TiB of raw disk"
    return f"{value:,} {measure.replace('_', ' ')}"
