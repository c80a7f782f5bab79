"""The fast mode at several libvmaf ``n_subsample`` steps beside one exhaustive analysis, per clip.

    python bench/fast_subsample.py [CORPUS_DIR] --fast-model F.npz [--subsample 3,5] [--clips a.mp4,...]
                                   [--duration 6] [--jobs 2] [--json out.json]
                                   [--reference ../shared/reference/corpus_sweeps_gop2]

The clip set is bench/modes.py's (fixed before its first run). Per clip, in this order, each as the
installed command in a new process with a fresh cache: the exhaustive analysis (VMAF on every
frame), then ``analyze --fast --subsample N`` for each N (the budget is priced with N:
``ladders.search.point_cost``). Printed per clip and run: wall time, speed-up over the exhaustive
run, encodes, BD-rate against the exhaustive ladder on its measured curves (bench/modes.py's
judge), and the subsample's error: each fast point's VMAF minus the exhaustive run's at the same
(size, CRF) (the same encode: x264 is deterministic here, ``max_kbps_dev`` checks it), as the mean
and SD per clip, and over all clips the SD of the clips' means (``offset``) and of the points
around their clip's mean (``point``): what ``bench/search_replay.py run --noise`` models.
Use a fast model trained without the clips' groups (bench/modes.py's GROUPS).

With ``--reference DIR`` the exhaustive analysis is not run: each clip's truth is its independent
sweep in DIR (``<clip stem>.json``, the first 6 s at this project's default settings; every clip
there unless ``--clips``), used only where a fast point's encode is the sweep's to the byte (the
others are counted, ``unmatched``). There is no speed-up then, and BD-rates judged on the sweep
flatter the model unless it was trained without the clip; the error is what this mode is for.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile

from modes import CLIPS, judge, run_cli

from pertitle.ladders.policy import LadderPolicy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus", nargs="?", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "corpus"))
    ap.add_argument("--fast-model", default=None,
                    help="a no-probe model trained without the clips' groups (default: the shipped one, "
                         "trained on the corpus: its BD-rates flatter it, its errors do not depend on it)")
    ap.add_argument("--subsample", default="3,5", help="the steps to run the fast mode with (odd)")
    ap.add_argument("--clips", default=None, help="comma-separated file names (default: bench/modes.py's set, "
                                                  "or with --reference every sweep there)")
    ap.add_argument("--duration", type=float, default=6.0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--json", default=None)
    ap.add_argument("--reference", default=None, metavar="DIR",
                    help="truth from the independent sweeps in DIR instead of an exhaustive run")
    a = ap.parse_args()
    subs = [int(s) for s in a.subsample.split(",")]
    if a.clips:
        names = a.clips.split(",")
    elif a.reference:
        names = sorted(f[:-5] for f in os.listdir(a.reference) if f.endswith(".json"))
    else:
        names = CLIPS
    out = []
    for name in names:
        with tempfile.TemporaryDirectory(prefix="pertitle-subsample-") as tmp:
            row = one_clip(a, name, subs, tmp)
        out.append(row)
        print(json.dumps(row), flush=True)
    print(table(out, subs))
    if a.json:
        with open(a.json, "w", encoding="utf-8") as fh:
            json.dump(out, fh, indent=1)


def one_clip(a, name: str, subs: list[int], tmp: str) -> dict:
    """One clip: its truth (an exhaustive run, or its reference sweep) and a fast run per step,
    their caches and documents in ``tmp``."""
    policy = LadderPolicy()
    model = ["--model", a.fast_model] if a.fast_model else []
    if a.reference:
        with open(os.path.join(a.reference, os.path.splitext(name)[0] + ".json"), encoding="utf-8") as fh:
            ref = json.load(fh)
        clip = os.path.join(a.corpus, ref["source"])
        common = ["--duration", str(ref["seconds"]), "-j", str(a.jobs)]
        truth = [{**p, "kbps": float(p["kbps"]), "crf": float(p["crf"])} for p in ref["points"]]
        t_ex = None
        row = {"clip": ref["source"], "ex_s": None, "ex_encodes": len(truth)}
    else:
        clip = os.path.join(a.corpus, name)
        common = ["--duration", str(a.duration), "-j", str(a.jobs)]
        ex, truth, t_ex = run_cli(["analyze", clip, *common, "--cache", os.path.join(tmp, "ce")], tmp, "ex")
        row = {"clip": name, "ex_s": round(t_ex, 1), "ex_encodes": ex["sweep"]["encodes"],
               "ex_rungs": judge(ex, truth, policy)["rungs"]}
    key = {(r["width"], r["height"], r["crf"]): r for r in truth}
    for s in subs:
        doc, rd, t = run_cli(["analyze", clip, "--fast", *common, *model, "--subsample", str(s),
                              "--cache", os.path.join(tmp, f"c{s}")], tmp, f"f{s}")
        pts = [(r, key.get((r["width"], r["height"], r["crf"]))) for r in rd]
        # the same encode: with a reference sweep, only where its bytes are the sweep's
        same = [(r, e) for r, e in pts if e is not None
                and (not a.reference or int(float(r["bytes"])) == int(e["bytes"]))]
        row[f"f{s}"] = {"s": round(t, 1), "speedup": None if t_ex is None else round(t_ex / t, 2),
                        "encodes": doc["sweep"]["encodes"], "stop": doc["sweep"]["search"]["stop"],
                        **judge(doc, truth, policy),
                        "err": [round(r["vmaf_mean"] - e["vmaf_mean"], 3) for r, e in same],
                        "max_kbps_dev": max((abs(r["kbps"] / e["kbps"] - 1) for r, e in same), default=None),
                        "unmatched": len(rd) - len(same)}
    return row


def table(rows: list[dict], subs: list[int]) -> str:
    head = "| clip | exhaustive s | " + " | ".join(f"every {s}: s, x, encodes, BD %, error mean / SD" for s in subs) + " |"
    lines = [head, "|" + "---|" * (2 + len(subs))]
    for r in rows:
        cells = []
        for s in subs:
            f = r[f"f{s}"]
            e = f["err"] or [0.0]
            x = "-" if f["speedup"] is None else f"{f['speedup']:.2f}x"
            cells.append(f"{f['s']} s, {x}, {f['encodes']}, {f['bd_pct']:+.2f}, "
                         f"{statistics.mean(e):+.3f} / {statistics.pstdev(e):.3f}")
        lines.append(f"| {r['clip']} | {r['ex_s'] if r['ex_s'] is not None else '-'} | " + " | ".join(cells) + " |")
    for s in subs:
        bd = sorted(r[f"f{s}"]["bd_pct"] for r in rows)
        sp = sorted(r[f"f{s}"]["speedup"] for r in rows if r[f"f{s}"]["speedup"] is not None)
        errs = [r[f"f{s}"]["err"] for r in rows if r[f"f{s}"]["err"]]
        means = [statistics.mean(e) for e in errs]
        within = [x - statistics.mean(e) for e in errs for x in e]
        speed = f"speed-up median {statistics.median(sp):.2f}x, lowest {sp[0]:.2f}x; " if sp else ""
        lines.append(f"\nevery {s}: BD median {statistics.median(bd):+.2f} %, worst {bd[-1]:+.2f} %; {speed}"
                     f"{sum(r[f'f{s}']['encodes'] for r in rows)} encodes in {sum(r[f'f{s}']['s'] for r in rows):.1f} s; "
                     f"error offset SD {statistics.pstdev(means):.3f}, point SD {statistics.pstdev(within):.3f} "
                     f"({sum(map(len, errs))} points, {sum(r[f'f{s}'].get('unmatched', 0) for r in rows)} unmatched)")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
