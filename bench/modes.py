"""Exhaustive vs fast vs predict vs predict --verify 6 on one fixed clip set, side by side in one run.

    python bench/modes.py [CORPUS_DIR] --model M.skops --fast-model F.skops [--clips a.mp4,b.mp4] [--duration 6]
                          [--jobs 2] [--fast-budget 0.18] [--process] [--repeat 3] [--json out.json] [--md out.md]

The clip set is fixed here (``CLIPS``) before anything is run, and every clip is reported. Per clip,
on the same machine load, each mode with a fresh cache: wall time, trial encodes, and the ladder's
BD-rate against the exhaustive ladder, judged on the exhaustive run's *measured* curves (each rung
read off its size's measured curve at its bitrate; > 0: a loss), plus the loss against the measured
hull minus the exhaustive ladder's own (what an independent check reports). Ratios, not seconds,
are the result: the machine is shared and noisy. The floor is FFmpeg decoding the excerpt once.
With ``--process`` every mode runs as the installed ``pertitle`` command in a new process, as a
user runs it: interpreter start and imports (scikit-learn's, about a second, for the model-guided
modes) are in every time; without it they run in this process and only the first clip pays them.
With ``--repeat N`` the exhaustive analysis and the fast mode run N times each per clip, alternately
(each with a fresh cache): their times are the medians, the speed-up is the ratio of the medians
and its range the lowest and highest ratio of one exhaustive run to one fast run (on a shared
machine one run of either can be a quarter slower than the next); the ladders of the N fast runs
must be the same (the fast mode is deterministic: ``same_ladder``).

Use ``--model`` (predict, verify: with the probe encode's features) and ``--fast-model`` (the fast
mode's: ``pertitle train --no-probe``), both trained *without* the benchmarked clips' groups
(``pertitle train`` on the table minus those groups), or the numbers flatter the model.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import tempfile
import time

from _common import decode_seconds, pertitle_command, timed_run

from pertitle.encoder.cache import Cache
from pertitle.encoder.ffmpeg import locate
from pertitle.ladders.document import curves_from_rows
from pertitle.ladders.evaluate import ladder_loss, score_ladder
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
    return {"bd_pct": round(ladder_loss(s), 2),
            "hull_loss_pct": None if s["hull_loss_pct"] is None else round(s["hull_loss_pct"], 2),
            "top_ratio": round(s["top_ratio"], 3), "vmaf_bias": round(s["vmaf_bias"], 2),
            "rungs": " ".join(f"{r['width']}x{r['height']}@{r['bitrate_kbps']}" for r in doc["rungs"])}


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def run_cli(argv: list[str], out_dir: str, name: str) -> tuple[dict, list[dict], float]:
    """One mode as the installed command, in a new process (interpreter start and imports
    included, as a user runs it): its document, its RD table's rows, its wall time."""
    doc_path, csv_path = os.path.join(out_dir, f"{name}.json"), os.path.join(out_dir, f"{name}.rd.csv")
    extra = ["--rd-csv", csv_path] if argv[0] == "analyze" else []
    doc, wall = timed_run([*pertitle_command(), *argv, *extra], doc_path)
    rows = []
    if os.path.exists(csv_path):
        with open(csv_path, encoding="utf-8", newline="") as fh:
            rows = [{k: (float(v) if k in ("width", "height", "crf", "kbps", "vmaf_mean") else v)
                     for k, v in r.items()} for r in csv.DictReader(fh)]
        for r in rows:
            r["width"], r["height"] = int(r["width"]), int(r["height"])
    return doc, rows, wall


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus", nargs="?", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "corpus"))
    ap.add_argument("--clips", default=",".join(CLIPS), help="comma-separated file names (default: the fixed set)")
    ap.add_argument("--duration", type=float, default=6.0)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--verify", type=int, default=6)
    ap.add_argument("--model", required=True, help="a model trained without the clips' groups")
    ap.add_argument("--fast-model", default=None,
                    help="the fast mode's model, trained without the clips' groups (default: --model); several, "
                         "comma-separated (e.g. the same model as .skops and as plain trees .npz), run it with each")
    ap.add_argument("--fast-budget", default=None,
                    help="the fast mode's budget (default: the shipped); several, comma-separated, run it once "
                         "with each (with each --fast-model; the first pair is reported as fast, the others as "
                         "fast[MODEL@BUDGET])")
    ap.add_argument("--process", action="store_true",
                    help="run every mode as the installed command in a new process, as a user does (imports "
                         "included), instead of in this process")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run the exhaustive and the fast mode this many times each, alternately, and "
                         "report the medians of their times (the speed-up's range beside)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--md", default=None)
    a = ap.parse_args()
    ff = locate()
    policy = LadderPolicy()
    base = AnalysisOptions(duration_s=a.duration, jobs=a.jobs, policy=policy, model_path=a.model)
    budgets = [float(b) for b in a.fast_budget.split(",")] if a.fast_budget else [None]
    fast_models = (a.fast_model or a.model).split(",")
    variants = [(m, b) for m in fast_models for b in budgets]   # the first is "fast"
    fast_keys = ["fast"] + [f"fast[{os.path.basename(m)}@{b if b else 'default'}]" for m, b in variants[1:]]
    rows = []
    for name in a.clips.split(","):
        c = os.path.join(a.corpus, name)
        tmp = tempfile.mkdtemp(prefix="pertitle-bench-")
        try:
            floor = decode_seconds(ff.path, c, 0.0, a.duration)
            common = ["--duration", str(a.duration), "-j", str(a.jobs)]

            def fast_run(fast_model, budget, i, k):
                cache = os.path.join(tmp, f"f{i}-{k}")
                if a.process:
                    extra = ["--fast-budget", str(budget)] if budget else []
                    doc, _, t = run_cli(["analyze", c, "--fast", *extra, *common, "--model", fast_model,
                                         "--cache", cache], tmp, f"fa{i}")
                    return doc, t
                opts = AnalysisOptions(**{**base.__dict__, "fast": True, "model_path": fast_model,
                                          **({"fast_budget": budget} if budget else {})})
                fa, t = timed(lambda: analyze(c, opts, ff, Cache.open(cache)))
                return fa.document, t

            def ex_run(k):
                cache = os.path.join(tmp, f"c1-{k}")
                if a.process:
                    doc, rd, t = run_cli(["analyze", c, *common, "--cache", cache], tmp, "ex")
                    return doc, rd, doc["sweep"]["encodes"], t
                ex, t = timed(lambda: analyze(c, base, ff, Cache.open(cache)))
                return ex.document, ex.sweep.rows, len(ex.sweep.rows), t

            # alternately: exhaustive, every fast variant, exhaustive again, ... (the first run's
            # exhaustive table is the truth every mode is judged on)
            t_exs: list[float] = []
            runs: list[list[tuple[dict, float]]] = [[] for _ in variants]
            for k in range(max(1, a.repeat)):
                doc, rd, n, t = ex_run(k)
                if k == 0:
                    ex_doc, truth, n_truth = doc, rd, n
                t_exs.append(t)
                for i, (m, b) in enumerate(variants):
                    runs[i].append(fast_run(m, b, i, k))
            t_ex = statistics.median(t_exs)
            fasts = [(got[0][0], statistics.median(t for _, t in got), got) for got in runs]
            if a.process:
                pr, _, t_pr = run_cli(["predict", c, *common, "--model", a.model, "--cache", os.path.join(tmp, "c3")],
                                      tmp, "pr")
                ve, _, t_ve = run_cli(["predict", c, *common, "--model", a.model, "--verify", str(a.verify),
                                       "--cache", os.path.join(tmp, "c4")], tmp, "ve")
            else:
                pr, t_pr = timed(lambda: predict_ladder(c, base, ff=ff, cache=Cache.open(os.path.join(tmp, "c3"))))
                ve, t_ve = timed(lambda: predict_ladder(c, base, verify=a.verify, ff=ff,
                                                        cache=Cache.open(os.path.join(tmp, "c4"))))

            def fast_entry(doc, t, got):
                search = doc["sweep"]["search"]
                ratios = [te / tf for te, (_, tf) in zip(t_exs, got)]
                ladders = {judge(d, truth, policy)["rungs"] for d, _ in got}
                return {"s": round(t, 1), "encodes": doc["sweep"]["encodes"],
                        "speedup": round(t_ex / t, 2), "stop": search["stop"],
                        "speedup_range": [round(min(ratios), 2), round(max(ratios), 2)],
                        "runs_s": [round(tf, 1) for _, tf in got], "same_ladder": len(ladders) == 1,
                        "cost_share": round(search["cost"] / search["exhaustive_cost"], 3),
                        "unbacked": search.get("unbacked_rungs", []), **judge(doc, truth, policy)}

            row = {
                "clip": name, "floor_s": round(floor, 3),
                "exhaustive": {"s": round(t_ex, 1), "runs_s": [round(t, 1) for t in t_exs], "encodes": n_truth,
                               "x_floor": round(t_ex / floor),
                               "rungs": judge(ex_doc, truth, policy)["rungs"]},
                **{key: fast_entry(*got) for key, got in zip(fast_keys, fasts)},
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
        **{k: {"speedup_median": round(med(k, "speedup"), 2), "speedup_min": min(r[k]["speedup"] for r in rows),
               "speedup_lowest_pair": min(r[k]["speedup_range"][0] for r in rows),
               "same_ladders": all(r[k]["same_ladder"] for r in rows),
               "bd_median": med(k, "bd_pct"), "bd_p90": p90(k, "bd_pct"), "bd_max": max(r[k]["bd_pct"] for r in rows)}
           for k in fast_keys},
        "predict": {"bd_median": med("predict", "bd_pct"), "bd_p90": p90("predict", "bd_pct"),
                    "top_within_25pct": sum(0.75 < r["predict"]["top_ratio"] < 1.25 for r in rows) / len(rows),
                    "speedup_median": med("predict", "speedup")},
        v: {"bd_median": med(v, "bd_pct"), "bd_p90": p90(v, "bd_pct"), "speedup_median": med(v, "speedup")},
    }
    print(json.dumps(summary))
    rh = " [range]" if a.repeat > 1 else ""
    heads = "".join(f" {k} s (enc, speed-up{rh}, BD, stop) |" for k in fast_keys)
    md = [f"| clip | floor s | exhaustive s (enc) |{heads} predict (BD, top x, confident) "
          f"| verify {a.verify} (BD) |", "|---|---|---|" + "---|" * len(fast_keys) + "---|---|"]
    for r in rows:
        p, w = r["predict"], r[v]
        rng = (lambda f: f" [{f['speedup_range'][0]}-{f['speedup_range'][1]}]" if a.repeat > 1 else "")
        cells = "".join(f" {f['s']} ({f['encodes']}, {f['speedup']}x{rng(f)}, {f['bd_pct']:+.2f}%, {f['stop']}) |"
                        for f in (r[k] for k in fast_keys))
        md.append(f"| {r['clip']} | {r['floor_s']} | {r['exhaustive']['s']} ({r['exhaustive']['encodes']}) |{cells}"
                  f" {p['bd_pct']:+.2f}%, x{p['top_ratio']}, {p['confident']} | {w['bd_pct']:+.2f}% |")
    s = summary
    md.append("")
    reps = (lambda k: f", lowest of one pair of runs {s[k]['speedup_lowest_pair']}x, the {a.repeat} runs' ladders "
                      f"{'the same' if s[k]['same_ladders'] else 'DIFFERENT'}" if a.repeat > 1 else "")
    md.append("; ".join(f"{k}: speed-up median {s[k]['speedup_median']}x (min {s[k]['speedup_min']}x{reps(k)}), BD median "
                        f"{s[k]['bd_median']:+.2f}%, p90 {s[k]['bd_p90']:+.2f}%, max {s[k]['bd_max']:+.2f}%"
                        for k in fast_keys) + "; "
              f"predict: BD median {s['predict']['bd_median']:+.2f}%, p90 {s['predict']['bd_p90']:+.2f}%, top rung "
              f"within 25% on {s['predict']['top_within_25pct']:.0%}; verify {a.verify}: BD median "
              f"{s[v]['bd_median']:+.2f}%, p90 {s[v]['bd_p90']:+.2f}%")
    text = "\n".join(md)
    print(text)
    if a.json:
        with open(a.json, "w", encoding="utf-8") as fh:
            json.dump({"rows": rows, "summary": summary, "clips": a.clips.split(","), "model": a.model,
                       "fast_models": fast_models, "fast_budgets": budgets, "process": a.process,
                       "repeat": a.repeat}, fh, indent=1)
    if a.md:
        with open(a.md, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()
