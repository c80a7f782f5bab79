"""Loading a model file, side by side: the shipped models against other model files.

    python bench/model_load.py [MODEL.skops ...] [--repeat 5]

Each file is loaded ``--repeat`` times, the files alternating so that all see the same machine
load (scikit-learn and skops are imported once, before the first timing). Prints per file: its
size, arrays in the zip, ensemble members, format, and the median load time. The shipped models
are always in the table; give older model files to compare (e.g. from `git show
REV:ladders/models/default.skops > old.skops`).
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
import zipfile

from pertitle.ladders import model as M
from pertitle.pipeline import models as T


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="*")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    files = [T.shipped_model_path(n) for n in T.SHIPPED] + list(args.models)
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
    print(f"{'model file':40} {'MB':>6} {'arrays':>7} {'members':>7} {'format':>6} {'load s':>7}")
    for f in files:
        with zipfile.ZipFile(f) as z:
            arrays = sum(n.endswith(".npy") for n in z.namelist())
        name = os.path.relpath(f) if len(os.path.relpath(f)) < 40 else "..." + f[-37:]
        print(f"{name:40} {os.path.getsize(f) / 1e6:6.2f} {arrays:7d} {info[f][0]:7} {info[f][1]:6} "
              f"{statistics.median(times[f]):7.2f}")


if __name__ == "__main__":
    main()
