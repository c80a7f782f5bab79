"""Screen a change of the model's *structure* in minutes: held-out priors from uncalibrated fold
models with few members, in the format ``bench/search_replay.py run`` replays.

    python bench/model_screen.py priors VARIANT -o OUT.json [--fold-seed 7] [--members 5] [--fast]
    python bench/model_screen.py priors VARIANT -o OUT.json --extra samples/extra_dataset.csv
    python bench/model_screen.py blend A.json B.json --weight 0.3 -o OUT.json
    python bench/search_replay.py run samples/training_dataset.csv OUT.json --modes "predict,verify 6"

``priors`` trains, per fold of the assignment (A: none, B: ``--fold-seed 7``, C: 11, as
docs/model-guided.md), one model of VARIANT without the calibration and writes each held-out
real window's rows (``rows``; ``fast_rows`` with ``--fast``: the no-probe model the fast mode
uses): about a minute an assignment with 5 members and ``OMP_NUM_THREADS=1``, against 15 for the
shipped configuration's priors. With ``--extra TABLE`` it trains once on the whole table and
writes TABLE's windows instead (replay them with ``search_replay.py run TABLE ...``). ``blend``
mixes two priors files row by row (log rate and logit VMAF, ``--weight`` of the second).

Variants: ``shipped`` (the shipped family and anchors); ``delta`` (each size's targets learnt as
their difference from the native size's at the same CRF, the native size's from the anchors);
``rate`` (VMAF learnt as a function of the encode's rate per source pixel relative to the probe's,
the size and the title, fed the predicted rate: an error of the rate model slides a point along
its curve); ``loss=NAME`` (the shipped model with the boosted trees' loss NAME, e.g.
``absolute_error``). A screen compares variants at the same number of members: an ensemble of
two 5-member models is a 10-member ensemble, and going from 5 to 10 members alone lowers the
mean ``predict`` loss by about as much as any structure tried (docs/model-guided.md, "Tried in
the twentieth session"). Without the calibration the winner's-curse shift is not applied to
either side; a variant that passes the screen still has to pass the shipped configuration's
replays (``search_replay.py priors``) and the extra windows.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from search_replay import _open, real_table  # noqa: E402

from pertitle.core.fsutil import file_sha256  # noqa: E402
from pertitle.ladders import model as M  # noqa: E402
from pertitle.ladders.dataset import read_dataset  # noqa: E402
from pertitle.ladders.evaluate import group_splits, held_out_prior  # noqa: E402
from pertitle.pipeline import models  # noqa: E402

LN2 = math.log(2.0)


def _boost(monotone: dict, columns, random_state: int):
    from sklearn.ensemble import HistGradientBoostingRegressor

    # the shipped family's settings (ladders.model.make_estimator), other monotone constraints
    return HistGradientBoostingRegressor(max_iter=120, learning_rate=0.12, max_leaf_nodes=15, min_samples_leaf=20,
                                         l2_regularization=1.0, random_state=random_state,
                                         monotonic_cst=[monotone.get(c, 0) for c in columns])


class _Variant(M.CurveModel):
    """What the variants share: the design matrix, its medians and the anchors as the shipped
    model sets them up; ``_fit_members`` and ``_predict_member`` are the variant."""

    def fit(self, df):
        X, y = self._fit_frame(df)   # the shipped model's checks, design matrix and anchors
        self._prepare(df, X, y)
        self.members_ = [self._fit_member(X, y, idx, self.random_state + m)
                         for m, idx in enumerate(M.member_rows(df, self.members, self.random_state))]
        self.n_titles_ = int(df["title"].nunique())
        self.calibration_ = {}
        return self

    def _prepare(self, df, X, y) -> None:
        pass

    def predict_members(self, X):
        X = (pd.DataFrame(np.array(X, dtype=float), columns=self.columns_) if isinstance(X, np.ndarray)
             else X[self.columns_].copy()).fillna(self.medians_)
        return [self._predict_member(e, X) for e in self.members_]


class DeltaModel(_Variant):
    """The native size's targets (every title's largest scale, learnt relative to the anchors),
    and every size's difference from the native size at the same CRF: an error in a title's
    level is then the same for all its sizes."""

    @staticmethod
    def _native(X):
        B = X.copy()
        B["log_rung_pixels"] = B["log_rung_pixels"].values - 2 * LN2 * B["log2_scale"].values
        B["log2_scale"] = 0.0
        return B

    def _prepare(self, df, X, y) -> None:
        key = (df["title"].astype(str) + "|" + df["crf"].astype(float).map(repr)).values
        top = X["log2_scale"].groupby(key).transform("max").values
        self._is_native = np.isclose(X["log2_scale"].values, top)
        first = {}
        for i in np.flatnonzero(self._is_native):
            first.setdefault(key[i], i)
        native = np.array([first[k] for k in key])
        self._XB = self._native(X)
        self._y_native = {t: v[native] - self._anchor(self._XB, t) for t, v in y.items()}
        self._y_delta = {t: v - v[native] for t, v in y.items()}

    def _fit_member(self, X, y, idx, rs):
        nat = idx[self._is_native[idx]]
        e = {}
        for t in M.TARGETS:
            e["native_" + t] = _boost({"crf": -1}, self.columns_, rs).fit(self._XB.iloc[nat], self._y_native[t][nat])
            up = {"log2_scale": 1} if t == "vmaf_logit" else {}
            e["delta_" + t] = _boost(up, self.columns_, rs).fit(X.iloc[idx], self._y_delta[t][idx])
        return e

    def _predict_member(self, e, X):
        XB = self._native(X)
        return {t: e["native_" + t].predict(XB) + self._anchor(XB, t) + e["delta_" + t].predict(X)
                for t in M.TARGETS}


class RateModel(_Variant):
    """The shipped rate trees; VMAF trees on the rate instead of the CRF (monotone in it)."""

    @staticmethod
    def _at_rate(X, log_bpp):
        V = X.drop(columns=["crf"])
        lr = log_bpp + V["log_rung_pixels"].values - V["log_pixels"].values
        if "fp_log_bpp" in V.columns:
            lr = lr - V["fp_log_bpp"].values
        return V.assign(rate=lr)

    def _prepare(self, df, X, y) -> None:
        self._V = self._at_rate(X, y["log_bpp"])      # the VMAF trees' rows, at the measured rates
        self._y = {t: v - self._anchor(X, t) for t, v in y.items()}

    def _fit_member(self, X, y, idx, rs):
        return {"log_bpp": M.make_estimator("hgb", "log_bpp", self.columns_, rs).fit(X.iloc[idx], self._y["log_bpp"][idx]),
                "vmaf_logit": _boost({"rate": 1}, list(self._V.columns), rs).fit(
                    self._V.iloc[idx], self._y["vmaf_logit"][idx])}

    def _predict_member(self, e, X):
        lb = e["log_bpp"].predict(X) + self._anchor(X, "log_bpp")
        return {"log_bpp": lb,
                "vmaf_logit": e["vmaf_logit"].predict(self._at_rate(X, lb)) + self._anchor(X, "vmaf_logit")}


class LossModel(_Variant):
    """The shipped model, its boosted trees fitted with another loss."""

    loss = "squared_error"

    def _prepare(self, df, X, y) -> None:
        self._y = {t: v - self._anchor(X, t) for t, v in y.items()}

    def _fit_member(self, X, y, idx, rs):
        return {t: M.make_estimator("hgb", t, self.columns_, rs).set_params(loss=self.loss).fit(
                    X.iloc[idx], self._y[t][idx]) for t in M.TARGETS}

    def _predict_member(self, e, X):
        return {t: e[t].predict(X) + self._anchor(X, t) for t in M.TARGETS}


def make(variant: str, members: int, probe: bool):
    base = models.new_model(members=members, probe=probe)
    if variant == "shipped":
        return base
    kinds = {"delta": DeltaModel, "rate": RateModel}
    if variant.startswith("loss="):
        model = LossModel(family="hgb", feature_columns=base.feature_columns, members=members, anchors=base.anchors)
        model.loss = variant.split("=", 1)[1]
        return model
    if variant not in kinds:
        sys.exit(f"unknown variant {variant!r}: shipped, delta, rate or loss=NAME")
    return kinds[variant](family="hgb", feature_columns=base.feature_columns, members=members, anchors=base.anchors)


def table(path: str, probe: bool):
    return real_table(path) if probe else models.evaluation_table(read_dataset(path))


def build(args) -> None:
    probe = not args.fast
    key = "fast_rows" if args.fast else "rows"
    df = table(args.dataset, probe)
    titles: dict[str, dict] = {}
    t0 = time.monotonic()
    if args.extra:
        extra = table(args.extra, probe)
        if set(extra["group"]) & set(df["group"]):
            sys.exit(f"{args.extra}: shares origin groups with {args.dataset}")
        model = make(args.variant, args.members, probe).fit(df)
        titles = {str(t): {key: held_out_prior(model, dt)[0]} for t, dt in extra.groupby("title")}
    else:
        for fold, (tr, te) in enumerate(group_splits(df, 10, None, args.fold_seed)):
            model = make(args.variant, args.members, probe).fit(df.iloc[tr])
            for title, dt in df.iloc[te].groupby("title"):
                titles[str(title)] = {"fold": fold, key: held_out_prior(model, dt)[0]}
            print(f"fold {fold + 1}: {len(titles)} windows, {time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)
    doc = {"dataset_sha256": file_sha256(args.extra or args.dataset), "variant": args.variant,
           "members": args.members, "fold_seed": args.fold_seed, "calibrated": False, "titles": titles}
    with _open(args.output, "w") as fh:
        json.dump(doc, fh)


def blend(args) -> None:
    with _open(args.first) as fh:
        a = json.load(fh)
    with _open(args.second) as fh:
        b = json.load(fh)
    if a["dataset_sha256"] != b["dataset_sha256"]:
        sys.exit("the two priors files come from different tables")
    w = args.weight
    out = {}
    for title, entry in a["titles"].items():
        other = b["titles"].get(title, {})
        mixed = {}
        for key in ("rows", "fast_rows"):
            if key not in entry or key not in other:
                continue
            theirs = {(r["width"], r["height"], r["crf"]): r for r in other[key]}
            rows = []
            for r in entry[key]:
                q = theirs[(r["width"], r["height"], r["crf"])]
                kbps = math.exp((1 - w) * math.log(r["kbps"]) + w * math.log(q["kbps"]))
                z = (1 - w) * M.vmaf_to_logit(r["vmaf_mean"]) + w * M.vmaf_to_logit(q["vmaf_mean"])
                rows.append({**r, "kbps": kbps, "vmaf_mean": float(np.clip(M.logit_to_vmaf(z), 0, 100))})
            mixed[key] = M.monotone_rows(rows)
        if mixed:
            out[title] = mixed
    with _open(args.output, "w") as fh:
        json.dump({**a, "variant": f"blend({a.get('variant')}, {b.get('variant')}, {w})", "titles": out}, fh)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("priors", help="held-out rows of uncalibrated fold models of a variant")
    p.add_argument("variant")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--dataset", default="samples/training_dataset.csv")
    p.add_argument("--fold-seed", type=int, default=None)
    p.add_argument("--members", type=int, default=5)
    p.add_argument("--fast", action="store_true", help="the no-probe model of the fast mode (fast_rows)")
    p.add_argument("--extra", default=None, metavar="TABLE.csv",
                   help="train on the whole dataset and write this table's windows")
    b = sub.add_parser("blend", help="mix two priors files (log rate, logit VMAF)")
    b.add_argument("first")
    b.add_argument("second")
    b.add_argument("--weight", type=float, default=0.5, help="the second file's weight")
    b.add_argument("-o", "--output", required=True)
    args = ap.parse_args()
    build(args) if args.cmd == "priors" else blend(args)


if __name__ == "__main__":
    main()
