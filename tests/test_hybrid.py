"""The hybrid (predict + a few real encodes): which points it spends, how it corrects, what it recovers."""
import math

import pytest

from hypothesis import given, settings
from hypothesis import strategies as st

from pertitle.ladders.document import curves_from_rows
from pertitle.ladders.hybrid import correct_rows, plan_points, refine
from pertitle.ladders.policy import LadderPolicy, choose_ladder

SIZES = [(480, 270), (640, 360), (960, 540), (1280, 720)]
CRFS = [16.0, 19.0, 22.0, 25.0, 28.0, 31.0, 34.0, 38.0, 42.0]


def title(detail=1.0, rate_bias=1.0, small_bonus=0.0):
    """A plausible title: bigger sizes cost more bits and saturate higher, so sizes cross over.
    ``small_bonus`` makes the small sizes look better than they are (the model's typical error)."""
    rows = []
    for w, h in SIZES:
        scale = h / 720
        for crf in CRFS:
            kbps = rate_bias * 4000 * detail * scale ** 1.6 * 2 ** (-(crf - 16) / 6)
            qmax = 100 - 35 * (1 - scale) ** 1.5 + small_bonus * (1 - scale) * 10
            q = qmax * (1 - math.exp(-kbps / (900 * detail * scale ** 1.3)))
            rows.append({"width": w, "height": h, "crf": crf, "kbps": kbps, "vmaf_mean": min(q, 100.0)})
    return rows


def lookup_in(truth):
    table = {(r["width"], r["height"], r["crf"]): r for r in truth}
    calls = []

    def measure(points):
        calls.append(list(points))
        return [table[p] for p in points if p in table]

    return measure, calls


def ladder(rows, policy=LadderPolicy()):
    return choose_ladder(curves_from_rows(rows, "vmaf_mean"), policy).rungs


def test_plan_pairs_each_rung_with_its_closest_rival_from_the_top():
    rows = title()
    rungs = ladder(rows)
    pts = plan_points(rows, rungs, 4, set())
    top = rungs[-1]
    assert pts[0][:2] == (top.width, top.height)
    # the second point is at another size, at a CRF whose predicted rate is near the top rung's
    assert pts[1][:2] != pts[0][:2]
    rate = {(r["width"], r["height"], r["crf"]): r["kbps"] for r in rows}
    assert abs(math.log(rate[pts[1]] / top.kbps)) < math.log(2 ** (3 / 6)) + 1e-9
    assert len(pts) == 4 and len(set(pts)) == 4


def test_plan_never_repeats_measured_points_and_respects_the_budget():
    rows = title()
    rungs = ladder(rows)
    first = plan_points(rows, rungs, 3, set())
    second = plan_points(rows, rungs, 3, set(first))
    assert len(first) <= 3 and len(second) <= 3 and not set(first) & set(second)


def test_measured_points_replace_predictions_and_a_rate_bias_is_removed():
    truth = title()
    pred = title(rate_bias=0.7)          # the model thinks the title is 30 % cheaper
    measured = [r for r in truth if (r["width"], r["height"], r["crf"]) in
                {(960, 540, 22.0), (960, 540, 31.0), (480, 270, 25.0)}]
    fixed = correct_rows(pred, measured, 720)
    by = {(r["width"], r["height"], r["crf"]): r for r in fixed}
    for m in measured:
        assert by[(m["width"], m["height"], m["crf"])]["kbps"] == pytest.approx(m["kbps"], rel=1e-6)
    exact = {(r["width"], r["height"], r["crf"]): r for r in truth}
    for key in [(960, 540, 25.0), (640, 360, 28.0), (1280, 720, 19.0)]:  # measured size / between / beyond
        assert by[key]["kbps"] / exact[key]["kbps"] == pytest.approx(1.0, rel=0.02)


@settings(max_examples=25, deadline=None)
@given(detail=st.floats(0.3, 3.0), bonus=st.floats(0.0, 1.5), n=st.integers(1, 14))
def test_refine_spends_at_most_n_and_keeps_rows_monotone(detail, bonus, n):
    truth = title(detail)
    pred = title(detail * 0.8, small_bonus=bonus)
    measure, calls = lookup_in(truth)
    rows, used = refine(pred, measure, n, LadderPolicy(), 720)
    assert len(used) <= n and sum(len(c) for c in calls) <= n
    for size in SIZES:
        rs = sorted((r for r in rows if (r["width"], r["height"]) == size), key=lambda r: r["crf"])
        assert all(a["kbps"] > b["kbps"] and a["vmaf_mean"] >= b["vmaf_mean"] for a, b in zip(rs, rs[1:]))


def test_refine_recovers_the_size_choice_the_model_got_wrong():
    truth = title()
    pred = title(small_bonus=1.5)       # small sizes over-rated: the predicted ladder stays small too long
    right = [(r.width, r.height) for r in ladder(truth)]
    wrong = [(r.width, r.height) for r in ladder(pred)]
    assert wrong != right
    measure, _ = lookup_in(truth)
    rows, used = refine(pred, measure, 12, LadderPolicy(), 720)
    got = [(r.width, r.height) for r in ladder(rows)]
    agree = sum(a == b for a, b in zip(got[::-1], right[::-1]))
    assert agree >= len(right) - 1 and len(used) <= 12
