"""How sure a prediction is: intervals from the ensemble's spread, calibrated on held-out titles.

The members of a :class:`~pertitle.ladders.model.CurveModel` ensemble disagree where the training
data says little about a title. Their spread is only a *shape* of the uncertainty; its scale is
calibrated by grouped cross-validation inside the training data (normalized split-conformal
prediction): for every held-out title, the residual of each predicted quantity divided by the
members' spread there; the ``level`` quantile of those ratios turns a spread into an interval
that covers ``level`` of held-out truths. Calibrated quantities:

- ``point``: every predicted grid point (log bits per pixel, logit VMAF);
- ``rung``: the VMAF of each rung of the predicted ladder, read off the title's true curve at the
  rung's size and bitrate. Its mean residual is the *winner's curse*: choosing, at each bitrate,
  the size with the highest predicted VMAF picks the most optimistic errors. ``bias`` is removed
  from the predicted curves before the ladder is chosen (so the top rung moves to where VMAF 95 is
  really reached) and from the reported rung qualities;
- ``top``: the top rung's bitrate (log ratio to the exhaustive ladder's top rung);
- ``loss``: the BD-rate the predicted ladder loses against each member's own best ladder, on
  that member's curves (the ensemble's own estimate of what a wrong guess costs: the regret),
  scaled to bound the loss measured on held-out titles (``level`` of them lose less). A one-rung
  ladder has no BD-rate and no regret: when its rung sits at the end of its size's curve (flat
  content), its loss is its rate excess, bounded with the top rung's interval (:func:`curve_end`).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from .bdrate import BDRateError, bd_rate
from .curves import Curve, true_quality
from .document import curves_from_rows
from .model import logit_to_vmaf, monotone_rows, vmaf_to_logit
from .policy import LadderPolicy, Rung, choose_ladder
from .slope import reslope

LEVEL = 0.8
SPREAD_FLOOR = {"log_bpp": 0.02, "vmaf_logit": 0.02, "rung": 0.3, "top": 0.02}
CONFIDENT_TOP = 1.25      # a ladder ships without measurement when its top rung is known within +-25 %
CONFIDENT_REGRET = 3.0    # ... and the members' expected BD-rate loss is under 3 %


def _q(values: Sequence[float], level: float = LEVEL) -> float:
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=float)
    if v.size == 0:
        return float("nan")
    # finite-sample conformal quantile: the ceil((n+1) level)-th smallest
    k = min(v.size - 1, int(math.ceil((v.size + 1) * level)) - 1)
    return float(np.sort(v)[max(0, k)])


def quality_on(curves: Sequence[Curve], w: int, h: int, kbps: float) -> float:
    c = next((c for c in curves if (c.width, c.height) == (w, h)), None)
    if c is None:
        return float("nan")
    if kbps > c.max_kbps:
        return float(c.quality[-1])
    return c.quality_at(kbps, extrapolate="linear")


def debias(rows: list[dict], bias: float) -> list[dict]:
    """Rows with the calibrated optimism removed from their VMAF (a shift in logit space that is
    ``bias`` VMAF points around VMAF 90, smaller near the ends of the scale)."""
    if not bias or not np.isfinite(bias):
        return rows
    dz = float(vmaf_to_logit(90.0) - vmaf_to_logit(90.0 + bias))
    return monotone_rows([{**r, "vmaf_mean": float(np.clip(logit_to_vmaf(vmaf_to_logit(r["vmaf_mean"]) + dz), 0, 100))}
                          for r in rows])


def _bd(anchor: Sequence[tuple[float, float]], test: Sequence[tuple[float, float]]) -> float | None:
    try:
        return float(bd_rate(anchor, test, min_overlap=1.0))
    except BDRateError:
        return None


def spreads(rows: list[dict], members: Sequence[list[dict]], rungs: Sequence[Rung],
            policy: LadderPolicy) -> dict:
    """What the members disagree about, for one title: each rung's VMAF, the top rung's
    bitrate, and the regret (mean BD-rate of the consensus ladder against each member's own)."""
    col = policy.quality_column
    member_curves = [curves_from_rows(m, col) for m in members]
    rung_sd = []
    for r in rungs:
        qs = [quality_on(c, r.width, r.height, r.kbps) for c in member_curves]
        rung_sd.append(float(np.nanstd(qs)) if len(qs) > 1 else 0.0)
    tops, regrets = [], []
    for c in member_curves:
        try:
            own = choose_ladder(c, policy).rungs
        except Exception:  # noqa: BLE001 - a member without a ladder simply does not vote
            continue
        tops.append(math.log(own[-1].kbps))
        mine = [(r.kbps, quality_on(c, r.width, r.height, r.kbps)) for r in rungs]
        bd = _bd([(r.kbps, r.quality) for r in own], mine) if len(own) > 1 and len(mine) > 1 else None
        if bd is not None:
            regrets.append(max(0.0, bd))
    out = {"rung_sd": rung_sd, "top_sd": float(np.std(tops)) if len(tops) > 1 else 0.0,
           "regret": float(np.mean(regrets)) if regrets else 0.0}
    if len(rungs) == 1:
        out.update(curve_end(rows, rungs[0]))
    return out


def curve_end(rows: list[dict], rung: Rung) -> dict:
    """For a one-rung ladder: the predicted bitrate at the end of the rung's size's curve (its
    highest-rate grid point, the lowest CRF).

    A one-rung ladder loses nothing while its rung is on its size's true curve: a rate a little
    too high buys a quality a little higher, still on the envelope. It loses its rate excess over
    the curve's end when it sits beyond it: flat content whose whole curve is under the bitrate
    floor, or whose quality target is out of reach, gets its rung at that end (or at the floor
    just above it), priced by the model's rate at the grid's lowest CRF. The members' regret is
    zero there (each member's own ladder is the same one rung), so :func:`intervals` bounds that
    loss with the top rung's calibrated interval (for such a ladder the top rung is that end, or
    the floor just above it, in the exhaustive ladder too) scaled to the curve's end."""
    size = (rung.width, rung.height)
    rates = [float(x["kbps"]) for x in rows if (int(x["width"]), int(x["height"])) == size]
    return {"end_kbps": max(rates) if rates else float("nan")}


def calibrate(df, fit: Callable, policy: LadderPolicy, folds: int = 5) -> dict:
    """The calibration of a model family from grouped cross-validation on its training table
    ``df``: ``fit(train_df) -> model``. Returns the dict stored as ``model.calibration_``."""
    from sklearn.model_selection import GroupKFold

    from .model import design

    groups = df["group"].astype(str).values
    n = min(folds, len(set(groups)))
    if n < 2:
        return {}
    point = {"log_bpp": [], "vmaf_logit": []}
    titles = []
    for tr, te in GroupKFold(n_splits=n).split(df, groups=groups):
        model = fit(df.iloc[tr])
        test = df.iloc[te]
        for title, dt in test.groupby("title"):
            X = design(dt, model.feature_columns)[model.columns_]
            per = model.predict_members(X)
            y = {"log_bpp": dt["log_bpp"].astype(float).values,
                 "vmaf_logit": vmaf_to_logit(dt["vmaf_mean"].astype(float).values)}
            for t in point:
                stack = np.array([p[t] for p in per])
                sd = np.maximum(stack.std(axis=0), SPREAD_FLOOR[t])
                point[t] += list(np.abs(y[t] - stack.mean(axis=0)) / sd)
            fps = dt["ref_fps"].values
            w, h, crf = dt["width"].values, dt["height"].values, dt["crf"].values

            def rows_of(lb, vl):
                kb = np.exp(lb) * w * h * fps / 1000
                return monotone_rows([{"width": int(a), "height": int(b), "crf": float(c), "kbps": float(k),
                                       "vmaf_mean": float(np.clip(logit_to_vmaf(q), 0, 100))}
                                      for a, b, c, k, q in zip(w, h, crf, kb, vl)])

            mean_rows = rows_of(np.mean([p["log_bpp"] for p in per], axis=0),
                                np.mean([p["vmaf_logit"] for p in per], axis=0))
            member_rows = [rows_of(p["log_bpp"], p["vmaf_logit"]) for p in per]
            truth = curves_from_rows(dt.to_dict("records"), "vmaf_mean")
            try:
                exh = choose_ladder(list(truth), policy).rungs
            except Exception:  # noqa: BLE001
                continue
            # what the tool does to a one-rung prior (ladders/slope.py) is part of what is calibrated
            feats = dt.iloc[0].to_dict()
            ref = (int(dt["ref_width"].iloc[0]), int(dt["ref_height"].iloc[0]))
            titles.append((mean_rows, member_rows, truth, exh, feats, ref))
    out = {"level": LEVEL, "folds": n, "titles": int(df["title"].nunique()),
           "point": {t: _q(v) for t, v in point.items()}}

    # pass 1: the winner's curse, measured on the ladders as predicted
    res = []
    for mean_rows, _, truth, _, feats, ref in titles:
        try:
            rows = reslope(mean_rows, [], feats, policy, ref)[0]
            rungs = choose_ladder(curves_from_rows(rows, policy.quality_column), policy).rungs
        except Exception:  # noqa: BLE001
            continue
        res += [r.quality - true_quality(truth, r.width, r.height, r.kbps) for r in rungs]
    bias = float(np.mean(res)) if res else 0.0
    out["rung_bias_before"] = bias

    def rungs_of(rows):
        try:
            return choose_ladder(curves_from_rows(rows, policy.quality_column), policy).rungs
        except Exception:  # noqa: BLE001
            return None

    # the shift that leaves no bias: removing the whole bias over-corrects (the ladder moves to
    # where the model is less optimistic), so try fractions of it
    best_shift, best_after = 0.0, abs(bias)
    for frac in (0.25, 0.5, 0.75, 1.0):
        shift = bias * frac
        after = []
        for mean_rows, _, truth, _, feats, ref in titles:
            rungs = rungs_of(reslope(debias(mean_rows, shift), [], feats, policy, ref)[0])
            if rungs:
                after += [r.quality - true_quality(truth, r.width, r.height, r.kbps) for r in rungs]
        if after and abs(np.mean(after)) < best_after:
            best_shift, best_after = shift, abs(float(np.mean(after)))
    bias = best_shift
    # pass 2: what remains once the bias is removed from the curves (scales of the intervals)
    rung_res, rung_sd, top_res, top_sd, regret_pred, regret_true = [], [], [], [], [], []
    for mean_rows, member_rows, truth, exh, feats, ref in titles:
        rows, members, _ = reslope(debias(mean_rows, bias), [debias(m, bias) for m in member_rows], feats, policy, ref)
        try:
            rungs = choose_ladder(curves_from_rows(rows, policy.quality_column), policy).rungs
        except Exception:  # noqa: BLE001
            continue
        sp = spreads(rows, members, rungs, policy)
        for r, sd in zip(rungs, sp["rung_sd"]):
            rung_res.append(r.quality - true_quality(truth, r.width, r.height, r.kbps))
            rung_sd.append(max(sd, SPREAD_FLOOR["rung"]))
        top_res.append(math.log(rungs[-1].kbps / exh[-1].kbps))
        top_sd.append(max(sp["top_sd"], SPREAD_FLOOR["top"]))
        true_pts = [(r.kbps, true_quality(truth, r.width, r.height, r.kbps)) for r in rungs]
        loss = _bd([(r.kbps, r.quality) for r in exh], true_pts) if len(rungs) > 1 and len(exh) > 1 else None
        if loss is not None:
            regret_pred.append(sp["regret"])
            regret_true.append(max(0.0, loss))
    rung_res, rung_sd = np.array(rung_res), np.array(rung_sd)
    top_res, top_sd = np.array(top_res), np.array(top_sd)
    centre = float(np.mean(rung_res)) if rung_res.size else 0.0
    top_centre = float(np.median(top_res)) if top_res.size else 0.0
    out.update({
        "rung": {"bias": bias, "bias_after": centre, "bias_before": out["rung_bias_before"],
                 "scale": _q(np.abs(rung_res - centre) / rung_sd) if rung_res.size else float("nan")},
        "top": {"bias": top_centre,
                "scale": _q(np.abs(top_res - top_centre) / top_sd) if top_res.size else float("nan")},
        "loss": {"scale": _q(np.array(regret_true) / np.maximum(np.array(regret_pred), 0.5))
                 if regret_true else float("nan")},
    })
    return out


def intervals(cal: dict, rungs: Sequence[Rung], sp: dict) -> dict:
    """Calibrated ``level`` intervals for one predicted ladder: each rung's VMAF, the top rung's
    bitrate, the expected loss; and whether the ladder is confident enough to ship unmeasured."""
    level = cal.get("level", LEVEL)
    rs = cal.get("rung", {}).get("scale", float("nan"))
    ts = cal.get("top", {}).get("scale", float("nan"))
    centre = cal.get("rung", {}).get("bias_after", 0.0)
    out_rungs = []
    for r, sd in zip(rungs, sp["rung_sd"]):
        half = rs * max(sd, SPREAD_FLOOR["rung"]) if np.isfinite(rs) else float("nan")
        out_rungs.append({"vmaf_low": max(0.0, r.quality - centre - half),
                          "vmaf_high": min(100.0, r.quality - centre + half)})
    top = rungs[-1].kbps / math.exp(cal.get("top", {}).get("bias", 0.0))
    half = ts * max(sp["top_sd"], SPREAD_FLOOR["top"]) if np.isfinite(ts) else float("nan")
    top_iv = (top / math.exp(half), top * math.exp(half)) if np.isfinite(half) else (float("nan"),) * 2
    loss_scale = cal.get("loss", {}).get("scale", float("nan"))
    bound = max(sp["regret"], 0.5) * loss_scale if np.isfinite(loss_scale) else float("nan")
    end_kbps = sp.get("end_kbps", float("nan"))
    if np.isfinite(end_kbps) and end_kbps > 0 and np.isfinite(top_iv[0]) and top_iv[0] > 0:
        # one rung: its rate excess over the lowest rate its curve's end may have (the top rung's
        # interval, relative to the rung, applied to the end)
        k = rungs[-1].kbps
        excess = 100.0 * max(0.0, (k / end_kbps) * (k / top_iv[0]) - 1.0)
        bound = max(bound, excess) if np.isfinite(bound) else excess
    confident = (np.isfinite(half) and math.exp(half) <= CONFIDENT_TOP
                 and np.isfinite(bound) and bound <= CONFIDENT_REGRET)
    return {"level": level, "rungs": out_rungs, "top_kbps": [top_iv[0], top_iv[1]],
            "loss_bound_pct": bound, "confident": bool(confident)}
