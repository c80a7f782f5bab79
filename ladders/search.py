"""A measurement search that decides the ladder from evidence, with a model only as its prior.

What decides a ladder's efficiency is, at each rung's bitrate, which size is best; the level of the
curves decides where the top rung sits. A model is decent at the level of a title's curves and weak
at their shape across sizes, so a search that only measures around the *predicted* rungs inherits
the prior's mistakes: if the prior puts a rung one size too small, the larger size that wins is
never measured. This search instead:

1. **shape first**: where the prior puts each crossover between adjacent sizes (inside the ladder's
   bitrate range), it measures both sizes at that bitrate, and the top size near the top rung;
2. **rungs**: the curves are corrected by what was measured (:func:`correct_rows`), the ladder is
   re-planned, and every rung must then have been measured *at its own size and at the next larger
   size* near its bitrate (the closest grid CRF, or a measured point within a quarter of a CRF step's
   rate ratio); the top rung must be bracketed (measured points of its size on both sides of the
   target quality, unless the target is out of reach);
3. it repeats 2 until every rung is backed by measurements (``converged``) or the budget is spent
   (``ceiling``); each round measures all the missing points at once (parallel), top rung first.

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
# Cost of a point, in units of one full-frame VMAF measurement at the reference size: encoding at
# the reference size costs about 1.7 of those with x264 medium (measured on the corpus sweeps:
# 720p 2.97 s vs 2.2 s, 540p 1.99 vs 1.0, 480p 1.09 vs 0.5); smaller sizes cost their pixel share,
# a measurement on every n-th frame about 1/n.
ENCODE_WEIGHT = 1.7


def point_cost(width: int, height: int, ref_pixels: int, subsample: int = 1) -> float:
    return ENCODE_WEIGHT * width * height / ref_pixels + 1.0 / subsample


def exhaustive_cost(sizes: Sequence[tuple[int, int]], ref_pixels: int) -> float:
    """The cost of measuring every (size, CRF) of a grid (one entry per grid point) in full."""
    return sum(point_cost(w, h, ref_pixels) for w, h in sizes)


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


def shape_points(rows: list[dict], rungs: Sequence[Rung], policy: LadderPolicy) -> list[Point]:
    """Where the prior puts each crossover of adjacent sizes inside the ladder's bitrate range:
    both sizes at that bitrate (whether the larger one overtakes there is what the ladder hangs
    on); then the top rung's size at the top rung's bitrate."""
    curves = {(c.width, c.height): c for c in curves_from_rows(rows, policy.quality_column)}
    by = _by_size(rows)
    sizes = [s for s in sizes_in_order(rows) if s in curves]
    lo, hi = rungs[0].kbps / 1.5, rungs[-1].kbps * 1.2
    pts: list[Point] = []
    top = (rungs[-1].width, rungs[-1].height)
    pts.append((top[0], top[1], nearest_crf(by[top], rungs[-1].kbps)))
    for a, b in zip(sizes, sizes[1:]):
        ca, cb = curves[a], curves[b]
        grid = np.exp(np.linspace(math.log(max(lo, 1.0)), math.log(max(hi, lo * 1.01)), 48))
        diff = [cb.quality_at(k, extrapolate="linear") - ca.quality_at(k, extrapolate="linear") for k in grid]
        x = None
        for k0, k1, d0, d1 in zip(grid, grid[1:], diff, diff[1:]):
            if d0 <= 0 < d1 or d0 < 0 <= d1:
                x = math.exp(math.log(k0) + (math.log(k1) - math.log(k0)) * (-d0) / (d1 - d0))
                break
        if x is None:
            continue  # one of the two wins over the whole range: no crossover to place
        pts += [(a[0], a[1], nearest_crf(by[a], x)), (b[0], b[1], nearest_crf(by[b], x))]
    return _unique(pts)


def rung_points(rows: list[dict], rungs: Sequence[Rung], measured: dict[Point, dict],
                policy: LadderPolicy, margin: float = 3.0) -> list[Point]:
    """What the current ladder still lacks: each rung's own size and the next larger size measured
    near its bitrate, the next smaller size too when the curves rate it within ``margin`` VMAF of
    the rung's; the top rung's target bracketed by measured points of its size. The top rung comes
    first (it sets the level), then the rungs whose decision is closest (smallest margin)."""
    by = _by_size(rows)
    sizes = sizes_in_order(rows)
    curves = {(c.width, c.height): c for c in curves_from_rows(rows, policy.quality_column)}
    first: list[Point] = []
    ranked: list[tuple[float, int, Point]] = []
    for i, rung in enumerate(reversed(rungs)):
        own = (rung.width, rung.height)
        if own not in by:
            continue
        j = sizes.index(own)
        mine = curves[own].quality_at(rung.kbps, extrapolate="linear") if own in curves else rung.quality
        cands: list[tuple[tuple[int, int], float]] = [(own, 0.0)]
        if j < len(sizes) - 1:
            big = sizes[j + 1]
            q = curves[big].quality_at(rung.kbps, extrapolate="linear") if big in curves else mine
            cands.append((big, abs(mine - q)))
        if j > 0:
            small = sizes[j - 1]
            q = curves[small].quality_at(rung.kbps, extrapolate="linear") if small in curves else -1e9
            if mine - q < margin:
                cands.append((small, abs(mine - q)))
        closest = min((m for _, m in cands[1:]), default=margin)
        for s, m in cands:
            if s in by and not _backed(s, rung.kbps, measured):
                p = (s[0], s[1], nearest_crf(by[s], rung.kbps))
                if i == 0:
                    first.append(p)
                else:
                    ranked.append((closest, i, p))
        if i == 0:
            first += _bracket(by[own], measured, policy)
    ranked.sort(key=lambda t: (t[0], t[1]))
    return _unique(first + [p for _, _, p in ranked])


def pair_points(rows: list[dict], rungs: Sequence[Rung], measured: dict[Point, dict],
                policy: LadderPolicy, larger: bool = True) -> list[Point]:
    """A rung's efficiency hangs on one decision, which size is best at its bitrate: first, for
    every rung from the top down, its own size and its closest rival (the neighbouring size the
    curves rate nearest to it there) at the rung's bitrate; then the other neighbour, and the own
    size one grid step either side (the local slope). Points already backed are skipped."""
    by = _by_size(rows)
    sizes = sizes_in_order(rows)
    curves = {(c.width, c.height): c for c in curves_from_rows(rows, policy.quality_column)}
    first: list[Point] = []
    second: list[Point] = []
    for rung in reversed(rungs):
        own = (rung.width, rung.height)
        if own not in by:
            continue
        j = sizes.index(own)
        rivals = [sizes[k] for k in (j - 1, j + 1) if 0 <= k < len(sizes) and sizes[k] in curves]
        if own in curves and rivals:
            mine = curves[own].quality_at(rung.kbps, extrapolate="linear")
            rivals.sort(key=lambda z: (abs(curves[z].quality_at(rung.kbps, extrapolate="linear") - mine), z))
        tier1 = [own] + rivals[:1]
        if larger and j + 1 < len(sizes) and sizes[j + 1] not in tier1:
            tier1.append(sizes[j + 1])     # the next larger size is always checked (see module doc)
        for size in [own] + rivals:
            if _backed(size, rung.kbps, measured):
                continue
            (first if size in tier1 else second).append((size[0], size[1], nearest_crf(by[size], rung.kbps)))
        grid = [r["crf"] for r in by[own]]
        c = nearest_crf(by[own], rung.kbps)
        k = grid.index(c)
        second += [(own[0], own[1], grid[m]) for m in (k - 1, k + 1) if 0 <= m < len(grid)]
    return _unique(first + second)


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


def evidence_of(measured: Sequence[dict]) -> Callable[[float], set[tuple[int, int]]]:
    """``kbps -> sizes whose measurements back a decision there``: for :func:`choose_ladder`."""
    rates: dict[tuple[int, int], list[float]] = {}
    for m in measured:
        rates.setdefault(_size(m), []).append(float(m["kbps"]))

    def sizes(kbps: float) -> set[tuple[int, int]]:
        return {s for s, ks in rates.items() if backed(ks, kbps)}
    return sizes


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


def ladder(rows: list[dict], measured: Sequence[dict], policy: LadderPolicy):
    """The ladder of corrected rows, each rung's size chosen among the sizes measured near its
    bitrate when there are any."""
    return choose_ladder(curves_from_rows(rows, policy.quality_column), policy,
                         evidence_of(measured) if measured else None)


@dataclass
class SearchResult:
    rows: list[dict]                        # corrected rows: measured where measured
    measured: list[dict]                    # measured points, round by round, sorted in a round
    rounds: list[dict] = field(default_factory=list)
    stop: str = ""                          # converged / ceiling / exhausted
    spent: float = 0.0                      # cost units spent

    def to_dict(self) -> dict:
        return {"encodes": len(self.measured), "cost": round(self.spent, 3), "stop": self.stop,
                "rounds": self.rounds}


def search(rows: list[dict], measure: Measure, policy: LadderPolicy, ref_short: int, *,
           ceiling: float, cost: Callable[[Point], float] = lambda p: 1.0, strategy: str = "pairs",
           rounds: int = 4, batch_min: int = 2, max_rounds: int = 16, larger: bool = True) -> SearchResult:
    """Measure until the ladder's decisions are backed by measurements or ``ceiling`` cost units
    are spent. ``strategy``: "pairs" (each rung's size and its closest rival, re-planned every
    round) or "shape" (the prior's crossovers first, then every rung's size and the next larger).
    Each round spends about an equal share of what is left over ``rounds`` rounds (at least
    ``batch_min`` points, so parallel jobs stay busy)."""
    prior = [dict(r) for r in rows]
    done: dict[Point, dict] = {}
    order: list[dict] = []
    cur = prior
    spent = 0.0
    log: list[dict] = []
    stop = "rounds"
    grid = {_key(r) for r in prior}
    for k in range(max_rounds):
        ok = {p: m for p, m in done.items() if not m.get("failed")}
        rungs = ladder(cur, list(ok.values()), policy).rungs
        if strategy == "shape" and k == 0:
            reason, want = "shape", shape_points(cur, rungs, policy)
        elif strategy == "shape":
            reason, want = "rungs", rung_points(cur, rungs, ok, policy)
        else:
            reason, want = "pairs", pair_points(cur, rungs, ok, policy, larger)
            want += [p for p in _bracket(_by_size(cur).get((rungs[-1].width, rungs[-1].height), []), ok, policy)]
        want = [p for p in _unique(want) if p in grid and p not in done]
        if not want:
            stop = "converged"
            break
        left = ceiling - spent
        share = left / max(1, rounds - k) if strategy == "pairs" else left
        batch: list[Point] = []
        used = 0.0
        for p in want:
            c = cost(p)
            if used + c > left + 1e-9:
                continue
            if used + c > share + 1e-9 and len(batch) >= batch_min:
                break
            batch.append(p)
            used += c
        if not batch:
            stop = "ceiling"
            break
        spent += used
        got = {_key(r): r for r in measure(batch)}
        for p in batch:          # results in the order asked, whatever order they came back in
            if p in got:
                done[p] = got[p]
                order.append(got[p])
            else:
                done[p] = {"failed": True}
        log.append({"round": len(log) + 1, "reason": reason, "points": [list(p) for p in batch],
                    "measured": sum(p in got for p in batch)})
        cur = correct_rows(prior, [m for m in done.values() if not m.get("failed")], ref_short)
        if not any(p in got for p in batch):
            stop = "failed"
            break
    return SearchResult(cur, order, log, stop, spent)
