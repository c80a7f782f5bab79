"""Feature extraction cost against the decode floor, side by side per clip.

    python bench/features_cost.py [CORPUS_DIR] [--repeat 3] [--json out.json]

For each clip: the wall time of `ffmpeg -i clip -map 0:v:0 -f null -` (FFmpeg's own decode of the
whole video, default threads) and of `encoder.features.extract` (in-process), alternated and
repeated so both see the same machine load; the median of each and their ratio. Target: the
ratio is at most 0.5.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from encoder.batch import discover  # noqa: E402
from _common import decode_seconds  # noqa: E402
from encoder.features import extract  # noqa: E402
from encoder.ffmpeg import locate  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus", nargs="?", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "corpus"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    ff = locate()
    clips = discover(a.corpus)
    extract(clips[0])  # warm imports (scipy.fft, av codecs) once, as a long-running process would
    rows = []
    print(f"{'clip':44} {'decode s':>9} {'features s':>10} {'ratio':>6}")
    for c in clips:
        dec, feat = [], []
        for _ in range(a.repeat):
            dec.append(decode_seconds(ff.path, c, repeat=1))
            t0 = time.perf_counter()
            extract(c)  # probe (validation) included
            feat.append(time.perf_counter() - t0)
        d, f = statistics.median(dec), statistics.median(feat)
        rows.append({"clip": os.path.basename(c), "decode_s": round(d, 4), "features_s": round(f, 4),
                     "ratio": round(f / d, 3)})
        print(f"{os.path.basename(c)[:44]:44} {d:9.3f} {f:10.3f} {f / d:6.2f}")
    ratios = [r["ratio"] for r in rows]
    print(f"median ratio {statistics.median(ratios):.2f}, worst {max(ratios):.2f} "
          f"(target <= 0.5); total {sum(r['features_s'] for r in rows):.1f} s of features vs "
          f"{sum(r['decode_s'] for r in rows):.1f} s of decoding")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()
