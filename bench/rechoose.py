"""The fast mode's final ladder under other handicap rules, recomputed from runs already made.

    python bench/rechoose.py DIR

The extrapolation handicap (``ladders.search.EXTRAPOLATION_DISCOUNT``, ``UNMEASURED_RATIO``) acts
on the final ladder only: what the search measures does not depend on it. So each rule's ladder
can be rebuilt from one fast run's corrected curves (its document's ``curves``) and measured
points (its RD table) and judged on the same clip's exhaustive RD table, as ``bench/modes.py``
judges (BD-rate of the rungs on the exhaustive measured curves; > 0: a loss). DIR holds, per clip
NAME, ``NAME.fast.ladder.json`` + ``NAME.fast.rd.csv`` (``pertitle analyze CLIP --fast -o
NAME.fast.ladder.json``) and ``NAME.exh.rd.csv`` (``pertitle analyze CLIP -o NAME.exh.ladder.json``),
with the same excerpt options. Prints each clip's ladder and loss under each rule, then the median,
mean and worst over the clips. The ``shipped`` rule reproduces the rungs of a fast run made with
this version (the other rules, those of the versions that had them).
"""
from __future__ import annotations

import glob
import json
import os
import statistics
import sys

from pertitle.ladders import search as S
from pertitle.ladders.document import curves_from_rows
from pertitle.ladders.evaluate import ladder_loss, score_ladder
from pertitle.ladders.policy import LadderPolicy, choose_ladder
from pertitle.pipeline.report import read_rd_table

RULES = {  # name: (points per log unit, a never-measured size as if measured this many times away)
    "none": (0.0, 1.0),
    "never 3x": (S.EXTRAPOLATION_DISCOUNT, 3.0),
    "shipped": (S.EXTRAPOLATION_DISCOUNT, S.UNMEASURED_RATIO),
    "never 1.5x": (S.EXTRAPOLATION_DISCOUNT, 1.5),
    "half, never 2x": (S.EXTRAPOLATION_DISCOUNT / 2, 2.0),
}


def rd_rows(path: str) -> list[dict]:
    return [{**r, "width": int(r["width"]), "height": int(r["height"])} for r in read_rd_table(path)]


def main() -> None:
    folder = sys.argv[1] if len(sys.argv) > 1 else "."
    policy = LadderPolicy()
    losses: dict[str, list[float]] = {name: [] for name in RULES}
    for path in sorted(glob.glob(os.path.join(folder, "*.fast.ladder.json"))):
        name = os.path.basename(path)[:-len(".fast.ladder.json")]
        exh = os.path.join(folder, f"{name}.exh.rd.csv")
        if not os.path.exists(exh):
            continue
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
        rows = [{"width": c["width"], "height": c["height"], "crf": crf, "kbps": k, "vmaf_mean": q}
                for c in doc["curves"] for (k, q), crf in zip(c["points"], c["crf"])]
        measured = rd_rows(os.path.join(folder, f"{name}.fast.rd.csv"))
        sizes = sorted({(r["width"], r["height"]) for r in rows}, key=lambda s: (min(s), s))
        truth = curves_from_rows(rd_rows(exh), "vmaf_mean")
        print(f"{name} | the run's rungs: " + " ".join(f"{r['width']}x{r['height']}@{r['bitrate_kbps']}"
                                                      for r in doc["rungs"]))
        for rule, (discount, never) in RULES.items():
            evidence = S.evidence_of(measured, S.FAST_EVIDENCE_RATIO, sizes=sizes, skip_twins=S.skips_twins(None),
                                     discount=discount, unmeasured=never)
            rungs = choose_ladder(curves_from_rows(rows, "vmaf_mean"), policy, evidence).rungs
            loss = ladder_loss(score_ladder(rungs, truth, policy))
            losses[rule].append(loss)
            print(f"   {rule:15s} {loss:+7.2f} %  " + " ".join(f"{r.width}x{r.height}@{r.kbps:.0f}" for r in rungs))
    print("\n| rule | clips | median | mean | worst |\n|---|---|---|---|---|")
    for rule, v in losses.items():
        if v:
            print(f"| {rule} | {len(v)} | {statistics.median(v):+.2f} % | {statistics.mean(v):.2f} % | {max(v):+.2f} % |")


if __name__ == "__main__":
    main()
