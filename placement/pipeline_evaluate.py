"""``evaluate``: the pipeline's loop over a fleet, a cluster at a time, generated from the catalogue.

``placement.pipeline`` holds the plans it reads (``PolicyPlan``, ``RequestPlan``, the per-kind ``Slot``);
``placement.columns`` runs the same thresholds over numpy columns.
"""

from __future__ import annotations

from collections.abc import Callable

from placement.catalogue import LIMITS, UNBOUNDED
from placement.footprint import SIZED_FIELDS
from placement.rules import CONTROL, GATES, RAM_SCORES, VOLUMES, levels, ram_score_lines, utilization_lines
from placement.scorers import ram_headroom
from placement.scoring import MAX_NODE_SCORE

# The footprint field a request's own size sets, which a ``Slot`` leaves out (its limits' thresholds are worked out
# per request). ``Footprint.of`` adds it to the rest: the footprint's RAM is the request's plus the storage's.
REQUEST_NEED = "ram_bytes"
# The catalogue limits whose need is the request's own RAM (``REQUEST_NEED``), by position.
RAM_LIMITS = tuple(i for i, limit in enumerate(LIMITS) if limit.needed == REQUEST_NEED)
# Their threshold is ``capacity - need`` whatever the need (a zero need would make a grows-only limit unbounded).
assert not any(LIMITS[i].grows_only for i in RAM_LIMITS), "a grows-only limit of the request's own RAM"
# The catalogue limits whose need its volumes' sizes decide (``SIZED_FIELDS``, the raw disk): a slot is kept per
# volume count, so these are worked out per request too, from the request's own footprint.
SIZED_LIMITS = tuple(i for i, limit in enumerate(LIMITS) if limit.needed in SIZED_FIELDS)
# Every limit whose threshold a ``Slot`` leaves at its capacity, by position.
REQUEST_LIMITS = tuple(sorted(RAM_LIMITS + SIZED_LIMITS))


def need_expression(i: int, footprint: str) -> str:
    """Catalogue limit ``i``'s need as ``Limit.needed_row_entry`` gives it, read from the footprint named
    ``footprint`` (a grows-only limit that the placement does not add to never binds)."""
    limit = LIMITS[i]
    needed = f"{footprint}.{limit.needed}" if limit.needed else "0"
    if limit.grows_only:
        return f"({needed} or -UNBOUNDED)" if limit.needed else "-UNBOUNDED"
    return needed


# Parts kept per load: a long-lived load (the router's) judged under ever new slots (a policy's shapes are dropped
# when it holds more than ``placement.pipeline.SHAPES_KEPT``) drops its parts when it holds more.
PARTS_KEPT = 16


def _every(scores: tuple[int, ...]) -> tuple[int, ...]:
    return scores


# ``evaluate``, generated from the catalogue as ``make_slot`` is: the loop over the clusters with each limit's rule
# ``level > capacity - needed`` written out as one line (``LEVEL``/``CHECKS`` below, one per catalogue limit, in
# its order), so a cluster costs the comparisons and no call or tuple around them. A limit added to the catalogue
# is checked with no change here.
#
# What a cluster's judgement owes to the request shape (the slot: every threshold but the ``REQUEST_LIMITS``')
# and the load alone (the first other limit that binds, the volume and control-plane scores and their weighted sum,
# the request limits' levels) is kept on the load (``ClusterLoad._parts``) as a ``part``, under the slot's key (an
# object no other slot shares; a snapshot never changes, so a load's part never goes stale, and goes with the load):
# requests that differ only in their RAM and their volumes' sizes (nearly all the simulator's) judge a cluster whose
# load did not change by its request limits and RAM score alone. The part's first binding limit is the answer unless
# a request limit before it binds. A part serves every wanted region (the region score is added to its sum per
# request, for a cluster that passed the filters): a fleet's requests from each region (a simulator's sign-ups)
# judge a changed cluster once, not once per region.
_EVALUATE = """
def evaluate(request_plan, clusters):
    plan = request_plan.plan
    status_gate, region_gate, oldest = request_plan.status_gate, request_plan.region_gate, request_plan.oldest
    wanted, slots, slot_for = request_plan.wanted, request_plan.slots, request_plan.slot
    request_ram = request_plan.cycle.request.ram_bytes
    has_volumes = bool(request_plan.cycle.request.volumes)
    footprint_of = request_plan.cycle.footprint
    max_pods = plan.limits.max_pods_per_node
    level_key = ("levels", max_pods)
    w_region, w_ram, w_volume, w_control = plan.weights
    region_bonus = MAX_NODE_SCORE * w_region
    pick = request_plan.pick
    every = pick is _every
    count = len(clusters)
    fails = [-1] * count
RAWS_START
    totals = [0] * count
    best, best_total, best_id = -1, 0, ""
    kind_provider = kind_ctrl = None
    for index, (cluster, load) in enumerate(clusters):
        if status_gate is not None and cluster.status not in status_gate:
            fails[index] = 0
            continue
        if oldest is not None and (load.observed_at is None or load.observed_at < oldest):
            fails[index] = 1  # the snapshot-age rule: no observation, or older than the policy allows
            continue
        if region_gate is not None and cluster.region not in region_gate:
            fails[index] = 2
            continue
        provider = cluster.storage_provider
        ctrl = load.ctrl_node_type
        if provider != kind_provider or ctrl != kind_ctrl:  # clusters of one kind share the slot's figures
            (
                thresholds, _, ram_extra, volumes_need, objects_need,
                volume_table, volume_capacity, control_table, control_capacity, slot_footprint, part_key,
            ) = slots.get((provider, ctrl)) or slot_for(provider, ctrl)
            THRESHOLDS, = thresholds
            ram_need = request_ram + ram_extra
            bounded = ram_need >= 0 and w_ram >= 0
REQUEST_THRESHOLDS
            kind_provider, kind_ctrl = provider, ctrl
        parts = load._parts
        part = parts.get(part_key)
        if part is None:
            LEVELS, = load._cache.get(level_key) or levels(load, max_pods)
            failed = -1
STATIC_CHECKS
VOLUME_UTILIZATION
            volume_score = volume_table[volume_utilization]
CONTROL_UTILIZATION
            control_score = control_table[control_utilization]
SIZED_LEVELS
            others = volume_score * w_volume + control_score * w_control
RAM_BOUND
            part = (failed, volume_score, control_score, others, ram_bound, REQUEST_LEVELS,)
            if part_key is not None:
                if len(parts) >= PARTS_KEPT:
                    parts.clear()
                parts[part_key] = part
        failed, volume_score, control_score, others, ram_bound, REQUEST_LEVELS, = part
REQUEST_CHECKS
        if failed >= 0:
            fails[index] = failed
            continue
REGION_SCORE
PRUNE
        requested = load.ram_requested_bytes + ram_need
        capacity = load.ram_allocatable_bytes
RAM_SCORE
        total = others + ram_score * w_ram
        totals[index] = total
RAWS_STORE
        if best < 0 or total > best_total or (total == best_total and cluster.id < best_id):
            best, best_total, best_id = index, total, cluster.id
BEST_STORE
    return fails, RAWS, totals, best, WINNER
"""


# A ``SIZED_LIMITS`` limit, whose threshold a slot leaves at its capacity: a part keeps its level only when a need
# may bind it (none is above UNBOUNDED; a load that does not know the capacity has a level of -UNBOUNDED, which
# nothing binds), else None. Its threshold is then worked out once per kind from the request's footprint
# (``RequestPlan.sized_footprint``: without volumes, the slot's, as every request of its shape has the same).
_SIZED_LEVEL = """\
            if level_I <= threshold_I - UNBOUNDED:
                level_I = None"""
_SIZED_CHECK = """\
        if level_I is not None and (failed < 0 or failed > RULE):
            if sized_threshold_I is None:
                sized = footprint_of(provider) if has_volumes else slot_footprint
                sized_threshold_I = threshold_I - NEED
            if level_I > sized_threshold_I:
                fails[index] = RULE
                continue"""


def _in_wanted_region(cluster: str) -> str:
    """The region score's rule, as generated code: the cluster named ``cluster`` is in the wanted region, or none is
    wanted (``MAX_NODE_SCORE``, else 0)."""
    return f"wanted is None or {cluster}.region == wanted"


def _evaluate_function(ram_strategy: str | None, scores_of: Callable | None = None) -> Callable:
    """``evaluate(request_plan, clusters)`` for policies whose RAM score is ``ram_strategy`` on memory alone (None:
    any other, through ``ram_headroom``): per cluster the first rule that rejects it (-1: none), its raw scores
    (policy order) and its weighted total; and the best cluster's index (-1: none fits): highest total, then
    smallest cluster id. Generated from ``_EVALUATE`` with one check per catalogue limit and the RAM rule written
    inline (a call per cluster was ~2 % of a forecast run). With ``scores_of`` (the variant without it), the raw
    scores are a function that works them out when read: a caller that needs only the winner (the simulator, a
    booking) makes no tuple per cluster; it returns the winner's raw scores too (region, RAM, volume, control, in
    this order; None: none fits), for the placed reason. The variant with the scores listed returns None there."""
    start_best = best_store = ""
    winner = "None"
    if scores_of is None:
        raws = ("    raws = [None] * count", "\n".join([
            "        scores = (region_score, ram_score, volume_score, control_score)",
            "        raws[index] = scores if every else pick(scores)",
        ]), "raws")  # fmt: skip
    else:
        raws = ("", "", "lambda: scores_of(request_plan, clusters)[1]")
        # The winner's scores are kept as each better cluster is found (a few times an evaluation, not once a
        # cluster), so that the placed reason needs no second evaluation of the winner.
        start_best = "    best_ram = best_volume = best_control = 0"
        best_store = "            best_ram, best_volume, best_control = ram_score, volume_score, control_score"
        winner = (
            f"(MAX_NODE_SCORE if {_in_wanted_region('clusters[best][0]')} else 0, best_ram, best_volume, best_control)"
            " if best >= 0 else None"
        )
    # The region score, the one the wanted region decides, added to the part's others (a part serves every region).
    region = [f"        if {_in_wanted_region('cluster')}:", "            others += region_bonus"]
    if scores_of is None:
        region[1:1] = ["            region_score = MAX_NODE_SCORE"]
        region += ["        else:", "            region_score = 0"]
    general = "ram_score = ram_headroom(request_plan.cycle, cluster, load)"
    # The part's bound on the weighted RAM score any request (of a need >= 0) can get on the load: least_allocated's
    # score with no need (it never rises with the need), else the most any strategy scores.
    bound = ["            ram_bound = MAX_NODE_SCORE * w_ram"]
    if ram_strategy == "least_allocated":
        bound[:0] = [
            "            requested = load.ram_requested_bytes",
            "            capacity = load.ram_allocatable_bytes",
            "            if requested >= 0 and capacity >= 0:",
            ram_score_lines(ram_strategy, "ram_bound", " " * 16),
            "                ram_bound *= w_ram",
            "            else:",
        ]
        bound[-1] = "    " + bound[-1]
    # Without the raw scores listed, a cluster that passed the filters but cannot reach the best total so far (its
    # part's bound below it: no win, no tie) is not scored: its total is None, worked out when results are read.
    prune = (
        "\n".join([
            "        if bounded and best >= 0 and others + ram_bound < best_total:",
            "            totals[index] = None",
            "            continue",
        ])
        if scores_of is not None
        else ""
    )  # fmt: skip
    if ram_strategy is None:
        ram_score = f"        {general}"
    else:
        ram_score = "\n".join(
            [
                "        if requested >= 0 and capacity >= 0:",
                ram_score_lines(ram_strategy, "ram_score", " " * 12),
                "        else:",
                f"            {general}",
            ]
        )
    count, gates = len(LIMITS), len(GATES)
    others = [i for i in range(count) if i not in REQUEST_LIMITS]
    # The first other limit that binds (an if/elif chain, in catalogue order).
    static_checks = "\n".join(
        f"            {'if' if k == 0 else 'elif'} level_{i} > threshold_{i}:\n                failed = {gates + i}"
        for k, i in enumerate(others)
    )
    # A request limit binds when it comes before the part's first binding limit (none: -1).
    request_checks = "\n".join(
        f"        if level_{i} > threshold_{i} and (failed < 0 or failed > {gates + i}):\n"
        f"            fails[index] = {gates + i}\n            continue"
        if i in RAM_LIMITS
        else _SIZED_CHECK.replace("I", str(i))
        .replace("RULE", str(gates + i))
        .replace("NEED", need_expression(i, "sized"))
        for i in REQUEST_LIMITS
    )
    request_levels = "".join(f"level_{i}, " for i in REQUEST_LIMITS)
    request_needs = [f"threshold_{i} -= ram_need" for i in RAM_LIMITS] + [
        f"sized_threshold_{i} = None" for i in SIZED_LIMITS
    ]
    sized_levels = "\n".join(_SIZED_LEVEL.replace("I", str(i)) for i in SIZED_LIMITS)
    source = (
        _EVALUATE.replace("RAWS_START\n", "".join(f"{line}\n" for line in (raws[0], start_best) if line))
        .replace("RAWS_STORE\n", raws[1] and f"{raws[1]}\n")
        .replace("RAWS,", f"{raws[2]},")
        .replace("REQUEST_THRESHOLDS", "\n".join(f"            {line}" for line in request_needs))
        .replace("THRESHOLDS", ", ".join(f"threshold_{i}" for i in range(count)))
        .replace("SIZED_LEVELS\n", sized_levels and f"{sized_levels}\n")
        .replace("REQUEST_LEVELS,", request_levels)
        .replace("LEVELS", ", ".join(f"level_{i}" for i in range(count)))
        .replace("STATIC_CHECKS", static_checks)
        .replace("REQUEST_CHECKS", request_checks)
        .replace("RAM_SCORE", ram_score)
        .replace("REGION_SCORE", "\n".join(region))
        .replace("PRUNE\n", prune and f"{prune}\n")
        .replace("BEST_STORE\n", best_store and f"{best_store}\n")
        .replace("WINNER", winner)
        .replace("RAM_BOUND", "\n".join(bound))
        .replace(
            "VOLUME_UTILIZATION",
            utilization_lines(f"level_{VOLUMES} + volumes_need", "volume_capacity", "volume_utilization", " " * 12),
        )
        .replace(
            "CONTROL_UTILIZATION",
            utilization_lines(f"level_{CONTROL} + objects_need", "control_capacity", "control_utilization", " " * 12),
        )
    )
    namespace: dict = {
        "_every": _every,
        "levels": levels,
        "MAX_NODE_SCORE": MAX_NODE_SCORE,
        "PARTS_KEPT": PARTS_KEPT,
        "ram_headroom": ram_headroom,
        "scores_of": scores_of,
        "UNBOUNDED": UNBOUNDED,
    }
    exec(compile(source, "<placement.pipeline.evaluate>", "exec"), namespace)
    return namespace["evaluate"]


# Per RAM strategy with a rule of its own (``RAM_SCORES``), and None for the others: ``evaluate`` with the raw
# scores listed, and ``PolicyPlan.evaluate``, with them worked out when read.
SCORED = {strategy: _evaluate_function(strategy) for strategy in (*RAM_SCORES, None)}
EVALUATES = {strategy: _evaluate_function(strategy, scores_of) for strategy, scores_of in SCORED.items()}
