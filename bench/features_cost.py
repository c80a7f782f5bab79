"""Feature extraction cost against the decode floor, side by side per clip.

    python bench/features_cost.py [CORPUS_DIR] [--repeat 3] [--loop-to 120] [--json out.json]

For each clip: the wall time of `ffmpeg -i clip -map 0:v:0 -f null -` (FFmpeg's own decode of the
whole video, default threads) and of `encoder.features.extract` (in-process), alternated and
repeated so both see the same machine load; the median of each and their ratio. Target: the
ratio is at most 0.5.

Feature extraction decodes a bounded number of frames (one run of at most 24, two single-frame
runs and a packet scan), so its cost barely grows with the title while decoding grows linearly.
The corpus clips are 5-20 s, far shorter than a catalogue title; ``--loop-to S`` also measures
each clip stream-copied end to end into an S-second title (no re-encode: same bits, same
content), the case the target is about.
"""
from __future__ import annotations

import argparse
import math
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time

from pertitle.encoder.discover import discover
from _common import decode_seconds
from pertitle.encoder.features import extract
from pertitle.encoder.ffmpeg import locate
from pertitle.encoder.probe import probe


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus", nargs="?", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "corpus"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--loop-to", type=float, default=0.0, help="also a stream-copied title this long (s)")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    ff = locate()
    clips = discover(a.corpus)
    extract(clips[0])  # warm imports (scipy.fft, av codecs) once, as a long-running process would
    rows = []
    tmp = tempfile.mkdtemp(prefix="pertitle-featbench-")
    print(f"{'clip':44} {'length s':>8} {'decode s':>9} {'features s':>10} {'ratio':>6}")
    try:
        for c in clips:
            variants = [c]
            if a.loop_to:
                dur = probe(c).duration_s
                loops = max(0, math.ceil(a.loop_to / max(dur, 0.1)) - 1)
                looped = os.path.join(tmp, os.path.splitext(os.path.basename(c))[0] + f"_x{loops + 1}.mkv")
                done = subprocess.run([ff.path, "-v", "error", "-y", "-stream_loop", str(loops), "-i", c, "-map",
                                       "0:v:0", "-c", "copy", looped], capture_output=True)
                if done.returncode == 0:
                    variants.append(looped)
                else:  # e.g. AVI without timestamps: cannot be stream-copied into Matroska
                    print(f"{os.path.basename(c)}: no looped copy ({done.stderr.decode(errors='replace').strip()[-80:]})")
            for v in variants:
                rows.append(_measure(ff, v, a.repeat if v == c else 1, looped=v != c))  # long: once
                r = rows[-1]
                print(f"{r['clip'][:44]:44} {r['length_s']:8.1f} {r['decode_s']:9.3f} {r['features_s']:10.3f} "
                      f"{r['ratio']:6.2f}", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for label, sel in (("clips as they are", [r for r in rows if not r["looped"]]),
                       (f"stream-copied to >= {a.loop_to:.0f} s", [r for r in rows if r["looped"]])):
        if not sel:
            continue
        ratios = [r["ratio"] for r in sel]
        print(f"{label}: median ratio {statistics.median(ratios):.3f}, worst {max(ratios):.3f} (target <= 0.5); "
              f"{sum(r['features_s'] for r in sel):.1f} s of features vs {sum(r['decode_s'] for r in sel):.1f} s "
              f"of decoding")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(rows, fh, indent=2)


def _measure(ff, path: str, repeat: int, looped: bool) -> dict:
    dec, feat = [], []
    for _ in range(repeat):
        dec.append(decode_seconds(ff.path, path, repeat=1))
        t0 = time.perf_counter()
        extract(path)  # probe (validation) included
        feat.append(time.perf_counter() - t0)
    d, f = statistics.median(dec), statistics.median(feat)
    return {"clip": os.path.basename(path), "looped": looped,
            "length_s": round(probe(path).duration_s, 2), "decode_s": round(d, 4), "features_s": round(f, 4),
            "ratio": round(f / d, 3)}


if __name__ == "__main__":
    main()
