"""Sums of the operator's levels over each region's clusters, added as each row alone adds them.

A run's outputs must not depend on how its levels are laid out in memory: each region's sum of a level is the
pairwise sum numpy makes of a 1-D array, whether the region has three clusters or thirty.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from sim.day_levels import DayLevels


def row_sums(matrix: np.ndarray, columns: np.ndarray) -> list[float]:
    """Each row's sum over ``columns`` as the row alone adds it (pairwise, as numpy adds a 1-D array). Columns
    picked by indexing (``matrix[:, columns]``) are laid out column by column, and ``sum(axis=1)`` then adds column
    after column (the same as pairwise below eight columns only); taken, they are laid out row by row, and it adds
    each row pairwise in one call (a call per row cost ~6 us each, on 13 rows)."""
    return np.add.reduce(matrix.take(columns, axis=1), axis=1).tolist()  # (``sum(axis=1)`` less numpy's methods)


class Columns:
    """Cluster numbers as index arrays, kept: a region's clusters are the same most days."""

    def __init__(self) -> None:
        self._known: dict[tuple[int, ...], np.ndarray] = {}

    def of(self, numbers: list[int]) -> np.ndarray:
        key = tuple(numbers)
        known = self._known.get(key)
        if known is None:
            if len(self._known) > 64:
                self._known.clear()
            known = self._known[key] = np.array(numbers, dtype=np.intp)
        return known


def window_rise(history: deque[DayLevels], names: tuple[str, ...]) -> np.ndarray:
    """Each level's rise (in the order of ``names``, a row each) on each cluster over the trend window: a cluster
    ordered within the window from nothing, a shrinking one counting none (its room is not for new customers).
    A region's growth per day is its clusters' sum (``row_sums``) over the window's days."""
    first, last = history[0], history[-1]
    n = last.matrix.shape[1]
    before = first.pick(names)
    if before.shape[1] < n:  # clusters ordered within the window: from nothing
        before = np.pad(before, ((0, 0), (0, n - before.shape[1])))
    return np.maximum(last.pick(names) - before, 0.0)
