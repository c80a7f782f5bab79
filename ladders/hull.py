"""Pareto front and convex hull of rate-quality points (pure functions).

The hull is the upper concave envelope of (kbps, quality) in linear rate, taken after dropping
dominated points (a point that costs more bits for no more quality can never be on it; viser's
monotone chain keeps such a right-most point). One hull per codec: callers pass one codec's
points.
"""
from __future__ import annotations

import math
from collections.abc import Hashable, Iterable
from dataclasses import dataclass

from ..core.errors import LadderError


class NotEnoughPoints(LadderError):
    pass


@dataclass(frozen=True, order=True)
class RDPoint:
    kbps: float
    quality: float
    label: Hashable = None   # e.g. (height, crf); carried through untouched

    def valid(self) -> bool:
        return (math.isfinite(self.kbps) and math.isfinite(self.quality) and self.kbps > 0)


def pareto_front(points: Iterable[RDPoint]) -> list[RDPoint]:
    """Points not dominated by another (fewer or equal bits and more or equal quality).

    Returned by increasing kbps, with strictly increasing quality. Invalid points (NaN,
    non-positive rate) are ignored.
    """
    pts = sorted((p for p in points if p.valid()), key=lambda p: (p.kbps, -p.quality))
    front: list[RDPoint] = []
    for p in pts:
        if front and p.kbps == front[-1].kbps:
            continue  # same rate, lower (or equal) quality than the one kept
        if not front or p.quality > front[-1].quality:
            front.append(p)
    return front


def _cross(o: RDPoint, a: RDPoint, b: RDPoint) -> float:
    return (a.kbps - o.kbps) * (b.quality - o.quality) - (a.quality - o.quality) * (b.kbps - o.kbps)


def upper_hull(points: Iterable[RDPoint]) -> list[RDPoint]:
    """Upper concave envelope of the Pareto front, by increasing kbps.

    Every returned point is one of the inputs; kbps and quality both strictly increase; the
    slopes between consecutive points strictly decrease.
    """
    front = pareto_front(points)
    if not front:
        raise NotEnoughPoints("no valid rate-quality points")
    hull: list[RDPoint] = []
    for p in front:
        # Pop while the last turn is not strictly clockwise (i.e. the middle point lies on or
        # below the chord): it cannot be on a concave envelope.
        while len(hull) >= 2 and _cross(hull[-2], hull[-1], p) >= 0:
            hull.pop()
        hull.append(p)
    return hull


def hull_quality_at(hull: list[RDPoint], kbps: float) -> float:
    """Quality on the hull's piecewise-linear envelope (flat beyond the ends)."""
    if not hull:
        raise NotEnoughPoints("empty hull")
    if kbps <= hull[0].kbps:
        return hull[0].quality
    for a, b in zip(hull, hull[1:]):
        if kbps <= b.kbps:
            t = (kbps - a.kbps) / (b.kbps - a.kbps)
            return a.quality + t * (b.quality - a.quality)
    return hull[-1].quality
