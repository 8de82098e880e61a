"""The calibration study's precision: how many informative pairs a coverage needs for the issue's +-6 %."""

from __future__ import annotations

import pytest

from bench.forecast_calibration import PRECISION, half_width, nominal_coverage, pairs_for


def test_a_coverage_near_80_percent_takes_about_171_pairs():
    # 1.96^2 * 0.8 * 0.2 / 0.06^2 = 170.7
    assert pairs_for(0.8) == 171


@pytest.mark.parametrize("coverage", [0.7, 0.75, 0.8, 0.85, 0.9])
def test_pairs_for_is_the_fewest_pairs_within_the_precision(coverage):
    pairs = pairs_for(coverage)
    assert half_width(coverage, pairs) <= PRECISION
    assert half_width(coverage, pairs - 1) > PRECISION


def test_the_studys_figures_at_f49e6bf():
    # Six seeds gave 125 pairs 90 days ahead (wider than +-6 %) and 207 at 365 days (within it).
    assert half_width(0.808, 125) == pytest.approx(0.069, abs=5e-4)
    assert half_width(0.807, 207) == pytest.approx(0.0538, abs=5e-4)


def test_a_band_of_ten_runs_holds_a_new_draw_80_percent_of_the_time():
    assert nominal_coverage(10) == pytest.approx(0.8)
    assert nominal_coverage(100) == pytest.approx(0.8)
