"""A placement's ledger JSON and its answer, written with their "where" members kept per cluster, node and volumes,
are pydantic's bytes."""

from __future__ import annotations

import pydantic_core
from hypothesis import given
from hypothesis import strategies as st

from placement.router.answers import placement_answer, placement_answer_json
from placement.router.ledger import PLACED, PlacedService, PlacedVolume, placed_json

text = st.text(max_size=12)  # quotes, backslashes, control characters and any other character
volumes = st.builds(PlacedVolume, text, st.integers(0, 2**50), st.integers(1, 3))
placed_services = st.builds(
    PlacedService,
    text,
    text,
    st.sampled_from(["c-1", "c-2", 'c-"3"']),
    st.sampled_from(["tq-1", "tq-2"]),
    st.one_of(st.none(), st.sampled_from(["n-1", "n\u00e9-2"])),
    st.lists(volumes, max_size=3).map(tuple),
    text,
    st.lists(text, max_size=3).map(tuple),
)


@given(st.lists(placed_services, min_size=1, max_size=6))
def test_the_ledger_json_and_the_answer_are_pydantics_bytes(placements):
    for placed in placements:  # several in turn: the kept members of one serve the next with the same cluster
        assert placed_json(placed) == PLACED.dump_json(placed)
        assert placement_answer_json(placed) == pydantic_core.to_json(placement_answer(placed))
