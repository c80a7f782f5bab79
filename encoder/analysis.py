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
from .sweep import EventSink, SweepPlan, SweepResult, _ignore, plan_sweep, run_sweep


@dataclass(frozen=True)
class AnalysisOptions:
    codec: str = "libx264"
    crfs: tuple[float, ...] | None = None
    heights: tuple[int, ...] | None = None
    preset: str | None = None
    gop_seconds: float = 2.0
    start_s: float = 0.0
    duration_s: float | None = None
    vmaf_model: str = "auto"
    psnr: bool = True
    ssim: bool = False
    xpsnr: bool = False
    subsample: int = 1
    jobs: int = 1
    policy: LadderPolicy = field(default_factory=LadderPolicy)
    fixed_ladder: str | None = "apple-hls-h264"

    def measure_spec(self) -> C.MeasureSpec:
        threads = 1 if self.jobs > 1 else max(1, os.cpu_count() or 1)
        return C.MeasureSpec(psnr=self.psnr, ssim=self.ssim, xpsnr=self.xpsnr,
                             subsample=self.subsample, threads=threads)

    def config_key(self) -> str:
        """Hash of everything that changes the ladder (not jobs): for batch resume."""
        d = asdict(self)
        d.pop("jobs")
        return make_key(options=d)


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
                          duration_s=opts.duration_s, measure=opts.measure_spec(),
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
    return {"start_s": ref.start_s, "duration_s": ref.duration_s, "frames": plan.frames,
            "reference_width": ref.width, "reference_height": ref.height,
            "fps": float(ref.fps), "constant_rate": ref.make_cfr, "deinterlaced": ref.deinterlace,
            "range_converted": ref.full_range}


def analyze(path: str, opts: AnalysisOptions, ff: FFmpeg, cache: Cache, *,
            on_event: EventSink = _ignore, workdir: str | None = None,
            source: Source | None = None) -> Analysis:
    source = source or probe(path)
    ff.require_encoder(opts.codec)
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
