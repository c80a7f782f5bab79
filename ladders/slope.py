"""A one-rung prior's bitrate slope in CRF, taken from the in-memory native probe.

Content flat enough that its whole ladder is one rung (a microscopy timelapse, a dark film
scene, screen content) has that rung near the top of the native size's curve: at VMAF 95, or at
the grid's lowest CRF when even that is below the rungs' floor. The models anchor the rate at
the probe encode's CRF 23, and their slope from there varies far less between titles than the
truth does (held-out standard deviation 0.011 against 0.027 per CRF step). On the flattest
titles they overestimate the CRF-16 rate by 1.7x while agreeing with the truth within 5 % at
CRF 25. The in-memory native probe (x264 medium at CRF 20 and 28 on crops of the title, a
feature of every title) measures the slope. Applied to every size alike and only where the
prior's own ladder has one rung, it cannot change where sizes cross in a ladder of several rungs:
given to every ladder, the native slope on every size moved the crossovers of screen content
(``docs/model-guided.md``, "The bitrate's slope in CRF").
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from .document import curves_from_rows
from .model import monotone_rows
from .policy import LadderPolicy, choose_ladder

PIVOT_CRF = 23.0          # the probe encode's CRF: where the models' rate level is anchored
PROBE_CRFS = (20, 28)     # the in-memory native probe's CRFs (features nat_crf20_*, nat_crf28_*)
SLOPE_SPAN = (16.0, 28.0)  # the native rows' CRFs the predicted slope is read between


def probe_slope(features: Mapping[str, float]) -> float | None:
    """The in-memory native probe's log-rate drop per CRF step, or None when it is missing
    (features named as the title's features are, or with the table's ``f_`` prefix)."""
    def get(name: str) -> float:
        v = features.get(name, features.get(f"f_{name}", math.nan))
        try:
            return float(v)
        except (TypeError, ValueError):
            return math.nan
    lo, hi = (get(f"nat_crf{c}_log_bpp") for c in PROBE_CRFS)
    s = (lo - hi) / (PROBE_CRFS[1] - PROBE_CRFS[0])
    return s if math.isfinite(s) and s > 0 else None


def row_slope(rows: Sequence[dict], size: tuple[int, int]) -> float | None:
    """The rows' log-rate drop per CRF step at ``size``, between the lowest CRF of
    :data:`SLOPE_SPAN` and the highest in it that the rows have."""
    at = {float(r["crf"]): float(r["kbps"]) for r in rows if (r["width"], r["height"]) == tuple(size)}
    crfs = sorted(c for c in at if SLOPE_SPAN[0] <= c <= SLOPE_SPAN[1])
    if len(crfs) < 2 or min(at[crfs[0]], at[crfs[-1]]) <= 0:
        return None
    return (math.log(at[crfs[0]]) - math.log(at[crfs[-1]])) / (crfs[-1] - crfs[0])


def one_rung_factors(rows: Sequence[dict], features: Mapping[str, float], policy: LadderPolicy,
                     ref_size: tuple[int, int]) -> dict[float, float] | None:
    """Per CRF, the factor that gives the native size's rows the probe's slope (pivoting at
    :data:`PIVOT_CRF`), when ``rows`` make a one-rung ladder; else None (nothing to change)."""
    measured = probe_slope(features)
    predicted = row_slope(rows, ref_size)
    if measured is None or predicted is None:
        return None
    if len(choose_ladder(curves_from_rows(list(rows), policy.quality_column), policy).rungs) != 1:
        return None
    d = measured - predicted
    return {c: math.exp(d * (PIVOT_CRF - c)) for c in sorted({float(r["crf"]) for r in rows})}


def apply_factors(rows: Sequence[dict], factors: Mapping[float, float] | None) -> list[dict]:
    """``rows`` with each rate scaled by its CRF's factor (every size alike), kept monotone."""
    if not factors:
        return list(rows)
    return monotone_rows([{**r, "kbps": r["kbps"] * factors.get(float(r["crf"]), 1.0)} for r in rows])


def reslope(rows: Sequence[dict], members: Sequence[Sequence[dict]], features: Mapping[str, float],
            policy: LadderPolicy, ref_size: tuple[int, int]) -> tuple[list[dict], list[list[dict]], dict | None]:
    """A prior and its members as the tool uses them: when ``rows`` make a one-rung ladder, all
    scaled by the same factors. Also what was done, for the document (None: nothing)."""
    factors = one_rung_factors(rows, features, policy, ref_size)
    record = None if factors is None else {
        "probe": round(probe_slope(features), 5), "model": round(row_slope(rows, ref_size), 5),
        "pivot_crf": PIVOT_CRF}
    return apply_factors(rows, factors), [apply_factors(m, factors) for m in members], record
