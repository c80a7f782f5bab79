"""The grouped bootstraps: the replay's intervals (bench/search_replay.py run --bootstrap) and the
ensemble members' training rows (ladders.model.member_rows)."""
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pertitle.ladders.evaluate import group_bootstrap
from pertitle.ladders.model import member_rows


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


def test_one_member_trains_on_every_row_once_and_a_seed_draws_the_same_members():
    df = pd.DataFrame({"group": ["a", "a", "b", "c"], "title": ["a0", "a1", "b0", "c0"]})
    assert [list(i) for i in member_rows(df, 1, 0)] == [[0, 1, 2, 3]]
    first = [list(i) for i in member_rows(df, 6, 4)]
    assert first == [list(i) for i in member_rows(df, 6, 4)]
    assert len(first) == 6
    # without a group column the titles are the groups
    assert sorted(set(np.concatenate(list(member_rows(df[["title"]], 30, 1))))) == [0, 1, 2, 3]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=1, max_size=25), st.integers(2, 8), st.integers(0, 10**6))
def test_a_member_draws_whole_groups_as_many_rows_as_groups_in_all(labels, members, seed):
    """Each member: as many group draws as there are groups, with replacement; a drawn group's
    rows all come in, each as many times as the group was drawn."""
    groups = [f"g{k}" for k in labels]
    df = pd.DataFrame({"group": groups, "title": [f"t{i}" for i in range(len(groups))]})
    sizes = pd.Series(groups).value_counts()
    drawn = list(member_rows(df, members, seed))
    assert len(drawn) == members
    for idx in drawn:
        counts = pd.Series(np.asarray(groups)[idx]).value_counts()
        times = {g: counts[g] / sizes[g] for g in counts.index}
        assert all(t == int(t) for t in times.values())         # whole groups only
        assert sum(times.values()) == len(sizes)                 # one draw per group
        rows = pd.Series(idx).value_counts()
        assert all(rows[i] == times[groups[i]] for i in rows.index)   # every row of a drawn group
