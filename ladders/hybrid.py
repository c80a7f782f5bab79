"""Hybrid prediction: spend a few real encodes where the predicted ladder is most sensitive.

The model is good at the level of a title's curves and weak at their *shape* across sizes
(where one size overtakes the next) — and the ladder's efficiency is all about that shape.
So the encodes go to the rungs' neighbourhoods: each rung's predicted size at the CRF that
gives the rung's bitrate, then the neighbouring sizes at the same bitrate (do they beat it?).
Measured points replace predicted ones; the other predictions of a measured size are shifted
by the measured offsets (interpolated in CRF), and unmeasured sizes borrow the offsets of the
nearest measured sizes. Rounds: half the budget, re-plan the ladder, the other half.

Everything here is pure: ``measure(points)`` is given by the caller (real encodes in
``predict --verify``, the title's measured rows in cross-validation).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from .document import curves_from_rows
from .model import logit_to_vmaf, monotone_rows, vmaf_to_logit
from .policy import LadderPolicy, Rung, choose_ladder

Point = tuple[int, int, float]                 # (width, height, crf)
Measure = Callable[[list[Point]], list[dict]]  # -> rows with width, height, crf, kbps, vmaf_mean


def _size_key(r) -> tuple[int, int]:
    return (int(r["width"]), int(r["height"]))


def _crf_for_rate(rows: list[dict], size: tuple[int, int], kbps: float) -> float | None:
    same = sorted((r for r in rows if _size_key(r) == size), key=lambda r: r["crf"])
    if not same:
        return None
    return float(min(same, key=lambda r: abs(math.log(r["kbps"] / kbps)))["crf"])


def plan_points(rows: list[dict], rungs: Sequence[Rung], n: int, done: set[Point],
                quality_column: str = "vmaf_mean") -> list[Point]:
    """Up to ``n`` new grid points. A rung's efficiency hangs on one decision — which size is
    best at its bitrate — so each rung first gets a pair: its own size at the rung bitrate, and
    its closest competitor at the same bitrate (the neighbouring size, smaller or larger, that
    the current curves rate nearest to it), from the top rung down. Once every pair is measured
    (short ladders), the rest of the budget goes to the other neighbour at the rung bitrate and
    to the rung's own size one grid step either side (the local slope of its curve)."""
    sizes = sorted({_size_key(r) for r in rows}, key=lambda s: (min(s), s))
    curves = {(c.width, c.height): c for c in curves_from_rows(rows, quality_column)}
    grid = sorted({float(r["crf"]) for r in rows})
    first: list[Point] = []
    second: list[Point] = []
    for rung in reversed(rungs):
        own = (rung.width, rung.height)
        pair, rest = [own], []
        if own in sizes:
            i = sizes.index(own)
            rivals = [sizes[j] for j in (i - 1, i + 1) if 0 <= j < len(sizes) and sizes[j] in curves]
            if rivals and own in curves:
                mine = curves[own].quality_at(rung.kbps, extrapolate="linear")
                rivals.sort(key=lambda z: abs(curves[z].quality_at(rung.kbps, extrapolate="linear") - mine))
                pair.append(rivals[0])
                rest = rivals[1:]
        for size in pair:
            crf = _crf_for_rate(rows, size, rung.kbps)
            if crf is not None:
                first.append((size[0], size[1], crf))
        crf = _crf_for_rate(rows, own, rung.kbps)
        if crf is not None and crf in grid:
            k = grid.index(crf)
            second += [(own[0], own[1], grid[j]) for j in (k - 1, k + 1) if 0 <= j < len(grid)]
        for size in rest:
            c2 = _crf_for_rate(rows, size, rung.kbps)
            if c2 is not None:
                second.append((size[0], size[1], c2))
    picks: list[Point] = []
    for p in first + second:
        if len(picks) >= n:
            break
        if p not in done and p not in picks:
            picks.append(p)
    return picks


def correct_rows(rows: list[dict], measured: Sequence[dict], ref_short: int) -> list[dict]:
    """Predicted rows made consistent with measured ones (see the module docstring)."""
    if not measured:
        return rows
    exact = {(int(m["width"]), int(m["height"]), float(m["crf"])): m for m in measured}
    # offsets at the measured points, by size
    offsets: dict[tuple[int, int], list[tuple[float, float, float]]] = {}
    pred = {(int(r["width"]), int(r["height"]), float(r["crf"])): r for r in rows}
    for key, m in exact.items():
        p = pred.get(key)
        if p is None:
            continue
        offsets.setdefault(key[:2], []).append(
            (key[2], math.log(m["kbps"] / p["kbps"]),
             float(vmaf_to_logit(m["vmaf_mean"]) - vmaf_to_logit(p["vmaf_mean"]))))
    if not offsets:
        return rows

    def size_offset(size: tuple[int, int], crf: float) -> tuple[float, float]:
        pts = sorted(offsets[size])
        xs = [p[0] for p in pts]
        return (float(np.interp(crf, xs, [p[1] for p in pts])), float(np.interp(crf, xs, [p[2] for p in pts])))

    measured_sizes = sorted(offsets, key=lambda s: math.log2(min(s) / ref_short))
    scales = [math.log2(min(s) / ref_short) for s in measured_sizes]
    out = []
    for r in rows:
        key = (int(r["width"]), int(r["height"]), float(r["crf"]))
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
        out.append({**r, "kbps": r["kbps"] * math.exp(dr), "vmaf_mean": float(np.clip(q, 0, 100))})
    return monotone_rows(out)


def refine(rows: list[dict], measure: Measure, n: int, policy: LadderPolicy, ref_short: int,
           rounds: int = 2) -> tuple[list[dict], list[dict]]:
    """Spend at most ``n`` measurements; returns (corrected rows, measured rows)."""
    measured: list[dict] = []
    done: set[Point] = set()
    cur = rows
    budget = n
    for k in range(rounds):
        if budget <= 0:
            break
        take = budget if k == rounds - 1 else max(1, math.ceil(budget / (rounds - k)))
        rungs = choose_ladder(curves_from_rows(cur, policy.quality_column), policy).rungs
        pts = plan_points(cur, rungs, take, done, policy.quality_column)
        if not pts:
            break
        got = measure(pts)
        done.update(pts)
        measured.extend(got)
        budget -= len(pts)
        cur = correct_rows(rows, measured, ref_short)
    return cur, measured
