"""The measurement search of --fast and predict --verify: it escapes a wrong prior, backs every
rung with measurements, stays under its ceiling, and is deterministic whatever the order in which
parallel measurements come back."""
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pertitle.ladders import search as S
from pertitle.ladders.curves import Envelope
from pertitle.ladders.document import curves_from_rows
from pertitle.ladders.policy import LadderPolicy, choose_ladder
from pertitle.ladders.search import (EVIDENCE_RATIO, FAST_EVIDENCE_RATIO, backed, correct_rows, evidence_of,
                                     ladder, makespan, nearest_crf, pair_points, search, unbacked)

SIZES = [(416, 234), (480, 270), (640, 360), (768, 432), (960, 540), (1280, 720)]
CRFS = [16.0, 19.0, 22.0, 25.0, 28.0, 31.0, 34.0, 38.0, 42.0]
POLICY = LadderPolicy()


def title(detail=1.0, rate_bias=1.0, small_bonus=0.0, level=0.0):
    """A plausible title: bigger sizes cost more bits and saturate higher, so sizes cross over.
    ``small_bonus`` makes the small sizes look better than they are (the model's typical error),
    ``level`` shifts every quality (a prior that is optimistic or pessimistic)."""
    rows = []
    for w, h in SIZES:
        scale = h / 720
        for crf in CRFS:
            kbps = rate_bias * 4000 * detail * scale ** 1.6 * 2 ** (-(crf - 16) / 6)
            qmax = 100 - 35 * (1 - scale) ** 1.5 + small_bonus * (1 - scale) * 10
            q = qmax * (1 - math.exp(-kbps / (900 * detail * scale ** 1.3))) + level
            rows.append({"width": w, "height": h, "crf": crf, "kbps": kbps, "vmaf_mean": max(0.0, min(q, 100.0))})
    return rows


def lookup_in(truth, shuffle_seed=None):
    table = {(r["width"], r["height"], r["crf"]): r for r in truth}
    calls = []

    def measure(points):
        calls.append(list(points))
        got = [dict(table[p]) for p in points if p in table]
        if shuffle_seed is not None:  # parallel jobs finish in any order
            random.Random(shuffle_seed + len(calls)).shuffle(got)
        return got

    return measure, calls


def rungs_of(rows):
    return choose_ladder(curves_from_rows(rows, "vmaf_mean"), POLICY).rungs


def sizes_of(rungs):
    return [(r.width, r.height) for r in rungs]


def test_escapes_a_prior_that_puts_every_rung_one_size_too_small():
    truth = title()
    prior = title(small_bonus=1.5, rate_bias=0.8)
    exhaustive = rungs_of(truth)
    assert sizes_of(rungs_of(prior)) != sizes_of(exhaustive)  # the prior is wrong about the shape
    measure, calls = lookup_in(truth)
    found = search(prior, measure, POLICY, 720, ceiling=16)
    final = ladder(found.rows, found.measured, POLICY).rungs
    assert sizes_of(final) == sizes_of(exhaustive)
    assert found.spent <= 16


def test_every_rung_is_backed_by_its_size_and_the_next_larger_one_when_converged():
    truth = title(detail=1.3)
    prior = title(detail=1.3, small_bonus=0.8, level=3.0)
    measure, _ = lookup_in(truth)
    found = search(prior, measure, POLICY, 720, ceiling=40)
    assert found.stop == "converged"
    final = ladder(found.rows, found.measured, POLICY).rungs
    assert unbacked(final, found.measured, SIZES) == []


def test_the_ceiling_is_never_exceeded_and_costs_are_counted():
    truth = title()
    prior = title(small_bonus=1.0)
    measure, calls = lookup_in(truth)
    cost = lambda p: p[0] * p[1] / (1280 * 720) + 0.3  # noqa: E731 - bigger encodes cost more
    found = search(prior, measure, POLICY, 720, ceiling=3.0, cost=cost)
    spent = sum(cost((r["width"], r["height"], r["crf"])) for r in found.measured)
    assert spent <= 3.0 + 1e-9 and abs(spent - found.spent) < 1e-9
    assert found.stop in ("ceiling", "converged")
    assert sum(len(c) for c in calls) == len(found.measured)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_deterministic_whatever_order_results_arrive_in(seed):
    truth = title(detail=0.8)
    prior = title(detail=0.8, small_bonus=1.2, level=-2.0)
    reference = search(prior, lookup_in(truth)[0], POLICY, 720, ceiling=12)
    shuffled = search(prior, lookup_in(truth, shuffle_seed=seed)[0], POLICY, 720, ceiling=12)
    assert [r["crf"] for r in shuffled.measured] == [r["crf"] for r in reference.measured]
    assert shuffled.rounds == reference.rounds
    assert sizes_of(ladder(shuffled.rows, shuffled.measured, POLICY).rungs) == \
        sizes_of(ladder(reference.rows, reference.measured, POLICY).rungs)


def test_rounds_keep_parallel_jobs_busy():
    truth = title()
    found = search(title(small_bonus=1.0), lookup_in(truth)[0], POLICY, 720, ceiling=20, batch_min=2)
    assert all(len(r["points"]) >= 2 for r in found.rounds[:-1])


@pytest.mark.parametrize("ratio", [None, FAST_EVIDENCE_RATIO])
def test_rungs_sit_only_at_sizes_measured_near_their_bitrate_or_never_measured_smaller_ones(ratio):
    truth = title()
    measure, _ = lookup_in(truth)
    found = search(title(small_bonus=2.0), measure, POLICY, 720, ceiling=6, evidence_ratio=ratio)
    ev = evidence_of(found.measured, ratio)
    measured_sizes = {(m["width"], m["height"]) for m in found.measured}
    rungs = ladder(found.rows, found.measured, POLICY, ratio).rungs
    gaps = unbacked(rungs, found.measured, SIZES)
    for i, r in enumerate(rungs):
        near = ev(r.kbps)
        if not near or (r.width, r.height) in near:
            continue
        # the exception: a never-measured size smaller than every size measured near the rung
        assert (r.width, r.height) not in measured_sizes
        assert all(r.height < h for _, h in near)
        assert i in gaps


def test_evidence_admits_never_measured_sizes_below_the_measured_ones_only():
    measured = [{"width": 1280, "height": 720, "kbps": 300.0}, {"width": 960, "height": 540, "kbps": 280.0},
                {"width": 640, "height": 360, "kbps": 2000.0}]
    assert evidence_of(measured)(300.0) == {(1280, 720), (960, 540)}
    ev = evidence_of(measured, sizes=SIZES)
    # 768x432 and smaller were never measured, except 640x360 (measured, but far from 300 kbps)
    assert ev(300.0) == {(1280, 720), (960, 540), (768, 432), (480, 270), (416, 234)}
    assert ev(590.0) == {(1280, 720), (768, 432), (480, 270), (416, 234)}   # 960x540 measured, not near
    assert ev(1500.0) == {(640, 360), (480, 270), (416, 234)}
    assert ev(50.0) == set()                 # nothing measured near: the caller's curves decide


def test_the_fast_modes_wider_evidence_ratio_lets_a_size_measured_further_away_hold_a_rung():
    """A size measured at 2.5x a rung's bitrate may hold it in the fast mode (3x), not under
    --verify's 2x; the ratio reaches the ladder the search plans each round and the final one."""
    measured = [{"width": 960, "height": 540, "kbps": 500.0}]
    assert EVIDENCE_RATIO < 2.5 < FAST_EVIDENCE_RATIO
    assert (960, 540) not in evidence_of(measured)(200.0)
    assert (960, 540) in evidence_of(measured, FAST_EVIDENCE_RATIO)(200.0)
    assert evidence_of(measured, FAST_EVIDENCE_RATIO)(140.0) == set()     # beyond 3x: nothing near
    # the same prior, truth and budget: the searches differ only by the ratio, and their ladders
    # place every rung as their own ratio allows
    truth, prior = title(), title(small_bonus=2.0)
    for ratio in (None, FAST_EVIDENCE_RATIO):
        found = search(prior, lookup_in(truth)[0], POLICY, 720, ceiling=5, evidence_ratio=ratio)
        ev = evidence_of(found.measured, ratio, sizes=SIZES)
        measured_sizes = {(m["width"], m["height"]) for m in found.measured}
        for r in ladder(found.rows, found.measured, POLICY, ratio).rungs:
            near = ev(r.kbps)
            assert not near or (r.width, r.height) in near or (r.width, r.height) not in measured_sizes


def test_a_low_rung_is_not_forced_onto_a_larger_size_measured_for_the_rungs_above():
    # The budget buys three points for the top rungs (960x540 and 720p). The prior, its level
    # corrected by them, knows that a smaller size wins the lower rungs; forcing those rungs onto
    # the measured sizes (the rule before) put one at 960x540 where 640x360 wins.
    truth = title()
    measure, _ = lookup_in(truth)
    found = search(title(small_bonus=-1.0), measure, POLICY, 720, ceiling=3)
    assert {(m["width"], m["height"]) for m in found.measured} <= {(960, 540), (1280, 720)}
    exhaustive = sizes_of(rungs_of(truth))
    forced = choose_ladder(curves_from_rows(found.rows, "vmaf_mean"), POLICY, evidence_of(found.measured)).rungs
    assert sizes_of(forced) != exhaustive
    final = ladder(found.rows, found.measured, POLICY).rungs
    assert sizes_of(final) == exhaustive
    assert unbacked(final, found.measured, SIZES)   # and it says those rungs were not measured


def test_a_failed_measurement_round_stops_the_search():
    found = search(title(), lambda pts: [], POLICY, 720, ceiling=10)
    assert found.stop == "failed" and found.measured == []


def test_pairs_start_with_the_top_rung_and_a_rival_size():
    rows = title()
    rungs = rungs_of(rows)
    pts = pair_points(rows, rungs, {}, POLICY)
    top = rungs[-1]
    assert pts[0][:2] == (top.width, top.height) and pts[1][:2] != pts[0][:2]


def test_the_lowest_rungs_smaller_neighbour_is_needed_when_the_prior_puts_the_low_rungs_too_large():
    # the prior thinks the smallest size is 16 VMAF worse than it is: its low rungs go one size up
    truth = title()
    prior = [dict(r, vmaf_mean=r["vmaf_mean"] - 16 * ((r["width"], r["height"]) == SIZES[0])) for r in truth]
    planned, exhaustive = rungs_of(prior), rungs_of(truth)
    assert sizes_of(planned)[0] == SIZES[1] and sizes_of(exhaustive)[0] == SIZES[0]
    pts = pair_points(prior, planned, {}, POLICY)
    top = planned[-1]
    k = CRFS.index(nearest_crf([r for r in prior if (r["width"], r["height"]) == (top.width, top.height)], top.kbps))
    slope = [pts.index((top.width, top.height, CRFS[m])) for m in (k - 1, k + 1)]
    smallest = [i for i, p in enumerate(pts) if p[:2] == SIZES[0]]
    # among the points needed first: before the top rung's own size one grid step either side
    assert smallest and smallest[0] < min(slope)
    measure, _ = lookup_in(truth)
    found = search(prior, measure, POLICY, 720, ceiling=16)
    assert sizes_of(ladder(found.rows, found.measured, POLICY).rungs)[0] == SIZES[0]


def test_correct_rows_uses_measured_points_exactly_and_shifts_the_rest():
    prior = title(rate_bias=0.7)
    truth = title()
    m = [r for r in truth if (r["width"], r["height"]) == (640, 360) and r["crf"] in (22.0, 34.0)]
    out = correct_rows(prior, m, 720)
    by = {(r["width"], r["height"], r["crf"]): r for r in out}
    for r in m:
        assert by[(640, 360, r["crf"])]["kbps"] == pytest.approx(r["kbps"])
    # the unmeasured CRF between them moved towards the truth
    t = {(r["width"], r["height"], r["crf"]): r for r in truth}
    p = {(r["width"], r["height"], r["crf"]): r for r in prior}
    k = (640, 360, 28.0)
    assert abs(math.log(by[k]["kbps"] / t[k]["kbps"])) < abs(math.log(p[k]["kbps"] / t[k]["kbps"]))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(50, 5000), min_size=1, max_size=5), st.floats(50, 5000))
def test_backing_is_near_or_bracketed(rates, kbps):
    ok = backed(rates, kbps)
    near = any(1 / 1.25 <= r / kbps <= 1.25 for r in rates)
    bracket = any(1 <= kbps / r <= 2 for r in rates) and any(1 <= r / kbps <= 2 for r in rates)
    assert ok == (near or bracket)


@settings(max_examples=25, deadline=None)
@given(st.floats(0.6, 1.6), st.floats(0.5, 1.5), st.floats(0.0, 2.0), st.floats(-4, 4), st.integers(4, 20))
def test_search_properties(detail, rate_bias, bonus, level, ceiling):
    """Any prior, any budget: never above the ceiling, never a point twice, never off the grid,
    and rung sizes never decrease up the ladder."""
    truth = title(detail=detail)
    prior = title(detail=detail, rate_bias=rate_bias, small_bonus=bonus, level=level)
    measure, calls = lookup_in(truth)
    found = search(prior, measure, POLICY, 720, ceiling=ceiling)
    pts = [p for c in calls for p in c]
    assert len(pts) == len(set(pts)) <= ceiling
    assert all(p[:2] in SIZES and p[2] in CRFS for p in pts)
    heights = [r.height for r in ladder(found.rows, found.measured, POLICY).rungs]
    assert heights == sorted(heights)


def test_makespan_runs_the_longest_first_on_the_first_free_lane():
    assert makespan([3.0, 2.0, 2.0], 1) == 7.0
    assert makespan([3.0, 2.0, 2.0], 2) == 4.0        # 3 | 2+2
    assert makespan([2.0, 3.0, 1.0, 1.0], 2) == 4.0   # 3+1 | 2+1
    assert makespan([5.0], 4) == 5.0 and makespan([], 2) == 0.0


COST = lambda p: 2.7 * p[0] * p[1] / (1280 * 720) * math.exp(-0.048 * (p[2] - 16)) + 0.5  # noqa: E731


@settings(max_examples=25, deadline=None)
@given(st.floats(0.6, 1.6), st.floats(0.5, 1.5), st.floats(0.0, 2.0), st.floats(-4, 4), st.floats(3.0, 12.0))
def test_on_two_lanes_rounds_are_wall_time_and_a_lane_is_filled_for_free(detail, rate_bias, bonus, level, ceiling):
    """With lanes: what a round spends is its makespan (never above the ceiling in total), the
    points go to ``measure`` longest first, and a round holds more points than one planned by
    cost alone only when the extra ones fit beside its longest point."""
    truth = title(detail=detail)
    prior = title(detail=detail, rate_bias=rate_bias, small_bonus=bonus, level=level)
    measure, calls = lookup_in(truth)
    found = search(prior, measure, POLICY, 720, ceiling=ceiling, cost=COST, lanes=2)
    walls = [makespan([COST(p) for p in c], 2) for c in calls]
    assert abs(sum(walls) - found.spent) < 1e-9 and found.spent <= ceiling + 1e-9
    for c in calls:
        costs = [COST(p) for p in c]
        assert costs == sorted(costs, reverse=True)
    pts = [p for c in calls for p in c]
    assert len(pts) == len(set(pts))


def test_a_cheap_point_is_moved_up_only_when_it_fits_beside_the_longest_one(monkeypatch):
    """Wanted in this order: big (2), mid (1.5), big2 (2), cheap (0.5); the round's share is 2.
    big and mid fit on two lanes; big2 would make the round 3.5 long, so it waits; cheap fits
    beside mid without lengthening the round, so it is measured now. On one lane, only big."""
    big, mid, big2, cheap = (1280, 720, 16.0), (960, 540, 16.0), (1280, 720, 19.0), (416, 234, 16.0)
    costs = {big: 2.0, mid: 1.5, big2: 2.0, cheap: 0.5}
    monkeypatch.setattr(S, "pair_points", lambda *a, **k: [big, mid, big2, cheap])
    monkeypatch.setattr(S, "_bracket", lambda *a, **k: [])
    for lanes, first in ((2, [big, mid, cheap]), (1, [big])):
        measure, calls = lookup_in(title())
        search(title(), measure, POLICY, 720, ceiling=8.0, cost=lambda p: costs.get(p, 9.0), rounds=4,
               batch_min=1, lanes=lanes)
        assert calls[0] == first


def title_with_own_size(own=(1366, 768)):
    """A title whose own size is a near-twin of a standard one (1366x768 beside 1280x720)."""
    rows = []
    for w, h in SIZES + [own]:
        scale = h / own[1]
        for crf in CRFS:
            kbps = 4000 * scale ** 1.6 * 2 ** (-(crf - 16) / 6)
            q = (100 - 35 * (1 - scale) ** 1.5) * (1 - math.exp(-kbps / (900 * scale ** 1.3)))
            rows.append({"width": w, "height": h, "crf": crf, "kbps": kbps, "vmaf_mean": min(q, 100.0)})
    return rows


def test_near_twins_are_told_apart_by_their_short_sides():
    assert S._twins((1280, 720), (1366, 768)) and S._twins((576, 1024), (540, 960))
    assert S._twins((432, 768), (480, 854))         # exactly TWIN_RATIO apart still counts
    assert not S._twins((960, 540), (1280, 720)) and not S._twins((416, 234), (480, 270))
    assert S.skips_twins(None) and S.skips_twins(S.TWIN_MIN_ENCODES) and S.skips_twins(10)
    assert not S.skips_twins(S.TWIN_MIN_ENCODES - 1) and not S.skips_twins(3)


def test_with_skip_twins_a_rungs_neighbours_are_the_nearest_sizes_that_are_not_its_twins():
    rows = title_with_own_size()
    rungs = rungs_of(rows)
    assert (rungs[-1].width, rungs[-1].height) == (1280, 720)
    plain = pair_points(rows, rungs, {}, POLICY)
    skip = pair_points(rows, rungs, {}, POLICY, skip_twins=True)
    # the top rung's own size first; then, among the points needed first, its twin 1366x768 (the
    # next larger size) unless twins are skipped: then its rival is 960x540 and the twin never asked
    assert plain[0][:2] == skip[0][:2] == (1280, 720)
    assert (1366, 768) in [p[:2] for p in plain[:3]]
    assert skip[1][:2] == (960, 540) and (1366, 768) not in [p[:2] for p in skip]
    # a title without twins asks for the same points either way
    plain_rows = title()
    r = rungs_of(plain_rows)
    assert pair_points(plain_rows, r, {}, POLICY) == pair_points(plain_rows, r, {}, POLICY, skip_twins=True)


def test_the_sources_own_size_is_the_top_rungs_neighbour_until_measured_when_asked():
    """With ``native`` a top rung on the source's own size's near-twin asks for the own size among
    its first points (twins are otherwise skipped); once that size has a measurement it is skipped
    again; lower rungs never ask for it."""
    assert S.checks_native(None) and not S.checks_native(6) and not S.checks_native(10)
    own = (1366, 768)
    rows = title_with_own_size(own)
    rungs = rungs_of(rows)
    assert (rungs[-1].width, rungs[-1].height) == (1280, 720)
    skip = pair_points(rows, rungs, {}, POLICY, skip_twins=True)
    asked = pair_points(rows, rungs, {}, POLICY, skip_twins=True, native=own)
    assert own not in [p[:2] for p in skip]
    assert asked[0][:2] == (1280, 720) and own in [p[:2] for p in asked[:3]]
    seen = {(own[0], own[1], 34.0): {"width": own[0], "height": own[1], "crf": 34.0, "kbps": 300.0, "vmaf_mean": 80.0}}
    assert own not in [p[:2] for p in pair_points(rows, rungs, seen, POLICY, skip_twins=True, native=own)]
    # only the top rung's neighbour: with the top rung dropped no rung asks for it
    assert own not in [p[:2] for p in pair_points(rows, rungs[:-1], {}, POLICY, skip_twins=True, native=own)]


def test_the_fast_search_finds_a_top_rung_on_the_unmeasured_own_size_its_prior_put_on_a_twin():
    """The source's own size is 3 VMAF better than the prior says (no scaling, its own block
    structure); the prior puts the top rung on its twin 1280x720. With ``check_native`` the search
    measures the own size and the top rung moves there at the truth's bitrate (within 2 %);
    without, or when the largest size is not the source's own (its short side is not
    ``ref_short``), it is never measured and the top rung stays on the twin, 14 % dearer."""
    own = (1366, 768)
    prior = title_with_own_size(own)
    truth = [dict(r, vmaf_mean=min(100.0, r["vmaf_mean"] + 3.0)) if (r["width"], r["height"]) == own else dict(r)
             for r in prior]
    exact = rungs_of(truth)[-1]
    assert (exact.width, exact.height) == own and sizes_of(rungs_of(prior))[-1] == (1280, 720)
    for check, ref_short in ((True, 768), (False, 768), (True, 720)):
        found = search(prior, lookup_in(truth)[0], POLICY, ref_short, ceiling=10, rounds=4, skip_twins=True,
                       evidence_ratio=FAST_EVIDENCE_RATIO, check_native=check)
        top = ladder(found.rows, found.measured, POLICY, found.evidence_ratio, found.skip_twins).rungs[-1]
        seen = [m for m in found.measured if (m["width"], m["height"]) == own]
        if check and ref_short == min(own):
            assert seen and (top.width, top.height) == own
            assert top.kbps == pytest.approx(exact.kbps, rel=0.02)
        else:
            assert not seen and (top.width, top.height) == (1280, 720)
            assert top.kbps > 1.1 * exact.kbps


def test_with_skip_twins_a_twin_measured_less_near_a_bitrate_cannot_hold_a_rung_there():
    # 768x576 measured four times, its twin 720x540 once (as the fast mode's search on a 768x576
    # surveillance title did); 640x360 is no one's twin
    m = [{"width": 768, "height": 576, "kbps": k} for k in (133.0, 218.0, 310.0, 450.0)]
    m += [{"width": 720, "height": 540, "kbps": 182.0}, {"width": 640, "height": 360, "kbps": 200.0}]
    plain = evidence_of(m, FAST_EVIDENCE_RATIO)
    skip = evidence_of(m, FAST_EVIDENCE_RATIO, skip_twins=True)
    assert plain(264.0) == {(768, 576), (720, 540), (640, 360)}
    assert skip(264.0) == {(768, 576), (640, 360)}
    # at 60 kbps 720x540's one point (182 kbps) is beyond 3x: only 768x576 is near, no twin to compare
    assert skip(60.0) == plain(60.0) == {(768, 576)}
    # a tie keeps both twins
    tie = m + [{"width": 720, "height": 540, "kbps": k} for k in (140.0, 300.0, 420.0)]
    assert evidence_of(tie, FAST_EVIDENCE_RATIO, skip_twins=True)(264.0) == plain(264.0)


def test_a_once_measured_twin_lifted_by_its_offset_does_not_take_the_ladder_with_skip_twins():
    """One measurement far above a pessimistic prior lifts the twin's whole corrected curve (its
    offset holds along the curve); without the rule it then holds rungs its twin's four
    measurements say it loses, with the rule it holds none of them."""
    own = (768, 576)
    sizes = [(720, 540), own]       # the twins alone: the ladder chooses between them
    truth, prior = [], []
    for w, h in sizes:
        s = h / own[1]
        for crf in CRFS:
            kbps = 900 * s ** 1.6 * 2 ** (-(crf - 16) / 6)
            q = min(100.0, (100 - 30 * (1 - s) ** 1.2 - (3.0 if (w, h) == (720, 540) else 0.0))
                    * (1 - math.exp(-kbps / (150 * s ** 1.3))))
            truth.append({"width": w, "height": h, "crf": crf, "kbps": kbps, "vmaf_mean": q})
            # the prior is right but for 720x540 at low rates, where it is far too pessimistic
            low = (w, h) == (720, 540) and crf >= 34
            prior.append({"width": w, "height": h, "crf": crf, "kbps": kbps, "vmaf_mean": q - (12.0 if low else 0.0)})
    at = {(r["width"], r["height"], r["crf"]): r for r in truth}
    measured = [at[(768, 576, c)] for c in (25.0, 28.0, 31.0, 34.0, 38.0)] + [at[(720, 540, 34.0)]]
    rows = correct_rows(prior, measured, min(own))
    lifted = {r["crf"]: r["vmaf_mean"] for r in rows if (r["width"], r["height"]) == (720, 540)}
    assert lifted[25.0] > at[(720, 540, 25.0)]["vmaf_mean"] + 3       # the offset held along the curve
    plain = S.ladder(rows, measured, POLICY, FAST_EVIDENCE_RATIO).rungs
    skip = S.ladder(rows, measured, POLICY, FAST_EVIDENCE_RATIO, skip_twins=True).rungs
    assert any((r.width, r.height) == (720, 540) for r in plain)
    assert not any((r.width, r.height) == (720, 540) for r in skip)
    assert any((r.width, r.height) == own for r in skip)


def test_the_search_result_carries_its_twin_rule_for_the_final_ladder():
    rows = title()
    measure, _ = lookup_in(title())
    for flag in (False, True):
        found = search(rows, measure, POLICY, 720, ceiling=4, rounds=2, skip_twins=flag)
        assert found.skip_twins is flag


def test_verify_evidence_window_is_narrower_above_the_bitrate():
    """Under --verify's default window a measurement counts within EVIDENCE_RATIO below a rung's
    bitrate but only within EVIDENCE_ABOVE above it (a size measured only above a bitrate reaches
    it by extrapolating the prior's shape downwards); a given ratio is symmetric."""
    assert 1 < S.EVIDENCE_ABOVE < EVIDENCE_RATIO
    at = 500.0
    above = [{"width": 960, "height": 540, "kbps": at * 1.9}]
    below = [{"width": 960, "height": 540, "kbps": at / 1.9}]
    edge = [{"width": 960, "height": 540, "kbps": at * S.EVIDENCE_ABOVE}]
    assert evidence_of(above)(at) == set()
    assert evidence_of(below)(at) == {(960, 540)}
    assert evidence_of(edge)(at) == {(960, 540)}
    assert evidence_of(above, 2.0)(at) == {(960, 540)}
    assert evidence_of(above, FAST_EVIDENCE_RATIO)(at) == {(960, 540)}


def test_a_large_size_measured_only_well_above_a_rung_does_not_take_it_on_an_extrapolated_curve():
    # The prior's 1280x720 curve is too flat below 2000 kbps (40 VMAF too high at the bottom);
    # 1280x720 was measured from 1000 kbps up, the small sizes around the low rungs. At the
    # 564-kbps rung the symmetric 2x window lets 1280x720 hold the rung on its extrapolated
    # curve (1000 kbps is 1.77x above); the --verify window does not, and the small size that
    # truly wins there holds it.
    truth = title()
    prior = title()
    for r in prior:
        if (r["width"], r["height"]) == (1280, 720) and r["kbps"] < 2000:
            r["vmaf_mean"] = min(100.0, r["vmaf_mean"] + 40 * (2000 - r["kbps"]) / 2000)
    measured = ([r for r in prior if (r["width"], r["height"]) == (1280, 720) and r["kbps"] >= 1000]
                + [r for r in prior if (r["width"], r["height"]) in [(416, 234), (640, 360), (960, 540)]
                   and 300 <= r["kbps"] <= 1200])
    sym = ladder(prior, measured, POLICY, 2.0).rungs
    asym = ladder(prior, measured, POLICY).rungs
    assert [r.kbps for r in sym] == pytest.approx([r.kbps for r in asym])
    i = next(i for i, (a, b) in enumerate(zip(sym, asym)) if (a.width, a.height) != (b.width, b.height))
    assert (sym[i].width, sym[i].height) == (1280, 720) and (asym[i].width, asym[i].height) == (416, 234)
    true = {(c.width, c.height): c for c in curves_from_rows(truth, "vmaf_mean")}
    k = asym[i].kbps
    assert true[(416, 234)].quality_at(k) > true[(1280, 720)].quality_at(k) + 5


@given(st.lists(st.floats(50, 5000), min_size=1, max_size=6), st.floats(20, 20000))
def test_carried_is_zero_inside_the_measured_range_and_the_log_ratio_to_its_nearest_end_outside(rates, kbps):
    d = S.carried(rates, kbps)
    lo, hi = min(rates), max(rates)
    if lo <= kbps <= hi:
        assert d == 0.0
    else:
        assert d == pytest.approx(abs(math.log(kbps / (lo if kbps < lo else hi))), rel=1e-12)
        assert d > 0
    assert S.carried([], kbps) == pytest.approx(math.log(S.UNMEASURED_RATIO))
    assert S.carried([], kbps, 3.0) == pytest.approx(math.log(3.0))


def test_with_a_discount_evidence_gives_the_same_sizes_with_their_handicaps():
    measured = [{"width": 1280, "height": 720, "kbps": 471.0}, {"width": 1280, "height": 720, "kbps": 949.0},
                {"width": 480, "height": 270, "kbps": 248.0}, {"width": 480, "height": 270, "kbps": 540.0}]
    for ratio in (None, FAST_EVIDENCE_RATIO):
        plain = evidence_of(measured, ratio, sizes=SIZES)
        handicapped = evidence_of(measured, ratio, sizes=SIZES, discount=2.0)
        for kbps in (150.0, 305.0, 700.0, 2000.0):
            h = handicapped(kbps)
            assert set(h) == plain(kbps)
            for size, v in h.items():
                rates = [m["kbps"] for m in measured if (m["width"], m["height"]) == size]
                assert v == pytest.approx(2.0 * S.carried(rates, kbps))
    h = evidence_of(measured, FAST_EVIDENCE_RATIO, sizes=SIZES, discount=1.0)(305.0)
    assert h[(480, 270)] == 0.0                                    # measured both sides of 305 kbps
    assert h[(1280, 720)] == pytest.approx(math.log(471 / 305))    # carried down from 471 kbps
    assert h[(416, 234)] == pytest.approx(math.log(S.UNMEASURED_RATIO))    # never measured


def test_a_handicap_decides_near_ties_only_and_a_rungs_quality_stays_its_curves():
    """The cockatoo's 305-kbps rung: 1280x720's curve, carried down from 471 kbps, is 0.4 point
    above 480x270's, measured on both sides of that bitrate; with the handicap 480x270 holds the
    rung, at its own curve's quality. A lead larger than the handicap keeps the carried size."""
    curves = curves_from_rows(title(), "vmaf_mean")
    env = Envelope(curves)
    k = 700.0
    q = {(c.width, c.height): c.quality_at(k) for c in curves}
    a, b = sorted(q, key=q.get, reverse=True)[:2]          # the two best sizes at k
    lead = q[a] - q[b]
    assert lead > 0
    assert env.best(k, sizes={a, b})[0].height == a[1]
    c, got = env.best(k, sizes={a: lead + 0.5, b: 0.0})
    assert (c.width, c.height) == b and got == pytest.approx(q[b])
    c, got = env.best(k, sizes={a: lead - 0.5 if lead > 0.5 else 0.0, b: 0.0})
    assert (c.width, c.height) == a and got == pytest.approx(q[a])


@settings(max_examples=25, deadline=None)
@given(st.floats(0.5, 2.0), st.floats(0.6, 1.6), st.floats(-2.0, 2.0), st.floats(-5.0, 5.0), st.integers(2, 8))
def test_the_discount_only_changes_the_final_ladders_sizes(detail, rate_bias, bonus, level, ceiling):
    """What is measured does not depend on the discount (the rounds' ladders take none); the final
    ladder has the same bitrates, and with a zero discount it is the ladder without handicaps."""
    truth = title(detail, rate_bias)
    prior = title(detail, rate_bias, small_bonus=bonus, level=level)
    plain = search(prior, lookup_in(truth)[0], POLICY, 720, ceiling=ceiling, evidence_ratio=FAST_EVIDENCE_RATIO)
    found = search(prior, lookup_in(truth)[0], POLICY, 720, ceiling=ceiling, evidence_ratio=FAST_EVIDENCE_RATIO,
                   discount=S.EXTRAPOLATION_DISCOUNT)
    assert found.measured == plain.measured and found.discount == S.EXTRAPOLATION_DISCOUNT
    assert found.to_dict()["extrapolation_discount"] == S.EXTRAPOLATION_DISCOUNT
    base = ladder(plain.rows, plain.measured, POLICY, FAST_EVIDENCE_RATIO).rungs
    zero = ladder(found.rows, found.measured, POLICY, FAST_EVIDENCE_RATIO, discount=0.0).rungs
    assert [(r.width, r.height, r.kbps) for r in zero] == [(r.width, r.height, r.kbps) for r in base]
    final = ladder(found.rows, found.measured, POLICY, FAST_EVIDENCE_RATIO, discount=found.discount).rungs
    assert [r.kbps for r in final] == pytest.approx([r.kbps for r in base])
