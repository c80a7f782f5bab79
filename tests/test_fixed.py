"""The comparison with a fixed ladder (ladders/fixed.py): its BD-rate never credits a ladder of
the title's encodes with less than the title's own envelope."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pertitle.ladders.bdrate import bd_rate
from pertitle.ladders.curves import Curve, Envelope
from pertitle.ladders.fixed import APPLE_HLS_H264, compare, evaluate_fixed

# The curves of a real 640x360 title (points rounded from its fast analysis: 9 CRFs a size).
TITLE_640x360 = [
    (416, 234, [(33.3, 40.7), (47.4, 56.81), (72.2, 69.76), (95.6, 76.82), (126.1, 82.01), (169.1, 86.58),
                (233.3, 89.82), (334.8, 92.18), (467.5, 93.69)]),
    (480, 270, [(40.6, 45.08), (57.6, 61.05), (87.3, 73.97), (113.9, 80.41), (150.3, 85.3), (200.7, 89.22),
                (277.8, 92.35), (400.9, 94.84), (569.5, 96.03)]),
    (640, 360, [(57.6, 55.82), (80.9, 69.69), (122.8, 80.82), (161.9, 87.24), (213.9, 91.86), (284.9, 94.99),
                (390.4, 96.94), (530.7, 98.19), (708.4, 98.7)]),
]


def curves_of(spec):
    return [Curve.from_points(w, h, [k for k, _ in pts], [q for _, q in pts]) for w, h, pts in spec]


def on_envelope(curves, lo, hi, n=40):
    """A dense ladder on the title's envelope between two qualities (the best any ladder can do)."""
    env = Envelope(curves)
    return [(env.kbps_for_quality(q), q) for q in np.linspace(lo, hi, n)]


def test_the_fixed_rungs_interpolation_is_cut_at_the_envelope():
    curves = curves_of(TITLE_640x360)
    fixed = evaluate_fixed(curves, APPLE_HLS_H264, (640, 360))
    pts = [(f.kbps, f.quality) for f in fixed]
    assert [(f.width, f.height, f.kbps) for f in fixed] == [(416, 234, 145), (640, 360, 365), (640, 360, 730)]
    env = Envelope(curves)
    best = on_envelope(curves, 85.0, 96.0)
    # the cubic through 145 / 365 / 730 kbps bends below the envelope between the first two rungs:
    # the envelope itself would look several percent worse than three of its own points
    assert bd_rate(pts, best, min_overlap=1.0) > 2.0
    assert bd_rate(pts, best, min_overlap=1.0, floor=env.kbps_for_quality) <= 0.05
    assert bd_rate(pts, best, min_overlap=1.0, floor=env.kbps_for_quality, linear=True) < -5.0
    # a two-rung per-title ladder on the envelope, 6 VMAF apart inside the fixed ladder's 12-point
    # gap (this title's fast ladder): the cubic had it +5 % worse than the fixed ladder
    ours = [(env.kbps_for_quality(89.0), 89.0), (env.kbps_for_quality(95.0), 95.0)]
    assert bd_rate(pts, ours, min_overlap=1.0) > 2.0
    comp = compare(curves, ours, APPLE_HLS_H264, (640, 360))
    assert comp["bd_rate_pct"] < -5.0 and "lines" in comp["bd_rate_method"]
    assert comp["bd_rate_pct"] == pytest.approx(
        bd_rate(pts, ours, min_overlap=1.0, floor=env.kbps_for_quality, linear=True), abs=1e-3)


def test_a_floor_no_curve_reaches_changes_nothing_and_one_above_both_makes_them_equal():
    a = [(200, 40), (500, 60), (1200, 80), (3000, 92)]
    b = [(180, 41), (520, 62), (1000, 79), (2600, 93)]
    plain = bd_rate(a, b)
    assert bd_rate(a, b, floor=lambda q: None) == pytest.approx(plain, abs=1e-3)
    assert bd_rate(a, b, floor=lambda q: 1.0) == pytest.approx(plain, abs=1e-3)
    assert bd_rate(a, b, floor=lambda q: 1e6) == pytest.approx(0.0, abs=1e-9)


@given(st.floats(0.3, 3.0))
def test_lines_scale_like_the_cubic(k):
    a = [(200, 40), (500, 60), (1200, 80), (3000, 92)]
    b = [(r * k, q) for r, q in a]
    assert bd_rate(a, b, linear=True) == pytest.approx((k - 1) * 100, rel=1e-6, abs=1e-6)


def test_lines_by_hand():
    # anchor: 100 kbps at 40, 1000 at 60 (its line is at 10^2.5 = 316 kbps at 50); test: 100 at
    # 40, 400 at 50, 1000 at 60. Over 40..60 the test's log-rate is above the anchor's by a
    # triangle of height log10(400) - 2.5 at 50, so its mean gap is half that
    a, t = [(100, 40), (1000, 60)], [(100, 40), (400, 50), (1000, 60)]
    gap = np.log10(400) - 2.5
    assert bd_rate(a, t, linear=True) == pytest.approx((10 ** (gap / 2) - 1) * 100, abs=1e-6)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0.2, 3.0), st.floats(20.0, 60.0)), min_size=2, max_size=4),
       st.lists(st.floats(100.0, 5000.0), min_size=2, max_size=5, unique=True))
def test_a_ladder_on_the_envelope_is_never_worse_than_a_fixed_one(params, rates):
    # sizes whose quality rises with log-rate and saturates (each one concave), offset in rate
    grid = np.geomspace(50, 8000, 12)
    curves = []
    for i, (shift, knee) in enumerate(params):
        q = 100 * (1 - np.exp(-(np.log(grid / (50 * shift)) + 0.5) / (knee / 20)))
        q = np.clip(q, 1, 99.9)
        keep = np.concatenate([[True], np.diff(q) > 1e-6])
        curves.append(Curve.from_points(160 * (i + 1), 90 * (i + 1), grid[keep], q[keep]))
    env = Envelope(curves)
    fixed = sorted((k, env.quality_at(k)) for k in rates)
    qs = [q for _, q in fixed]
    if max(qs) - min(qs) < 2.0:
        return
    best = on_envelope(curves, min(qs), max(qs))
    assert bd_rate(fixed, best, min_overlap=1.0, floor=env.kbps_for_quality) <= 0.1
    assert bd_rate(fixed, best, min_overlap=1.0, floor=env.kbps_for_quality, linear=True) <= 0.1


def test_a_portrait_title_reads_each_fixed_rung_off_its_upright_size():
    # a 576x1024 phone video: the landscape ladder turned upright, each rung read off the curve
    # of its own short side (by height, 640x360 was read off 234x416, the smallest curve)
    sizes = [(234, 416), (360, 640), (432, 768), (540, 960), (576, 1024)]
    rates = np.geomspace(60, 4000, 9)
    curves = [Curve.from_points(w, h, rates, 100 - 80 * np.exp(-rates / (150 * (i + 1))))
              for i, (w, h) in enumerate(sizes)]
    fixed = evaluate_fixed(curves, APPLE_HLS_H264, (576, 1024))
    assert [(f.width, f.height) for f in fixed][:3] == [(234, 416), (360, 640), (432, 768)]
    assert (fixed[-1].width, fixed[-1].height) == (576, 1024)         # the source's own size on top
    by = {(c.width, c.height): c for c in curves}
    for f in fixed:
        assert f.measured_height == f.height
        assert f.quality == pytest.approx(by[(f.width, f.height)].quality_at(f.kbps, extrapolate="linear"))
    # landscape sources are read as before: by the short side, which is their height
    flat = [Curve.from_points(h, w, c.kbps, c.quality) for (w, h), c in zip(sizes, curves)]
    assert [f.quality for f in evaluate_fixed(flat, APPLE_HLS_H264, (1024, 576))] == pytest.approx([f.quality for f in fixed])


def test_the_fixed_ladders_top_rung_is_the_sources_own_size():
    # a 4:3 640x480 source: Apple's rungs up to 432 lines (named as the ladder names them), then
    # 960x540's rate at 640x480 itself (it was named 854x480, the ladder's aspect at 480 lines;
    # a 16:9 source of 480 lines still gets 854x480)
    rates = np.geomspace(60, 4000, 9)
    curves = [Curve.from_points(w, h, rates, 100 - 80 * np.exp(-rates / (150 * (i + 1))))
              for i, (w, h) in enumerate([(312, 234), (480, 360), (576, 432), (640, 480)])]
    fixed = evaluate_fixed(curves, APPLE_HLS_H264, (640, 480))
    assert [(f.width, f.height, f.kbps) for f in fixed] == [
        (416, 234, 145), (640, 360, 365), (768, 432, 730), (768, 432, 1100), (640, 480, 2000)]
    assert [f.measured_height for f in fixed] == [234, 360, 432, 432, 480]
    assert (evaluate_fixed(curves, APPLE_HLS_H264, (854, 480))[-1].width, fixed[-1].width) == (854, 640)
    portrait = evaluate_fixed(curves, APPLE_HLS_H264, (204, 360))
    assert [(f.width, f.height, f.kbps) for f in portrait] == [(204, 360, 145)]

