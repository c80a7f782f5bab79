"""Two installs of the ``pertitle`` command, side by side on the same clips: wall time and output.

    python bench/cli_ab.py OLD_PERTITLE NEW_PERTITLE [CORPUS_DIR] [--clips a.mp4,b.mp4]
                           [--args "analyze {clip} --fast --duration 6"] [--repeat 2]
                           [--json out.json] [--md out.md]

For a change that should make a mode faster without changing what it writes (e.g. the fast mode's
model loading beside its features and reference decode): each clip is run with both commands,
alternating which goes first, each run with a fresh cache in a fresh folder, as a user runs it
(a new process: interpreter start and imports included). Reported per clip: the median wall time
of each and their ratio, and whether the two wrote the same rungs. The clip set is bench/modes.py's
fixed one unless given. Ratios, not seconds: the machine is shared and noisy.
"""
from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import tempfile

from _common import timed_run, write_results
from modes import CLIPS


def run_once(exe: str, args: list[str], clip: str) -> tuple[float, list]:
    tmp = tempfile.mkdtemp(prefix="pertitle-ab-")
    try:
        argv = [exe, *[a.replace("{clip}", clip) for a in args], "--cache", os.path.join(tmp, "cache")]
        doc, wall = timed_run(argv, os.path.join(tmp, "out.json"))
        return wall, [(r["width"], r["height"], r["bitrate_kbps"]) for r in doc["rungs"]]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("corpus", nargs="?", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "corpus"))
    ap.add_argument("--clips", default=",".join(CLIPS))
    ap.add_argument("--args", default="analyze {clip} --fast --duration 6")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--json", default=None)
    ap.add_argument("--md", default=None)
    a = ap.parse_args()
    args = shlex.split(a.args)
    rows = []
    for name in a.clips.split(","):
        clip = os.path.join(a.corpus, name)
        walls: dict[str, list[float]] = {"old": [], "new": []}
        rungs: dict[str, list] = {"old": [], "new": []}
        for i in range(a.repeat):
            order = ("old", "new") if i % 2 == 0 else ("new", "old")
            for which in order:
                w, r = run_once(getattr(a, which), args, clip)
                walls[which].append(w)
                rungs[which].append(r)
        old_s, new_s = statistics.median(walls["old"]), statistics.median(walls["new"])
        same = all(r == rungs["old"][0] for r in rungs["old"] + rungs["new"])
        rows.append({"clip": name, "old_s": round(old_s, 2), "new_s": round(new_s, 2),
                     "ratio": round(new_s / old_s, 3), "same_rungs": same,
                     "walls": walls})
        print(f"{name}: old {old_s:.2f} s, new {new_s:.2f} s, x{new_s / old_s:.3f}, same rungs: {same}", flush=True)
    lines = [f"`{a.args}`, {a.repeat} runs each, alternating", "",
             "| clip | old s | new s | new / old | same rungs |", "|---|---|---|---|---|"]
    lines += [f"| {r['clip']} | {r['old_s']} | {r['new_s']} | {r['ratio']} | {r['same_rungs']} |" for r in rows]
    ratios = [r["ratio"] for r in rows]
    lines += ["", f"new / old: median {statistics.median(ratios):.3f} (min {min(ratios):.3f}, max {max(ratios):.3f}); "
              f"same rungs on {sum(r['same_rungs'] for r in rows)} of {len(rows)} clips"]
    write_results("\n".join(lines), {"args": a.args, "repeat": a.repeat, "rows": rows}, a.json, a.md)


if __name__ == "__main__":
    main()
