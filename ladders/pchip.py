"""Monotone piecewise-cubic (PCHIP) interpolation in NumPy (pure).

The curves (:mod:`.curves`) and the BD-rate (:mod:`.bdrate`) need one thing from an
interpolator: a shape-preserving cubic through a few RD points, evaluated and integrated
exactly. This is the Fritsch-Carlson construction with Fritsch-Butland's weighted harmonic
mean for the slopes at interior points and a one-sided three-point slope at the ends, made
shape-preserving (the classic choice of MATLAB's and SciPy's ``pchip``). Written here so
that a command-line run does not import ``scipy.interpolate`` (about half a second) to
interpolate a handful of points. Outside the data range the value and the integral are NaN.
"""
from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence

import numpy as np


def _end_slope(h0: float, h1: float, d0: float, d1: float) -> float:
    """Slope at an end point from its two nearest intervals (widths h0, h1; secants d0, d1),
    kept of the first secant's sign and at most three times it when the secants change sign."""
    s = ((2.0 * h0 + h1) * d0 - h0 * d1) / (h0 + h1)
    if np.sign(s) != np.sign(d0):
        return 0.0
    if np.sign(d0) != np.sign(d1) and abs(s) > abs(3.0 * d0):
        return 3.0 * d0
    return float(s)


def slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The derivative at every knot."""
    h = np.diff(x)
    delta = np.diff(y) / h
    n = len(x)
    if n == 2:
        return np.array([delta[0], delta[0]], dtype=float)
    d = np.zeros(n)
    w1 = 2.0 * h[1:] + h[:-1]
    w2 = h[1:] + 2.0 * h[:-1]
    same = (np.sign(delta[:-1]) * np.sign(delta[1:])) > 0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        harm = (w1 + w2) / (w1 / delta[:-1] + w2 / delta[1:])
    d[1:-1] = np.where(same, harm, 0.0)
    d[0] = _end_slope(h[0], h[1], delta[0], delta[1])
    d[-1] = _end_slope(h[-1], h[-2], delta[-1], delta[-2])
    return d


class Pchip:
    """``Pchip(x, y)``: x strictly increasing (at least two knots), y finite. ``f(v)`` for a
    scalar or an array; ``f.integrate(a, b)``."""

    def __init__(self, x: Sequence[float], y: Sequence[float]):
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        if x.ndim != 1 or x.shape != y.shape or len(x) < 2:
            raise ValueError("PCHIP needs two 1-d arrays of the same length, at least 2")
        if not np.all(np.diff(x) > 0):
            raise ValueError("PCHIP needs strictly increasing x")
        if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
            raise ValueError("PCHIP needs finite values")
        self.x = x
        h = np.diff(x)
        delta = np.diff(y) / h
        d = slopes(x, y)
        # each interval as c0 + c1 t + c2 t^2 + c3 t^3, t = v - x[k]
        self.c = np.stack([y[:-1], d[:-1], (3.0 * delta - 2.0 * d[:-1] - d[1:]) / h,
                           (d[:-1] + d[1:] - 2.0 * delta) / h ** 2])
        # the same knots and coefficients as Python floats, for :meth:`at`
        self._xs = x.tolist()
        self._cs = self.c.T.tolist()

    def _interval(self, v: np.ndarray) -> np.ndarray:
        return np.clip(np.searchsorted(self.x, v, side="right") - 1, 0, len(self.x) - 2)

    def __call__(self, v):
        v = np.asarray(v, dtype=float)
        k = self._interval(v)
        t = v - self.x[k]
        c0, c1, c2, c3 = self.c[:, k]
        out = ((c3 * t + c2) * t + c1) * t + c0
        out = np.where((v < self.x[0]) | (v > self.x[-1]) | np.isnan(v), np.nan, out)
        return out[()] if out.ndim == 0 else out

    def at(self, v: float) -> float:
        """``f(v)`` for one number, in plain Python arithmetic: the same operations in the same
        order, so the same float, about twenty times faster than through NumPy for one value
        (a curve's inverse bisects with sixty of them)."""
        xs, v = self._xs, float(v)
        if not xs[0] <= v <= xs[-1]:          # NaN too
            return float("nan")
        k = min(max(bisect_right(xs, v) - 1, 0), len(xs) - 2)
        c0, c1, c2, c3 = self._cs[k]
        t = v - xs[k]
        return ((c3 * t + c2) * t + c1) * t + c0

    def _antiderivative(self, v: float) -> float:
        """Integral from x[0] to ``v`` (inside the range)."""
        k = int(self._interval(np.asarray(v)))
        c = self.c
        h = np.diff(self.x)[:k]
        whole = float(np.sum(((c[3, :k] * h / 4 + c[2, :k] / 3) * h + c[1, :k] / 2) * h * h + c[0, :k] * h))
        t = v - self.x[k]
        return whole + float(((c[3, k] * t / 4 + c[2, k] / 3) * t + c[1, k] / 2) * t * t + c[0, k] * t)

    def integrate(self, a: float, b: float) -> float:
        a, b = float(a), float(b)
        lo, hi = self.x[0], self.x[-1]
        if not (lo <= a <= hi and lo <= b <= hi):
            return float("nan")
        return self._antiderivative(b) - self._antiderivative(a)
