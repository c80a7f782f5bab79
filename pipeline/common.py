"""What every mode (exhaustive, fast, predict, verify) shares: the options of an analysis, the
sweep plan they give for a source, the analysis result, and the document parts they all write
the same way."""
from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field, replace

from ..core.errors import InvalidOptions
from ..encoder import commands as C
from ..encoder.cache import fingerprint, make_key
from ..encoder.ffmpeg import FFmpeg
from ..encoder.probe import Source
from ..encoder.sweep import SweepPlan, SweepResult, plan_sweep
from ..ladders.document import DOCUMENT_VERSION, build_document
from ..ladders.policy import LadderPolicy
from ..ladders.search import FAST_LANES, FAST_SHARE


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
    segment_s: float = 2.0          # rounded to whole GOPs (encoder.sweep.gop_aligned)
    sampling: str = "content"       # how the N excerpts are placed: "content" (structure) or "even"
    segment_times: tuple[tuple[float, float], ...] = ()  # explicit excerpts (from "content" sampling)
    vmaf_model: str = "auto"
    psnr: bool = True
    ssim: bool = False
    xpsnr: bool = False
    subsample: int = 1
    jobs: int = 1
    policy: LadderPolicy = field(default_factory=LadderPolicy)
    fixed_ladder: str | None = "apple-hls-h264"
    fast: bool = False              # model-guided sweep: a fraction of the grid, see pipeline.fast
    fast_budget: float = FAST_SHARE # fast mode: at most this share of the exhaustive analysis' wall time
    fast_lanes: int = FAST_LANES    # fast mode: parallel lanes its rounds are planned for (not --jobs)
    model_path: str | None = None   # fast mode's model (default: the shipped one)
    trust_model: bool = False       # allow a pickle model file (runs code on load; see pipeline.models)
    allow_references: bool = False  # read playlists/lists that open other files (HLS, concat, ...)
    per_shot: bool = False          # a title analysed whole: also each shot's own ladder (one structure pass)
    chunk_s: float = 0.0            # a title analysed whole, in chunks of about this many seconds (0: one piece)

    def measure_spec(self) -> C.MeasureSpec:
        threads = 1 if self.jobs > 1 else max(1, os.cpu_count() or 1)
        return C.MeasureSpec(psnr=self.psnr, ssim=self.ssim, xpsnr=self.xpsnr,
                             subsample=self.subsample, threads=threads)

    def config_key(self) -> str:
        """Hash of everything that changes the ladder (not jobs): for batch resume."""
        d = asdict(self)
        for k in ("jobs", "trust_model", "allow_references", "per_shot"):  # not what the ladder is
            d.pop(k)
        if not d["chunk_s"]:
            d.pop("chunk_s")   # keys of unchunked analyses unchanged by the option's arrival
        if d["fast_lanes"] == FAST_LANES:
            d.pop("fast_lanes")  # likewise for the default lane count
        return make_key(options=d, document=DOCUMENT_VERSION)


def make_plan(source: Source, opts: AnalysisOptions) -> SweepPlan:
    try:
        return plan_sweep(source, codec=opts.codec, crfs=opts.crfs, heights=opts.heights,
                          preset=opts.preset, gop_seconds=opts.gop_seconds, start_s=opts.start_s,
                          duration_s=opts.duration_s, segments=opts.segments, segment_s=opts.segment_s,
                          measure=opts.measure_spec(),
                          model=opts.vmaf_model, segment_times=opts.segment_times)
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
            "range_converted": ref.full_range,
            **({"tone_mapped": f"{ref.tone_map} to bt709 (hable)"} if ref.tone_map else {}),
            **({"rgb_to_yuv": "bt709"} if ref.rgb else {})}


def sweep_info(plan: SweepPlan, sweep: SweepResult, opts: AnalysisOptions, *, encodes: int,
               head: dict | None = None, extra: dict | None = None) -> dict:
    """The document's ``sweep`` section: what was encoded, cached, failed, and what it cost.
    ``head`` goes first (the fast mode's ``mode``), ``extra`` before the timings."""
    cached = sum(bool(r.get("cached")) for r in sweep.rows)
    return {
        **(head or {}),
        "encodes": encodes,
        "measured": len(sweep.rows) - cached, "cached": cached, "failed": len(sweep.failures),
        "failures": [f"{e.width}x{e.height} crf {e.crf:g}: {msg}" for e, msg in sweep.failures],
        "crfs": sorted({float(e.crf) for e in plan.encodes if e.crf is not None}),
        "sizes": sorted({(e.width, e.height) for e in plan.encodes}, key=lambda s: s[1]),
        **(extra or {}),
        "wall_s": round(sweep.wall_s, 2), "reference_s": round(sweep.reference_s, 2),
        "point_s": round(sweep.point_s, 1),
        "config_key": opts.config_key(),
    }


@dataclass
class Analysis:
    source: Source
    plan: SweepPlan
    sweep: SweepResult
    document: dict

    def rd_table(self) -> list[dict]:
        """The RD table as sorted rows (what the commands write; no pandas)."""
        return self.sweep.table()

    def rd_frame(self):
        """The RD table as a pandas DataFrame (tests and notebooks)."""
        return self.sweep.frame()


def analysis_document(source: Source, plan: SweepPlan, rows: list[dict], opts: AnalysisOptions,
                      ff: FFmpeg, info: dict, notes: list[str] = (), evidence=None) -> dict:
    """The ladder document of an analysis (exhaustive or fast) from its RD rows."""
    doc = build_document(
        kind="analyzed", source=source_dict(source, fingerprint(source.path)),
        analysed=analysed_dict(plan), rows=rows, codec=opts.codec,
        preset=plan.encodes[0].effective_preset, gop=plan.encodes[0].gop if plan.encodes else 0,
        vmaf_model=plan.measure.model, policy=opts.policy, ffmpeg_version=ff.version,
        fixed_ladder=opts.fixed_ladder, extra={"sweep": info}, evidence=evidence)
    doc["notes"] = list(source.warnings) + excerpt_notes(source, opts) + doc["notes"] + list(notes)
    return doc


def excerpt_notes(source: Source, opts: AnalysisOptions) -> list[str]:
    """What the excerpt asked for became (an excerpt that runs past the end is analysed to it)."""
    if opts.duration_s is None or opts.start_s + opts.duration_s <= source.duration_s:
        return []
    left = source.duration_s - opts.start_s
    where = f"from {opts.start_s:g} s " if opts.start_s else ""
    return [f"--duration {opts.duration_s:g} s {where}runs past the end of the title "
            f"({source.duration_s:.2f} s): {left:.2f} s analysed, to the end"]


def attach_parts(doc: dict, plan: SweepPlan, rows: list[dict], policy: LadderPolicy,
                 sampling: dict | None = None, shots: list[tuple[int, int]] | None = None) -> None:
    """Add the per-part view (:mod:`pertitle.ladders.parts`) to ``doc``: the excerpts of a sampled
    analysis, or the shots of a title analysed whole with ``per_shot``."""
    from ..encoder.sweep import excerpt_parts
    from ..ladders.parts import part_view

    fps = float(plan.reference.fps)
    if shots:
        bounds, kind = shots, "shots"
        spans = [{"start_s": round(plan.reference.start_s + a / fps, 3), "duration_s": round((b - a) / fps, 3)}
                 for a, b in shots]
    else:
        bounds, kind = excerpt_parts(plan), "excerpts"
        segs = plan.reference.segments
        chosen = (sampling or {}).get("excerpts", [])   # in the order of the plan's (GOP-aligned) excerpts
        if len(chosen) != len(segs):
            chosen = [{}] * len(segs)
        spans = [{"start_s": s, "duration_s": d, **{k: e[k] for k in ("why", "weight") if e.get(k) not in (None, "")}}
                 for (s, d), e in zip(segs, chosen)]
    view = part_view(rows, bounds, fps, spans, doc["rungs"], policy, kind) if bounds else None
    if view:
        doc["parts"] = view


def title_shots(source: Source, opts: AnalysisOptions, plan: SweepPlan, ff, workdir: str | None = None,
                on_event=None) -> list[tuple[int, int]]:
    """The shots of a title analysed whole, as frame ranges of its reference (one structure pass)."""
    if opts.segments or opts.segment_times or opts.start_s or opts.duration_s is not None:
        raise InvalidOptions("--per-shot needs the whole title analysed (no --start/--duration/--segments)",
                             source.path)
    from ..encoder.events import Stage
    from ..encoder.structure import title_structure
    from ..ladders import sampling as S

    if on_event is not None:
        on_event(Stage("structure", "one low-resolution pass over the whole title (shots)"))
    st = title_structure(ff, source, workdir)
    return S.shot_frames(S.cuts_from_scores(st.scene_times, st.scene_scores), plan.frames / float(plan.reference.fps),
                         float(plan.reference.fps))


def sample_title(source: Source, opts: AnalysisOptions, ff, workdir: str | None = None,
                 on_event=None) -> tuple[AnalysisOptions, dict | None]:
    """With ``sampling="content"`` and N excerpts asked for on a long title: one structure pass
    over the whole title, then the excerpts chosen from it (:mod:`pertitle.ladders.sampling`).
    Returns the options with those excerpts fixed, and what to record in the document."""
    if (opts.sampling != "content" or opts.segments <= 0 or opts.segment_times or opts.start_s
            or opts.duration_s is not None or opts.segments * opts.segment_s * 2 > source.duration_s):
        return opts, None  # nothing to choose (a short title is analysed whole): no structure pass
    from ..encoder.events import Stage
    from ..encoder.structure import title_structure
    from ..ladders import sampling as S

    if on_event is not None:
        on_event(Stage("structure", "one low-resolution pass over the whole title"))
    st = title_structure(ff, source, workdir)
    cuts = S.cuts_from_scores(st.scene_times, st.scene_scores)
    ps = S.pieces(source.duration_s, cuts, st.frame_times, st.frame_bits, max_len=2 * opts.segment_s)
    ex = S.choose_excerpts(ps, source.duration_s, opts.segments, opts.segment_s)
    if not ex:
        return opts, None
    from ..encoder.sweep import gop_aligned, gop_frames

    aligned = gop_aligned([(e.start, e.duration) for e in ex], source.duration_s, source.fps,
                          gop_frames(opts.gop_seconds, source.fps))
    # what each excerpt (as aligned) stands for: its probe bitrate places it among the title's pieces
    rate = S.probe_rate(st.frame_times, st.frame_bits)
    window = [rate(a, a + d) for a, d in aligned]
    weights = S.stratum_weights(ps, window)
    info = {"method": "content", "shots": len(cuts) + 1, "structure_s": round(st.wall_s, 2),
            **S.coverage(ps, ex),
            "pooling": "each excerpt weighted by the share of the title whose probe bitrate is nearest its own",
            "excerpts": [{"start_s": a, "duration_s": d, "probe_kbps": round(e.kbps, 1), "window_probe_kbps": round(k, 1),
                          "weight": round(w, 4), "why": e.why}
                         for e, (a, d), k, w in zip(ex, aligned, window, weights)]}
    return replace(opts, segment_times=aligned), info


def sample_weights(sampling: dict | None) -> list[float]:
    """The excerpts' weights of a content-sampled title (none otherwise: equal weights)."""
    if not isinstance(sampling, dict) or sampling.get("method") != "content":
        return []
    ex = sampling.get("excerpts")
    if not isinstance(ex, list) or not ex:
        return []
    w = [e.get("weight") if isinstance(e, dict) else None for e in ex]
    # read back from a ladder file by verify: only finite, non-negative numbers that sum to ~1
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x >= 0 for x in w):
        return []
    return [float(x) for x in w] if abs(sum(w) - 1.0) < 0.01 else []


def pool_sampled(rows: list[dict], sampling: dict | None) -> list[dict]:
    """The rows of a content-sampled title as estimates of the whole title's points: each
    excerpt's own bitrate and VMAF weighted by the share of the title it stands for
    (:func:`pertitle.ladders.sampling.pooled_row`); other analyses' rows unchanged."""
    from ..ladders.sampling import pooled_row

    weights = sample_weights(sampling)
    return [pooled_row(r, weights) for r in rows] if weights else rows


def record_rate_ratios(sampling: dict | None, rows: list[dict]) -> None:
    """Write into a content-sampled title's ``sampling`` record, per size, the joined excerpts'
    bitrate over the title's estimate (``verify`` aims its rate-mode encodes of the excerpts by it)."""
    from ..ladders.sampling import sample_rate_ratios

    if sample_weights(sampling):
        sampling["rate_ratios"] = [{"width": w, "height": h, "ratio": round(x, 4)}
                                   for (w, h), x in sorted(sample_rate_ratios(rows).items())]


def rate_ratios(sampling) -> dict[tuple[int, int], float]:
    """The per-size ratios of :func:`record_rate_ratios` read back from a ladder file (only
    plausible numbers; none without the excerpt weights they belong to)."""
    if not sample_weights(sampling) or not isinstance(sampling.get("rate_ratios"), list):
        return {}
    out = {}
    for e in sampling["rate_ratios"]:
        if not isinstance(e, dict):
            continue
        w, h, x = e.get("width"), e.get("height"), e.get("ratio")
        if (isinstance(w, int) and isinstance(h, int) and isinstance(x, (int, float)) and not isinstance(x, bool)
                and math.isfinite(x) and 0.2 <= x <= 5.0):
            out[(w, h)] = float(x)
    return out


def rungs_phrase(indices) -> str:
    """``rung 2 is`` / ``rungs 0, 1 are``: the subject of a note about some rungs."""
    indices = list(indices)
    if len(indices) == 1:
        return f"rung {indices[0]} is"
    return f"rungs {', '.join(map(str, indices))} are"


def unbacked_note(indices, advice: str) -> str:
    """The note on rungs whose size or the next larger one was not measured near their bitrate
    (:func:`pertitle.ladders.search.unbacked`), ending with what to do about it."""
    their = "its" if len(list(indices)) == 1 else "their"
    return (f"{rungs_phrase(indices)} not backed by a measurement of {their} size and the next larger one "
            f"near the rung's bitrate{advice}")
