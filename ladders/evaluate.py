"""Judge model-guided ladders against exhaustive ones, title by title, never on a title seen in training.

For a held-out title, the model predicts its RD points; a *mode* turns them into a ladder:

- ``predict``: the prediction alone (no grid encode; the probe encode's features are in the table);
- ``verify N``: the measurement search with at most N encodes (``predict --verify N``);
- ``fast``: the search with the fast mode's budget (a share of the exhaustive analysis' wall time
  on two lanes).

Measurements come from the title's own exhaustive table (what a real encode would have measured).
Each rung (size, bitrate) of the resulting ladder is read off the title's *measured* curve at that
size: the quality it would really have. Measures, per title:

- ``bd_rate_pct``: BD-rate of the ladder (bitrates, true qualities) against the exhaustive ladder
  (> 0: a loss); with one-rung ladders ``envelope_loss_pct`` stands in (``bd_or_envelope_pct``):
  the mean rate excess of the rungs over the best size at their true quality, minus the
  exhaustive ladder's own (since 2026-11-30; before, a perfect one-rung ladder could score +3.4 %);
- ``hull_loss_pct``: BD-rate of the ladder against the title's measured hull minus what the
  exhaustive ladder itself loses there (the independent check's figure);
- ``top_ratio``: the top rung's bitrate over the exhaustive top rung's;
- ``vmaf_bias`` / ``vmaf_mae``: predicted rung quality minus / against its true quality;
- with a calibrated model (predict): whether each rung's interval, the top rung's interval and the
  loss bound covered the truth, and whether the ladder was declared confident.
"""
from __future__ import annotations

import math
import re
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from ..core.errors import LadderError
from .bdrate import BDRateError, bd_rate
from .curves import Curve, Envelope, true_quality
from .document import curves_from_rows
from .hull import upper_hull
from .model import design, logit_to_vmaf, monotone_rows
from .policy import LadderPolicy, Rung, choose_ladder
from .slope import reslope
from .search import (
    EXTRAPOLATION_DISCOUNT,
    FAST_EVIDENCE_RATIO,
    FAST_LANES,
    FAST_ROUNDS,
    FAST_SHARE,
    FAST_SUBSAMPLE,
    VERIFY_ROUNDS,
    checks_native,
    fast_ceiling,
    ladder,
    point_cost,
    search,
    skips_twins,
)
from .uncertainty import debias, intervals, spreads


@dataclass
class TitleEval:
    title: str
    group: str
    mode: str
    encodes: int
    grid: int
    cost_ratio: float
    bd_rate_pct: float | None
    envelope_loss_pct: float
    hull_loss_pct: float | None
    top_ratio: float
    vmaf_mae: float
    vmaf_bias: float
    rungs_predicted: str
    rungs_exhaustive: str
    stop: str = ""
    rung_cover: float | None = None
    top_cover: float | None = None
    loss_cover: float | None = None
    confident: bool | None = None


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


def hull_loss(pred: Sequence[Rung], truth: Sequence[Curve], exh: Sequence[Rung]) -> float | None:
    hull = [(p.kbps, p.quality) for p in upper_hull(p for c in truth for p in c.points())]
    pts = [(r.kbps, true_quality(truth, r.width, r.height, r.kbps)) for r in pred]
    try:
        return (bd_rate(hull, pts, min_overlap=1.0)
                - bd_rate(hull, [(r.kbps, r.quality) for r in exh], min_overlap=1.0))
    except BDRateError:
        return None


def ladder_loss(score: dict) -> float:
    """One figure for a scored ladder: its BD-rate against the exhaustive ladder where one is
    defined, else its rate excess over the envelope (a one-rung ladder's)."""
    return score["bd_rate_pct"] if score["bd_rate_pct"] is not None else score["envelope_loss_pct"]


def score_ladder(pred: Sequence[Rung], truth: Sequence[Curve], policy: LadderPolicy,
                 exh: Sequence[Rung] | None = None) -> dict:
    """``pred`` judged on the ``truth`` curves; ``exh``: the ladder the policy chooses on them,
    when the caller scores many ladders on the same truth (computed here otherwise)."""
    exh = choose_ladder(list(truth), policy).rungs if exh is None else exh
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
        # what the ladder loses against the best size at each rung's quality, minus what the
        # exhaustive ladder itself loses there (a one-rung ladder at the top of its size's grid
        # can sit above a smaller size's extrapolated curve): the exhaustive ladder scores 0
        "envelope_loss_pct": envelope_loss(truth, pred_pts) - envelope_loss(truth, exh_pts),
        "hull_loss_pct": hull_loss(pred, truth, exh),
        "top_ratio": pred[-1].kbps / exh[-1].kbps,
        "vmaf_mae": float(np.mean(np.abs(errs))), "vmaf_bias": float(np.mean(errs)),
        "rungs_predicted": fmt_rungs(pred), "rungs_exhaustive": fmt_rungs(exh),
    }


# ------------------------------------------------------------------------------------------
# Grouped cross-validation
# ------------------------------------------------------------------------------------------


def group_splits(df, splits: int | None = None, holdout: str | None = None, fold_seed: int | None = None):
    """(train, test) row positions: leave one group out, or ``splits`` folds of whole groups.
    Every title of a group is on one side only (windows of one source never on both). With
    ``holdout`` (a regex), only groups matching it are ever held out (e.g. the real clips),
    while every other group always trains. ``fold_seed``: groups go to the folds in a random
    order drawn from it (another assignment of the same size) instead of GroupKFold's
    size-balanced one; results that hold on one assignment only are noise."""
    from sklearn.model_selection import GroupKFold, LeaveOneGroupOut

    groups = df["group"].astype(str).values
    cv = (LeaveOneGroupOut() if not splits or splits >= len(set(groups))
          else GroupKFold(n_splits=splits, shuffle=fold_seed is not None, random_state=fold_seed))
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


def _rows(dt, log_bpp, vmaf) -> list[dict]:
    fps = dt["ref_fps"].values
    w, h = dt["width"].values, dt["height"].values
    kbps = np.exp(log_bpp) * w * h * fps / 1000
    return monotone_rows([{"width": int(a), "height": int(b), "crf": float(c), "kbps": float(k),
                           "vmaf_mean": float(np.clip(q, 0, 100))}
                          for a, b, c, k, q in zip(w, h, dt["crf"].values, kbps, vmaf)])


def modes_of(verify_levels: Sequence[int], fast: bool) -> list[str]:
    return [("predict" if n == 0 else f"verify {n}") for n in verify_levels] + (["fast"] if fast else [])


def held_out_prior(model, dt):
    """A model's (debiased) rows for a held-out title, its members' rows, its calibration."""
    X = design(dt, model.feature_columns)[model.columns_]
    per = model.predict_members(X)
    cal = getattr(model, "calibration_", {}) or {}
    shift = cal.get("rung", {}).get("bias", 0.0)
    rows = debias(_rows(dt, np.mean([p["log_bpp"] for p in per], axis=0),
                        logit_to_vmaf(np.mean([p["vmaf_logit"] for p in per], axis=0))), shift)
    members = [debias(_rows(dt, p["log_bpp"], logit_to_vmaf(p["vmaf_logit"])), shift) for p in per]
    return rows, members, cal


def evaluate_title(model, dt, policy: LadderPolicy, modes: Sequence[str], fast_share: float = FAST_SHARE,
                   fast_model=None):
    """Every mode's ladder for one held-out title (``dt``: its exhaustive rows); the fast mode's
    prior from ``fast_model`` when given (the shipped fast mode has its own model)."""
    rows, members, cal = held_out_prior(model, dt)
    fast_rows = held_out_prior(fast_model, dt)[0] if fast_model is not None and "fast" in modes else rows
    return judge_title(dt, policy, modes, rows, fast_rows, members, cal, fast_share,
                       sizes=getattr(model, "sizes_", None))


def subsample_error(title: str, offset_sd: float, point_sd: float, seed: int) -> Callable[[tuple], float]:
    """A model of what scoring every n-th frame adds to a point's VMAF (the fast mode's; measured
    minus every frame): one offset per title, N(0, ``offset_sd``), plus one draw per (size, CRF),
    N(0, ``point_sd``). Every draw is seeded by ``seed``, the title and the point, so a replay with
    the same seed is the same whatever the order or the modes. Measured in the thirty-sixth session
    (docs/model-guided.md) on 63 clips: every third frame, offsets 0.17 and points 0.12."""
    off = float(np.random.default_rng([seed, zlib.crc32(title.encode())]).normal(0.0, offset_sd)) if offset_sd else 0.0

    def err(point: tuple) -> float:
        if not point_sd:
            return off
        key = zlib.crc32(f"{title}|{int(point[0])}x{int(point[1])}|{float(point[2]):g}".encode())
        return off + float(np.random.default_rng([seed, key]).normal(0.0, point_sd))
    return err


def _with_error(table: dict, err: Callable[[tuple], float]) -> Callable[[tuple], dict]:
    """A table point as a measurement carrying ``err`` (its VMAF kept within 0-100)."""
    return lambda p: {**table[p], "vmaf_mean": min(100.0, max(0.0, table[p]["vmaf_mean"] + err(p)))}


def judge_title(dt, policy: LadderPolicy, modes: Sequence[str], rows: list[dict], fast_rows: list[dict] | None = None,
                members: Sequence[list[dict]] | None = None, cal: dict | None = None,
                fast_share: float = FAST_SHARE, sizes=None,
                fast_noise: tuple[float, float, int] | None = None) -> list[TitleEval]:
    """Every mode's ladder for one held-out title from given priors (``rows``: the model's
    debiased rows for predict and verify; ``fast_rows``: the fast mode's, default ``rows``),
    judged on its exhaustive rows ``dt``. ``members`` and ``cal`` (a calibrated model's) give
    predict's interval coverage; ``sizes``, the model's size model, the sizes predict's rungs may
    take (:mod:`pertitle.ladders.sizes`). ``fast_noise`` (offset SD, point SD, seed): the fast
    mode's measurements carry :func:`subsample_error` (its VMAF scores every third frame; the table's
    every frame), the ladder is still judged on the table. Split from :func:`evaluate_title` so
    that a search can be replayed on priors computed once (``bench/search_replay.py``)."""
    fast_rows = rows if fast_rows is None else fast_rows
    cal = cal or {}
    W, H = int(dt["ref_width"].iloc[0]), int(dt["ref_height"].iloc[0])
    # the prior as the tool corrects it before any mode uses it (the models' own rows are what
    # saved priors hold): a one-rung prior gets the in-memory probe's slope in CRF
    feats = dt.iloc[0].to_dict()
    rows, members, _ = reslope(rows, members or [], feats, policy, (W, H))
    fast_rows = reslope(fast_rows, [], feats, policy, (W, H))[0]
    truth = curves_from_rows(dt.to_dict("records"), "vmaf_mean")
    table = {(int(r.width), int(r.height), float(r.crf)): {
        "width": int(r.width), "height": int(r.height), "crf": float(r.crf), "kbps": float(r.kbps),
        "vmaf_mean": float(r.vmaf_mean)} for r in dt.itertuples()}
    ref_px, grid = W * H, list(table)
    out = []
    for mode in modes:
        measured, stop, spent = [], "", 0.0
        if mode == "predict":
            cur = rows
            fps = float(dt["ref_fps"].iloc[0])
            allowed = sizes.eligible(feats, sorted({p[:2] for p in grid}), (W, H), fps) if sizes is not None else None
            rungs = choose_ladder(curves_from_rows(cur, policy.quality_column), policy, allowed).rungs
        else:
            if mode == "fast":
                ceiling, wall = fast_ceiling(grid, ref_px, fast_share, FAST_SUBSAMPLE)
                kw = dict(ceiling=ceiling, rounds=FAST_ROUNDS, lanes=FAST_LANES, batch_min=FAST_LANES,
                          cost=lambda p: point_cost(p[0], p[1], p[2], ref_px, FAST_SUBSAMPLE),
                          evidence_ratio=FAST_EVIDENCE_RATIO, skip_twins=skips_twins(None),
                          discount=EXTRAPOLATION_DISCOUNT, check_native=checks_native(None))
            else:
                n = int(mode.split()[1])
                kw = dict(ceiling=n, rounds=VERIFY_ROUNDS, skip_twins=skips_twins(n))
            look = (lambda p: table[p]) if mode != "fast" or fast_noise is None else \
                _with_error(table, subsample_error(str(dt["title"].iloc[0]), *fast_noise))
            found = search(fast_rows if mode == "fast" else rows, lambda pts: [look(p) for p in pts if p in table],
                           policy, min(W, H), **kw)
            measured, stop, spent = found.measured, found.stop, found.spent
            rungs = ladder(found.rows, measured, policy, found.evidence_ratio, found.skip_twins, found.discount).rungs
        s = score_ladder(rungs, truth, policy)
        ev = TitleEval(title=str(dt["title"].iloc[0]), group=str(dt["group"].iloc[0]), mode=mode,
                       encodes=len(measured), grid=len(grid), cost_ratio=spent / wall if mode == "fast" else 0.0,
                       stop=stop, **s)
        if mode == "predict" and cal and members:
            iv = intervals(cal, rungs, spreads(rows, members, rungs, policy))
            tq = [true_quality(truth, r.width, r.height, r.kbps) for r in rungs]
            ev.rung_cover = float(np.mean([i["vmaf_low"] <= q <= i["vmaf_high"] for q, i in zip(tq, iv["rungs"])]))
            exh_top = rungs[-1].kbps / s["top_ratio"]
            ev.top_cover = float(iv["top_kbps"][0] <= exh_top <= iv["top_kbps"][1])
            loss = ladder_loss(s)
            ev.loss_cover = float(loss <= iv["loss_bound_pct"]) if math.isfinite(iv["loss_bound_pct"]) else None
            ev.confident = iv["confident"]
        out.append(ev)
    return out


def cross_validate(df, fit: Callable, policy: LadderPolicy, modes: Sequence[str], *, splits=None,
                   holdout: str | None = None, log=lambda _: None, fast_share: float = FAST_SHARE,
                   only: Callable[[object], bool] | None = None,
                   fit_fast: Callable | None = None, fold_seed: int | None = None) -> list[TitleEval]:
    """Fit (``fit(train_df) -> model``) on some groups, judge the ladders of the held-out titles
    (``only(title_rows)`` picks which held-out titles are judged, e.g. the real ones); the fast
    mode's prior from ``fit_fast(train_df)`` when given."""
    results: list[TitleEval] = []
    for fold, (tr, te) in enumerate(group_splits(df, splits, holdout, fold_seed)):
        train, test = df.iloc[tr], df.iloc[te]
        log(f"fold {fold + 1}: held out {', '.join(sorted(set(test['group'].astype(str))))}")
        model = fit(train)
        fast_model = fit_fast(train) if fit_fast is not None and "fast" in modes else None
        for _, dt in test.groupby("title"):
            if only is not None and not only(dt):
                continue
            try:
                results += evaluate_title(model, dt, policy, modes, fast_share, fast_model)
            except LadderError as exc:
                log(f"  {dt['title'].iloc[0]}: {exc}")
    return results


def group_bootstrap(values: Sequence[float], groups: Sequence[object], stat: Callable[[np.ndarray], float],
                    resamples: int = 2000, level: float = 0.9, seed: int = 0) -> tuple[float, float]:
    """A percentile interval (central ``level``) of ``stat`` over windows, resampling whole origin
    groups with replacement: the windows of one source are not independent (a long title gives
    eight), so resampling windows would understate how much a figure moves with the titles drawn.
    Deterministic for a given ``seed``. With a single group the interval is the statistic itself."""
    v = np.asarray(values, dtype=float)
    labels = [str(g) for g in groups]
    if len(v) != len(labels) or not len(v):
        raise ValueError("one group per value, and at least one value")
    names, index = np.unique(labels, return_inverse=True)
    members = [np.flatnonzero(index == j) for j in range(len(names))]
    rng = np.random.default_rng(seed)
    draws = np.empty(resamples)
    for i in range(resamples):
        pick = rng.integers(0, len(names), len(names))
        draws[i] = stat(v[np.concatenate([members[j] for j in pick])])
    tail = (1.0 - level) / 2 * 100
    lo, hi = np.percentile(draws, [tail, 100 - tail])
    return float(lo), float(hi)


def summarize(results: Sequence[TitleEval]):
    import pandas as pd

    df = pd.DataFrame([asdict(r) for r in results])
    if df.empty:
        return df, df
    df["bd_or_envelope_pct"] = df["bd_rate_pct"].where(df["bd_rate_pct"].notna(), df["envelope_loss_pct"])
    rows = []
    for mode, g in df.groupby("mode", sort=False):
        bd = g["bd_or_envelope_pct"]
        hl = g["hull_loss_pct"].dropna()
        rows.append({
            "mode": mode, "titles": len(g), "bd_median": bd.median(), "bd_p90": float(np.percentile(bd, 90)),
            "bd_max": bd.max(), "hull_loss_median": hl.median() if len(hl) else np.nan,
            "hull_loss_p90": float(np.percentile(hl, 90)) if len(hl) else np.nan,
            "top_within_25pct": float(((g["top_ratio"] > 0.75) & (g["top_ratio"] < 1.25)).mean()),
            "vmaf_bias": g["vmaf_bias"].mean(), "vmaf_mae": g["vmaf_mae"].mean(),
            "encodes": g["encodes"].mean(), "grid": g["grid"].mean(),
            "cost_ratio_max": g["cost_ratio"].max(),
            "rung_cover": g["rung_cover"].mean(), "top_cover": g["top_cover"].mean(),
            "loss_cover": g["loss_cover"].mean(),
            "confident": g["confident"].astype(float).mean() if g["confident"].notna().any() else np.nan,
        })
    return df, pd.DataFrame(rows)
