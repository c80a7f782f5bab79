"""A measurement search that decides the ladder from evidence, with a model only as its prior.

What decides a ladder's efficiency is, at each rung's bitrate, which size is best; the level of the
curves decides where the top rung sits. A model is decent at the level of a title's curves and weak
at their shape across sizes, so a search that only measures around the *predicted* rungs inherits
the prior's mistakes: if the prior puts a rung one size too small, the larger size that wins is
never measured. This search, round after round:

1. corrects the predicted curves by everything measured so far (:func:`correct_rows`) and plans
   the ladder on them;
2. asks for the points that would back that ladder's decisions (:func:`pair_points`): for every
   rung from the top down, its own size, its closest rival (the neighbouring size the curves rate
   nearest to it) and the next larger size, each at the grid CRF nearest the rung's bitrate (for
   the lowest rung the next smaller size too); then the other neighbour and the local slope. A
   rung is *backed* at a size when a measurement of that size lies within NEAR_RATIO of its
   bitrate or two bracket it (:func:`backed`); the top rung's size is bracketed around the target
   quality when nothing backs it yet;
3. measures as many of them as one round's share of the budget allows (every round keeps the
   parallel jobs busy), and stops when nothing is missing (``converged``) or the budget is spent
   (``ceiling``).

The final ladder places each rung at a size measured within EVIDENCE_RATIO of its bitrate
(EVIDENCE_ABOVE when the measurement is above it; FAST_EVIDENCE_RATIO either side in the fast
mode; :func:`ladder`): a decision read off a corrected curve
next to a real point. The one exception is a search whose budget ran out before the lower rungs:
a size smaller than every size measured near a rung's bitrate, and never measured at all, may
take it on its corrected curve (the prior's shape at the measured level), and the rung is
reported unbacked (:func:`unbacked`). (A "shape first"
variant, measuring where the prior puts each crossover before the rungs, and orderings by decision
margin were measured in grouped cross-validation and did worse.)

Everything here is pure and deterministic: ``measure(points)`` is supplied by the caller (real
encodes, or a title's measured table in cross-validation), its results are keyed by grid point,
never by the order in which they arrive.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .document import curves_from_rows
from .model import logit_to_vmaf, monotone_rows, vmaf_to_logit
from .policy import LadderPolicy, Rung, choose_ladder

Point = tuple[int, int, float]                 # (width, height, crf)
Measure = Callable[[list[Point]], list[dict]]  # -> rows with width, height, crf, kbps, vmaf_mean
# Cost of a point, in units of one full-frame VMAF measurement at the reference size (measured on
# the corpus sweeps and on this machine): an x264 medium encode at the reference size takes about
# 2.7 of those at CRF 16 and gets cheaper as CRF rises (exp(-0.048 per CRF step): 3.5x cheaper at
# CRF 42), smaller sizes cost their pixel share; a VMAF on every n-th frame costs 0.25 + 0.75/n
# (decoding and scaling every frame remain).
ENCODE_WEIGHT = 2.7
CRF_DECAY = 0.048


def point_cost(width: int, height: int, crf: float, ref_pixels: int, subsample: int = 1) -> float:
    encode = ENCODE_WEIGHT * width * height / ref_pixels * math.exp(-CRF_DECAY * (float(crf) - 16.0))
    return encode + 0.25 + 0.75 / subsample


def exhaustive_cost(points: Sequence[Point], ref_pixels: int) -> float:
    """The cost of measuring every (width, height, crf) of a grid in full."""
    return sum(point_cost(w, h, q, ref_pixels) for w, h, q in points)


NEAR_RATIO = 1.25   # a measured point this close in bitrate "backs" a rung at its size ...
BRACKET_RATIO = 2.0 # ... and so do two that bracket its bitrate, each within this ratio


def _size(r) -> tuple[int, int]:
    return (int(r["width"]), int(r["height"]))


def _key(r) -> Point:
    return (int(r["width"]), int(r["height"]), float(r["crf"]))


# ------------------------------------------------------------------------------------------
# Correcting predicted curves with measured points
# ------------------------------------------------------------------------------------------


def correct_rows(rows: list[dict], measured: Sequence[dict], ref_short: int) -> list[dict]:
    """Predicted rows made consistent with the measured ones: a measured point replaces its
    prediction; the other points of a measured size move by the measured offsets (log-rate and
    logit-VMAF, interpolated in CRF, constant beyond); sizes never measured take the offsets of
    the measured sizes interpolated in log-scale (constant beyond)."""
    if not measured:
        return rows
    exact = {_key(m): m for m in measured}
    pred = {_key(r): r for r in rows}
    offsets: dict[tuple[int, int], list[tuple[float, float, float]]] = {}
    for key in sorted(exact):
        p = pred.get(key)
        if p is None:
            continue
        m = exact[key]
        offsets.setdefault(key[:2], []).append(
            (key[2], math.log(m["kbps"] / p["kbps"]),
             float(vmaf_to_logit(m["vmaf_mean"]) - vmaf_to_logit(p["vmaf_mean"]))))
    if not offsets:
        return rows

    def size_offset(size: tuple[int, int], crf: float) -> tuple[float, float]:
        pts = sorted(offsets[size])
        xs = [p[0] for p in pts]
        # beyond the measured CRFs the nearest offset holds: the prior's errors are mostly in the
        # level of a curve (letting them fade towards the prior did worse in grouped CV)
        return (float(np.interp(crf, xs, [p[1] for p in pts])), float(np.interp(crf, xs, [p[2] for p in pts])))

    measured_sizes = sorted(offsets, key=lambda s: (math.log2(min(s) / ref_short), s))
    scales = [math.log2(min(s) / ref_short) for s in measured_sizes]
    out = []
    for r in rows:
        key = _key(r)
        if key in exact:
            m = exact[key]
            out.append({**r, "kbps": float(m["kbps"]), "vmaf_mean": float(m["vmaf_mean"]), "measured": True})
            continue
        size = key[:2]
        if size in offsets:
            dr, dq = size_offset(size, key[2])
        else:
            s = math.log2(min(size) / ref_short)
            per = [size_offset(ms, key[2]) for ms in measured_sizes]
            dr = float(np.interp(s, scales, [p[0] for p in per]))
            dq = float(np.interp(s, scales, [p[1] for p in per]))
        q = float(logit_to_vmaf(vmaf_to_logit(r["vmaf_mean"]) + dq))
        out.append({**r, "kbps": r["kbps"] * math.exp(dr), "vmaf_mean": float(np.clip(q, 0, 100)),
                    "measured": False})
    return monotone_rows(out)


# ------------------------------------------------------------------------------------------
# What to measure
# ------------------------------------------------------------------------------------------


def _by_size(rows: list[dict]) -> dict[tuple[int, int], list[dict]]:
    out: dict[tuple[int, int], list[dict]] = {}
    for r in rows:
        out.setdefault(_size(r), []).append(r)
    for v in out.values():
        v.sort(key=lambda r: r["crf"])
    return out


def nearest_crf(rows_of_size: list[dict], kbps: float) -> float:
    """The grid CRF whose (current estimate of) bitrate is closest to ``kbps`` in log-rate."""
    return float(min(rows_of_size, key=lambda r: (abs(math.log(r["kbps"] / kbps)), r["crf"]))["crf"])


def backed(rates: Sequence[float], kbps: float) -> bool:
    """Measured bitrates of one size back a decision at ``kbps`` when one of them is within
    NEAR_RATIO of it, or two bracket it, each within BRACKET_RATIO (interpolation, not extrapolation)."""
    if any(1 / NEAR_RATIO <= k / kbps <= NEAR_RATIO for k in rates):
        return True
    return (any(1 <= kbps / k <= BRACKET_RATIO for k in rates)
            and any(1 <= k / kbps <= BRACKET_RATIO for k in rates))


def _backed(size: tuple[int, int], kbps: float, measured: dict[Point, dict]) -> bool:
    return backed([m["kbps"] for k, m in measured.items() if k[:2] == size], kbps)


def sizes_in_order(rows: list[dict]) -> list[tuple[int, int]]:
    return sorted({_size(r) for r in rows}, key=lambda s: (min(s), s))


TWIN_RATIO = 0.9
"""Two sizes whose short sides are within this ratio of each other are near-twins (a source's own
size beside a standard one: 576x1024 and 540x960, 768x576 and 720x540)."""
TWIN_MIN_ENCODES = 6
"""``--verify N`` skips near-twins as a rung's neighbours from this many encodes on; the fast mode
always does (:func:`skips_twins`)."""


def skips_twins(verify: int | None) -> bool:
    """Whether a search of ``verify`` encodes (None: the fast mode's budget) skips near-twins.

    Deciding a rung between two near-twins costs little when it is wrong, yet it took the first
    rounds of the searches that had one (the top rung's own size and its twin, two CRFs each) and
    left the lower rungs' sizes unmeasured. Skipping them, replayed on the held-out priors of the
    three fold assignments (docs/model-guided.md, "Near-twin sizes, replayed on three
    assignments"): ``--verify 6`` mean loss 1.11 / 1.38 / 1.26 -> 0.96 / 1.26 / 1.21 %, 90th
    percentile over the short clips +4.36 / +4.67 / +4.84 -> +3.91 / +4.37 / +4.71 %; ``--verify
    8`` and ``10`` better or equal; the fast mode's mean 0.76 / 0.52 / 1.22 -> 0.59 / 0.61 / 1.14 %;
    but ``--verify 3``, ``4`` and ``5`` worse on two or three assignments (their encodes do not
    reach the lower rungs anyway; why the twin's points are then worth more is not established)."""
    return verify is None or verify >= TWIN_MIN_ENCODES


def _twins(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return TWIN_RATIO <= min(a) / min(b) <= 1 / TWIN_RATIO


def checks_native(verify: int | None) -> bool:
    """Whether a search of ``verify`` encodes (None: the fast mode's budget) asks for the source's
    own size beside a top rung on its near-twin while that size is still unmeasured.

    The near-twin rule (:func:`skips_twins`) treats the source's own size as any other twin, but
    it is not one: it is encoded without scaling, and at the top rung's rates it is ahead of its
    twin by up to 9 VMAF (8 points on a terminal screencast, 5.5 on a 720x480 film excerpt at
    1.7 Mbps, 0-3 on most camera footage; 44 twin pairs in the training table). The fast mode
    put that excerpt's two top rungs on 648x432 at up to 2 Mbps where 720x480, never measured,
    reaches VMAF 95 at 1.45 Mbps. Asked for once (not again once measured: asked for in every
    round, it pushed out a 480x480 title's checks of its small sizes), replayed with the fast
    mode's measurement error (five seeds; docs/model-guided.md, "The source's own size checked
    beside a top rung on its near-twin"): mean loss A 0.772 -> 0.751, B 0.603 -> 0.585, C 0.891 ->
    0.891 %, runs above 5 % 22 -> 18, 17 -> 12, 36 -> 36 of 800; noise-free worst A +7.15 ->
    +5.02 %, B +5.88 -> +5.06 %; the 49 extra windows' fast mean 0.95 -> 0.80 %, worst +10.1 ->
    +8.0 %. Not ``--verify 6`` (mean C 0.909 -> 0.935 %, the extra windows' 90th percentile +2.03
    -> +2.12 %)."""
    return verify is None


def pair_points(rows: list[dict], rungs: Sequence[Rung], measured: dict[Point, dict],
                policy: LadderPolicy, skip_twins: bool = False,
                native: tuple[int, int] | None = None) -> list[Point]:
    """The points that would back the ladder's decisions, most needed first (see the module doc):
    for every rung from the top down, its own size, its closest rival and the next larger size at
    the rung's bitrate, and for the lowest rung the next smaller size as well; then the other
    neighbour and the own size one grid step either side. Points already backed are skipped.
    With ``skip_twins`` a rung's neighbours are the nearest sizes that are not its near-twins,
    except for the top rung's when ``native`` (the source's own size, :func:`checks_native`) is
    its twin and has no measurement yet: then it is the larger neighbour.

    The lowest rung's smaller neighbour is the cheapest point of all, and the one left unmeasured
    when the prior puts the low rungs too large (a vertical 576x1024 title: the prior puts them on
    360x640 where 234x416 and 270x480 win). Grouped CV of the 160 real windows, fast mode replayed
    on 15-member priors (``bench/search_replay.py``), split B: worst +16.3 -> +7.5 %, windows > 5 %
    5 -> 3, mean 0.69 -> 0.58 %; split A unchanged (its budget runs out first); the same encodes;
    ``--verify 6`` unchanged (its six encodes never get that far). Measuring that point in the
    first round instead, right after the top rung's, was much worse (fast p90 on the two splits
    +2.03 / +2.05 -> +4.08 / +4.26 %): the top rung's measurements must set every size's level
    first."""
    by = _by_size(rows)
    sizes = sizes_in_order(rows)
    curves = {(c.width, c.height): c for c in curves_from_rows(rows, policy.quality_column)}
    first: list[Point] = []
    later: list[Point] = []
    # the source's own size, while unmeasured, is never skipped as the top rung's twin
    unseen = native if native is not None and not any(k[:2] == native for k in measured) else None
    for i, rung in reversed(list(enumerate(rungs))):
        own = (rung.width, rung.height)
        if own not in by:
            continue
        j = sizes.index(own)
        # the neighbours: the next smaller and larger sizes (with skip_twins, the nearest that are
        # not near-twins of the rung's own)
        top = i == len(rungs) - 1
        far = (lambda z: not _twins(z, own) or (top and z == unseen)) if skip_twins else (lambda z: True)
        smaller = next((z for z in reversed(sizes[:j]) if far(z)), None)
        larger = next((z for z in sizes[j + 1:] if far(z)), None)
        rivals = [z for z in (smaller, larger) if z is not None and z in curves]
        if own in curves and rivals:
            mine = curves[own].quality_at(rung.kbps, extrapolate="linear")
            rivals.sort(key=lambda z: (abs(curves[z].quality_at(rung.kbps, extrapolate="linear") - mine), z))
        needed = [own] + rivals[:1]
        if larger is not None and larger not in needed:
            needed.append(larger)     # a prior that puts rungs too small is the common failure
        if i == 0 and smaller is not None and smaller not in needed:
            needed.append(smaller)    # ... too large at the bottom: the cheapest point to check
        for size in [own] + rivals:
            if not _backed(size, rung.kbps, measured):
                (first if size in needed else later).append((size[0], size[1], nearest_crf(by[size], rung.kbps)))
        grid = [r["crf"] for r in by[own]]
        k = grid.index(nearest_crf(by[own], rung.kbps))
        later += [(own[0], own[1], grid[m]) for m in (k - 1, k + 1) if 0 <= m < len(grid)]
    return _unique(first + later)


def _bracket(rows_of_size: list[dict], measured: dict[Point, dict], policy: LadderPolicy) -> list[Point]:
    """The top rung's size must have measured points on both sides of the target quality (one is
    enough when every grid point of the size is on one side: the target is out of reach)."""
    target = policy.top_quality
    col = policy.quality_column
    mine = [r for r in rows_of_size if _key(r) in measured]
    above = [r for r in mine if measured[_key(r)].get(col, r[col]) >= target]
    below = [r for r in mine if measured[_key(r)].get(col, r[col]) < target]
    if above and below:
        return []
    grid = sorted(rows_of_size, key=lambda r: r["crf"])     # low CRF = high quality first
    if not mine:
        return []
    if below and not above:
        # need a higher quality point: the next lower CRF than the best measured one
        best = min(r["crf"] for r in below)
        cand = [r for r in grid if r["crf"] < best]
        return [_key(cand[-1])] if cand else []
    worst = max(r["crf"] for r in above)
    cand = [r for r in grid if r["crf"] > worst]
    return [_key(cand[0])] if cand else []


def _unique(pts: Sequence[Point]) -> list[Point]:
    out: list[Point] = []
    for p in pts:
        if p not in out:
            out.append(p)
    return out


# ------------------------------------------------------------------------------------------
# The search
# ------------------------------------------------------------------------------------------


EVIDENCE_RATIO = 2.0   # a size may hold a rung where one of its measurements is within this ratio
EVIDENCE_ABOVE = 1.75
"""... but under the default ratio (``--verify N``), a measurement *above* the rung's bitrate
counts only within this ratio. A size measured only above a bitrate holds its corrected curve
there by extrapolating the prior's shape downwards, and below its lowest measurement a large
size's quality falls faster than the prior says: a 1280x720 title measured at 471 kbps and up
got rungs at 1280x720 at 305 kbps (corrected VMAF 78.5, true 69.0) where 640x360 wins. Replayed
on the three fold assignments (docs/model-guided.md, "Extrapolating down"): ``--verify 6`` mean
loss 0.94 / 1.20 / 1.17 -> 0.76 / 1.14 / 1.05 %, 90th percentile +3.01 / +3.36 / +3.24 -> +2.65 /
+3.11 / +3.24 %; on the 49 extra windows no model was trained on (``bench/extra_heldout.py``)
90th percentile +4.22 -> +2.40 %. 1.5 was better on the mean, worse at the 90th percentile on C;
the fast mode (3x) got worse with 2x or 1.5x above (worst windows +44 % and +69 %), so its
window stays symmetric."""
FAST_EVIDENCE_RATIO = 3.0
"""The fast mode's evidence ratio. Its searches measure more points across more sizes than
``--verify 6``'s, and a wider window lets a size measured a little further from a low rung hold
it where its corrected curve wins. Grouped CV of the 160 real windows with 15-member priors,
replayed (``bench/search_replay.py``), 2x -> 3x: split A mean loss 1.09 -> 0.76 %, mean of the 16
worst 8.08 -> 4.95 %, 90th percentile +2.25 -> +2.03 %, worst +36.0 -> +16.3 %, windows > 5 % 7 -> 4;
split B 0.97 -> 0.69 %, 6.30 -> 4.76 %, +2.66 -> +2.05 %, worst +16.3 % both, 8 -> 5; the same
encodes. ``--verify 6`` keeps 2x (3x: B windows > 5 % 10 -> 14, mean 1.38 -> 1.54 %)."""

EXTRAPOLATION_DISCOUNT = 1.0
"""Quality points per unit of natural-log distance in bitrate: the handicap a size takes, in the
final ladder's choice of a rung's size, for how far its corrected curve is carried from that
size's measurements (none inside its measured range; a never-measured size counts as measured
UNMEASURED_RATIO away). Among the eligible sizes the corrected curves are near-ties at many
rungs, and the curve carried furthest is the least sure: the cockatoo window of the fast mode
(fold assignment C, +18 %) put its 305-kbps rung on 1280x720, measured only at 471 kbps and up
(corrected VMAF 78.5, true 69.0), over 480x270 measured at 248 and 540 kbps (corrected 78.1, true
77.7). Only the final ladder: the ladders a search plans from round to round take none (handicaps
there steer what is measured, and replayed that way every figure got worse). The fast mode only:
its 3x evidence window carries curves further than ``--verify``'s, whose replays were better on
two fold assignments but worse on the 49 extra windows (90th percentile +2.40 -> +2.91 %). Replayed
(``bench/search_replay.py``), fast mode, median / 90th percentile / worst, mean, on fold
assignments A / B / C: +0.07 / +1.86 / +7.1 % 0.61 -> +0.08 / +1.72 / +7.1 % 0.60; +0.03 / +2.05 /
+5.9 % 0.55 -> +0.02 / +1.64 / +5.9 % 0.50; +0.18 / +3.14 / +18.3 % 1.06 -> +0.12 / +2.41 / +16.3 %
0.86 (windows better / worse: 7 / 9, 5 / 1, 12 / 1); on the extra windows 2 / 1 (mean 1.02 ->
0.95 %, 90th percentile +2.95 % and worst +10.1 % both); on the 10 benchmark clips (real
encodes) mean 0.79 -> 0.60 %, worst +2.90 -> +1.68 %. docs/model-guided.md, "Extrapolated curves
handicapped"."""
UNMEASURED_RATIO = 2.0
"""A never-measured size's curve is the prior's shape at a level interpolated from the measured
sizes around it: handicapped as if measured this many times away. At the fast window's edge (3x)
it lost a real fast run (`bench/modes.py`, a 1280x720 talking head: its 340-kbps rung on 960x540,
measured at 388 kbps, instead of the never-measured 768x432 that wins; +1.3 -> +11.0 %); at 2x
the replays are within 0.15 point of 3x and the 49 extra windows better (the diver +11.3 ->
+10.1 %). Chosen after that run: docs/model-guided.md."""


def evidence_of(measured: Sequence[dict], ratio: float | None = None,
                sizes: Sequence[tuple[int, int]] | None = None,
                skip_twins: bool = False, discount: float = 0.0, unmeasured: float = UNMEASURED_RATIO
                ) -> Callable[[float], set[tuple[int, int]] | dict[tuple[int, int], float]]:
    """``kbps -> sizes eligible for a rung there``, for :func:`choose_ladder`: sizes with a
    measurement within ``ratio`` of that bitrate (their corrected curve there is an interpolation
    or a short extrapolation from a real point, not the bare prior). Among them the corrected
    curves decide; the search's own stopping rule is stricter (:func:`backed`).

    With ``sizes`` (every size of the grid), the sizes *smaller* than the smallest one measured
    near that bitrate that were never measured at all are eligible too: their corrected curve is
    the prior's shape at the measured level. A search out of budget has spent it from the top rung
    down, on the larger sizes; restricting a low rung to those forced it onto a size far too large
    for its bitrate, where the corrected prior knew better (grouped CV of the 160 real windows,
    two different fold assignments: ``--verify 6`` 90th percentile +5.80 -> +4.39 % and +5.03 ->
    +3.91 %, ``--fast`` +3.13 -> +2.34 % and +3.78 -> +3.04 %; docs/model-guided.md). Such rungs
    stay *unbacked* (:func:`unbacked`).

    With ``skip_twins`` (the searches that skip near-twins as neighbours, :func:`skips_twins`): of
    two near-twin sizes both eligible at a bitrate, the one with fewer measurements within the
    ratio of it is not (a tie keeps both). Such a search measures the twin it does not favour
    once or not at all, and one point's offset, held along the whole corrected curve, can lift
    it above its twin's well-measured curve: a 768x576 surveillance title measured five times at
    768x576 and once at 720x540 got every rung at 720x540 (+24 %). Replayed on the three fold
    assignments (docs/model-guided.md, "A near-twin measured less does not hold a rung"):
    ``--verify 6`` 90th percentile +3.02 / +3.71 / +3.65 -> +3.01 / +3.36 / +3.24 %, the fast
    mode's mean 0.59 / 0.61 / 1.14 -> 0.61 / 0.55 / 1.06 %.

    ``ratio`` None (the ``--verify`` searches): EVIDENCE_RATIO below the bitrate and
    EVIDENCE_ABOVE above it; a given ratio is the window on both sides.

    With ``discount`` > 0 the eligible sizes come as a mapping to their handicaps
    (:data:`EXTRAPOLATION_DISCOUNT`, :func:`carried` with ``unmeasured``) for :func:`choose_ladder`."""
    below, above = (ratio, ratio) if ratio else (EVIDENCE_RATIO, EVIDENCE_ABOVE)
    rates: dict[tuple[int, int], list[float]] = {}
    for m in measured:
        rates.setdefault(_size(m), []).append(float(m["kbps"]))
    order = sorted(set(sizes), key=lambda s: (min(s), s)) if sizes else []

    def within(k: float, kbps: float) -> bool:
        return 1 / below <= k / kbps <= above

    def eligible(kbps: float) -> set[tuple[int, int]]:
        near = {s for s, ks in rates.items() if any(within(k, kbps) for k in ks)}
        if near and order:
            smallest = min(near, key=lambda s: (min(s), s))
            near |= {s for s in order if (min(s), s) < (min(smallest), smallest) and s not in rates}
        if skip_twins:
            count = {s: sum(within(k, kbps) for k in rates.get(s, ())) for s in near}
            near -= {a for a in near for b in near if a != b and _twins(a, b) and count[a] < count[b]}
        if discount > 0:
            return {s: discount * carried(rates.get(s, ()), kbps, unmeasured) for s in near}
        return near
    return eligible


def carried(rates: Sequence[float], kbps: float, unmeasured: float = UNMEASURED_RATIO) -> float:
    """How far a size's corrected curve at ``kbps`` is carried from its measurements (their
    bitrates ``rates``), in natural-log units: 0 inside their range, the log-ratio to the nearest
    end outside it; with none, as if measured ``unmeasured`` times away."""
    if not rates:
        return math.log(unmeasured)
    lo, hi = min(rates), max(rates)
    return math.log(lo / kbps) if kbps < lo else math.log(kbps / hi) if kbps > hi else 0.0


def unbacked(rungs: Sequence, measured: Sequence[dict], sizes: Sequence[tuple[int, int]]) -> list[int]:
    """Indices of rungs (documents' rung dicts or :class:`Rung`) whose size, or the next larger
    size, has no measurement backing a decision at the rung's bitrate."""
    order = sorted(set(sizes), key=lambda s: (min(s), s))
    rates: dict[tuple[int, int], list[float]] = {}
    for m in measured:
        rates.setdefault(_size(m), []).append(float(m["kbps"]))
    out = []
    for i, r in enumerate(rungs):
        w, h, k = (r["width"], r["height"], r["bitrate_kbps"]) if isinstance(r, dict) else (r.width, r.height, r.kbps)
        need = [(w, h)]
        if (w, h) in order and order.index((w, h)) + 1 < len(order):
            need.append(order[order.index((w, h)) + 1])
        if not all(backed(rates.get(s, []), float(k)) for s in need):
            out.append(i)
    return out


def ladder(rows: list[dict], measured: Sequence[dict], policy: LadderPolicy, ratio: float | None = None,
           skip_twins: bool = False, discount: float = 0.0):
    """The ladder of corrected rows, each rung's size chosen among the sizes measured near its
    bitrate (within ``ratio``, default EVIDENCE_RATIO) when there are any, and the never-measured
    sizes smaller than those (:func:`evidence_of`, with its near-twin rule when ``skip_twins``),
    each handicapped by ``discount`` points per log unit its curve is carried there."""
    return choose_ladder(curves_from_rows(rows, policy.quality_column), policy,
                         evidence_of(measured, ratio, sizes=sizes_in_order(rows), skip_twins=skip_twins,
                                     discount=discount)
                         if measured else None)


@dataclass
class SearchResult:
    rows: list[dict]                        # corrected rows: measured where measured
    measured: list[dict]                    # measured points, round by round, sorted in a round
    rounds: list[dict] = field(default_factory=list)
    stop: str = ""                          # converged / ceiling / exhausted
    spent: float = 0.0                      # cost units spent
    evidence_ratio: float | None = None     # the rule the search placed rungs by: the final ladder's too
    skip_twins: bool = False                # ditto (:func:`evidence_of`)
    discount: float = 0.0                   # the final ladder's handicap (EXTRAPOLATION_DISCOUNT)

    def to_dict(self) -> dict:
        return {"encodes": len(self.measured), "cost": round(self.spent, 3), "stop": self.stop,
                "rounds": self.rounds, "extrapolation_discount": self.discount}


def makespan(costs: Sequence[float], lanes: int = 1) -> float:
    """Wall time of a round whose points run on ``lanes`` parallel lanes, longest first, each to
    the first free lane (how the sweep's worker pool runs them when handed in that order)."""
    if lanes <= 1:
        return float(sum(costs))
    load = [0.0] * lanes
    for c in sorted(costs, reverse=True):
        i = load.index(min(load))
        load[i] += c
    return max(load)


VERIFY_ROUNDS = 2
"""``predict --verify N`` spends its N encodes in this many rounds (N=6: two rounds of three).
Three rounds of two, the rule before, re-planned more often but spent the first two rounds on the
top rungs: grouped CV of the 160 real windows, two fold assignments, ``--verify 6`` 90th
percentile +4.39 -> +3.70 % and +3.91 -> +3.28 % (one round of six: +3.21 % and +4.59 %)."""

FAST_LANES = 2
"""The fast mode plans each round for this many parallel lanes by default (``--fast-lanes``; not
``--jobs``: the points measured, hence the ladder, must not depend on the machine)."""

FAST_SHARE = 0.18     # the fast mode's default budget: this share of the exhaustive analysis' wall time
FAST_ROUNDS = 6       # its measurement rounds: re-plan after each (each round keeps every lane busy)
FAST_SUBSAMPLE = 3    # libvmaf n_subsample in fast mode: odd (even steps can bias the pooled score)
# (here, beside VERIFY_ROUNDS, so that the fast mode and its replay in ladders.evaluate share them)


def fast_ceiling(grid: Sequence[Point], ref_pixels: int, share: float, subsample: int,
                 lanes: int = FAST_LANES) -> tuple[float, float]:
    """The fast mode's budget for a grid: ``share`` of the exhaustive analysis' wall time on
    ``lanes`` lanes (it keeps them all busy), but never less than two of the grid's dearest
    points (a grid too small for the share to buy two: one size, few CRFs). Returns the ceiling
    and that exhaustive wall time, both in cost units."""
    full = exhaustive_cost(grid, ref_pixels) / max(1, lanes)
    dearest = max(point_cost(w, h, q, ref_pixels, subsample) for w, h, q in grid)
    return max(share * full, 2 * dearest), full


def search(rows: list[dict], measure: Measure, policy: LadderPolicy, ref_short: int, *,
           ceiling: float, cost: Callable[[Point], float] = lambda p: 1.0, rounds: int = 4,
           batch_min: int = 2, max_rounds: int = 16, lanes: int = 1,
           evidence_ratio: float | None = None, skip_twins: bool = False,
           discount: float = 0.0, check_native: bool = False) -> SearchResult:
    """Measure until the ladder's decisions are backed by measurements or ``ceiling`` is spent.
    Each round spends about an equal share of what is left over ``rounds`` rounds (at least
    ``batch_min`` points, so parallel jobs stay busy), in priority order. What a round spends is
    its wall time on ``lanes`` parallel lanes (:func:`makespan`; with one lane, its cost): with
    several, a round is then topped up with the next wanted points that fit beside its longest
    one without making the round longer (a lane would idle otherwise), and handed to ``measure``
    longest first. ``evidence_ratio``: the ladder planned each round places its rungs as
    :func:`ladder` with that ratio; the result carries it for the caller's final ladder.
    ``skip_twins``: a rung's neighbours are never its near-twins (:func:`skips_twins`), but with
    ``check_native`` the source's own size (the grid's largest when its short side is
    ``ref_short``) is the top rung's until it is measured (:func:`checks_native`).
    ``discount``: carried to the result for the caller's final ladder only (the rounds' ladders
    take no handicap: :data:`EXTRAPOLATION_DISCOUNT`)."""
    prior = [dict(r) for r in rows]
    done: dict[Point, dict] = {}
    order: list[dict] = []
    cur = prior
    spent = 0.0
    log: list[dict] = []
    stop = "rounds"
    grid = {_key(r) for r in prior}
    largest = sizes_in_order(prior)[-1] if prior else None
    native = largest if check_native and largest and min(largest) == ref_short else None
    for k in range(max_rounds):
        ok = {p: m for p, m in done.items() if not m.get("failed")}
        rungs = ladder(cur, list(ok.values()), policy, evidence_ratio, skip_twins).rungs
        want = pair_points(cur, rungs, ok, policy, skip_twins, native)
        top = rungs[-1]
        if not _backed((top.width, top.height), top.kbps, ok):
            want += _bracket(_by_size(cur).get((top.width, top.height), []), ok, policy)
        want = [p for p in _unique(want) if p in grid and p not in done]
        if not want:
            stop = "converged"
            break
        left = ceiling - spent
        share = left / max(1, rounds - k)
        batch: list[Point] = []
        costs: list[float] = []
        used = 0.0
        for p in want:      # in priority order: a cheaper point never jumps ahead of a needed one ...
            c = cost(p)
            wall = makespan(costs + [c], lanes)
            if wall > left + 1e-9:
                break
            if wall > share + 1e-9 and len(batch) >= batch_min:
                break
            batch.append(p)
            costs.append(c)
            used = wall
        if lanes > 1 and batch:
            # ... unless it costs no wall time: it fits beside the round's longest point (every point
            # before the one that stopped the loop above is in the batch)
            for p in want[len(batch):]:
                c = cost(p)
                if makespan(costs + [c], lanes) <= used + 1e-9:
                    batch.append(p)
                    costs.append(c)
        if not batch:
            stop = "ceiling"
            break
        spent += used
        run = sorted(zip(costs, batch), key=lambda cp: (-cp[0], cp[1]))
        got = {_key(r): r for r in measure([p for _, p in run])}
        for p in batch:          # results in the order asked, whatever order they came back in
            if p in got:
                done[p] = got[p]
                order.append(got[p])
            else:
                done[p] = {"failed": True}
        log.append({"round": len(log) + 1, "points": [list(p) for p in batch],
                    "measured": sum(p in got for p in batch)})
        cur = correct_rows(prior, [m for m in done.values() if not m.get("failed")], ref_short)
        if not any(p in got for p in batch):
            stop = "failed"
            break
    return SearchResult(cur, order, log, stop, spent, evidence_ratio, skip_twins, discount)
