"""Exhaustive vs fast vs predict vs predict --verify 6 on one fixed clip set, side by side in one run.

    python bench/modes.py [CORPUS_DIR] --model M.skops --fast-model F.skops [--clips a.mp4,b.mp4] [--duration 6]
                          [--jobs 2] [--json out.json] [--md out.md]

The clip set is fixed here (``CLIPS``) before anything is run, and every clip is reported. Per clip,
on the same machine load, each mode with a fresh cache: wall time, trial encodes, and the ladder's
BD-rate against the exhaustive ladder, judged on the exhaustive run's *measured* curves (each rung
read off its size's measured curve at its bitrate; > 0: a loss), plus the loss against the measured
hull minus the exhaustive ladder's own (what an independent check reports). Ratios, not seconds,
are the result: the machine is shared and noisy. The floor is FFmpeg decoding the excerpt once.

Use ``--model`` (predict, verify: with the probe encode's features) and ``--fast-model`` (the fast
mode's: ``pertitle train --no-probe``), both trained *without* the benchmarked clips' groups
(``pertitle train`` on the table minus those groups), or the numbers flatter the model.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time

from _common import decode_seconds

from pertitle.encoder.cache import Cache
from pertitle.encoder.ffmpeg import locate
from pertitle.ladders.document import curves_from_rows
from pertitle.ladders.evaluate import score_ladder
from pertitle.ladders.policy import LadderPolicy, Rung
from pertitle.pipeline.analyze import analyze
from pertitle.pipeline.common import AnalysisOptions
from pertitle.pipeline.predict import predict_ladder

# Fixed before the first run: ten real clips of different kinds, all <= 720p (the exhaustive
# analysis of each takes 0.5-3 min here), none of them synthetic.
CLIPS = [
    "sam2_juggle_1280x720.mp4",                             # sports, camera motion
    "mdn_flower_960x540.mp4",                               # nature macro, slow
    "realesrgan_onepiece_anime_640x480.mp4",                # 2D anime
    "cotracker_davis_bear_854x480.mp4",                     # animal, outdoor
    "qfield_map_app_screencast_1139x540.webm",              # screen content
    "lapses_snowy_courtyard_timelapse_1280x720.mp4",        # timelapse, 10 fps
    "videollama_stage_performer_lowlight_720x480.mp4",      # low light
    "askanything_animated_drawings_splitscreen_1280x720.mp4",  # animation, split screen
    "propainter_drone_car_on_snow_972x540.mp4",             # drone
    "liveportrait_woman_outdoor_bokeh_1280x720.mp4",        # talking head, bokeh
]
GROUPS = sorted({c.split("_", 1)[0] for c in CLIPS})
"""The CV groups of the clips: a benchmark model must be trained without all of them."""


def rungs_of(doc: dict) -> list[Rung]:
    return [Rung(r["width"], r["height"], float(r["bitrate_kbps"]), float(r["vmaf"])) for r in doc["rungs"]]


def judge(doc: dict, truth_rows: list[dict], policy: LadderPolicy) -> dict:
    s = score_ladder(rungs_of(doc), curves_from_rows(truth_rows, "vmaf_mean"), policy)
    bd = s["bd_rate_pct"] if s["bd_rate_pct"] is not None else s["envelope_loss_pct"]
    return {"bd_pct": round(bd, 2),
            "hull_loss_pct": None if s["hull_loss_pct"] is None else round(s["hull_loss_pct"], 2),
            "top_ratio": round(s["top_ratio"], 3), "vmaf_bias": round(s["vmaf_bias"], 2),
            "rungs": " ".join(f"{r['width']}x{r['height']}@{r['bitrate_kbps']}" for r in doc["rungs"])}


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus", nargs="?", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "corpus"))
    ap.add_argument("--clips", default=",".join(CLIPS), help="comma-separated file names (default: the fixed set)")
    ap.add_argument("--duration", type=float, default=6.0)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--verify", type=int, default=6)
    ap.add_argument("--model", required=True, help="a model trained without the clips' groups")
    ap.add_argument("--fast-model", default=None,
                    help="the fast mode's model, trained without the clips' groups (default: --model)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--md", default=None)
    a = ap.parse_args()
    ff = locate()
    policy = LadderPolicy()
    base = AnalysisOptions(duration_s=a.duration, jobs=a.jobs, policy=policy, model_path=a.model)
    rows = []
    for name in a.clips.split(","):
        c = os.path.join(a.corpus, name)
        tmp = tempfile.mkdtemp(prefix="pertitle-bench-")
        try:
            floor = decode_seconds(ff.path, c, 0.0, a.duration)
            ex, t_ex = timed(lambda: analyze(c, base, ff, Cache.open(os.path.join(tmp, "c1"))))
            truth = ex.sweep.rows
            fast_opts = AnalysisOptions(**{**base.__dict__, "fast": True, "model_path": a.fast_model or a.model})
            fa, t_fa = timed(lambda: analyze(c, fast_opts, ff, Cache.open(os.path.join(tmp, "c2"))))
            pr, t_pr = timed(lambda: predict_ladder(c, base, ff=ff, cache=Cache.open(os.path.join(tmp, "c3"))))
            ve, t_ve = timed(lambda: predict_ladder(c, base, verify=a.verify, ff=ff,
                                                    cache=Cache.open(os.path.join(tmp, "c4"))))
            search = fa.document["sweep"]["search"]
            row = {
                "clip": name, "floor_s": round(floor, 3),
                "exhaustive": {"s": round(t_ex, 1), "encodes": len(truth), "x_floor": round(t_ex / floor),
                               "rungs": judge(ex.document, truth, policy)["rungs"]},
                "fast": {"s": round(t_fa, 1), "encodes": fa.document["sweep"]["encodes"],
                         "speedup": round(t_ex / t_fa, 2), "stop": search["stop"],
                         "cost_share": round(search["cost"] / search["exhaustive_cost"], 3),
                         "unbacked": search.get("unbacked_rungs", []), **judge(fa.document, truth, policy)},
                "predict": {"s": round(t_pr, 2), "speedup": round(t_ex / t_pr), "confident": pr["prediction"].get("confident"),
                            "top_interval": pr["prediction"].get("top_kbps_interval"), **judge(pr, truth, policy)},
                f"verify{a.verify}": {"s": round(t_ve, 1), "encodes": ve["prediction"]["verify_encodes"],
                                      "speedup": round(t_ex / t_ve, 1), **judge(ve, truth, policy)},
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    v = f"verify{a.verify}"

    def med(mode, key):
        return statistics.median(r[mode][key] for r in rows)

    def p90(mode, key):
        vals = sorted(r[mode][key] for r in rows)
        return vals[min(len(vals) - 1, int(round(0.9 * (len(vals) - 1))))]

    summary = {
        "fast": {"speedup_median": med("fast", "speedup"), "speedup_min": min(r["fast"]["speedup"] for r in rows),
                 "bd_median": med("fast", "bd_pct"), "bd_p90": p90("fast", "bd_pct"),
                 "bd_max": max(r["fast"]["bd_pct"] for r in rows)},
        "predict": {"bd_median": med("predict", "bd_pct"), "bd_p90": p90("predict", "bd_pct"),
                    "top_within_25pct": sum(0.75 < r["predict"]["top_ratio"] < 1.25 for r in rows) / len(rows),
                    "speedup_median": med("predict", "speedup")},
        v: {"bd_median": med(v, "bd_pct"), "bd_p90": p90(v, "bd_pct"), "speedup_median": med(v, "speedup")},
    }
    print(json.dumps(summary))
    md = ["| clip | floor s | exhaustive s (enc) | fast s (enc, speed-up, BD, stop) | predict (BD, top x, confident) "
          f"| verify {a.verify} (BD) |", "|---|---|---|---|---|---|"]
    for r in rows:
        f, p, w = r["fast"], r["predict"], r[v]
        md.append(f"| {r['clip']} | {r['floor_s']} | {r['exhaustive']['s']} ({r['exhaustive']['encodes']}) "
                  f"| {f['s']} ({f['encodes']}, {f['speedup']}x, {f['bd_pct']:+.2f}%, {f['stop']}) "
                  f"| {p['bd_pct']:+.2f}%, x{p['top_ratio']}, {p['confident']} | {w['bd_pct']:+.2f}% |")
    s = summary
    md.append("")
    md.append(f"fast: speed-up median {s['fast']['speedup_median']}x (min {s['fast']['speedup_min']}x), BD median "
              f"{s['fast']['bd_median']:+.2f}%, p90 {s['fast']['bd_p90']:+.2f}%, max {s['fast']['bd_max']:+.2f}%; "
              f"predict: BD median {s['predict']['bd_median']:+.2f}%, p90 {s['predict']['bd_p90']:+.2f}%, top rung "
              f"within 25% on {s['predict']['top_within_25pct']:.0%}; verify {a.verify}: BD median "
              f"{s[v]['bd_median']:+.2f}%, p90 {s[v]['bd_p90']:+.2f}%")
    text = "\n".join(md)
    print(text)
    if a.json:
        with open(a.json, "w", encoding="utf-8") as fh:
            json.dump({"rows": rows, "summary": summary, "clips": a.clips.split(","), "model": a.model}, fh, indent=1)
    if a.md:
        with open(a.md, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()
