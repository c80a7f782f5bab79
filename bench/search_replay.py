"""Replay the measurement searches (``--fast``, ``predict --verify N``) of grouped cross-validation
on held-out priors computed once: a search or budget change is then judged on the 160 real
windows in seconds instead of the hour ``pertitle evaluate`` spends training fold models.
Building priors trains 6 models a fold (the model and its 5-fold calibration): set
``OMP_NUM_THREADS=1`` when several builds run side by side (scikit-learn's boosting otherwise
spins OpenMP threads against each other: two builds on two cores had not finished a fold
after 25 CPU-minutes each; limited to one thread, they finished one every 2 minutes).

    python bench/search_replay.py priors samples/training_dataset.csv -o /tmp/priors_A.json [--fold-seed 7]
                                  [--only fast|verify|both] [--folds 10] [--extra samples/extra_dataset.csv]
                                  [--members]
    python bench/search_replay.py run samples/training_dataset.csv /tmp/priors_A.json [/tmp/priors_B.json ...]
                                  [--modes "verify 6,fast"] [--fast-share 0.18,0.20] [--bootstrap 2000]
                                  [--noise 0.17,0.12 [--noise-seeds 1,2,3]]

``priors`` trains, fold by fold, what ``pertitle evaluate`` trains (the shipped families, the
default ensemble size, calibrated: the probe model for predict/verify, the no-probe model for
the fast mode) and writes each held-out real window's debiased prior rows as JSON, with the
table's SHA-256 and the folds. With ``--members`` each window also keeps the probe model's members' rows
(about 15x the size; ``bench/member_rules.py`` reads them). ``run`` replays the *current* search code on them
(:func:`pertitle.ladders.evaluate.judge_title`, the code ``pertitle evaluate`` judges with) and
prints, per priors file, mode and budget: median, 90th percentile, worst, windows above 5 %,
mean loss, mean of the 16 worst, encodes and the fast budget spent (share of the exhaustive wall
time), median, 90th percentile and worst over the windows whose exhaustive ladder has two
rungs or more (``multi_*``), and median, 90th percentile and mean over the short clips' windows,
the long titles' left out (``short_*``); with ``--bootstrap N``, 90 % intervals of the median
and of both 90th percentiles from N resamples of the origin groups (``*_ci``). Priors depend on
the model code and the table: rebuild them after changing either. With the same priors, a replay
gives exactly the figures of ``pertitle evaluate``'s search modes.

The table's VMAF scores every frame; the fast mode's scores every third, and its error (measured
minus every frame: SD about 0.17 points a window, 0.12 a point) moves the search's choices. A replay
is noise-free unless ``--noise OFFSET,POINT`` gives that error's standard deviations: the fast
mode is then replayed once per ``--noise-seeds`` seed (``noise_seed`` column), each seed a draw of
one error per window and one per point (:func:`pertitle.ladders.evaluate.subsample_error`).

The priors of the shipped configuration (15 members, both families, the fold assignments of
docs/model-guided.md: A ``--folds 10``, B ``--fold-seed 7``, C ``--fold-seed 11``; about half an
hour of CPU per family each) are kept in bench/results/ (``priors_A.json.gz``, ``priors_B.json.gz``,
``priors_C.json.gz``; a name ending in ``.gz`` is read and written gzipped). Both their ``rows``
(``--only verify``) and their ``fast_rows`` (``--only fast``) were rebuilt on 2026-11-30 after the
calibration learnt the one-rung slope, each build merged into the file (docs/model-guided.md; C
was built then from the start, its two builds run side by side and merged). On 2026-12-05 the
``rows`` were rebuilt again (``--only verify``) when the ``predict`` model gained the sizes' scaling
ceilings (new table columns, hence a new table checksum); the ``fast_rows`` were carried over
from the previous files (their fold models read no ceiling: the same models), each file saying so
under ``fast_rows_from``:

    python bench/search_replay.py run samples/training_dataset.csv bench/results/priors_A.json.gz \
        bench/results/priors_B.json.gz bench/results/priors_C.json.gz --modes "predict,verify 6,fast"
"""
from __future__ import annotations

import argparse
import gzip
import json
import sys
import time

import numpy as np
import pandas as pd

from pertitle.core.fsutil import file_sha256 as sha256
from pertitle.ladders.dataset import read_dataset
from pertitle.ladders.evaluate import group_bootstrap, held_out_prior, group_splits, judge_title, summarize
from pertitle.ladders.policy import LadderPolicy
from pertitle.ladders.search import FAST_SHARE
from pertitle.ladders.sizes import SizeModel
from pertitle.pipeline import models


def real_table(path: str):
    """The table ``pertitle evaluate`` folds and judges by default (real titles with the probe)."""
    return models.with_probe(models.evaluation_table(read_dataset(path)))


def build(args) -> None:
    df = real_table(args.dataset)
    extra = real_table(args.extra) if args.extra else None
    if extra is not None and set(extra["group"]) & set(df["group"]):
        sys.exit(f"{args.extra}: shares origin groups with {args.dataset}: it would leak into held-out folds")
    titles: dict[str, dict] = {}
    t0 = time.monotonic()
    for fold, (tr, te) in enumerate(group_splits(df, args.folds, None, args.fold_seed)):
        train, test = df.iloc[tr], df.iloc[te]
        if extra is not None:       # more training titles; the folds and held-out windows stay the table's
            train = pd.concat([train, extra], ignore_index=True)
        probe = models.train(train, probe=True) if args.only in ("verify", "both") else None
        fast = models.train(train, probe=False) if args.only in ("fast", "both") else None
        for title, dt in test.groupby("title"):
            entry = {"fold": fold}
            if probe is not None:
                rows, members, _ = held_out_prior(probe, dt)
                entry["rows"] = rows
                if args.members:     # each member's rows: decision rules over the members
                    entry["members"] = members
            if fast is not None:
                entry["fast_rows"] = held_out_prior(fast, dt)[0]
            titles[str(title)] = entry
        print(f"fold {fold + 1}: {len(titles)} windows, {time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)
    doc = {"dataset_sha256": sha256(args.dataset), "folds": args.folds, "fold_seed": args.fold_seed,
           "only": args.only, "members": models.DEFAULT_MEMBERS, "titles": titles,
           "extra_sha256": sha256(args.extra) if args.extra else None}
    with _open(args.output, "w") as fh:
        json.dump(doc, fh)


def _open(path: str, mode: str = "r"):
    """Priors files, gzipped when their name ends in ``.gz`` (bench/results keeps them so)."""
    return gzip.open(path, mode + "t", encoding="utf-8") if path.endswith(".gz") else open(path, mode, encoding="utf-8")


def stats(g, long_titles: set[str] = frozenset()) -> dict:
    """The figures of one mode. ``multi_*``: over the windows whose exhaustive ladder has two rungs
    or more, where a BD-rate is defined (issue 7's independent check scores only those; a
    one-rung window is scored here by its rate excess over the envelope). ``short_*``: over the
    windows of the short clips, not of the long titles (``long_titles``: 8 windows each): one-off
    excerpts, as the independent check scores, and harder than the long titles' windows."""
    loss = g["bd_or_envelope_pct"]
    multi = loss[g["rungs_exhaustive"].str.split().str.len() >= 2]
    short = loss[~g["title"].astype(str).isin(long_titles)]
    return {"windows": len(g), "median": loss.median(), "p90": float(np.percentile(loss, 90)), "worst": loss.max(),
            "over5": int((loss > 5).sum()), "mean": loss.mean(), "worst16": loss.nlargest(16).mean(),
            "encodes": g["encodes"].mean(), "cost_median": g["cost_ratio"].median(),
            "top25": float(((g["top_ratio"] > 0.75) & (g["top_ratio"] < 1.25)).mean()),
            "vmaf_bias": g["vmaf_bias"].mean(),
            "multi_n": len(multi), "multi_median": multi.median(), "multi_p90": float(np.percentile(multi, 90)),
            "multi_worst": multi.max(),
            "short_n": len(short), "short_median": short.median(), "short_p90": float(np.percentile(short, 90)),
            "short_mean": short.mean()}


def intervals(g, long_titles: set[str], resamples: int) -> dict:
    """90 % intervals of the median and the 90th percentiles (all windows, short clips only),
    resampling origin groups (:func:`pertitle.ladders.evaluate.group_bootstrap`): how far a figure
    moves with the titles drawn, beside a target it is compared with."""
    loss, groups = g["bd_or_envelope_pct"].to_numpy(), g["group"].to_numpy()
    short = ~g["title"].astype(str).isin(long_titles).to_numpy()
    p90 = lambda v: float(np.percentile(v, 90))  # noqa: E731
    out = {}
    for name, sel, fn in (("median", slice(None), np.median), ("p90", slice(None), p90), ("short_p90", short, p90)):
        lo, hi = group_bootstrap(loss[sel], groups[sel], fn, resamples=resamples)
        out[f"{name}_ci"] = f"{lo:.2f}..{hi:.2f}"
    return out


def fold_size_models(df, doc: dict, policy) -> dict:
    """``predict``'s size model of each fold (:mod:`pertitle.ladders.sizes`), fitted on the
    windows of the other folds as ``pertitle train`` fits it (seconds: the priors files hold the
    curve models' rows only)."""
    folds = {t: e["fold"] for t, e in doc["titles"].items()}
    cols = list(models.new_model(probe=True).feature_columns)
    out = {}
    for k in sorted(set(folds.values())):
        train = df[df["title"].astype(str).map(lambda t: folds.get(t, -1) != k)]
        out[k] = SizeModel.fit(train, cols, policy)
    return out


def replay(args) -> None:
    df = real_table(args.dataset)
    digest = sha256(args.dataset)
    policy = LadderPolicy()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    shares = [float(s) for s in args.fast_share.split(",")]
    by_title = {str(t): dt for t, dt in df.groupby("title")}
    long_titles = {str(t) for t in df.loc[df["file"].astype(str).str.startswith("long/"), "title"]}
    # the modes that do not depend on the fast budget are judged once, the fast mode once a budget
    seeds = [int(x) for x in args.noise_seeds.split(",")] if args.noise else [None]
    noise = [float(x) for x in args.noise.split(",")] if args.noise else None
    if noise is not None and (len(noise) != 2 or min(noise) < 0):
        sys.exit("--noise takes two standard deviations in VMAF points: OFFSET,POINT")
    runs = [(m, None, None) for m in modes if m != "fast"] + [("fast", s, k) for s in shares for k in seeds
                                                             if "fast" in modes]
    out = []
    for path in args.priors:
        with _open(path) as fh:
            doc = json.load(fh)
        if doc.get("dataset_sha256") != digest:
            sys.exit(f"{path}: built from another table than {args.dataset}: rebuild the priors")
        sizes = fold_size_models(df, doc, policy) if "predict" in modes and not args.no_sizes else {}
        for mode, share, seed in runs:
            key = "fast_rows" if mode == "fast" else "rows"
            res = [ev for title, entry in sorted(doc["titles"].items()) if key in entry
                   for ev in judge_title(by_title[title], policy, [mode], entry[key],
                                         fast_share=FAST_SHARE if share is None else share,
                                         sizes=sizes.get(entry["fold"]),
                                         fast_noise=None if seed is None else (*noise, seed))]
            if res:
                g = summarize(res)[0]
                ci = intervals(g, long_titles, args.bootstrap) if args.bootstrap else {}
                extra = {"noise_seed": seed} if noise is not None else {}
                out.append({"priors": path, "mode": mode, "fast_share": share, **extra, **stats(g, long_titles), **ci})
    table = pd.DataFrame(out)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("priors", help="train the fold models once and write the held-out priors")
    p.add_argument("dataset")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--fold-seed", type=int, default=None)
    p.add_argument("--folds", type=int, default=10)
    p.add_argument("--only", choices=["fast", "verify", "both"], default="both")
    p.add_argument("--members", action="store_true",
                   help="also keep the probe model's members' rows for each window")
    p.add_argument("--extra", default=None, metavar="TABLE.csv",
                   help="add this table's real windows to every fold's training set (e.g. "
                        "samples/extra_dataset.csv); the folds and the held-out windows stay the dataset's")
    r = sub.add_parser("run", help="replay the current search code on saved priors")
    r.add_argument("dataset")
    r.add_argument("priors", nargs="+")
    r.add_argument("--modes", default="verify 6,fast")
    r.add_argument("--fast-share", default=str(FAST_SHARE))
    r.add_argument("--no-sizes", action="store_true",
                   help="predict's rungs take the size whose curve is highest, without the size model")
    r.add_argument("--noise", default=None, metavar="OFFSET,POINT",
                   help="the fast mode's measurements carry the error of VMAF on every third frame: a "
                        "per-window offset and a per-point error, normal with these standard deviations "
                        "in VMAF points (0.17,0.12 measured on 63 clips; pertitle.ladders.evaluate.subsample_error)")
    r.add_argument("--noise-seeds", default="1,2,3", metavar="S,S,...",
                   help="with --noise, replay the fast mode once per seed (default 1,2,3)")
    r.add_argument("--bootstrap", type=int, default=0, metavar="N",
                   help="add 90 %% intervals of the median and the 90th percentiles from N resamples of "
                        "the origin groups (e.g. 2000)")
    args = ap.parse_args()
    build(args) if args.cmd == "priors" else replay(args)


if __name__ == "__main__":
    main()
