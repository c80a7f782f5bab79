"""Whole titles: does analysing 6 excerpts of 2 s (one GOP each; the defaults) give the ladder of analysing all of it?

    python bench/long_titles.py [LONG_DIR] --cache DIR [--titles a.mp4,b.mp4] [--jobs 2]
                                [--out bench/results/long] [--json F] [--md F]
    python bench/long_titles.py TITLES_DIR --set multi --cache DIR ...   (titles of bench/make_titles.py)

For each title (the fixed list ``TITLES``, cheapest first; ``--titles`` runs a subset and the
table says which): the exhaustive analysis of the **whole title** is the ground truth (its RD
table and ladder are written to ``--out``; it is resumable through ``--cache``: hours of CPU for
the long ones). Then four analyses of 6 excerpts of 2 s (the tool's defaults: one GOP each; until
2026-11-29 the bench used 4 x 3 s, which cut GOPs), each with a fresh cache so that its wall time
is real: the excerpts placed evenly or chosen from the title's structure (``--sampling content``),
analysed exhaustively or with ``--fast``. Each ladder is judged on the whole title's
measured curves: BD-rate of its rungs against the whole-title ladder (> 0: a loss). Wall times are
compared with FFmpeg decoding the whole title once.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time

from _common import decode_seconds, write_results
from modes import judge

from pertitle.core.fsutil import atomic_write_text, to_json
from pertitle.encoder.cache import Cache
from pertitle.encoder.ffmpeg import locate
from pertitle.ladders.policy import LadderPolicy
from pertitle.pipeline.analyze import analyze
from pertitle.pipeline.batch import rd_csv_writer
from pertitle.pipeline.common import AnalysisOptions

# Fixed before the first run: every title of ../shared/corpus/long, cheapest whole-title sweep first.
TITLES = [
    "threejsworkshop_sintel_trailer_480x204.mp4",               # 52 s, film trailer, cuts
    "pdvc_idol_show_intro_multiscene_640x360.mp4",              # 59 s, stage show, dissolves
    "eurocordex_climate_map_viewer_screencast_400x394.mp4",     # 68 s, screen content
    "intel_one_by_one_person_walkup_768x432.mp4",               # 139 s, static camera, people
    "vimmundo_terminal_screencast_1096x730.mp4",                # 93 s, terminal screencast
    "killidynamics_embryo_microscopy_timelapse_896x672.mp4",    # 342 s, microscopy timelapse
]
MULTI = [
    "mixed_640x360.mp4",      # 164 s, 15 distinct scenes of 5-18 s (bench/make_titles.py)
    "episode_960x540.mp4",    # 151 s, long calm scenes with four short demanding bursts
    "feature_640x360.mp4",    # 743 s, 71 distinct scenes of 7-14 s: run with --no-fast (no model is held out from it)
]
VARIANTS = [("even", False), ("content", False), ("even", True), ("content", True)]
GROUPS = sorted({t.split("_", 1)[0] for t in TITLES})
"""The CV groups of the titles: the --fast model must be trained without them (for ``--set multi``:
``python bench/make_titles.py --groups``)."""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("long_dir", nargs="?", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared",
                                                                "corpus", "long"))
    ap.add_argument("--set", choices=["long", "multi"], default="long")
    ap.add_argument("--titles", default=None)
    ap.add_argument("--cache", required=True, help="cache of the whole-title sweeps (resumable)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "long"))
    ap.add_argument("--json", default=None)
    ap.add_argument("--md", default=None)
    ap.add_argument("--model", default=None, help="for --fast: a model trained without these titles' groups")
    ap.add_argument("--no-fast", action="store_true", help="only the exhaustive analyses of the excerpts (for a "
                    "title no model can be held out from)")
    a = ap.parse_args()
    order = TITLES if a.set == "long" else MULTI
    a.titles = a.titles or ",".join(order)
    ff = locate()
    policy = LadderPolicy()
    os.makedirs(a.out, exist_ok=True)
    rows = previous_rows(a.json, a.titles.split(","))
    rank = {t: i for i, t in enumerate(order)}
    for name in a.titles.split(","):
        path = os.path.join(a.long_dir, name)
        stem = os.path.splitext(name)[0]
        t0 = time.perf_counter()
        whole = analyze(path, AnalysisOptions(jobs=a.jobs, policy=policy), ff, Cache.open(a.cache))
        t_whole = time.perf_counter() - t0
        truth = whole.sweep.rows
        atomic_write_text(os.path.join(a.out, stem + ".ladder.json"), to_json(whole.document))
        writer = rd_csv_writer(whole.rd_table())
        with open(os.path.join(a.out, stem + ".rd.csv"), "w", encoding="utf-8", newline="") as fh:
            writer(fh)
        floor = decode_seconds(ff.path, path, repeat=1)
        row = {"title": name, "duration_s": round(whole.source.duration_s, 1), "decode_s": round(floor, 2),
               "whole": {"encodes": len(truth), "sweep_s": whole.document["sweep"].get("wall_s"),
                         "this_run_s": round(t_whole, 1), "rungs": judge(whole.document, truth, policy)["rungs"]}}
        for sampling, fast in VARIANTS:
            if fast and a.no_fast:
                continue
            tmp = tempfile.mkdtemp(prefix="pertitle-long-")
            try:
                opts = AnalysisOptions(segments=6, segment_s=2.0, sampling=sampling, fast=fast, jobs=a.jobs,
                                       policy=policy, model_path=a.model)
                t0 = time.perf_counter()
                an = analyze(path, opts, ff, Cache.open(os.path.join(tmp, "c")), workdir=tmp)
                wall = time.perf_counter() - t0
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            key = f"{'fast' if fast else 'exhaustive'}_{sampling}"
            row[key] = {"s": round(wall, 1), "x_decode": round(wall / floor, 2),
                        "encodes": an.document["sweep"]["encodes"],
                        "segments": an.document["analysed"].get("segments"), **judge(an.document, truth, policy)}
        rows = [r for r in rows if r["title"] != name] + [row]
        rows.sort(key=lambda r: rank.get(r["title"], len(rank)))
        print(json.dumps(row), flush=True)
        write(rows, a)   # after every title: hours of CPU, results kept as they come


def previous_rows(path: str | None, titles: list[str]) -> list[dict]:
    """The rows of an earlier run that this one does not redo (a run of one title keeps the others)."""
    if not path or not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as fh:
        return [r for r in json.load(fh)["rows"] if r["title"] not in titles]


def write(rows: list[dict], a) -> None:
    md = ["| title | s | decode s | whole: encodes, rungs | excerpts, exhaustive: even / content (BD vs whole; "
          "top rung x whole's) | --fast: even / content (BD, wall s, x decode; top rung x whole's) |",
          "|---|---|---|---|---|---|"]
    for r in rows:
        ee, ec = r["exhaustive_even"], r["exhaustive_content"]
        fast = " / ".join(f"{v['bd_pct']:+.2f}% ({v['s']} s, {v['x_decode']}x; x{v['top_ratio']:.2f})" if v
                          else "not run" for v in (r.get("fast_even"), r.get("fast_content")))
        md.append(f"| {r['title']} | {r['duration_s']} | {r['decode_s']} | {r['whole']['encodes']}, "
                  f"{r['whole']['rungs']} | {ee['bd_pct']:+.2f}% (x{ee['top_ratio']:.2f}) / "
                  f"{ec['bd_pct']:+.2f}% (x{ec['top_ratio']:.2f}) | {fast} |")
    write_results("\n".join(md), {"rows": rows, "titles": [r["title"] for r in rows]}, a.json, a.md)


if __name__ == "__main__":
    main()
