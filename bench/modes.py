"""Exhaustive vs fast vs predict, against the decode floor and a peer tool — in one run.

    python bench/modes.py [CORPUS_DIR] [--clips a.mp4,b.mp4 | --limit N] [--duration 6]
                          [--jobs 2] [--peer-pairs 6] [--model M.joblib] [--json out.json] [--md out.md]

Per clip, side by side on the same machine load:
- floor: FFmpeg decoding the analysed excerpt once (median of 3);
- exhaustive / fast / predict: wall time and trial encodes, each with a fresh cache; the fast
  and predicted ladders are judged on the exhaustive run's *measured* curves: the BD-rate of
  their rungs (bitrate, measured quality) against the exhaustive ladder's (> 0: loss);
- peer: the same quality measurement (VMAF + PSNR, distorted scaled bicubic to the reference)
  on the same encode/reference pairs, by ``ffmpeg-quality-metrics`` (run as users run it, one
  pair after another, its default threads) and by us (reference decoded once, pairs in
  parallel jobs); the ratio of the peer's time to ours, and the largest VMAF disagreement.
Ratios, not seconds, are the result: the machine is shared and noisy.

The fast and predict modes use a model; pass ``--model`` one trained *without* the benchmarked
clips (``pertitle train`` on the table minus their groups), or the numbers flatter the model.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from _common import decode_seconds
from pertitle.pipeline.analyze import analyze
from pertitle.pipeline.common import AnalysisOptions, make_plan
from pertitle.encoder.discover import discover
from pertitle.encoder.cache import Cache
from pertitle.encoder.ffmpeg import locate
from pertitle.pipeline.predict import predict_ladder
from pertitle.encoder.probe import probe
from pertitle.encoder.measure import measure_many
from pertitle.encoder.sweep import encode_one, prepare_reference
from pertitle.ladders.document import curves_from_rows
from pertitle.ladders.evaluate import score_ladder
from pertitle.ladders.policy import LadderPolicy, Rung


def rungs_of(doc: dict) -> list[Rung]:
    return [Rung(r["width"], r["height"], float(r["bitrate_kbps"]), float(r["vmaf"])) for r in doc["rungs"]]


def judge(doc: dict, truth_rows: list[dict], policy: LadderPolicy) -> dict:
    s = score_ladder(rungs_of(doc), curves_from_rows(truth_rows, "vmaf_mean"), policy)
    bd = s["bd_rate_pct"] if s["bd_rate_pct"] is not None else s["envelope_loss_pct"]
    return {"bd_vs_exhaustive_pct": round(bd, 2), "vmaf_mae": round(s["vmaf_mae"], 2)}


def peer_comparison(ff, path: str, opts: AnalysisOptions, n_pairs: int, jobs: int, tmp: str) -> dict:
    """Same pairs, both tools: our measurement stage vs ffmpeg-quality-metrics."""
    exe = (shutil.which("ffmpeg-quality-metrics")
           or shutil.which("ffmpeg-quality-metrics", path=os.path.dirname(sys.executable)))  # venv not activated
    if not exe:
        return {"peer": "ffmpeg-quality-metrics not installed (pip install '.[bench]')"}
    src = probe(path)
    plan = make_plan(src, opts)
    sizes = sorted({(e.width, e.height) for e in plan.encodes}, key=lambda s: s[1])
    picks = [e for e in plan.encodes if (e.width, e.height) in (sizes[-1], sizes[len(sizes) // 2])
             and e.crf in (22, 28, 34)][:n_pairs]
    ref_dir = os.path.join(tmp, "pairs")
    os.makedirs(ref_dir)
    # The encodes are made once, outside both timings.
    ref0 = prepare_reference(ff, plan, ref_dir)
    encs = [encode_one(ff, ref0, plan.reference.fps, e, ref_dir, f"p{i}")[0] for i, e in enumerate(picks)]
    os.unlink(ref0)
    # Ours: decode the reference once, then score the pairs in parallel jobs.
    from joblib import Parallel, delayed

    t0 = time.perf_counter()
    ours_dir = os.path.join(tmp, "ours")
    os.makedirs(ours_dir)
    ref = prepare_reference(ff, plan, ours_dir)
    ours = Parallel(n_jobs=jobs, prefer="threads")(
        delayed(measure_many)(ff, ref, plan.ref_size, plan.reference.fps, [e], plan.measure, ours_dir)
        for e in encs)
    t_ours = time.perf_counter() - t0
    # Peer: one pair after another against the source, VMAF and PSNR, bicubic scaling.
    frames = plan.frames
    t0 = time.perf_counter()
    theirs = []
    for e in encs:
        out = subprocess.run([exe, e, path, "-m", "vmaf", "psnr", "-s", "bicubic", "--num-frames", str(frames),
                              "--ffmpeg-path", ff.path, "--no-summary"], capture_output=True, text=True)
        if out.returncode != 0:
            return {"peer": f"ffmpeg-quality-metrics failed: {out.stderr.strip().splitlines()[-1:]}"}
        theirs.append(json.loads(out.stdout))
    t_peer = time.perf_counter() - t0
    diffs = []
    for o, t in zip(ours, theirs):
        vm = t["global"]["vmaf"]["vmaf"]["average"]
        diffs.append(abs(o[0]["vmaf_mean"] - vm))
    return {"pairs": len(encs), "ours_s": round(t_ours, 2), "peer_s": round(t_peer, 2),
            "peer_over_ours": round(t_peer / t_ours, 2), "max_vmaf_diff": round(max(diffs), 3)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus", nargs="?", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "corpus"))
    ap.add_argument("--clips", default=None, help="comma-separated file names")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--duration", type=float, default=6.0)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--peer-pairs", type=int, default=6)
    ap.add_argument("--model", default=None, help="model for fast and predict (default: the shipped one)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--md", default=None)
    a = ap.parse_args()
    ff = locate()
    clips = discover(a.corpus)
    if a.clips:
        want = set(a.clips.split(","))
        clips = [c for c in clips if os.path.basename(c) in want]
    if a.limit:
        clips = clips[: a.limit]
    policy = LadderPolicy()
    base = AnalysisOptions(duration_s=a.duration, jobs=a.jobs, policy=policy, model_path=a.model)
    rows = []
    for c in clips:
        name = os.path.basename(c)
        tmp = tempfile.mkdtemp(prefix="pertitle-bench-")
        try:
            floor = decode_seconds(ff.path, c, 0.0, a.duration)
            t0 = time.perf_counter()
            ex = analyze(c, base, ff, Cache(os.path.join(tmp, "c1")))
            t_ex = time.perf_counter() - t0
            truth = ex.sweep.rows
            t0 = time.perf_counter()
            fa = analyze(c, AnalysisOptions(**{**base.__dict__, "fast": True}), ff, Cache(os.path.join(tmp, "c2")))
            t_fa = time.perf_counter() - t0
            t0 = time.perf_counter()
            pr = predict_ladder(c, base, model_path=a.model, cache=Cache(os.path.join(tmp, "c3")))
            t_pr = time.perf_counter() - t0
            peer = peer_comparison(ff, c, base, a.peer_pairs, a.jobs, tmp)
            row = {
                "clip": name, "floor_s": round(floor, 3),
                "exhaustive": {"wall_s": round(t_ex, 1), "encodes": ex.document["sweep"]["encodes"],
                               "x_floor": round(t_ex / floor), "rungs": _rungs(ex.document)},
                "fast": {"wall_s": round(t_fa, 1), "encodes": fa.document["sweep"]["encodes"],
                         "x_floor": round(t_fa / floor), "speedup": round(t_ex / t_fa, 2),
                         **judge(fa.document, truth, policy), "rungs": _rungs(fa.document)},
                "predict": {"wall_s": round(t_pr, 2), "encodes": 0, "x_floor": round(t_pr / floor, 1),
                            "speedup": round(t_ex / t_pr, 1), **judge(pr, truth, policy), "rungs": _rungs(pr)},
                "peer": peer,
            }
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        rows.append(row)
        print(_line(row), flush=True)
    table = render(rows)
    print(table)
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(rows, fh, indent=2)
    if a.md:
        with open(a.md, "w") as fh:
            fh.write(table + "\n")


def _rungs(doc: dict) -> str:
    return " ".join(f"{r['width']}x{r['height']}@{r['bitrate_kbps']}" for r in doc["rungs"])


def _line(r: dict) -> str:
    p = r["peer"]
    peer = f"{p['peer_over_ours']:.2f}x" if "peer_over_ours" in p else p.get("peer", "")
    return (f"{r['clip'][:36]:36} floor {r['floor_s']:.2f}s | exh {r['exhaustive']['wall_s']:.0f}s "
            f"{r['exhaustive']['encodes']}enc | fast {r['fast']['wall_s']:.0f}s {r['fast']['encodes']}enc "
            f"{r['fast']['speedup']:.1f}x BD {r['fast']['bd_vs_exhaustive_pct']:+.2f}% | predict "
            f"{r['predict']['wall_s']:.1f}s {r['predict']['speedup']:.0f}x BD {r['predict']['bd_vs_exhaustive_pct']:+.2f}% "
            f"| peer/ours {peer}")


def render(rows: list[dict]) -> str:
    head = ("| clip | floor s | exhaustive s (enc, x floor) | fast s (enc, speed-up, BD) | "
            "predict s (speed-up, BD, VMAF MAE) | peer / ours (pairs, max dVMAF) |\n|---|---|---|---|---|---|")
    lines = [head]
    for r in rows:
        e, f, p, q = r["exhaustive"], r["fast"], r["predict"], r["peer"]
        peer = (f"{q['peer_over_ours']:.2f}x ({q['pairs']}, {q['max_vmaf_diff']:.2f})" if "peer_over_ours" in q
                else q.get("peer", ""))
        lines.append(f"| {r['clip']} | {r['floor_s']:.2f} | {e['wall_s']:.0f} ({e['encodes']}, {e['x_floor']}x) | "
                     f"{f['wall_s']:.0f} ({f['encodes']}, {f['speedup']:.1f}x, {f['bd_vs_exhaustive_pct']:+.2f}%) | "
                     f"{p['wall_s']:.1f} ({p['speedup']:.0f}x, {p['bd_vs_exhaustive_pct']:+.2f}%, {p['vmaf_mae']:.1f}) | {peer} |")
    if rows:
        fb = [r["fast"]["bd_vs_exhaustive_pct"] for r in rows]
        fs = [r["fast"]["speedup"] for r in rows]
        pb = [r["predict"]["bd_vs_exhaustive_pct"] for r in rows]
        ps = [r["predict"]["speedup"] for r in rows]
        pe = [r["peer"]["peer_over_ours"] for r in rows if "peer_over_ours" in r["peer"]]
        lines.append(f"\nfast: median speed-up {statistics.median(fs):.1f}x (min {min(fs):.1f}x), median BD "
                     f"{statistics.median(fb):+.2f}% (worst {max(fb):+.2f}%); predict: median speed-up "
                     f"{statistics.median(ps):.0f}x, median BD {statistics.median(pb):+.2f}% (worst {max(pb):+.2f}%)"
                     + (f"; peer/ours median {statistics.median(pe):.2f}x (min {min(pe):.2f}x)" if pe else ""))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
