"""The grouped bootstrap behind the replay's intervals (bench/search_replay.py run --bootstrap)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pertitle.ladders.evaluate import group_bootstrap


def p90(v):
    return float(np.percentile(v, 90))


def test_groups_are_resampled_whole():
    """Group a: three windows at 0; group b: one at 1. Drawing two groups gives aa, ab, ba or bb,
    whose window means are 0, 1/4, 1/4 and 1 (bb one time in four): the 90 % interval is exactly
    0..1. Resampling the four windows instead would make a mean of 1 a 1-in-256 draw, and the
    upper end would be 0.75."""
    lo, hi = group_bootstrap([0, 0, 0, 1], ["a", "a", "a", "b"], np.mean, resamples=4000)
    assert (lo, hi) == (0.0, 1.0)


def test_one_group_gives_the_statistic_itself_and_a_seed_gives_the_same_interval():
    v = [0.5, 2.0, 9.0, 1.0]
    assert group_bootstrap(v, ["x"] * 4, p90) == pytest.approx((p90(v), p90(v)))
    g = ["a", "b", "b", "c"]
    assert group_bootstrap(v, g, p90, seed=3) == group_bootstrap(v, g, p90, seed=3)


def test_mismatched_or_empty_input_is_refused():
    with pytest.raises(ValueError):
        group_bootstrap([1.0, 2.0], ["a"], np.mean)
    with pytest.raises(ValueError):
        group_bootstrap([], [], np.mean)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(-50, 50), st.integers(0, 5)), min_size=1, max_size=30))
def test_interval_is_ordered_and_within_the_values(pairs):
    values = [v for v, _ in pairs]
    groups = [g for _, g in pairs]
    for stat in (np.median, p90):
        lo, hi = group_bootstrap(values, groups, stat, resamples=200)
        assert min(values) - 1e-9 <= lo <= hi <= max(values) + 1e-9
