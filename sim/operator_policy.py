"""The operator's scale-down, failure-headroom, spill and migration policies (``operator:`` in a scenario)."""

from __future__ import annotations

from pydantic import Field

from sim.distributions import SpecModel


class ScaleDownPolicy(SpecModel):
    """Removing run nodes the cluster no longer needs, as Cluster Autoscaler does it, in days instead of minutes.

    A run node is unneeded when its utilisation as CA measures it (requested RAM over allocatable; CA counts CPU
    and memory requests, never the pod count) is under ``utilization_threshold``, its services fit on the
    cluster's other run nodes (RAM and max-pods per node, as CA's scheduling simulation checks the pod-count
    predicate), the cluster keeps its storage provider's minimum nodes and its ``n_plus`` headroom,
    and the cluster without it stays under the operator's node-order levels for the demand it projects over
    the node lead time (else the operator would order it straight back). After ``unneeded_days`` unneeded, and
    not within ``delay_after_add_days`` of a node arriving, it is drained and removed.

    Sources: Cluster Autoscaler FAQ, "How does scale-down work?" and its flags --scale-down-utilization-threshold
    (default 0.5), --scale-down-unneeded-time (10m), --scale-down-delay-after-add (10m). The default threshold
    here is the operator's RAM order level, 0.8, not CA's 0.5: the engine spreads services over run nodes
    (least_allocated), so every node sits near its cluster's level and CA's 0.5 would hold RAM-bound clusters
    anywhere from 50 % to 80 % used, up to 1.6x the packing optimum; Karpenter's consolidation
    (consolidationPolicy WhenEmptyOrUnderutilized) likewise removes any node whose pods fit elsewhere, with no
    threshold at all. A pods-bound cluster is held at its pods order level by the surplus rule alone: a
    threshold on pods under that level would keep every node between the two, up to 1.25x the optimum.
    CA's ten minutes become ten days: dedicated servers are rented by the month and ordered with a lead time.
    """

    enabled: bool = True
    utilization_threshold: float = Field(default=0.8, gt=0, le=1, description="a run node's binding share")
    unneeded_days: float = Field(default=10.0, ge=0, description="days a node stays unneeded before removal")
    delay_after_add_days: float = Field(default=10.0, ge=0, description="no removal this soon after a node arrived")
    decommission_empty: bool = Field(default=True, description="a closed cluster with no customers is shut down")
    # The order levels buy headroom for a lead time of growth. A closed cluster (no new customers) whose
    # requested RAM and pods have both fallen over the trend window is not growing: it keeps room for what
    # arrives within the horizon at its recent rate of placements (gross of churn) and is otherwise kept full
    # (RAM and max-pods at 100 %, a node drained only where its services fit, as Karpenter's consolidation
    # removes any node whose pods fit elsewhere). A service that still finds no room spills. So is an open cluster
    # that got no placement at all over the window (a region with no sign-ups left). Open clusters still taking
    # placements keep the order levels: filled, they turned new customers away (stage 4 lost 501 of them).
    fill_when_falling: bool = Field(
        default=True, description="keep a closed cluster whose demand falls full, but for its recent placements"
    )
    reopen_below: float | None = Field(
        default=0.6,
        gt=0,
        lt=1,
        description="a closed cluster whose every shard limit fell under this share takes new customers again "
        "(consolidation without moving anyone); None: closed stays closed",
    )


class NPlusPolicy(SpecModel):
    """Failure headroom: a cluster must absorb the loss of its ``nodes`` largest run nodes without rejecting
    pods (the classic N+1 when 1). The operator orders, and keeps through scale-down, that many run nodes above
    what its order levels need. 0: off (the default)."""

    nodes: int = Field(default=0, ge=0)


class SpillPolicy(SpecModel):
    """When an existing customer's home cluster is closed to it or full, place the service on another open
    cluster of the same region instead of rejecting it (counted as a cross-cluster customer). On by default:
    an operator bends a soft wall rather than turn a paying customer's service away."""

    enabled: bool = True


class MigrationPolicy(SpecModel):
    """Forced migration (``enabled``) of the last customers of a nearly empty closed cluster to an open cluster of
    the same region, whatever it costs, so the cluster can be decommissioned: off by default, as the design
    document moves no customer by force. Consolidation (``pays_back_months``, on by default): a closed cluster
    merged into another of its region and provider when what it saves pays the migration fee back within that
    many months (``sim.migration``); the fee is an assumption (``cost_eur_per_customer``), not a measured figure."""

    enabled: bool = False
    below_customers: int = Field(default=20, ge=1, description="migrate when the closed cluster has fewer")
    cost_eur_per_customer: float = Field(default=50.0, ge=0, description="one-off cost of moving one customer")
    pays_back_months: float | None = Field(
        default=12.0,
        gt=0,
        description="consolidation: merge a closed cluster into another of its region and provider when the run "
        "nodes and control plane it saves pay the migration fee back within this many months (on by default, "
        "whatever ``enabled`` says: a move that pays for itself is no forced migration); None: never",
    )
