import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pertitle.core.errors import LadderError
from pertitle.ladders.curves import Curve, Envelope
from pertitle.ladders.policy import LadderPolicy, choose_ladder

HEIGHTS = [(416, 234), (640, 360), (960, 540), (1280, 720), (1920, 1080)]


def synthetic_curves(difficulty: float = 1.0, ceiling_drop: float = 6.0, crfs=range(16, 43, 3)):
    """Plausible per-resolution curves: bigger sizes cost more bits, saturate higher."""
    curves = []
    for i, (w, h) in enumerate(HEIGHTS):
        pixels = w * h
        qmax = 100 - ceiling_drop * (len(HEIGHTS) - 1 - i) ** 1.3
        kbps, q = [], []
        for crf in crfs:
            rate = difficulty * pixels / 1000 * 2 ** ((23 - crf) / 6) * 1.2
            kbps.append(rate)
            q.append(qmax * (1 - math.exp(-(rate / (difficulty * pixels / 2500)) ** 0.6)))
        curves.append(Curve.from_points(w, h, kbps, q, {"crf": list(crfs)}))
    return curves


def check_invariants(rungs, policy, curves, notes=()):
    env = Envelope(curves)
    rates = [r.kbps for r in rungs]
    assert rates == sorted(rates) and len(set(rates)) == len(rates)
    assert 1 <= len(rungs) <= policy.max_rungs
    heights = [r.height for r in rungs]
    assert heights == sorted(heights), "resolution never decreases up the ladder"
    for r in rungs:
        assert policy.min_kbps - 1e-6 <= r.kbps <= policy.max_kbps + 1e-6 or len(rungs) == 1
        assert r.quality <= env.quality_at(r.kbps) + 1e-9
    widened = any("apart (not" in n for n in notes)
    for lo, hi in zip(rates, rates[1:]):
        assert hi / lo >= policy.min_step_ratio * (1 - 1e-6)
        # more than max_step_ratio apart only when no quality step fits the rungs in (said so)
        assert hi / lo <= policy.max_step_ratio * (1 + 1e-6) or widened
    if widened:
        assert len(rungs) == policy.max_rungs
        assert rates[-1] / rates[0] > policy.max_step_ratio ** (policy.max_rungs - 1) * (1 - 1e-6)


def test_default_ladder_on_typical_curves():
    curves = synthetic_curves()
    policy = LadderPolicy()
    choice = choose_ladder(curves, policy)
    check_invariants(choice.rungs, policy, curves)
    top = choice.rungs[-1]
    assert top.quality == pytest.approx(95.0, abs=0.05)
    assert top.height == 1080
    assert choice.rungs[0].height < 1080
    # about one JND apart (unless the bitrate-ratio clamp moved a rung)
    qs = [r.quality for r in choice.rungs]
    steps = np.diff(qs)
    assert all(s > 0 for s in steps)
    # crf is carried through and interpolated within the grid
    assert all(16 <= r.values["crf"] <= 42 for r in choice.rungs)


@settings(max_examples=60, deadline=None)
@given(difficulty=st.floats(0.02, 20), top=st.floats(70, 99), step=st.floats(2, 15),
       max_rungs=st.integers(1, 10), min_kbps=st.floats(50, 600), ratio=st.floats(1.1, 2.0))
def test_invariants_hold_for_any_policy(difficulty, top, step, max_rungs, min_kbps, ratio):
    curves = synthetic_curves(difficulty)
    policy = LadderPolicy(top_quality=top, step_quality=step, max_rungs=max_rungs,
                          min_kbps=min_kbps, max_kbps=max(min_kbps * 2, 8000),
                          min_step_ratio=ratio, max_step_ratio=max(ratio, 2.0))
    choice = choose_ladder(curves, policy)
    check_invariants(choice.rungs, policy, curves, choice.notes)


def test_easy_content_gives_a_short_ladder_and_says_so():
    curves = synthetic_curves(difficulty=0.01)  # everything under ~100 kbps
    choice = choose_ladder(curves, LadderPolicy(min_kbps=145))
    assert len(choice.rungs) == 1
    assert any("below min_kbps" in n for n in choice.notes)


def test_unreachable_target_puts_top_rung_at_saturation():
    curves = synthetic_curves(ceiling_drop=6.0)
    # cap the ladder to 540p: its ceiling is well under 95
    policy = LadderPolicy(heights=(234, 360, 540))
    choice = choose_ladder(curves, policy)
    assert choice.rungs[-1].height == 540
    assert any("not reached" in n for n in choice.notes)
    best = Envelope([c for c in curves if c.height <= 540]).max_quality()
    assert choice.rungs[-1].quality == pytest.approx(best - policy.saturation_margin, abs=0.05)


def test_max_rungs_widens_spacing():
    curves = synthetic_curves()
    wide = choose_ladder(curves, LadderPolicy(max_rungs=3, min_kbps=100))
    assert len(wide.rungs) <= 3
    assert any("spaced by" in n or "max_rungs" in n for n in wide.notes)


def test_max_rungs_widens_the_quality_step_before_the_rate_ratio():
    # a predicted 1080p game title's envelope: VMAF 25 at the floor, saturating above 90; 6-point
    # steps need 11 rungs. Widening the ratio limit with the step put its top two rungs 2.43x apart.
    k = [150, 210, 319, 479, 719, 1087, 1631, 2543, 6183, 12000]
    q = [25, 30.7, 39.5, 49.5, 59.2, 67.8, 78.6, 87.4, 95, 97]
    curves = [Curve.from_points(1920, 1080, k, q, {})]
    policy = LadderPolicy()
    choice = choose_ladder(curves, policy)
    check_invariants(choice.rungs, policy, curves, choice.notes)
    rates = [r.kbps for r in choice.rungs]
    assert len(rates) == 8 and rates[-1] == pytest.approx(6183, rel=0.01)
    assert max(b / a for a, b in zip(rates, rates[1:])) <= 2.0 + 1e-9
    assert any("spaced by" in n for n in choice.notes)
    assert not any("apart (not" in n for n in choice.notes)
    # three rungs from 5166 kbps to the floor cannot stay within 2x of each other: said so
    wide = choose_ladder(synthetic_curves(), LadderPolicy(max_rungs=3, min_kbps=100))
    assert any("apart (not 2x)" in n for n in wide.notes)
    check_invariants(wide.rungs, LadderPolicy(max_rungs=3, min_kbps=100), synthetic_curves(), wide.notes)


def test_heights_filter_and_errors():
    curves = synthetic_curves()
    with pytest.raises(LadderError):
        choose_ladder(curves, LadderPolicy(heights=(1234,)))
    choice = choose_ladder(curves, LadderPolicy(heights=(360, 720)))
    assert {r.height for r in choice.rungs} <= {360, 720}


def test_policy_validation():
    with pytest.raises(ValueError):
        LadderPolicy(pooling="median")
    with pytest.raises(ValueError):
        LadderPolicy(min_kbps=9000, max_kbps=8000)
    with pytest.raises(ValueError):
        LadderPolicy(min_step_ratio=0.9)


def test_curve_interpolation_and_inverse():
    c = Curve.from_points(640, 360, [100, 200, 400, 800], [40, 60, 75, 85], {"crf": [34, 30, 26, 22]})
    assert c.quality_at(200) == pytest.approx(60)
    assert math.isnan(c.quality_at(50))             # below the measured range: unknown
    assert c.quality_at(5000) == pytest.approx(85)  # above: flat
    assert c.quality_at(1600, extrapolate="linear") == pytest.approx(95)
    k = c.kbps_for_quality(70)
    assert 200 < k < 400 and c.quality_at(k) == pytest.approx(70, abs=1e-6)
    assert c.kbps_for_quality(90) is None
    assert c.value_at("crf", 283) == pytest.approx(28, abs=0.1)


def test_curve_drops_dominated_points():
    c = Curve.from_points(640, 360, [100, 200, 300, 400], [40, 60, 59, 75], {"crf": [34, 30, 28, 26]})
    assert list(c.kbps) == [100, 200, 400]
    assert list(c.columns["crf"]) == [34, 30, 26]


def test_an_evidence_set_far_below_the_envelope_does_not_hold_a_rung():
    """The sizes eligible at a rung (measured near its bitrate) decide it — unless the best of them
    lies more than EVIDENCE_GUARD steps below the envelope there: a fast analysis of a 3072x1728
    title had measured 416x234 (a cheap point) and 1080p and up only above 500 kbps, so its rung at
    281 kbps went to 416x234 at VMAF 28.8 where the 720p curve said 53, a 40-point drop between
    adjacent rungs. A gap within the guard leaves the evidence in charge."""
    from pertitle.ladders import policy as P

    small = Curve.from_points(416, 234, [60, 120, 200, 400], [10, 20, 27, 30])
    large = Curve.from_points(1280, 720, [150, 300, 600, 1200, 2400], [30, 55, 75, 88, 96])
    pol = LadderPolicy()
    only_small = lambda kbps: {(416, 234)} if kbps < 320 else {(1280, 720)}   # noqa: E731
    rungs = {round(r.kbps): r for r in choose_ladder([small, large], pol, only_small).rungs}
    low = [r for k, r in rungs.items() if 250 <= k < 320]
    assert low and all((r.width, r.height) == (1280, 720) for r in low)   # 55 vs 28: the guard
    gap = {r.kbps: large.quality_at(r.kbps) - small.quality_at(r.kbps) for r in rungs.values()
           if (r.width, r.height) == (416, 234)}
    assert all(g <= P.EVIDENCE_GUARD * pol.step_quality for g in gap.values())
    # within the guard the evidence decides, though the envelope is higher
    near = Curve.from_points(416, 234, [60, 120, 200, 400], [20, 35, 45, 50])
    kept = choose_ladder([near, large], pol, only_small).rungs
    assert any((r.width, r.height) == (416, 234) and r.kbps >= 250 for r in kept)
