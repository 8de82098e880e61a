"""The operator's level history and each level's trend over it: what it orders ahead of demand rests on them.

Every day the operator keeps its levels (every ratio, and the demand and placement counters) for the trend window;
a level's trend is its rise over the window (none where it fell), measured since a cluster's role change within it.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from sim.day_levels import DayLevels, Layout
from sim.fleet import Fleet
from sim.handover import DEMANDS, floor_slope
from sim.triggers import Ratios

MIN_TREND_DAYS = 7  # fewer days of history give no usable trend
PROJECTION_WINDOW_DAYS = 28
DEMAND = ("ram_requested", "pods", "disk_bytes")  # what a cluster's customers ask of its run nodes
# And the placements to date, whose rise over the window is the placement rate a kept-full cluster holds room for
# (the daily count's rise was its change from one day to another: nought on a steady inflow).
DEMAND_PLACED = (*DEMAND, "placed_to_date")


class LevelTrends:
    """The operator's (``sim.operator.Operator``) level history and trends, on its fleet."""

    fleet: Fleet

    def __init__(self) -> None:
        # Recent daily levels, to order ahead of demand: what is ordered today arrives after the lead time.
        self.history: deque[DayLevels] = deque(maxlen=PROJECTION_WINDOW_DAYS + 1)
        self._layout = Layout()
        # Clusters whose role changed within the trend window (delivered, closed to new customers, reopened) -> the
        # day and whether they were closed then: their trend is measured since (``projected_rows``).
        self.changed: dict[int, tuple[float, bool]] = {}
        # The open clusters taking over their region's sign-ups (``sim.handover.receivers``), as the day's look finds
        # them: only the shard decisions, after every projection of the day, open or close a cluster.
        self.taking: list[int] = []
        self.today = 0.0
        # ``_trend_base`` by its arguments, and the operator's look-aheads, for the history's last day they were
        # measured on.
        self._trends: dict[tuple, tuple[np.ndarray, np.ndarray | float, np.ndarray | None] | np.ndarray] = {}
        self._trends_of: dict[str, np.ndarray] | None = None
        self._known: tuple[tuple[bool, int, int], np.ndarray] | None = None  # ``trend_known``

    def levels_of(self, ratios: Ratios) -> DayLevels:
        """Today's levels as the history keeps them: every ratio, and the demand and placement counters (the start
        from a live fleet rebuilds its older days through this too, ``sim.start_from.carry``)."""
        fleet, count = self.fleet, len(ratios.matrix)
        levels = np.empty((count + len(DEMAND_PLACED), ratios.matrix.shape[1]))
        levels[:count] = ratios.matrix
        for row, name in enumerate(DEMAND_PLACED, count):
            levels[row] = fleet.view(name)  # (a row at a time: stacking the counters first cost more)
        return DayLevels(self._layout.rows(ratios.rows.names + DEMAND_PLACED), levels)

    def projected_rows(self, names: tuple[str, ...], current: np.ndarray, lead_days: float) -> np.ndarray:
        """Levels (a row of ``current`` per name) extrapolated ``lead_days`` ahead from their trend over the last
        weeks (never below today's).

        A cluster whose role changed within the window is measured since the change once that is a week back, and
        a cluster closed within the week has no trend yet: measured from the window's start, a delivered cluster's
        weeks on order (empty) spread its growth over the whole window, so its own node orders came weeks late and a
        new cluster had to be bought with two months of its region's growth; a cluster closed to new customers kept
        the growth its new customers had brought, and held run nodes for them for weeks."""
        if len(self.history) <= MIN_TREND_DAYS or lead_days <= 0:
            return current
        return current + self.slope(names, current) * lead_days

    def slope(self, name: str | tuple[str, ...], current: np.ndarray) -> np.ndarray:
        """A level's rise per day over the trend window (none where it fell), since a role change within it
        (``projected_rows``); several levels' (a row of ``current`` per name) for a tuple of names. Worked out at each
        ask: each of its two askers asks once a day (the shard levels; the demand, for all look-aheads at once), so
        keeping it by the bytes of the levels it was given found nothing again."""
        base, days, from_current = self._trend_base(name, current.shape[-1])
        before = base if from_current is None else np.where(from_current, current, base)
        rise = np.maximum(current - before, 0.0) / days
        if not self.taking:  # (most days: no receiver's rise to raise, ``floor_slope``)
            return rise
        if isinstance(name, str):
            rise = self._floor(name, current, rise)
        else:
            for i, row in enumerate(name):
                if row in DEMANDS:  # (only these: the others stay as they are)
                    rise[i] = self._floor(row, current[i], rise[i])
        return rise

    def _floor(self, name: str, current: np.ndarray, rise: np.ndarray) -> np.ndarray:
        """A receiver's rise at least its share of its region's (``sim.handover``)."""
        return floor_slope(self.fleet, self.history, self.changed, self.today, self.taking, name, current, rise)

    def _today(self) -> dict[tuple, tuple[np.ndarray, np.ndarray | float, np.ndarray | None] | np.ndarray]:
        """What ``_trend_base`` and the operator worked out from the history as it is (a new day or services moved
        between clusters, ``_moved``, change it)."""
        if self._trends_of is not self.history[-1]:
            self._trends, self._trends_of = {}, self.history[-1]
        return self._trends

    def _trend_base(
        self, names: str | tuple[str, ...], n: int
    ) -> tuple[np.ndarray, np.ndarray | float, np.ndarray | None]:
        """Where ``slope`` measures a level from, per cluster: the level then, the days since, and where today's
        level is taken instead (None: nowhere); a row each for a tuple of names. Kept for the day (until the
        history changes): many callers ask."""
        key = ("base", names, n)
        known = self._today().get(key)
        if known is not None:
            return known
        history = self.history
        rows = (names,) if isinstance(names, str) else names
        span = len(history) - 1
        then = history[0].matrix.shape[1]  # (the clusters then)
        if then == n and not self.changed:  # (most days: every level from the window's first day)
            base = history[0].pick(rows)
            # (The days since as one number: dividing by it is dividing by an array of it, element by element.)
            known = self._trends[key] = (base[0] if isinstance(names, str) else base, float(span), None)
            return known
        base = np.zeros((len(rows), n))
        from_current = np.zeros((len(rows), n), dtype=bool)
        base[:, :then] = history[0].pick(rows)
        from_current[:, then:] = True  # no level then: no trend
        days = np.full(n, float(span))
        for number, (changed, closed) in self.changed.items():
            age = int(round(self.today - changed))
            if number >= n or age >= span:
                continue
            if age >= MIN_TREND_DAYS:
                base[:, number] = history[-1 - age].pick(rows)[:, number]
                days[number] = age
                from_current[:, number] = False
            elif closed:
                from_current[:, number] = True  # closed within the week: no trend of its own yet
        if isinstance(names, str):
            base, from_current = base[0], from_current[0]
        known = self._trends[key] = (base, days, from_current if from_current.any() else None)
        return known

    def trend_known(self, n: int) -> np.ndarray:
        """Clusters with a full window of history: only their projection says whether they are growing (a new
        cluster's run nodes were sized for its region's growth, not for its first customers). Kept while the
        history's length, its first day's clusters and ``n`` stay (asked several times a day); callers must not
        change what it returns."""
        full = len(self.history) > PROJECTION_WINDOW_DAYS
        key = (full, self.history[0].matrix.shape[1] if full else 0, n)
        if self._known is None or self._known[0] != key:
            known = np.zeros(n, dtype=bool)
            known[: key[1]] = True
            self._known = key, known
        return self._known[1]
