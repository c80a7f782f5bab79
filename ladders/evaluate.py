"""Judge predicted ladders against exhaustive ones, title by title, never on a title seen in training.

For a held-out title, the model predicts its RD points; the same policy turns them into a ladder;
each predicted rung (size, bitrate) is then read off the title's *measured* curve at that size —
the quality it would really have. Measures:

- ``bd_rate_pct``: BD-rate of the predicted ladder (bitrates, true qualities) against the
  exhaustive ladder (bitrates, true qualities); > 0 is a loss. When the two ladders' quality
  ranges barely overlap (one-rung ladders), ``envelope_loss_pct`` stands in for it.
- ``envelope_loss_pct``: mean extra bits each predicted rung spends over the cheapest measured way
  to reach its true quality (the envelope); the exhaustive ladder scores ~0 here.
- ``vmaf_mae`` / ``vmaf_bias``: predicted rung quality against its true quality.
- ``encodes``: trial encodes used (0 for prediction, N with ``verify=N``) against the sweep's.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from ..core.errors import LadderError
from .bdrate import BDRateError, bd_rate
from .curves import Curve, Envelope
from .document import curves_from_rows
from .hybrid import refine
from .model import CurveModel, design, monotone_rows
from .policy import LadderPolicy, Rung, choose_ladder


@dataclass
class TitleEval:
    title: str
    group: str
    family: str
    verify: int
    bd_rate_pct: float | None
    envelope_loss_pct: float
    vmaf_mae: float
    vmaf_bias: float
    top_vmaf_error: float
    rungs_predicted: str
    rungs_exhaustive: str
    encodes_used: int
    encodes_exhaustive: int
    exhaustive_s: float
    predict_s: float


def true_quality(curves: Sequence[Curve], w: int, h: int, kbps: float) -> float:
    """The measured quality of (size, bitrate): linear in log-rate below the curve, flat above."""
    c = next((c for c in curves if (c.width, c.height) == (w, h)), None)
    if c is None:
        c = min(curves, key=lambda c: abs(c.height - h))
    if kbps > c.max_kbps:
        return float(c.quality[-1])
    return c.quality_at(kbps, extrapolate="linear")


def envelope_loss(curves: Sequence[Curve], points: Iterable[tuple[float, float]]) -> float:
    env = Envelope(curves)
    losses = []
    for kbps, q in points:
        need = env.kbps_for_quality(q)
        if need is None:  # better than anything measured (can only be extrapolation): no loss
            continue
        losses.append(max(0.0, kbps / need - 1.0) * 100)
    return float(np.mean(losses)) if losses else 0.0


def fmt_rungs(rungs: Sequence[Rung]) -> str:
    return " ".join(f"{r.width}x{r.height}@{r.kbps:.0f}" for r in rungs)


def score_ladder(pred: Sequence[Rung], truth: Sequence[Curve], policy: LadderPolicy) -> dict:
    exh = choose_ladder(list(truth), policy).rungs
    true_q = [true_quality(truth, r.width, r.height, r.kbps) for r in pred]
    exh_pts = [(r.kbps, r.quality) for r in exh]
    pred_pts = list(zip([r.kbps for r in pred], true_q))
    try:
        bd = bd_rate(exh_pts, pred_pts, min_overlap=2.0)
    except BDRateError:
        bd = None
    errs = np.array([r.quality for r in pred]) - np.array(true_q)
    return {
        "bd_rate_pct": None if bd is None else float(bd),
        "envelope_loss_pct": envelope_loss(truth, pred_pts),
        "vmaf_mae": float(np.mean(np.abs(errs))), "vmaf_bias": float(np.mean(errs)),
        "top_vmaf_error": float(errs[-1]),
        "rungs_predicted": fmt_rungs(pred), "rungs_exhaustive": fmt_rungs(exh),
    }


# ------------------------------------------------------------------------------------------
# Grouped cross-validation
# ------------------------------------------------------------------------------------------


def _title_rows(df_title, pred_log_bpp, pred_vmaf) -> list[dict]:
    fps = df_title["ref_fps"].values
    w, h = df_title["width"].values, df_title["height"].values
    kbps = np.exp(pred_log_bpp) * w * h * fps / 1000
    rows = [{"width": int(a), "height": int(b), "crf": float(c), "kbps": float(k),
             "vmaf_mean": float(np.clip(q, 0, 100))}
            for a, b, c, k, q in zip(w, h, df_title["crf"].values, kbps, pred_vmaf)]
    return monotone_rows(rows)


def group_splits(df, splits: int | None = None, holdout: str | None = None):
    """(train, test) row positions: leave one group out, or ``splits`` folds of whole groups.
    Every title of a group is on one side only (clips of one title never on both). With
    ``holdout`` (a regex), only groups matching it are ever held out (e.g. the real clips),
    while every other group always trains."""
    import re

    from sklearn.model_selection import GroupKFold, LeaveOneGroupOut

    groups = df["group"].astype(str).values
    cv = LeaveOneGroupOut() if not splits else GroupKFold(n_splits=splits)
    pat = re.compile(holdout) if holdout else None
    for tr, te in cv.split(df, groups=groups):
        if pat is not None:
            keep = np.array([bool(pat.search(g)) for g in groups[te]])
            if not keep.any():
                continue
            tr = np.concatenate([tr, te[~keep]])
            te = te[keep]
        if set(groups[tr]) & set(groups[te]):  # cannot happen with these splitters; never silently
            raise RuntimeError("a group leaked across a split")
        yield tr, te


def cross_validate(df, families: Sequence[str], policy: LadderPolicy,
                   verify_levels: Sequence[int] = (0,), splits=None, log=lambda _: None,
                   holdout: str | None = None, *, feature_columns: Sequence[str]) -> list[TitleEval]:
    """Fit on some groups, judge the ladders of the held-out ones (see :func:`group_splits`)."""
    results: list[TitleEval] = []
    for fold, (tr, te) in enumerate(group_splits(df, splits, holdout)):
        train, test = df.iloc[tr], df.iloc[te]
        log(f"fold {fold + 1}: held out {', '.join(sorted(set(test['group'])))}")
        for fam in families:
            model = CurveModel(family=fam, feature_columns=tuple(feature_columns)).fit(train)
            for title, dt in test.groupby("title"):
                X = design(dt, model.feature_columns)
                pred = model.predict_frame(X[model.columns_])
                rows = _title_rows(dt, pred["log_bpp"], pred["vmaf_mean"])
                truth = curves_from_rows(dt.to_dict("records"), "vmaf_mean")
                ref_short = int(min(dt["ref_width"].iloc[0], dt["ref_height"].iloc[0]))
                exh_s = float(dt["analysis_encode_s"].iloc[0])
                feat_s = float(dt["f_feature_s"].iloc[0]) if "f_feature_s" in dt else 0.0
                truth_rows = {(int(r.width), int(r.height), float(r.crf)): {
                    "width": int(r.width), "height": int(r.height), "crf": float(r.crf),
                    "kbps": float(r.kbps), "vmaf_mean": float(r.vmaf_mean)} for r in dt.itertuples()}

                def lookup(points):
                    return [truth_rows[p] for p in points if p in truth_rows]

                for n in verify_levels:
                    try:
                        cur, used_rows = refine(rows, lookup, n, policy, ref_short) if n else (rows, [])
                        used = len(used_rows)
                        rungs = choose_ladder(curves_from_rows(cur, "vmaf_mean"), policy).rungs
                        s = score_ladder(rungs, truth, policy)
                    except LadderError as exc:
                        log(f"  {title} ({fam}, verify {n}): {exc}")
                        continue
                    per_encode = exh_s / max(1, len(dt))
                    results.append(TitleEval(
                        title=str(title), group=str(dt["group"].iloc[0]), family=fam, verify=n,
                        encodes_used=used, encodes_exhaustive=len(dt), exhaustive_s=exh_s,
                        predict_s=feat_s + used * per_encode, **s))
    return results


def summarize(results: Sequence[TitleEval]):
    import pandas as pd

    df = pd.DataFrame([asdict(r) for r in results])
    if df.empty:
        return df, df
    df["bd_or_envelope_pct"] = df["bd_rate_pct"].where(df["bd_rate_pct"].notna(), df["envelope_loss_pct"])
    agg = df.groupby(["family", "verify"]).agg(
        titles=("title", "count"),
        bd_median=("bd_or_envelope_pct", "median"),
        bd_p90=("bd_or_envelope_pct", lambda s: float(np.percentile(s, 90))),
        bd_mean=("bd_or_envelope_pct", "mean"),
        envelope_loss_median=("envelope_loss_pct", "median"),
        vmaf_mae=("vmaf_mae", "mean"),
        top_vmaf_abs_error=("top_vmaf_error", lambda s: float(np.mean(np.abs(s)))),
        encodes_saved=("encodes_used", lambda s: 0.0),
    ).reset_index()
    saved = df.groupby(["family", "verify"]).apply(
        lambda g: 1 - g["encodes_used"].sum() / g["encodes_exhaustive"].sum(), include_groups=False)
    agg["encodes_saved"] = saved.values
    speed = df.groupby(["family", "verify"]).apply(
        lambda g: g["exhaustive_s"].sum() / max(g["predict_s"].sum(), 1e-9), include_groups=False)
    agg["time_ratio"] = speed.values
    return df, agg
