"""Fixed reference ladders, and how a per-title ladder compares with one (pure).

A fixed ladder is evaluated on the title's own measured curves: each fixed rung's quality is
read off the curve of its resolution at its bitrate. Outside a curve's measured range the value
is extrapolated linearly in log-rate (capped at 100) and flagged, so the comparison never
silently favours either side.

The BD-rate between the two ladders joins each ladder's rungs by straight lines in log-rate
(not the PCHIP of the BD-rates between curves elsewhere) and cuts them at the title's envelope
(the least bitrate any of its sizes needs for a quality). A ladder is a few operating points,
not a curve: between two rungs a player gets one or the other, and the line between them is the
most either ladder can be credited with there. A cubic through two or three unevenly spaced
fixed rungs bends far past that line, even below what the title's own encodes reach (a 640x360
title: 416x234@145 kbps, 640x360@365 and @730 put VMAF 89 at 167 kbps where no size of it gets
there under 178), and credits the fixed ladder for a gap it leaves. Measured on the exhaustive
ladders of the 160 training windows (123 overlap the fixed ladder by a point of VMAF or more;
``python bench/fixed_comparison.py samples/training_dataset.csv``, 2026-12-03): with PCHIP, 18
came out worse than the fixed ladder (up to +11.7 %; most of them 640x360 sources, where the
fixed ladder has three rungs), though at every fixed rung's own quality their envelope needed
fewer bits; with PCHIP cut at the envelope, 13 (up to +2.2 %); with lines, cut at the envelope
or not, none (the least saving 2.0 % uncut, 1.6 % cut), median -12.8 %.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .bdrate import BDRateError, bd_rate
from .curves import Curve, Envelope

# Apple HLS Authoring Specification for Apple Devices, H.264 16:9 ladder (kbps).
APPLE_HLS_H264 = (
    (416, 234, 145), (640, 360, 365), (768, 432, 730), (768, 432, 1100), (960, 540, 2000),
    (1280, 720, 3000), (1280, 720, 4500), (1920, 1080, 6000), (1920, 1080, 7800),
)

FIXED_LADDERS = {"apple-hls-h264": APPLE_HLS_H264}


@dataclass(frozen=True)
class FixedRungEval:
    width: int            # as the fixed ladder names it (16:9), turned upright for a portrait source
    height: int
    kbps: float
    quality: float
    measured_height: int  # the height of the curve it was read from
    extrapolated: bool


def clip_to_source(ladder, source_size: tuple[int, int]):
    """The fixed rungs a service would encode for a source of ``source_size`` (as displayed):
    every rung whose short side is up to the source's, and the first rung above it at the
    source's own size (a service does not upscale, but it does send its top rung at native
    resolution). A portrait source gets the landscape ladder turned upright (234x416 for
    416x234)."""
    sw, sh = int(source_size[0]), int(source_size[1])
    short = min(sw, sh)
    rungs = [tuple(r) for r in ladder if r[1] <= short]
    if sh > sw:
        rungs = [(h, w, k) for w, h, k in rungs]
    above = sorted((r for r in ladder if r[1] > short), key=lambda r: (r[1], r[2]))
    if above:
        rungs.append((sw, sh, above[0][2]))
    return rungs


def _short(c: Curve) -> int:
    return min(c.width, c.height)


def evaluate_fixed(curves: list[Curve], ladder, source_size: tuple[int, int]) -> list[FixedRungEval]:
    """Each fixed rung's quality on the title's curves: read off the curve whose short side is the
    rung's, else the nearest below it (or the smallest). By the short side, not the height: a
    portrait title's 360x640 curve is the one a 640x360 rung turned upright is encoded at (by
    height, it was read off the 234x416 curve and extrapolated far beyond it)."""
    by_s = sorted(curves, key=_short)
    out = []
    for w, h, kbps in clip_to_source(ladder, source_size):
        s = min(w, h)
        cands = [c for c in by_s if _short(c) <= s] or by_s[:1]
        c = min(cands, key=lambda c: abs(_short(c) - s))
        q = c.quality_at(kbps, extrapolate="linear")
        extrap = not (c.min_kbps <= kbps <= c.max_kbps)
        out.append(FixedRungEval(w, h, float(kbps), float(q), c.height, extrap))
    return out


def compare(curves: list[Curve], rungs: list[tuple[float, float]], ladder, source_size: tuple[int, int],
            name: str = "apple-hls-h264") -> dict:
    """Savings of a per-title ladder (``rungs``: (kbps, quality)) against a fixed ladder, for a
    source of ``source_size`` (as displayed)."""
    fixed = evaluate_fixed(curves, ladder, source_size)
    env = Envelope(curves)
    result: dict = {
        "name": name,
        "rungs": [{"width": f.width, "height": f.height, "bitrate_kbps": f.kbps,
                   "quality": round(f.quality, 3), "measured_height": f.measured_height,
                   "extrapolated": f.extrapolated} for f in fixed],
    }
    fixed_pts = [(f.kbps, f.quality) for f in fixed if not math.isnan(f.quality)]
    try:
        result["bd_rate_pct"] = round(bd_rate(fixed_pts, rungs, min_overlap=1.0, floor=env.kbps_for_quality,
                                             linear=True), 3)
    except BDRateError as exc:
        result["bd_rate_pct"] = None
        result["bd_rate_note"] = str(exc)
    result["bd_rate_method"] = "straight lines in log-rate between each ladder's rungs, cut at the title's envelope"
    # The fixed ladder's top-rung quality (capped at the best our curves reach: above that
    # the difference is extrapolation, not measurement), for how many bits?
    top = max(fixed, key=lambda f: f.kbps)
    q_ref = min(top.quality, env.max_quality())
    need = env.kbps_for_quality(q_ref)
    result["top_rung"] = {
        "fixed_kbps": top.kbps, "fixed_quality": round(top.quality, 3),
        "compared_at_quality": round(q_ref, 3),
        "per_title_kbps_same_quality": round(need, 1) if need else None,
        "saving_pct": round(100 * (1 - need / top.kbps), 2) if need else None,
    }
    result["total_kbps"] = {"fixed": round(sum(f.kbps for f in fixed), 1),
                            "per_title": round(sum(k for k, _ in rungs), 1)}
    return result
