"""Fast mode: a model-guided sweep that measures a fraction of the grid (see :func:`analyze_fast`)."""
from __future__ import annotations

import time
from dataclasses import asdict

from ..core.errors import LadderError
from ..encoder.cache import Cache
from ..encoder.events import EventSink, no_events
from ..encoder.ffmpeg import FFmpeg
from ..encoder.probe import Source
from ..encoder.sweep import SweepResult, decode_notes, points_measurer, reference_decode
from ..ladders.search import (
    EXTRAPOLATION_DISCOUNT,
    FAST_EVIDENCE_RATIO,
    FAST_ROUNDS,
    FAST_SUBSAMPLE,
    checks_native,
    evidence_of,
    fast_ceiling,
    point_cost,
    search,
    skips_twins,
    unbacked,
)
from .common import (
    Analysis,
    AnalysisOptions,
    analysis_document,
    attach_parts,
    make_plan,
    pool_sampled,
    record_rate_ratios,
    unbacked_note,
    sample_title,
    sweep_info,
)
from .predict import TRAINING_SCOPE, beyond_training, predicted_rows

FAST_SEGMENTS = 6     # fast mode on a long title without --start/--duration: 6 excerpts of one 2-s GOP


def analyze_fast(source: Source, opts: AnalysisOptions, ff: FFmpeg, cache: Cache, *,
                 on_event: EventSink = no_events, workdir: str | None = None) -> Analysis:
    """Fast mode: the model's predictions are the prior; the search (:mod:`pertitle.ladders.search`)
    measures, round by round, each rung's size, its closest rival and the next larger size at the
    rung's bitrate, and the top rung's bracket, until every rung is backed by measurements or the
    budget (``fast_budget`` of the exhaustive analysis' estimated wall time on ``fast_lanes`` lanes)
    is spent. Rungs are placed only at sizes measured near their bitrates. VMAF scores every third
    frame. Same document as the exhaustive analysis (plus what the search did); its RD table holds
    the measured points."""
    t0 = time.monotonic()
    subsample = opts.subsample if opts.subsample > 1 else FAST_SUBSAMPLE
    segments = opts.segments
    if segments == 0 and not opts.start_s and opts.duration_s is None:
        segments = FAST_SEGMENTS  # a long title is sampled; a short one (< 2x the excerpts) is analysed whole
    fopts = AnalysisOptions(**{**asdict(opts), "policy": opts.policy, "subsample": subsample,
                               "segments": segments})
    fopts, sampling = sample_title(source, fopts, ff, workdir, on_event)
    plan = make_plan(source, fopts)
    done: list[dict] = []
    failures: list = []
    # the reference is decoded (FFmpeg) beside the features and the prior (Python)
    with points_measurer(ff, plan, cache, jobs=opts.jobs, workdir=workdir, on_event=on_event,
                         early=True) as run_points:
        # the fast mode's own model has no probe encode (a --model that asks for one gets it)
        prior, _, meta, _ = predicted_rows(source, plan, fopts, cache, ff=ff, workdir=workdir, model_name="fast")
        ref_px = plan.ref_size[0] * plan.ref_size[1]
        # budget and spending in wall time on the lanes the rounds are planned for
        lanes = opts.fast_lanes
        ceiling, full_cost = fast_ceiling([(e.width, e.height, e.crf) for e in plan.encodes], ref_px,
                                          opts.fast_budget, subsample, lanes)

        def measure(points):
            res = run_points(points)
            rows = pool_sampled(res.rows, sampling)   # a content-sampled title's estimates
            done.extend(rows)
            failures.extend(res.failures)
            return rows

        found = search(prior, measure, opts.policy, min(plan.ref_size), ceiling=ceiling,
                       cost=lambda p: point_cost(p[0], p[1], p[2], ref_px, subsample),
                       rounds=FAST_ROUNDS, batch_min=max(2, lanes), lanes=lanes,
                       evidence_ratio=FAST_EVIDENCE_RATIO, skip_twins=skips_twins(None),
                       discount=EXTRAPOLATION_DISCOUNT, check_native=checks_native(None))
        reference_s = run_points.reference.decode_s
    if not found.measured:
        first = failures[0][1] if failures else "no points"
        raise LadderError(f"fast mode measured nothing: {first}", source.path)
    # Measured rows keep every metric they have (PSNR, pooled VMAF variants); rows in grid order.
    full = {(r["width"], r["height"], float(r["crf"])): r for r in done}
    merged = [{**r, **full.get((r["width"], r["height"], float(r["crf"])), {}), "codec": opts.codec}
              for r in found.rows]
    rows = sorted(done, key=lambda r: (r["height"], r["width"], float(r["crf"])))
    sweep = SweepResult(rows, failures, wall_s=time.monotonic() - t0, reference_s=reference_s)
    info = sweep_info(plan, sweep, fopts, encodes=len(done) + len(failures), head={"mode": "fast"},
                      extra={"grid_points": len(plan.encodes), "vmaf_subsample": subsample,
                             "model": meta.get("family"),
                             # set when the prior made one rung (ladders/slope.py)
                             "prior_one_rung_slope": meta.get("one_rung_slope"),
                             "search": {**found.to_dict(), "ceiling": round(ceiling, 3),
                                        "exhaustive_cost": round(full_cost, 3), "lanes": lanes}})
    info["config_key"] = opts.config_key()
    grid_sizes = [(e.width, e.height) for e in plan.encodes]
    evidence = evidence_of(found.measured, found.evidence_ratio, sizes=grid_sizes,
                           skip_twins=found.skip_twins, discount=found.discount)
    doc = analysis_document(source, plan, merged, opts, ff, info, evidence=evidence,
                            notes=decode_notes(reference_decode(ff, [plan], cache), plan))
    gaps = unbacked(doc["rungs"], found.measured, grid_sizes)
    doc["sweep"]["search"]["unbacked_rungs"] = gaps
    notes = [f"fast mode: {len(done)} of {len(plan.encodes)} grid encodes measured (VMAF every {subsample} "
             f"frames), search stopped: {found.stop}; the other points are model predictions corrected by them"]
    if gaps:
        notes.append(unbacked_note(gaps, " (budget spent): run the exhaustive analysis to be sure"))
    if beyond_training(plan):
        notes.append(f"{TRAINING_SCOPE}: above 1080p the search corrects a prior of another scale "
                     "(the exhaustive analysis is safer)")
    doc["notes"] += notes
    record_rate_ratios(sampling, done)
    if sampling:
        doc["analysed"]["sampling"] = sampling
    attach_parts(doc, plan, done, opts.policy, sampling)
    return Analysis(source, plan, sweep, doc)
