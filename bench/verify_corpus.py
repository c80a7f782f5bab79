"""Re-encode the rungs of a batch's ladders as delivered and check them against the hull.

    python bench/verify_corpus.py OUTDIR [--cache DIR] [--jobs 2] [--md out.md] [--json out.json]

OUTDIR is a `pertitle batch` output. For every ladder: its rungs (WxH@kbps), the BD-rate saving
against the Apple HLS ladder (from the ladder file), the re-encoded rungs (libx264 2-pass at the
rung bitrates, with the rung's VBV and GOP) against the measured hull (BD-rate; ~0 means the hull
and the rung choice are right), the VMAF error of the ladder's expectations, and the analysis
wall time next to the time FFmpeg needs to decode the analysed excerpt once.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import statistics

from _common import decode_seconds
from pertitle.encoder.cache import Cache, default_root
from pertitle.encoder.ffmpeg import locate
from pertitle.pipeline.verify import verify_ladder
from pertitle.ladders.document import load


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("--cache", default=None)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--md", default=None)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    ff = locate()
    cache = Cache(a.cache or default_root())
    rows = []
    for path in sorted(glob.glob(os.path.join(a.outdir, "**", "*.ladder.json"), recursive=True)):
        doc = load(path)
        v = verify_ladder(doc, ff, cache, jobs=a.jobs)
        an = doc.get("analysed", {})
        dec = decode_seconds(ff.path, doc["source"]["path"], float(an.get("start_s") or 0), an.get("duration_s"))
        comp = doc.get("comparison") or {}
        row = {
            "clip": os.path.basename(doc["source"]["path"]),
            "ladder": " ".join(f"{r['width']}x{r['height']}@{r['bitrate_kbps']}" for r in doc["rungs"]),
            "bd_vs_apple_pct": comp.get("bd_rate_pct"),
            "top_saving_pct": (comp.get("top_rung") or {}).get("saving_pct"),
            "verify_bd_vs_hull_pct": v.get("bd_rate_vs_hull_pct"),
            "verify_vmaf_mae": v.get("vmaf_mae"),
            "rate_error_pct": [r["rate_error_pct"] for r in v["rungs"]],
            # the sweep's encode + measure seconds over the jobs it ran with (cache-proof)
            "analysis_s": round(doc["sweep"].get("point_s", doc["sweep"]["wall_s"]) / a.jobs, 1),
            "encodes": doc["sweep"]["encodes"],
            "decode_s": round(dec, 3),
        }
        row["analysis_over_decode"] = round(row["analysis_s"] / dec) if dec else None
        rows.append(row)
        print(json.dumps(row), flush=True)
    lines = ["| clip | ladder (WxH@kbps) | BD vs Apple | 2-pass rungs vs hull (BD) | VMAF MAE | analysis s | decode s | ratio |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        bd = f"{r['bd_vs_apple_pct']:+.1f}%" if r["bd_vs_apple_pct"] is not None else "n/a"
        vb = f"{r['verify_bd_vs_hull_pct']:+.2f}%" if r["verify_bd_vs_hull_pct"] is not None else "n/a (1 rung)"
        lines.append(f"| {r['clip']} | {r['ladder']} | {bd} | {vb} | {r['verify_vmaf_mae']} | {r['analysis_s']:.0f} | "
                     f"{r['decode_s']:.2f} | {r['analysis_over_decode']}x |")
    vb = [r["verify_bd_vs_hull_pct"] for r in rows if r["verify_bd_vs_hull_pct"] is not None]
    ab = [r["bd_vs_apple_pct"] for r in rows if r["bd_vs_apple_pct"] is not None]
    if vb:
        lines.append(f"\n2-pass rungs vs measured hull: median {statistics.median(vb):+.2f}%, "
                     f"worst {max(vb):+.2f}%, best {min(vb):+.2f}% over {len(vb)} clips; "
                     f"BD vs Apple ladder: median {statistics.median(ab):+.1f}%")
    table = "\n".join(lines)
    print(table)
    if a.md:
        with open(a.md, "w") as fh:
            fh.write(table + "\n")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()
