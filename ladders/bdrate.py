"""Bjøntegaard-delta rate (pure).

Log-rate as a monotone (PCHIP) function of quality for each curve, integrated over the
overlapping quality range; the result is the average bitrate difference of ``test`` against
``anchor`` at equal quality, in percent (negative: ``test`` needs fewer bits).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

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


def _log_rate_of_quality(points: Sequence[RDPoint]) -> Pchip:
    front = pareto_front(points)
    if len(front) < 2:
        raise BDRateError(f"a curve needs at least 2 non-dominated points, got {len(front)}")
    q = np.array([p.quality for p in front])
    r = np.log10([p.kbps for p in front])
    return Pchip(q, r)


def quality_overlap(anchor: Iterable, test: Iterable) -> tuple[float, float]:
    a = pareto_front(_as_points(anchor))
    t = pareto_front(_as_points(test))
    if not a or not t:
        raise BDRateError("empty curve")
    lo = max(a[0].quality, t[0].quality)
    hi = min(a[-1].quality, t[-1].quality)
    return lo, hi


def bd_rate(anchor: Iterable, test: Iterable, min_overlap: float = 0.0) -> float:
    """BD-rate of ``test`` against ``anchor`` in percent.

    Curves are iterables of :class:`RDPoint` or ``(kbps, quality)`` pairs, in any order;
    dominated points are dropped first. Raises :class:`NoOverlap` when the quality ranges
    overlap by less than ``min_overlap`` (or not at all).
    """
    a_pts, t_pts = _as_points(anchor), _as_points(test)
    fa, ft = _log_rate_of_quality(a_pts), _log_rate_of_quality(t_pts)
    lo, hi = quality_overlap(a_pts, t_pts)
    if hi <= lo or hi - lo < min_overlap:
        raise NoOverlap(f"quality ranges do not overlap enough ({lo:.2f}..{hi:.2f})")
    avg = (float(ft.integrate(lo, hi)) - float(fa.integrate(lo, hi))) / (hi - lo)
    return (10.0 ** avg - 1.0) * 100.0
