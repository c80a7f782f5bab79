"""The replay's model of the fast mode's measurement error (VMAF on every third frame):
``ladders.evaluate.subsample_error``, as ``bench/search_replay.py run --noise`` uses it."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pertitle.ladders.evaluate import subsample_error

POINTS = [(w, h, float(q)) for w, h in ((416, 234), (640, 360), (1280, 720)) for q in (16, 22.5, 28, 42)]


@settings(max_examples=40, deadline=None)
@given(st.text(min_size=1, max_size=30), st.floats(0, 3), st.floats(0, 3), st.integers(0, 2**31))
def test_the_same_title_point_and_seed_give_the_same_error_in_any_order(title, off, pt, seed):
    a = subsample_error(title, off, pt, seed)
    b = subsample_error(title, off, pt, seed)
    assert [a(p) for p in POINTS] == [b(p) for p in reversed(POINTS)][::-1]
    assert all(np.isfinite(a(p)) for p in POINTS)


def test_without_point_error_every_point_carries_the_titles_offset():
    err = subsample_error("clip@0", 0.5, 0.0, 1)
    assert len({err(p) for p in POINTS}) == 1 and err(POINTS[0]) != 0.0
    assert subsample_error("clip@0", 0.0, 0.0, 1)(POINTS[0]) == 0.0


def test_offsets_and_point_errors_have_the_given_spread():
    """Over 4000 titles the offsets' SD is within 5 % of the one asked (its sampling error is
    about 1.1 %), their mean within 4 standard errors of 0; the same for the point errors of
    one title with no offset (4000 CRFs of one size)."""
    n = 4000
    offs = np.array([subsample_error(f"t{i}", 0.21, 0.0, 7)(POINTS[0]) for i in range(n)])
    assert abs(offs.std() / 0.21 - 1) < 0.05 and abs(offs.mean()) < 4 * 0.21 / np.sqrt(n)
    err = subsample_error("one", 0.0, 0.11, 7)
    pts = np.array([err((640, 360, 16 + i / 100)) for i in range(n)])
    assert abs(pts.std() / 0.11 - 1) < 0.05 and abs(pts.mean()) < 4 * 0.11 / np.sqrt(n)
    # another seed, other draws
    assert subsample_error("t1", 0.21, 0.0, 8)(POINTS[0]) != offs[1]
