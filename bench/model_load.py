"""Loading a model file, side by side: the shipped models against other model files.

    python bench/model_load.py [MODEL.skops|MODEL.npz ...] [--repeat 5]

Each file is loaded ``--repeat`` times, the files alternating so that all see the same machine
load (scikit-learn and skops are imported once, before the first timing). Prints per file: its
size, arrays in the zip, ensemble members, format, the median load time, and the median time a
new process takes to import what the file needs, load it and predict one title's grid (54 rows)
— what every ``predict`` / ``--verify`` / ``--fast`` run pays (interpreter start not included).
The shipped models (skops and plain trees) are always in the table; give older model files to
compare (e.g. from `git show REV:ladders/models/default.skops > old.skops`).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import zipfile

from pertitle.ladders import model as M
from pertitle.pipeline import models as T


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="*")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    files = [p for n in T.SHIPPED for p in (T.shipped_model_path(n), T.shipped_trees_path(n))] + list(args.models)
    import sklearn.ensemble  # noqa: F401 - imports are not what is timed
    import skops.io  # noqa: F401

    times: dict[str, list[float]] = {f: [] for f in files}
    info: dict[str, tuple] = {}
    for _ in range(args.repeat):
        for f in files:
            t0 = time.perf_counter()
            model, meta = M.load(f)
            times[f].append(time.perf_counter() - t0)
            info[f] = (meta.get("members"), meta.get("format"))
    fresh: dict[str, list[float]] = {f: [] for f in files}
    for _ in range(args.repeat):
        for f in files:
            out = subprocess.run([sys.executable, "-c", FRESH, f], capture_output=True, text=True, check=True)
            fresh[f].append(float(out.stdout.split()[-1]))
    print(f"{'model file':40} {'MB':>6} {'arrays':>7} {'members':>7} {'format':>12} {'load s':>7} {'fresh s':>7}")
    for f in files:
        with zipfile.ZipFile(f) as z:
            arrays = sum(n.endswith(".npy") for n in z.namelist())
        name = os.path.relpath(f) if len(os.path.relpath(f)) < 40 else "..." + f[-37:]
        print(f"{name:40} {os.path.getsize(f) / 1e6:6.2f} {arrays:7d} {info[f][0]:7} {info[f][1]:>12} "
              f"{statistics.median(times[f]):7.2f} {statistics.median(fresh[f]):7.2f}")


FRESH = """
import sys, time
t0 = time.perf_counter()
from pertitle.ladders import model as M
m, meta = M.load(sys.argv[1])
feats = {c: m.medians_.get(c, 0.0) for c in m.feature_columns}
rows = m.predict_member_rows(feats, [(w, w * 9 // 16) for w in (480, 640, 768, 960, 1280, 1920)],
                             [18.0, 22.0, 26.0, 30.0, 34.0, 38.0, 42.0, 46.0, 50.0], (1920, 1080), 30.0)
print(len(rows), time.perf_counter() - t0)
"""


if __name__ == "__main__":
    main()
