"""Replay ``predict`` with its ladder chosen among the consensus ladder and the ensemble members'
own ladders, by the loss each candidate is expected to have over the members (a decision over
the model's spread instead of the ladder of the members' mean curves).

    OMP_NUM_THREADS=1 python bench/search_replay.py priors samples/training_dataset.csv \\
        -o /tmp/m_A.json.gz --only verify --members [--fold-seed 7|11]      # ~14 min each
    python bench/member_rules.py samples/training_dataset.csv /tmp/m_A.json.gz [...]   # ~10 min each

For every held-out window: the consensus ladder (what ``predict`` ships) and each member's own
ladder are scored against every member's curves (a member's own ladder not against itself), with
the loss ``pertitle evaluate`` gives a ladder (BD-rate against the exhaustive ladder where one is
defined, else the rate excess over the envelope); the rules pick a candidate by the mean, the
median or the 80th percentile of those losses, or keep the consensus unless the best mean beats
it by more than a margin. The chosen ladder is then judged on the window's exhaustive rows. The
multi-rung columns are over the windows whose exhaustive ladder has two rungs or more, as
``bench/search_replay.py``'s ``multi_*``. Read the one-rung windows' figures with care: a rung
that delivers less quality for less rate is not charged by the envelope loss, so a rule over
the members can gain there by choosing lower rates.
Results: docs/model-guided.md, "Tried in the eighteenth session".
"""
from __future__ import annotations

import argparse
import json

import numpy as np

from pertitle.ladders.evaluate import ladder_loss, score_ladder
from pertitle.ladders.document import curves_from_rows
from pertitle.ladders.policy import LadderPolicy, choose_ladder
from pertitle.ladders.slope import reslope

from search_replay import _open, real_table

RULES = ("consensus", "mean", "median", "p80", "margin 1")


def pick(losses: np.ndarray, rule: str) -> int:
    """The candidate a rule picks from a (candidates x members) loss matrix (NaN: not scored);
    candidate 0 is the consensus ladder."""
    mean = np.nanmean(losses, axis=1)
    if rule == "consensus":
        return 0
    if rule.startswith("margin"):
        best = int(np.nanargmin(mean))
        return best if mean[0] - mean[best] > float(rule.split()[1]) else 0
    agg = {"mean": mean, "median": np.nanmedian(losses, axis=1),
           "p80": np.nanpercentile(losses, 80, axis=1)}[rule]
    return int(np.nanargmin(agg))


def window(g, entry: dict, policy: LadderPolicy) -> dict[str, tuple[float, bool, int, float]]:
    W, H = int(g["ref_width"].iloc[0]), int(g["ref_height"].iloc[0])
    rows, members, _ = reslope(entry["rows"], entry["members"], g.iloc[0].to_dict(), policy, (W, H))
    truth = curves_from_rows(g.to_dict("records"), "vmaf_mean")
    member_curves = [curves_from_rows(m, policy.quality_column) for m in members]
    # each member's own ladder: a candidate, and the exhaustive ladder when that member is the truth
    member_ladders = [choose_ladder(c, policy).rungs for c in member_curves]
    cands = [choose_ladder(curves_from_rows(rows, policy.quality_column), policy).rungs, *member_ladders]
    losses = np.full((len(cands), len(member_curves)), np.nan)
    for a, ladder in enumerate(cands):
        for j, (curves, own) in enumerate(zip(member_curves, member_ladders)):
            if j != a - 1:       # a member's own ladder not against itself
                losses[a, j] = ladder_loss(score_ladder(ladder, curves, policy, exh=own))
    exh = choose_ladder(truth, policy).rungs
    scored: dict[int, dict] = {}      # the rules often pick the same candidate: judge it once
    out = {}
    for rule in RULES:
        k = pick(losses, rule)
        if k not in scored:
            scored[k] = score_ladder(cands[k], truth, policy, exh=exh)
        s = scored[k]
        # multi-rung: the exhaustive ladder has two rungs or more (bench/search_replay.py's multi_*)
        out[rule] = (ladder_loss(s), len(exh) >= 2, k, s["top_ratio"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dataset")
    ap.add_argument("priors", nargs="+", help="priors built with --members")
    args = ap.parse_args()
    dt, policy = real_table(args.dataset), LadderPolicy()
    print("| priors | rule | median | 90th pct | worst | mean | multi-rung median / 90th / mean "
          "| one-rung mean | top rung ±25 % | changed |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for path in args.priors:
        with _open(path) as fh:
            titles = json.load(fh)["titles"]
        res = {r: [] for r in RULES}
        for title, g in dt.groupby("title"):
            if str(title) in titles:
                for rule, v in window(g, titles[str(title)], policy).items():
                    res[rule].append(v)
        for rule in RULES:
            L = np.array([v[0] for v in res[rule]])
            multi = np.array([v[0] for v in res[rule] if v[1]])
            one = np.array([v[0] for v in res[rule] if not v[1]])
            top = np.array([v[3] for v in res[rule]])
            print(f"| {path} | {rule} | {np.median(L):+.2f} % | {np.percentile(L, 90):+.2f} % | {L.max():+.1f} % "
                  f"| {L.mean():.2f} % | {np.median(multi):+.2f} / {np.percentile(multi, 90):+.2f} / "
                  f"{multi.mean():.2f} % ({len(multi)}) | {one.mean():.2f} % ({len(one)}) "
                  f"| {np.mean((top >= 0.8) & (top <= 1.25)):.0%} | {np.mean([v[2] != 0 for v in res[rule]]):.0%} |",
                  flush=True)


if __name__ == "__main__":
    main()
