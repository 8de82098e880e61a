"""The answer to "when should new clusters go Ceph?", at a small fixed seed where it still means something."""

from __future__ import annotations

import numpy as np
import pytest

from placement.limits import load_profile
from sim.scenario import load_scenario
from sim.storage_crossover import crossover_volumes, storage_crossover, workload_of

DRAWS = 12


@pytest.fixture(scope="module")
def answer():
    return storage_crossover("seed", draws=DRAWS, seed=7)


def test_the_sentence_gives_a_number_a_band_and_its_assumptions(answer):
    band = answer.band
    assert band["p10"] <= band["p50"] <= band["p90"]
    sentence = answer.sentence
    assert f"{band['p50']:,.0f}" in sentence and "p10-p90" in sentence
    assert "operations-cost estimate" in sentence and "seed" in sentence
    assert len(answer.draws) == DRAWS
    # The same seed gives the same answer.
    assert storage_crossover("seed", draws=DRAWS, seed=7).band == band


def test_the_operations_estimate_is_weighed(answer):
    # At the profile's values Ceph's operations estimate is the higher one (EUR 450 against 150 per cluster-month),
    # so without it Ceph pays off at no more volumes than with it.
    assert answer.crossover_without_operations <= answer.crossover
    assert answer.band_without_operations["p50"] <= answer.band["p50"]
    assert 0 <= answer.operations_share <= 1


def test_the_tornado_lists_the_storage_figures_by_swing_with_their_sources(answer):
    tornado = answer.tornado
    assert list(tornado["swing"]) == sorted(tornado["swing"], reverse=True)
    assert {"longhorn.max_volumes", "rook-ceph.operations_eur_per_cluster_month"} <= set(tornado["figure"])
    assert tornado["source"].str.len().min() > 3
    assert answer.sources["source"].str.len().min() > 3


def test_dearer_ceph_storage_nodes_never_bring_the_crossover_earlier():
    profile = load_profile("seed")
    workload = workload_of(load_scenario(answer_dir() / "stage2.yaml"))
    prices = [102.0, 119.0, 140.0]
    found = [
        crossover_volumes(profile.with_values({"rook-ceph.storage_node.eur_month": p}).compile(), workload)
        for p in prices
    ]
    assert found == sorted(found)


def test_the_date_follows_the_band(answer):
    days = [answer.dates[q][0] for q in ("p10", "p50", "p90")]
    known = [d for d in days if d is not None]
    assert known == sorted(known)
    if np.isfinite(answer.band["p50"]):
        assert answer.dates["p50"][1] >= 4000  # at or after stage 2's start (4.5K customers)


def answer_dir():
    from pathlib import Path

    return Path(__file__).resolve().parents[2] / "scenarios"
