"""The operator's shortcuts add up exactly as the arithmetic they replace (a run's outputs stay byte-identical)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.region_sums import row_sums


@settings(max_examples=200, deadline=None)
@given(rows=st.integers(1, 16), columns=st.integers(1, 40), seed=st.integers(0, 2**32 - 1))
def test_row_sums_add_each_row_as_the_row_alone(rows: int, columns: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    levels = rng.standard_normal((rows, columns)) * 10.0 ** rng.integers(-3, 12, (rows, columns))
    picked = np.array(sorted(rng.choice(columns, size=int(rng.integers(1, columns + 1)), replace=False).tolist()))
    assert row_sums(levels, picked) == [float(np.add.reduce(row)) for row in levels[:, picked]]
