"""The placement pipeline over a fleet, a cluster at a time: the rules of ``placement.rules``, then the scores.

``PolicyPlan`` holds what a policy fixes (weights, curve tables, each kind of cluster's capacities);
``RequestPlan`` what a request adds (its footprint and needs per storage provider, the gates' allowed values).
``evaluate`` runs every cluster through them; ``placement.columns`` runs the same plans over numpy columns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from operator import itemgetter
from typing import NamedTuple

from placement.catalogue import LIMITS, UNBOUNDED, Rejection
from placement.cycle import Cycle
from placement.footprint import Footprint
from placement.model import Cluster, ClusterLoad, PlacementRequest
from placement.pipeline_evaluate import (
    EVALUATES,
    RAM_LIMITS,
    REQUEST_LIMITS,
    REQUEST_NEED,
    SCORED,
    _every,
    need_expression,
)
from placement.policy import SCORER_NAMES, Policy
from placement.rules import ACTIVE, CONTROL, FILTER_NAMES, GATES, VOLUMES, curve_table, least_allocated, most_allocated
from placement.scorers import control_plane_shape


@dataclass(frozen=True, slots=True)
class Kind:
    """What the rules read of one kind of cluster (storage provider, control-plane type) under one policy."""

    provider: str
    ctrl: str
    capacities: tuple[int, ...]  # per catalogue limit, as the filters compare them
    volume_capacity: int
    control_capacity: int  # 0 for an unknown control-plane type (its clusters never reach scoring)
    control_table: tuple[int, ...]
    volume_table: tuple[int, ...]  # the volume curve; all 0 where the provider has no volume capacity


class Slot(NamedTuple):
    """One request shape on one kind of cluster: the level each limit may reach (its capacity less what the
    request needs), the kind, and what the scores read of the two, flattened. Requests that differ only in their
    RAM and their volumes' sizes share it (those rarely repeat, the rest nearly always does): a limit that reads
    the footprint's ``REQUEST_NEED`` or a ``SIZED_FIELDS`` field keeps its capacity here, ``ram_extra`` is what the
    footprint's RAM adds to the request's own on this kind (a volume's engine RAM) and ``footprint`` the footprint
    of the request that made it; ``thresholds`` gives a request's own (the evaluation subtracts the request's needs
    from those limits' entries when it reads a kind's slot)."""

    thresholds: tuple[int, ...]
    kind: Kind
    ram_extra: int
    volumes: int
    etcd_objects: int
    volume_table: tuple[int, ...]
    volume_capacity: int
    control_table: tuple[int, ...]
    control_capacity: int
    footprint: Footprint
    # The key of what ``evaluate`` made of a load it judged with this slot, kept on the load (``ClusterLoad._parts``):
    # an object of its own, never equal to another slot's (None: nothing is kept, for an explanation's slots).
    part_key: object | None


class PolicyPlan:
    """Everything the pipeline needs from a policy that does not depend on the request."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.limits = limits = policy.limits
        weights = dict(policy.weights)
        self.weights = tuple(weights.get(name, 0) for name in SCORER_NAMES)
        self.pick = _picker(tuple(SCORER_NAMES.index(name) for name, _ in policy.weights))
        self.ram_fast = None
        if set(policy.ram_resource_weights) == {"memory"} and policy.ram_strategy in (
            "least_allocated",
            "most_allocated",
        ):
            self.ram_fast = least_allocated if policy.ram_strategy == "least_allocated" else most_allocated
        self.evaluate = EVALUATES[policy.ram_strategy if self.ram_fast is not None else None]
        self.scored = SCORED[policy.ram_strategy if self.ram_fast is not None else None]
        self.volume_table = curve_table(policy.volume_shape)
        self.control_tables = {
            name: curve_table(control_plane_shape(ctrl, policy.control_plane_comfort_score))
            for name, ctrl in limits.control_plane_types.items()
        }
        self.max_age_delta = None
        if policy.max_snapshot_age_seconds is not None and policy.stale_action == "reject":
            self.max_age_delta = timedelta(seconds=policy.max_snapshot_age_seconds)
        self.kinds: dict[tuple[str, str], Kind] = {}
        self.strict_region = policy.region_mode == "strict"
        # Per request shape (what its footprint reads of it, but its RAM: ``Slot``): the per-kind slots
        # ``RequestPlan`` fills. Requests of the same shape share them, so their thresholds are worked out once.
        self.shapes: dict[tuple, dict] = {}

    def slots_for(self, request: PlacementRequest) -> dict:
        # What ``Footprint.of`` reads of a request, but its RAM and its volumes' sizes (their count stands for them).
        shape = (request.pods, request.new_customer, request.etcd_objects, len(request.volumes))
        # One lookup (a shape's hash is not kept): a new shape is added as it is looked up.
        slots = self.shapes.setdefault(shape, {})
        if not slots and len(self.shapes) > SHAPES_KEPT:
            self.shapes.clear()
            self.shapes[shape] = slots
        return slots

    def kind(self, provider: str, ctrl_name: str) -> Kind:
        kind = self.kinds.get((provider, ctrl_name))
        if kind is None:
            limits = self.limits
            ctrl = limits.control_plane_types.get(ctrl_name)
            volume_capacity = LIMITS[VOLUMES].capacity(limits, provider, ctrl)
            kind = self.kinds[(provider, ctrl_name)] = Kind(
                provider,
                ctrl_name,
                tuple(limit.capacity_row_entry(limits, provider, ctrl) for limit in LIMITS),
                volume_capacity,
                0 if ctrl is None else LIMITS[CONTROL].capacity(limits, provider, ctrl),
                self.control_tables.get(ctrl_name, self.volume_table),
                self.volume_table if volume_capacity > 0 else (0,) * len(self.volume_table),
            )
        return kind


def _picker(positions: tuple[int, ...]) -> Callable[[tuple[int, ...]], tuple[int, ...]]:
    """The raw scores in the policy's weight order, from all four in ``SCORER_NAMES`` order."""
    if positions == tuple(range(len(SCORER_NAMES))):
        return _every
    if len(positions) > 1:
        return itemgetter(*positions)
    return lambda scores: tuple(scores[i] for i in positions)


_new_object = object.__new__
_PLANS: dict[int, PolicyPlan] = {}
# Shapes kept per policy. A small table: the simulator's requests with a volume (lognormal sizes) are nearly all
# new shapes, and looking them up in a table of thousands cost ~15 % of a one-cluster decision (memory, not
# arithmetic).
SHAPES_KEPT = 64


def plan_for(policy: Policy) -> PolicyPlan:
    plan = _PLANS.get(id(policy))
    if plan is None or plan.policy is not policy:
        if len(_PLANS) >= 32:
            _PLANS.clear()
        plan = _PLANS[id(policy)] = PolicyPlan(policy)
    return plan


class RequestPlan:
    """One request against one policy: what it needs per storage provider and the gates' allowed values.

    ``only`` keeps one filter's rules and switches the others off (a cluster is then judged by that filter
    alone, as an explanation asks); ``only=""`` switches every filter off, leaving the scores.
    """

    __slots__ = (
        "cycle",
        "kinds",
        "max_age",
        "oldest",
        "only",
        "pick",
        "plan",
        "region_gate",
        "slots",
        "status_gate",
        "wanted",
    )

    def __init__(self, plan: PolicyPlan, cycle: Cycle, only: str | None = None) -> None:
        self._fill(plan, cycle, only is None)
        if only is not None:
            # One filter's rules (none: ``only=""``) and the scores; a cluster's kinds and slots are made anew.
            self.only = only
            if only != "status":
                self.status_gate = None
            if only != "region":
                self.region_gate = None
            if only != "snapshot-age":
                self.max_age = self.oldest = None
            self.pick = _every
            self.kinds = {}
            self.slots = {}

    @classmethod
    def start(cls, plan: PolicyPlan, cycle: Cycle) -> RequestPlan:
        """``RequestPlan(plan, cycle)``, the same value, without a class call's ``__init__`` dispatch (it costs more
        than the stores, once a request)."""
        request_plan = _new_object(cls)
        request_plan._fill(plan, cycle, True)
        return request_plan

    def _fill(self, plan: PolicyPlan, cycle: Cycle, shaped: bool) -> None:
        """Everything but what ``only`` changes; with ``shaped``, the slots of the request's shape too."""
        self.plan = plan
        self.cycle = cycle
        self.only = None
        request = cycle.request
        self.wanted = wanted = request.region
        self.status_gate = ACTIVE
        self.region_gate = frozenset({wanted}) if plan.strict_region and wanted is not None else None
        self.max_age = self.oldest = None
        if plan.max_age_delta is not None and cycle.now is not None:
            self.max_age = plan.policy.max_snapshot_age_seconds
            # age > max_age, as a comparison of datetimes: observed before the oldest time allowed.
            self.oldest = cycle.now - plan.max_age_delta
        self.pick = plan.pick
        self.kinds = plan.kinds
        if shaped:
            self.slots = plan.slots_for(request)

    def kind(self, provider: str, ctrl_name: str) -> Kind:
        kind = self.plan.kind(provider, ctrl_name)
        if self.only is not None:  # the other filters' limits never bind
            capacities = tuple(
                c if limit.filter == self.only else UNBOUNDED for c, limit in zip(kind.capacities, LIMITS, strict=True)
            )
            kind = replace(kind, capacities=capacities)
            self.kinds[(provider, ctrl_name)] = kind
        return kind

    def slot(self, provider: str, ctrl_name: str) -> Slot:
        kind = self.kinds.get((provider, ctrl_name)) or self.kind(provider, ctrl_name)
        cycle = self.cycle
        # An explanation's plan (``only``) makes its slots anew each time: what it made of a load is not kept.
        key = object() if self.only is None else None
        slot = self.slots[(provider, ctrl_name)] = make_slot(
            kind, cycle.footprint(provider), cycle.request.ram_bytes, key
        )
        return slot

    def thresholds(self, slot: Slot, sized: Footprint | None = None) -> tuple[int, ...]:
        """This request's thresholds on the slot's kind (``Limit.threshold`` of each catalogue limit); ``sized``: the
        footprint the ``SIZED_LIMITS``' needs are read from (None: ``sized_footprint``)."""
        return request_thresholds(
            slot.thresholds, self.cycle.request.ram_bytes + slot.ram_extra, sized or self.sized_footprint(slot)
        )

    def sized_footprint(self, slot: Slot) -> Footprint:
        """A footprint whose ``SIZED_FIELDS`` are this request's on the slot's kind: without volumes, the slot's
        (its shape's requests have no sizes to differ by), else the request's own."""
        return self.cycle.footprint(slot.kind.provider) if self.cycle.request.volumes else slot.footprint

    def ram_need(self, slot: Slot) -> int:
        """The RAM this request's footprint takes on a run node of the slot's kind."""
        return self.cycle.request.ram_bytes + slot.ram_extra

    def footprint(self, provider: str) -> Footprint:
        return self.cycle.footprint(provider)

    def rejection(self, rule: int, cluster: Cluster, load: ClusterLoad) -> Rejection:
        """The record of why rule number ``rule`` turned this cluster down."""
        if rule == 0:
            return Rejection("status", "status", cluster.status, "active", None, "status", cluster.status, None, _same)
        if rule == 1:
            age = self.cycle.snapshot_age_seconds(load)
            return Rejection("snapshot-age", "snapshot_age", age, None, self.max_age, "s", None, None, _age_text)
        if rule == 2:
            return Rejection(
                "region", "region", cluster.region, self.wanted, None, "region", cluster.region, None, _region_text
            )
        provider = cluster.storage_provider
        limit = LIMITS[rule - len(GATES)]
        return limit.rejection(load, self.plan.limits, provider, load.ctrl_node_type, self.footprint(provider))


def _slot_function() -> Callable[[Kind, Footprint, int, object | None], Slot]:
    """``make_slot(kind, footprint, request_ram, part_key)``: a request shape's ``Slot`` on one kind of cluster, its
    thresholds ``capacity - needed`` per catalogue limit (``Limit.threshold``; the capacity alone for the
    ``REQUEST_LIMITS``) generated as one tuple expression from each limit's ``needed`` field and ``grows_only`` flag (as
    ``evaluate`` below is generated): a slot costs the subtractions and nothing around them, and a limit added to the
    catalogue is in it with no change here. ``request_thresholds(thresholds, need, sized)`` completes them for one
    request (its RAM need, and a footprint with its ``SIZED_FIELDS``: ``RequestPlan.sized_footprint``)."""
    entries = [
        f"capacity_{i}" if i in REQUEST_LIMITS else f"capacity_{i} - {need_expression(i, 'footprint')}"
        for i in range(len(LIMITS))
    ]
    capacities = ", ".join(f"capacity_{i}" for i in range(len(LIMITS)))
    completed = ", ".join(
        f"capacity_{i} - {'need' if i in RAM_LIMITS else need_expression(i, 'sized')}"
        if i in REQUEST_LIMITS
        else f"capacity_{i}"
        for i in range(len(LIMITS))
    )
    source = "\n".join(
        [
            "def make_slot(kind, footprint, request_ram, part_key):",
            f"    {capacities}, = kind.capacities",
            f"    return new_tuple(Slot, (({', '.join(entries)},), kind, footprint.{REQUEST_NEED} - request_ram,",
            "                footprint.volumes, footprint.etcd_objects, kind.volume_table, kind.volume_capacity,",
            "                kind.control_table, kind.control_capacity, footprint, part_key))",
            "def request_thresholds(thresholds, need, sized):",
            f"    {capacities}, = thresholds",
            f"    return ({completed},)",
        ]
    )
    namespace: dict = {"Slot": Slot, "UNBOUNDED": UNBOUNDED, "new_tuple": tuple.__new__}
    exec(compile(source, "<placement.pipeline.make_slot>", "exec"), namespace)
    return namespace["make_slot"], namespace["request_thresholds"]


make_slot, request_thresholds = _slot_function()


def _same(r: Rejection) -> str:
    return r.used


def _region_text(r: Rejection) -> str:
    return f"cluster is in {r.used}, request wants {r.needed}"


def _age_text(r: Rejection) -> str:
    if r.used is None:
        return "load snapshot has no observed_at"
    return f"load observed {r.used:.0f}s ago > {r.capacity:.0f}s"


def evaluate(request_plan: RequestPlan, clusters) -> tuple:
    """The request plan's policy's ``evaluate`` (``_evaluate_function``) over ``clusters``, the raw scores listed."""
    return request_plan.plan.scored(request_plan, clusters)


def explain(cycle: Cycle, cluster: Cluster, load: ClusterLoad) -> tuple[dict[str, Rejection | None], dict[str, int]]:
    """One cluster judged by each filter on its own (its rejection, None: it passes), and each score plugin's raw
    score as if it had passed them all."""
    plan = plan_for(cycle.policy)
    verdicts: dict[str, Rejection | None] = {}
    for name in FILTER_NAMES:
        request_plan = RequestPlan(plan, cycle, only=name)
        failed = evaluate(request_plan, [(cluster, load)])[0][0]
        verdicts[name] = request_plan.rejection(failed, cluster, load) if failed >= 0 else None
    raws = evaluate(RequestPlan(plan, cycle, only=""), [(cluster, load)])[1]
    return verdicts, dict(zip(SCORER_NAMES, raws[0], strict=True))
