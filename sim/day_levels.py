"""Levels per cluster by name, each a row of one matrix: the operator's ratios of a day (``sim.triggers.Ratios``)
and the days of its level history (``DayLevels``).

The operator reads a dozen levels at once (``pick``) and many of them one at a time: on a fleet of a few clusters,
stacking a dozen arrays into a matrix, or making a view of every row up front, cost more than the arithmetic.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np


class Rows:
    """The row of each name, and ``pick``'s rows by names (kept), shared by the levels of one layout."""

    __slots__ = ("at", "names", "picks")

    def __init__(self, names: tuple[str, ...]):
        self.names = names
        self.at = {name: k for k, name in enumerate(names)}
        if len(self.at) != len(names):
            raise ValueError(f"sim.day_levels: a name given twice in {names}")
        self.picks: dict[tuple[str, ...], np.ndarray] = {}

    def of(self, names: tuple[str, ...]) -> np.ndarray:
        known = self.picks.get(names)
        if known is None:
            known = self.picks[names] = np.array([self.at[name] for name in names], dtype=np.intp)
        return known


class Levels(Mapping[str, np.ndarray]):
    """Levels by name (a row view of ``matrix`` each: changed in place, it is changed there). A level set anew is
    copied into its row."""

    __slots__ = ("matrix", "rows")

    def __init__(self, rows: Rows, matrix: np.ndarray):
        if len(rows.names) != len(matrix):
            raise ValueError(f"sim.day_levels: {len(rows.names)} names for {len(matrix)} levels")
        self.rows, self.matrix = rows, matrix

    def __getitem__(self, name: str) -> np.ndarray:
        return self.matrix[self.rows.at[name]]

    def __setitem__(self, name: str, level: np.ndarray) -> None:
        self.matrix[self.rows.at[name]] = level

    def __iter__(self) -> Iterator[str]:
        return iter(self.rows.names)

    def __len__(self) -> int:
        return len(self.rows.names)

    def pick(self, names: tuple[str, ...]) -> np.ndarray:
        """The levels of ``names``, a row each (a new matrix)."""
        return self.matrix.take(self.rows.of(names), axis=0)  # (take: indexing with an array cost ~4x as much)


class DayLevels(Levels):
    """A day of the operator's level history: every ratio, and the demand and placement counters."""

    __slots__ = ()


class Layout:
    """The rows of a run's levels, made once for the names its days have."""

    def __init__(self) -> None:
        self._rows = Rows(())

    def rows(self, names: tuple[str, ...]) -> Rows:
        if names != self._rows.names:
            self._rows = Rows(names)
        return self._rows
