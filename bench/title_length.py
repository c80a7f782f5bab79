"""How the cost of a sampled --fast analysis grows with the title's length (issue 12, item 3).

    python bench/title_length.py TITLES_DIR --model M.skops [--json F] [--md F]

The titles (``TITLES``, made by ``bench/make_titles.py``) hold the same 15 real scenes at 1080p:
once (2.7 min), 4 times (10.9 min) and 8 times (21.9 min). Each is analysed as a user would run
it: ``pertitle analyze TITLE --fast --sampling content|even --no-cache --workdir W``, with its
process tree watched: wall time, peak resident memory of pertitle and all its FFmpeg processes,
peak size of the work folder. The floor is FFmpeg decoding the whole title once (same machine,
same run). Targets: at most 10x one decode on titles of 10 minutes or more; memory and temporary
disk flat in the title's length. The ladders of the repeated titles should be the base title's
(the same content in the same proportions); they are listed for that check.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile

from _common import decode_seconds, pertitle_command, write_results
from _watch import watched

from pertitle.encoder.ffmpeg import locate

TITLES = ["mixed_1920x1080.mp4", "mixed_1920x1080_x4.mp4", "mixed_1920x1080_x8.mp4"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("titles_dir")
    ap.add_argument("--model", required=True, help="trained without the scenes' groups (make_titles.py --groups)")
    ap.add_argument("--sampling", default="content,even")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--json", default=None)
    ap.add_argument("--md", default=None)
    a = ap.parse_args()
    ff = locate()
    rows = []
    for name in TITLES:
        path = os.path.join(a.titles_dir, name)
        floor = decode_seconds(ff.path, path, repeat=1)
        row = {"title": name, "decode_s": round(floor, 1)}
        for sampling in a.sampling.split(","):
            tmp = tempfile.mkdtemp(prefix="pertitle-len-")
            try:
                work = os.path.join(tmp, "work")
                os.mkdir(work)
                out = os.path.join(tmp, "l.json")
                w = watched([*pertitle_command(), "analyze", path, "--fast", "--sampling", sampling, "--model", a.model,
                             "--no-cache", "--workdir", work, "-j", str(a.jobs), "-q", "-o", out], work)
                if w["rc"] != 0:
                    raise SystemExit(f"{name} {sampling}: rc {w['rc']}: {w['stderr'][-400:]}")
                with open(out, encoding="utf-8") as fh:
                    doc = json.load(fh)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            row["duration_s"] = round(doc["source"]["duration_s"], 1)
            row[sampling] = {"s": w["s"], "x_decode": round(w["s"] / floor, 2), "peak_rss_mib": w["peak_rss_mib"],
                             "peak_tmp_mib": w["peak_tmp_mib"], "encodes": doc["sweep"]["encodes"],
                             "structure_s": (doc["analysed"].get("sampling") or {}).get("structure_s"),
                             "rungs": " ".join(f"{r['width']}x{r['height']}@{r['bitrate_kbps']}" for r in doc["rungs"])}
        rows.append(row)
        print(json.dumps(row), flush=True)
        write(rows, a)


def write(rows: list[dict], a) -> None:
    samplings = a.sampling.split(",")
    md = ["| title | min | decode s | " + " | ".join(f"--fast {s}: wall s (x decode), peak RSS MiB, peak tmp MiB, "
                                                    "encodes" for s in samplings) + " |",
          "|---|---|---|" + "---|" * len(samplings)]
    for r in rows:
        cells = [f"{r[s]['s']} ({r[s]['x_decode']}x), {r[s]['peak_rss_mib']}, {r[s]['peak_tmp_mib']}, {r[s]['encodes']}"
                 for s in samplings]
        md.append(f"| {r['title']} | {r['duration_s'] / 60:.1f} | {r['decode_s']} | " + " | ".join(cells) + " |")
    md.append("")
    md.append("| title | " + " | ".join(f"ladder ({s})" for s in samplings) + " |")
    md.append("|---|" + "---|" * len(samplings))
    for r in rows:
        md.append(f"| {r['title']} | " + " | ".join(r[s]["rungs"] for s in samplings) + " |")
    write_results("\n".join(md), {"rows": rows}, a.json, a.md)


if __name__ == "__main__":
    main()
