import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pertitle.ladders.hull import NotEnoughPoints, RDPoint, hull_quality_at, pareto_front, upper_hull

points = st.lists(
    st.builds(RDPoint,
              st.floats(min_value=1, max_value=50_000, allow_nan=False),
              st.floats(min_value=0, max_value=100, allow_nan=False),
              st.integers(0, 10)),
    min_size=1, max_size=60)


@given(points)
def test_pareto_front_is_monotone_subset_and_undominated(pts):
    front = pareto_front(pts)
    assert front, "a non-empty valid input has a non-empty front"
    assert all(p in pts for p in front)
    for a, b in zip(front, front[1:]):
        assert b.kbps > a.kbps and b.quality > a.quality
    for p in pts:  # every input point is dominated by (or is) some front point
        assert any(f.kbps <= p.kbps and f.quality >= p.quality for f in front)


@given(points)
def test_upper_hull_is_monotone_concave_subset_and_above_all_points(pts):
    hull = upper_hull(pts)
    assert all(p in pts for p in hull)
    for a, b in zip(hull, hull[1:]):
        assert b.kbps > a.kbps and b.quality > a.quality
    slopes = [(b.quality - a.quality) / (b.kbps - a.kbps) for a, b in zip(hull, hull[1:])]
    for s1, s2 in zip(slopes, slopes[1:]):
        assert s2 < s1 + 1e-12 * max(1.0, abs(s1))
    # no input point lies above the envelope inside its span
    for p in pts:
        if hull[0].kbps <= p.kbps <= hull[-1].kbps:
            assert p.quality <= hull_quality_at(hull, p.kbps) + 1e-7


@given(points)
def test_hull_is_idempotent(pts):
    hull = upper_hull(pts)
    assert upper_hull(hull) == hull


def test_dominated_rightmost_point_is_dropped():
    # viser keeps a right-most dominated point; we must not.
    pts = [RDPoint(100, 50), RDPoint(400, 80), RDPoint(1000, 90), RDPoint(2000, 89)]
    assert [p.kbps for p in upper_hull(pts)] == [100, 400, 1000]


def test_point_below_chord_is_dropped_and_collinear_too():
    pts = [RDPoint(100, 50), RDPoint(200, 55), RDPoint(300, 70)]  # (200,55) under the chord
    assert [p.kbps for p in upper_hull(pts)] == [100, 300]
    pts = [RDPoint(100, 50), RDPoint(200, 60), RDPoint(300, 70)]  # collinear middle
    assert [p.kbps for p in upper_hull(pts)] == [100, 300]


def test_invalid_points_ignored_and_empty_raises():
    with pytest.raises(NotEnoughPoints):
        upper_hull([RDPoint(0, 50), RDPoint(float("nan"), 10), RDPoint(10, math.inf)])
    assert upper_hull([RDPoint(10, 40), RDPoint(-5, 90)]) == [RDPoint(10, 40)]


def test_labels_are_carried():
    hull = upper_hull([RDPoint(100, 50, ("360p", 30)), RDPoint(300, 70, ("720p", 28))])
    assert [p.label for p in hull] == [("360p", 30), ("720p", 28)]


@settings(max_examples=50)
@given(points, st.floats(min_value=1, max_value=60_000))
def test_hull_quality_at_is_within_hull_range(pts, kbps):
    hull = upper_hull(pts)
    q = hull_quality_at(hull, kbps)
    assert hull[0].quality - 1e-9 <= q <= hull[-1].quality + 1e-9
