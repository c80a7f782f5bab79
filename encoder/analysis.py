"""``analyze``: probe -> plan -> sweep (encode + measure) -> curves -> hull -> ladder document."""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field

from ladders.document import build_document
from ladders.policy import LadderPolicy

from . import commands as C
from .cache import Cache, fingerprint, make_key
from .errors import InvalidOptions, LadderError
from .ffmpeg import FFmpeg
from .probe import Source, probe
from .sweep import EventSink, SweepPlan, SweepResult, _ignore, plan_sweep, points_measurer, run_sweep


@dataclass(frozen=True)
class AnalysisOptions:
    codec: str = "libx264"
    crfs: tuple[float, ...] | None = None
    heights: tuple[int, ...] | None = None
    preset: str | None = None
    gop_seconds: float = 2.0
    start_s: float = 0.0
    duration_s: float | None = None
    segments: int = 0               # analyse N spread excerpts instead of the title (0: fast mode decides)
    segment_s: float = 3.0
    vmaf_model: str = "auto"
    psnr: bool = True
    ssim: bool = False
    xpsnr: bool = False
    subsample: int = 1
    jobs: int = 1
    policy: LadderPolicy = field(default_factory=LadderPolicy)
    fixed_ladder: str | None = "apple-hls-h264"
    fast: bool = False              # model-guided sweep: a fraction of the grid, see analyze_fast
    fast_budget: float = 0.22       # share of the grid's encodes the fast mode may spend
    model_path: str | None = None   # fast mode's model (default: the shipped one)

    def measure_spec(self) -> C.MeasureSpec:
        threads = 1 if self.jobs > 1 else max(1, os.cpu_count() or 1)
        return C.MeasureSpec(psnr=self.psnr, ssim=self.ssim, xpsnr=self.xpsnr,
                             subsample=self.subsample, threads=threads)

    def config_key(self) -> str:
        """Hash of everything that changes the ladder (not jobs): for batch resume."""
        from ladders.document import DOCUMENT_VERSION

        d = asdict(self)
        d.pop("jobs")
        return make_key(options=d, document=DOCUMENT_VERSION)


@dataclass
class Analysis:
    source: Source
    plan: SweepPlan
    sweep: SweepResult
    document: dict

    def rd_frame(self):
        return self.sweep.frame()


def make_plan(source: Source, opts: AnalysisOptions) -> SweepPlan:
    try:
        return plan_sweep(source, codec=opts.codec, crfs=opts.crfs, heights=opts.heights,
                          preset=opts.preset, gop_seconds=opts.gop_seconds, start_s=opts.start_s,
                          duration_s=opts.duration_s, segments=opts.segments, segment_s=opts.segment_s,
                          measure=opts.measure_spec(),
                          model=opts.vmaf_model)
    except ValueError as exc:  # options that do not fit this source / codec
        raise InvalidOptions(str(exc), source.path) from None


def source_dict(source: Source, sha256: str | None = None) -> dict:
    d = source.to_dict()
    if sha256:
        d["sha256"] = sha256
    return d


def analysed_dict(plan: SweepPlan) -> dict:
    ref = plan.reference
    seg = {"segments": [[s, d] for s, d in ref.segments]} if ref.segments else {}
    return {"start_s": ref.start_s, "duration_s": ref.duration_s, **seg, "frames": plan.frames,
            "reference_width": ref.width, "reference_height": ref.height,
            "fps": float(ref.fps), "constant_rate": ref.make_cfr, "deinterlaced": ref.deinterlace,
            "range_converted": ref.full_range}


def analyze(path: str, opts: AnalysisOptions, ff: FFmpeg, cache: Cache, *,
            on_event: EventSink = _ignore, workdir: str | None = None,
            source: Source | None = None) -> Analysis:
    source = source or probe(path)
    ff.require_encoder(opts.codec)
    if opts.fast:
        return analyze_fast(source, opts, ff, cache, on_event=on_event, workdir=workdir)
    plan = make_plan(source, opts)
    sweep = run_sweep(ff, plan, cache, jobs=opts.jobs, workdir=workdir, on_event=on_event)
    if not sweep.rows:
        first = sweep.failures[0][1] if sweep.failures else "no points"
        raise LadderError(f"too few successful trial encodes ({len(sweep.rows)} of "
                          f"{len(plan.encodes)}): {first}", path)
    gop = plan.encodes[0].gop if plan.encodes else 0
    preset = plan.encodes[0].effective_preset
    sweep_info = {
        "encodes": len(plan.encodes), "measured": len(sweep.rows) - sum(bool(r.get("cached")) for r in sweep.rows),
        "cached": sum(bool(r.get("cached")) for r in sweep.rows), "failed": len(sweep.failures),
        "failures": [f"{e.width}x{e.height} crf {e.crf:g}: {msg}" for e, msg in sweep.failures],
        "crfs": sorted({float(e.crf) for e in plan.encodes if e.crf is not None}),
        "sizes": sorted({(e.width, e.height) for e in plan.encodes}, key=lambda s: s[1]),
        "wall_s": round(sweep.wall_s, 2), "reference_s": round(sweep.reference_s, 2),
        "point_s": round(sweep.point_s, 1),
        "config_key": opts.config_key(),
    }
    doc = build_document(
        kind="analyzed", source=source_dict(source, fingerprint(source.path)),
        analysed=analysed_dict(plan), rows=sweep.rows, codec=opts.codec, preset=preset, gop=gop,
        vmaf_model=plan.measure.model, policy=opts.policy, ffmpeg_version=ff.version,
        fixed_ladder=opts.fixed_ladder,
        extra={"sweep": sweep_info})
    doc["notes"] = list(source.warnings) + doc["notes"]
    return Analysis(source, plan, sweep, doc)


FAST_SUBSAMPLE = 3   # libvmaf n_subsample in fast mode: odd (even steps can bias the pooled score)
FAST_SEGMENTS = 4    # fast mode on a long title without --start/--duration: 4 spread excerpts


def analyze_fast(source: Source, opts: AnalysisOptions, ff: FFmpeg, cache: Cache, *,
                 on_event: EventSink = _ignore, workdir: str | None = None) -> Analysis:
    """Fast mode: the model predicts every grid point from cheap features; real encodes are then
    spent only around the predicted ladder (each rung's size at its bitrate and the neighbouring
    sizes), in three rounds that re-plan the ladder from what was measured; VMAF scores every
    third frame. Measured points replace predictions, the rest are corrected by the measured
    offsets (``ladders.hybrid``). Same document as the exhaustive analysis; its RD table holds
    the measured points only."""
    import math
    import time

    from ladders.hybrid import refine

    from .predict import predicted_rows

    t0 = time.monotonic()
    subsample = opts.subsample if opts.subsample > 1 else FAST_SUBSAMPLE
    segments = opts.segments
    if segments == 0 and not opts.start_s and opts.duration_s is None:
        segments = FAST_SEGMENTS  # a long title is sampled; a short one (< 2x the excerpts) is analysed whole
    fopts = AnalysisOptions(**{**asdict(opts), "policy": opts.policy, "subsample": subsample,
                               "segments": segments})
    plan = make_plan(source, fopts)
    rows, meta, _ = predicted_rows(source, plan, cache, opts.model_path)
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
    gop = plan.encodes[0].gop if plan.encodes else 0
    cached = sum(bool(r.get("cached")) for r in done)
    info = {
        "mode": "fast", "encodes": len(done) + len(failures), "grid_points": len(plan.encodes),
        "measured": len(done) - cached, "cached": cached, "failed": len(failures),
        "failures": [f"{e.width}x{e.height} crf {e.crf:g}: {msg}" for e, msg in failures],
        "crfs": sorted({float(e.crf) for e in plan.encodes}),
        "sizes": sorted({(e.width, e.height) for e in plan.encodes}, key=lambda s: s[1]),
        "vmaf_subsample": subsample, "model": meta.get("family"),
        "wall_s": round(sweep.wall_s, 2), "reference_s": round(reference_s, 2),
        "point_s": round(sweep.point_s, 1),
        "config_key": opts.config_key(),
    }
    doc = build_document(
        kind="analyzed", source=source_dict(source, fingerprint(source.path)), analysed=analysed_dict(plan),
        rows=merged, codec=opts.codec, preset=plan.encodes[0].effective_preset, gop=gop,
        vmaf_model=plan.measure.model, policy=opts.policy, ffmpeg_version=ff.version,
        fixed_ladder=opts.fixed_ladder, extra={"sweep": info})
    doc["notes"] = list(source.warnings) + doc["notes"] + [
        f"fast mode: {len(done)} of {len(plan.encodes)} grid encodes measured (VMAF every "
        f"{subsample} frames); the other points are model predictions corrected by them"]
    return Analysis(source, plan, sweep, doc)
