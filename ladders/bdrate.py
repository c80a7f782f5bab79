"""Bjøntegaard-delta rate (pure).

Log-rate as a monotone (PCHIP) function of quality for each curve, integrated over the
overlapping quality range; the result is the average bitrate difference of ``test`` against
``anchor`` at equal quality, in percent (negative: ``test`` needs fewer bits).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np

from ..core.errors import LadderError
from .hull import RDPoint, pareto_front
from .pchip import Pchip


class BDRateError(LadderError):
    pass


class NoOverlap(BDRateError):
    pass


def _as_points(curve: Iterable) -> list[RDPoint]:
    pts = []
    for p in curve:
        if isinstance(p, RDPoint):
            pts.append(p)
        else:
            kbps, q = p[0], p[1]
            pts.append(RDPoint(float(kbps), float(q)))
    return pts


def _front_xy(points: Sequence[RDPoint]) -> tuple[np.ndarray, np.ndarray]:
    """Quality and log10 rate of a curve's non-dominated points, by quality."""
    front = pareto_front(points)
    if len(front) < 2:
        raise BDRateError(f"a curve needs at least 2 non-dominated points, got {len(front)}")
    return np.array([p.quality for p in front]), np.log10([p.kbps for p in front])


def quality_overlap(anchor: Iterable, test: Iterable) -> tuple[float, float]:
    a = pareto_front(_as_points(anchor))
    t = pareto_front(_as_points(test))
    if not a or not t:
        raise BDRateError("empty curve")
    lo = max(a[0].quality, t[0].quality)
    hi = min(a[-1].quality, t[-1].quality)
    return lo, hi


FLOOR_SAMPLES = 201   # qualities at which a cut or piecewise-linear log-rate is integrated (trapezoids)


def bd_rate(anchor: Iterable, test: Iterable, min_overlap: float = 0.0,
            floor: Callable[[float], float | None] | None = None, linear: bool = False) -> float:
    """BD-rate of ``test`` against ``anchor`` in percent.

    Curves are iterables of :class:`RDPoint` or ``(kbps, quality)`` pairs, in any order;
    dominated points are dropped first. Raises :class:`NoOverlap` when the quality ranges
    overlap by less than ``min_overlap`` (or not at all).

    ``linear``: straight lines in log-rate between the points instead of PCHIP. ``floor``:
    quality -> the least bitrate any encode of the title needs for it (None: none reaches it);
    both interpolated curves are cut at it before integrating. Both are for comparing two
    ladders' rungs (:func:`pertitle.ladders.fixed.compare`), not curves.
    """
    a_pts, t_pts = _as_points(anchor), _as_points(test)
    (qa, ra), (qt, rt) = _front_xy(a_pts), _front_xy(t_pts)
    lo, hi = quality_overlap(a_pts, t_pts)
    if hi <= lo or hi - lo < min_overlap:
        raise NoOverlap(f"quality ranges do not overlap enough ({lo:.2f}..{hi:.2f})")
    if floor is None and not linear:
        fa, ft = Pchip(qa, ra), Pchip(qt, rt)
        avg = (float(ft.integrate(lo, hi)) - float(fa.integrate(lo, hi))) / (hi - lo)
        return (10.0 ** avg - 1.0) * 100.0
    q = np.linspace(lo, hi, FLOOR_SAMPLES)
    if linear:
        ya, yt = np.interp(q, qa, ra), np.interp(q, qt, rt)
    else:
        ya, yt = Pchip(qa, ra)(q), Pchip(qt, rt)(q)
    if floor is not None:
        # where no encode reaches the quality there is nothing to cut at
        least = np.array([_log10_or_nan(floor(float(v))) for v in q])
        ya, yt = np.fmax(ya, least), np.fmax(yt, least)
    d = np.asarray(yt, dtype=float) - np.asarray(ya, dtype=float)
    avg = float(np.sum((d[1:] + d[:-1]) * np.diff(q)) / 2.0) / (hi - lo)
    return (10.0 ** avg - 1.0) * 100.0


def _log10_or_nan(kbps: float | None) -> float:
    return float(np.log10(kbps)) if kbps is not None and kbps > 0 else float("nan")
