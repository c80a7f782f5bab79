"""Per-resolution rate-quality curves and their envelope across resolutions (pure).

A :class:`Curve` is one resolution's non-dominated RD points, interpolated monotonically
(PCHIP) in log-rate. The :class:`Envelope` answers "at this bitrate, which resolution is best
and how good is it?" — the question every rung asks. Unlike the convex hull's chords, every
value it returns is achievable by one real encode at one resolution.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from .hull import NotEnoughPoints, RDPoint, pareto_front, upper_hull
from .pchip import Pchip


@dataclass
class Curve:
    width: int
    height: int
    kbps: np.ndarray                 # strictly increasing
    quality: np.ndarray              # strictly increasing (the policy's metric)
    columns: dict[str, np.ndarray] = field(default_factory=dict)  # other values at the same points

    def __post_init__(self) -> None:
        self.kbps = np.asarray(self.kbps, dtype=float)
        self.quality = np.asarray(self.quality, dtype=float)
        if len(self.kbps) == 0:
            raise NotEnoughPoints(f"no points at {self.width}x{self.height}")
        self._logk = np.log(self.kbps)
        self._pchip = (Pchip(self._logk, self.quality)
                       if len(self.kbps) >= 2 else None)

    @classmethod
    def from_points(cls, width: int, height: int, kbps: Sequence[float], quality: Sequence[float],
                    columns: Mapping[str, Sequence[float]] | None = None) -> Curve:
        """Build from raw points (any order, dominated ones dropped)."""
        cols = {k: list(v) for k, v in (columns or {}).items()}
        pts = [RDPoint(float(k), float(q), i) for i, (k, q) in enumerate(zip(kbps, quality))]
        front = pareto_front(pts)
        if not front:
            raise NotEnoughPoints(f"no valid points at {width}x{height}")
        idx = [p.label for p in front]
        return cls(width, height, [p.kbps for p in front], [p.quality for p in front],
                   {k: np.asarray([v[i] for i in idx], dtype=float) for k, v in cols.items()})

    @property
    def min_kbps(self) -> float:
        return float(self.kbps[0])

    @property
    def max_kbps(self) -> float:
        return float(self.kbps[-1])

    def quality_at(self, kbps: float, extrapolate: str = "flat") -> float:
        """Quality at ``kbps``. Inside the measured range: PCHIP in log-rate. Above it: flat
        (more bits, no assumed gain) or linear in log-rate ('linear'). Below it: NaN for
        'flat', linear in log-rate for 'linear'."""
        if kbps <= 0:
            return float("nan")
        x = math.log(kbps)
        if self._pchip is None:
            return float(self.quality[0]) if (extrapolate == "linear" or kbps >= self.min_kbps) else float("nan")
        if x < self._logk[0]:
            if extrapolate != "linear":
                return float("nan")
            slope = (self.quality[1] - self.quality[0]) / (self._logk[1] - self._logk[0])
            return float(max(0.0, self.quality[0] + slope * (x - self._logk[0])))
        if x > self._logk[-1]:
            if extrapolate != "linear":
                return float(self.quality[-1])
            slope = (self.quality[-1] - self.quality[-2]) / (self._logk[-1] - self._logk[-2])
            return float(min(100.0, self.quality[-1] + slope * (x - self._logk[-1])))
        return self._pchip.at(x)

    def value_at(self, column: str, kbps: float) -> float | None:
        """Another column (CRF, PSNR, ...) at ``kbps``: linear in log-rate, clamped to the ends."""
        vals = self.columns.get(column)
        if vals is None or np.all(np.isnan(vals)):
            return None
        ok = ~np.isnan(vals)
        return float(np.interp(math.log(kbps), self._logk[ok], vals[ok]))

    def kbps_for_quality(self, quality: float) -> float | None:
        """Smallest bitrate reaching ``quality`` inside the measured range, else None."""
        if quality > self.quality[-1] + 1e-9:
            return None
        if quality >= self.quality[-1]:
            return self.max_kbps
        if quality <= self.quality[0]:
            return self.min_kbps
        lo, hi = self._logk[0], self._logk[-1]
        for _ in range(60):
            mid = (lo + hi) / 2
            if self._pchip.at(mid) >= quality:
                hi = mid
            else:
                lo = mid
        return float(math.exp(hi))

    def points(self) -> list[RDPoint]:
        return [RDPoint(float(k), float(q), (self.width, self.height))
                for k, q in zip(self.kbps, self.quality)]


class Envelope:
    """Best single resolution at each bitrate, over a set of curves (one codec)."""

    def __init__(self, curves: Iterable[Curve]):
        self.curves = sorted(curves, key=lambda c: (c.height, c.width))
        if not self.curves:
            raise NotEnoughPoints("no curves")

    @property
    def min_kbps(self) -> float:
        return min(c.min_kbps for c in self.curves)

    @property
    def max_kbps(self) -> float:
        return max(c.max_kbps for c in self.curves)

    def best(self, kbps: float, max_height: int | None = None,
             sizes: set[tuple[int, int]] | Mapping[tuple[int, int], float] | None = None
             ) -> tuple[Curve | None, float]:
        """The best curve at ``kbps`` (among ``sizes`` if given, none taller than ``max_height``)
        and its quality there. ``sizes`` as a mapping gives each eligible size a handicap in
        quality points that counts in the choice only: the quality returned is the curve's own."""
        best_c, best_q, best_score = None, float("nan"), float("-inf")
        for c in self.curves:
            if max_height is not None and c.height > max_height:
                continue
            if sizes is not None and (c.width, c.height) not in sizes:
                continue
            q = c.quality_at(kbps)
            score = q - sizes[(c.width, c.height)] if isinstance(sizes, Mapping) else q
            if not math.isnan(score) and score > best_score + 1e-9:
                best_c, best_q, best_score = c, q, score
        return best_c, best_q

    def quality_at(self, kbps: float) -> float:
        return self.best(kbps)[1]

    def kbps_for_quality(self, quality: float) -> float | None:
        """Smallest bitrate at which some resolution reaches ``quality`` (None: none does)."""
        cands = [k for k in (c.kbps_for_quality(quality) for c in self.curves) if k is not None]
        return min(cands) if cands else None

    def hull(self) -> list[RDPoint]:
        return upper_hull(p for c in self.curves for p in c.points())

    def max_quality(self, max_kbps: float | None = None) -> float:
        k = self.max_kbps if max_kbps is None else min(max_kbps, self.max_kbps)
        return self.quality_at(k)


def true_quality(curves: Sequence[Curve], w: int, h: int, kbps: float) -> float:
    """The quality a (size, bitrate) really has on a title's measured curves: PCHIP inside the
    measured range, linear in log-rate below it, flat above it (the nearest height when the size
    was not measured)."""
    c = next((c for c in curves if (c.width, c.height) == (w, h)), None)
    if c is None:
        c = min(curves, key=lambda c: abs(c.height - h))
    if kbps > c.max_kbps:
        return float(c.quality[-1])
    return c.quality_at(kbps, extrapolate="linear")
