"""How far a rung is scaled down from the source's detail, in octaves (the models' size axis)."""
from __future__ import annotations

import numpy as np

ANAMORPHIC = 0.01   # rungs whose width differs from the source's stored columns (at its height) by more
SCALE_RULE = 2      # of log2_scale; 1 (before 2026-11-29): the short sides' ratio for every source


def log2_scale(width, height, ref_width, ref_height):
    """How far a rung is scaled down from the detail of the analysed frames, in octaves: log2 of
    the short sides' ratio. Rungs are square-pixel pictures at the display aspect, so an
    anamorphic source is stretched or squeezed horizontally to get them, and there the scale is
    the mean over the two axes of log2(rung / detail), an axis counting only where it shrinks, the
    detail across being the stored columns or the displayed width, whichever is fewer. With wide
    pixels (704x576 shown at 1024x576) the stretch adds no detail: the 1024x576 rung is the native
    size (0) and 768x432 loses only its height (-0.21, not the -0.42 of 432/576). With narrow
    pixels (512x480 shown at 480x480) the displayed width is the detail: 480x480 is native."""
    w, h = np.asarray(width, dtype=float), np.asarray(height, dtype=float)
    rw, rh = np.asarray(ref_width, dtype=float), np.asarray(ref_height, dtype=float)
    # never above native: within the square-pixel tolerance a nearly square frame's stretch can
    # make the rung's short side the other axis, a little longer than the source's (64x65 shown
    # at 64.5x65: +0.011); no rung holds more detail than the source (no table row is affected)
    short = np.minimum(np.log2(np.minimum(w, h) / np.minimum(rw, rh)), 0.0)
    shown = rh * w / h                      # the source's displayed width, at its own height
    detail = np.minimum(rw, shown)
    axes = 0.5 * (np.log2(np.minimum(w / detail, 1.0)) + np.log2(np.minimum(h / rh, 1.0)))
    # (the same as ``short`` for square pixels, up to the rounding of rung sizes to even numbers)
    return np.round(np.where(np.abs(shown - rw) > ANAMORPHIC * rw, axes, short), 12)


SIZE_FEATURES = ("ceil_vmaf", "ceil_drop")
"""Features measured per size rather than per title (``pipeline.predict.scaling_ceiling``: the
VMAF a size keeps when the frames are only scaled to it and back, and its drop from the largest
size's): a training row carries its own size's value in ``f_<name>``, a title's features dict
one entry per size, keyed :func:`size_key`."""


def size_key(name: str, width: int, height: int) -> str:
    return f"{name}@{int(width)}x{int(height)}"
