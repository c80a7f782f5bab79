"""One title on many workers: the exhaustive whole-title analysis in chunks on a Dask LocalCluster
of 1, 2, ... workers, side by side in one run (issue 12, item 5).

    python bench/scale_out.py TITLE --truth TRUTH.rd.csv [--workers 1,2] [--chunk-seconds 30]
                              [--json F] [--md F]

Each run is ``pertitle analyze TITLE --cluster local --workers N --chunk-seconds S -j 1`` with a
fresh cache, watched (wall time, peak memory of the process tree, peak work folder). ``--truth``
is the RD table of the same title analysed whole in one piece (``bench/long_titles.py``): the
chunked points are compared with it point by point (bits and VMAF), and the chunked ladder is
judged on its curves (BD-rate against the whole-title ladder; > 0: a loss).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import tempfile

from _common import pertitle_command, write_results
from _watch import watched
from modes import judge

from pertitle.ladders.policy import LadderPolicy


def read_rd(path: str) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        for k in ("width", "height"):
            r[k] = int(r[k])
        for k in ("kbps", "vmaf_mean", "crf"):
            r[k] = float(r[k]) if r.get(k) not in (None, "") else None
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("title")
    ap.add_argument("--truth", required=True, help="RD CSV of the title analysed whole in one piece")
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--chunk-seconds", default="30")
    ap.add_argument("--json", default=None)
    ap.add_argument("--md", default=None)
    a = ap.parse_args()
    truth = read_rd(a.truth)
    by_point = {(r["width"], r["height"], r["crf"]): r for r in truth}
    policy = LadderPolicy()
    rows = []
    for n in [int(x) for x in a.workers.split(",")]:
        tmp = tempfile.mkdtemp(prefix="pertitle-scale-")
        try:
            work = os.path.join(tmp, "work")
            os.mkdir(work)
            out = os.path.join(tmp, "l.json")
            w = watched([*pertitle_command(), "analyze", a.title, "--cluster", "local", "--workers", str(n), "--chunk-seconds",
                         a.chunk_seconds, "-j", "1", "--cache", os.path.join(tmp, "cache"), "--workdir", work, "-q",
                         "-o", out], work)
            if w["rc"] != 0:
                raise SystemExit(f"{n} workers: rc {w['rc']}: {w['stderr'][-600:]}")
            with open(out, encoding="utf-8") as fh:
                doc = json.load(fh)
            rd = read_rd(os.path.join(tmp, "l.rd.csv"))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        dk, dv = [], []
        for r in rd:
            t = by_point.get((r["width"], r["height"], r["crf"]))
            if t:
                dk.append(100.0 * (r["kbps"] / t["kbps"] - 1))
                dv.append(r["vmaf_mean"] - t["vmaf_mean"])
        row = {"workers": n, "s": w["s"], "chunks": doc["sweep"].get("chunks"), "encodes": doc["sweep"]["encodes"],
               "peak_rss_mib": w["peak_rss_mib"], "peak_tmp_mib": w["peak_tmp_mib"],
               "kbps_diff_pct": {"median": round(statistics.median(dk), 2), "min": round(min(dk), 2),
                                 "max": round(max(dk), 2)},
               "vmaf_diff": {"median": round(statistics.median(dv), 2), "min": round(min(dv), 2),
                             "max": round(max(dv), 2)},
               **judge(doc, truth, policy)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    base = rows[0]["s"]   # the first run (1 worker)
    md = [f"Title: {os.path.basename(a.title)}, chunks of ~{a.chunk_seconds} s, one single-threaded encode per worker.",
          "",
          "| workers | wall s | speed-up vs the first | chunks | encodes | peak RSS MiB | peak tmp MiB | kbps vs whole: median (min..max) % "
          "| VMAF vs whole: median (min..max) | ladder BD vs whole-title ladder | rungs |",
          "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        k, v = r["kbps_diff_pct"], r["vmaf_diff"]
        md.append(f"| {r['workers']} | {r['s']} | {base / r['s']:.2f}x | {r['chunks']} | {r['encodes']} | "
                  f"{r['peak_rss_mib']} | {r['peak_tmp_mib']} | {k['median']:+.2f} ({k['min']:+.2f}..{k['max']:+.2f}) | "
                  f"{v['median']:+.2f} ({v['min']:+.2f}..{v['max']:+.2f}) | {r['bd_pct']:+.2f}% | {r['rungs']} |")
    write_results("\n".join(md), {"title": os.path.basename(a.title), "chunk_s": a.chunk_seconds, "rows": rows}, a.json, a.md)


if __name__ == "__main__":
    main()
