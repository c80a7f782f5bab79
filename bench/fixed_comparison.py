"""The per-title ladders against Apple's fixed HLS ladder, on the training table's measured sweeps,
with each way of joining a ladder's rungs for the BD-rate (ladders/fixed.py says why lines cut at
the title's envelope are what the tool reports).

    python bench/fixed_comparison.py samples/training_dataset.csv [--md out.md]

Every window's exhaustive ladder (the policy on its measured curves) against the fixed ladder
clipped to the source and read off the same curves; windows whose two ladders overlap by less
than a point of VMAF are counted apart. Prints, per method: windows, median, 10th and 90th
percentile, best and worst, windows where the per-title ladder comes out worse; then the ten
windows where the methods disagree most.
"""
from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from pertitle.core.errors import LadderError
from pertitle.ladders.bdrate import BDRateError, bd_rate
from pertitle.ladders.curves import Envelope
from pertitle.ladders.dataset import read_dataset
from pertitle.ladders.document import curves_from_rows
from pertitle.ladders.fixed import APPLE_HLS_H264, compare, evaluate_fixed
from pertitle.ladders.policy import LadderPolicy, choose_ladder
from pertitle.pipeline import models

METHODS = {  # name -> bd_rate keywords (the envelope passed as ``floor`` where asked)
    "PCHIP (before 2026-12-03)": dict(linear=False, cut=False),
    "PCHIP cut at the envelope": dict(linear=False, cut=True),
    "lines": dict(linear=True, cut=False),
    "lines cut at the envelope (reported)": dict(linear=True, cut=True),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset")
    ap.add_argument("--md", default=None)
    args = ap.parse_args()
    df = models.evaluation_table(read_dataset(args.dataset))
    policy = LadderPolicy()
    rows = []
    for title, dt in df.groupby("title", sort=True):
        try:
            curves = curves_from_rows(dt.to_dict("records"), "vmaf_mean")
            rungs = choose_ladder(list(curves), policy).rungs
        except LadderError:
            continue
        w, h = int(dt["ref_width"].iloc[0]), int(dt["ref_height"].iloc[0])
        env = Envelope(curves)
        fixed = [(f.kbps, f.quality) for f in evaluate_fixed(curves, APPLE_HLS_H264, (w, h))]
        ours = [(r.kbps, r.quality) for r in rungs]
        row = {"title": title, "rungs": len(rungs), "fixed_rungs": len(fixed),
               "reported": compare(curves, ours, APPLE_HLS_H264, (w, h))["bd_rate_pct"]}
        for name, kw in METHODS.items():
            try:
                row[name] = bd_rate(fixed, ours, min_overlap=1.0, linear=kw["linear"],
                                    floor=env.kbps_for_quality if kw["cut"] else None)
            except BDRateError:
                row[name] = np.nan
        rows.append(row)
    g = pd.DataFrame(rows)
    out = []
    for name in METHODS:
        v = g[name].dropna()
        out.append({"method": name, "windows": len(v), "median": v.median(), "p10": np.percentile(v, 10),
                    "p90": np.percentile(v, 90), "best": v.min(), "worst": v.max(), "worse_than_fixed": int((v > 0).sum())})
    table = pd.DataFrame(out)
    print(f"{len(g)} windows with a ladder; {g[list(METHODS)[0]].isna().sum()} overlap the fixed ladder too little")
    print(table.to_string(index=False, float_format=lambda x: f"{x:+.2f}"))
    first, last = list(METHODS)[0], list(METHODS)[-1]
    g["gap"] = g[first] - g[last]
    print(g.nlargest(10, "gap")[["title", "rungs", "fixed_rungs", first, last]].to_string(
        index=False, float_format=lambda x: f"{x:+.2f}"))
    assert np.allclose(g["reported"].dropna(), g[last].dropna().round(3), atol=1e-3)
    if args.md:
        cols = list(table.columns)
        lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for r in table.itertuples(index=False):
            lines.append("| " + " | ".join(f"{v:+.2f}" if isinstance(v, float) else str(v) for v in r) + " |")
        with open(args.md, "w", encoding="utf-8") as fh:
            fh.write(f"`python bench/fixed_comparison.py {args.dataset}`: BD-rate of each window's exhaustive "
                     f"ladder against Apple's fixed HLS ladder, % (negative: the per-title ladder needs fewer bits)\n\n")
            fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
