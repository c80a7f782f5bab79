"""Fast mode: a model-guided sweep that measures a fraction of the grid (see :func:`analyze_fast`)."""
from __future__ import annotations

import math
import time
from dataclasses import asdict

from ..core.errors import LadderError
from ..encoder.cache import Cache
from ..encoder.events import EventSink, no_events
from ..encoder.ffmpeg import FFmpeg
from ..encoder.probe import Source
from ..encoder.sweep import SweepResult, points_measurer
from ..ladders.hybrid import refine
from .common import Analysis, AnalysisOptions, analysis_document, make_plan, sweep_info
from .predict import predicted_rows

FAST_SUBSAMPLE = 3   # libvmaf n_subsample in fast mode: odd (even steps can bias the pooled score)
FAST_SEGMENTS = 4    # fast mode on a long title without --start/--duration: 4 spread excerpts


def analyze_fast(source: Source, opts: AnalysisOptions, ff: FFmpeg, cache: Cache, *,
                 on_event: EventSink = no_events, workdir: str | None = None) -> Analysis:
    """Fast mode: the model predicts every grid point from cheap features; real encodes are then
    spent only around the predicted ladder (each rung's size at its bitrate and the neighbouring
    sizes), in three rounds that re-plan the ladder from what was measured; VMAF scores every
    third frame. Measured points replace predictions, the rest are corrected by the measured
    offsets (``ladders.hybrid``). Same document as the exhaustive analysis; its RD table holds
    the measured points only."""
    t0 = time.monotonic()
    subsample = opts.subsample if opts.subsample > 1 else FAST_SUBSAMPLE
    segments = opts.segments
    if segments == 0 and not opts.start_s and opts.duration_s is None:
        segments = FAST_SEGMENTS  # a long title is sampled; a short one (< 2x the excerpts) is analysed whole
    fopts = AnalysisOptions(**{**asdict(opts), "policy": opts.policy, "subsample": subsample,
                               "segments": segments})
    plan = make_plan(source, fopts)
    rows, meta, _ = predicted_rows(source, plan, fopts, cache)
    budget = max(4, math.ceil(opts.fast_budget * len(plan.encodes)))
    done: list[dict] = []
    failures: list = []
    reference_s = 0.0
    rows = [{**r, "codec": opts.codec} for r in rows]
    with points_measurer(ff, plan, cache, jobs=opts.jobs, workdir=workdir, on_event=on_event) as run_points:

        def measure(points):
            nonlocal reference_s
            res = run_points(points)
            done.extend(res.rows)
            failures.extend(res.failures)
            reference_s += res.reference_s
            return [{k: r[k] for k in ("width", "height", "crf", "kbps", "vmaf_mean")} for r in res.rows]

        corrected, measured = refine(rows, measure, budget, opts.policy, min(plan.ref_size), rounds=3)
    if not measured:
        first = failures[0][1] if failures else "no points"
        raise LadderError(f"fast mode measured nothing: {first}", source.path)
    # Measured rows keep every metric they have (PSNR, pooled VMAF variants).
    full = {(r["width"], r["height"], float(r["crf"])): r for r in done}
    merged = [{**r, **full.get((r["width"], r["height"], float(r["crf"])), {})} for r in corrected]
    sweep = SweepResult(done, failures, wall_s=time.monotonic() - t0, reference_s=reference_s)
    info = sweep_info(plan, sweep, fopts, encodes=len(done) + len(failures),
                      head={"mode": "fast"},
                      extra={"vmaf_subsample": subsample, "model": meta.get("family")})
    info = {"mode": "fast", "encodes": info["encodes"], "grid_points": len(plan.encodes),
            **{k: v for k, v in info.items() if k not in ("mode", "encodes")}}
    info["config_key"] = opts.config_key()
    notes = [f"fast mode: {len(done)} of {len(plan.encodes)} grid encodes measured (VMAF every "
             f"{subsample} frames); the other points are model predictions corrected by them"]
    doc = analysis_document(source, plan, merged, opts, ff, info, notes)
    return Analysis(source, plan, sweep, doc)
