"""``analyze``: probe -> plan -> sweep (encode + measure) -> curves -> hull -> ladder document."""
from __future__ import annotations

from ..core.errors import LadderError
from ..encoder.cache import Cache
from ..encoder.events import EventSink, no_events
from ..encoder.ffmpeg import FFmpeg
from ..encoder.probe import Source, probe
from ..encoder.sweep import chunk_plans, decode_notes, reference_decode, run_sweep
from .common import (Analysis, AnalysisOptions, analysis_document, attach_parts, make_plan, pool_sampled,
                     record_rate_ratios, sample_title, sweep_info, title_shots)
from .fast import analyze_fast


def analyze(path: str, opts: AnalysisOptions, ff: FFmpeg, cache: Cache, *,
            on_event: EventSink = no_events, workdir: str | None = None,
            source: Source | None = None, client=None) -> Analysis:
    """``client``: a Dask Client; the chunks of a title analysed whole (``opts.chunk_s``) then run
    on its cluster."""
    source = source or probe(path, opts.allow_references)
    ff.require_encoder(opts.codec)
    if opts.fast:
        return analyze_fast(source, opts, ff, cache, on_event=on_event, workdir=workdir)
    sampled, sampling = sample_title(source, opts, ff, workdir, on_event)
    plan = make_plan(source, sampled)
    shots = title_shots(source, opts, plan, ff, workdir, on_event) if opts.per_shot else None
    extra = None
    decoded = [plan]    # the plans whose references were decoded (a title's chunks, each alone)
    if opts.chunk_s and not plan.reference.segments and not shots:
        from .chunked import run_chunked

        sweep, chunks = run_chunked(ff, plan, cache, chunk_s=opts.chunk_s, jobs=opts.jobs, workdir=workdir,
                                    on_event=on_event, client=client)
        extra = {"chunks": chunks, "chunk_s": opts.chunk_s, "cluster": client is not None}
        decoded = chunk_plans(plan, opts.chunk_s)
    else:
        sweep = run_sweep(ff, plan, cache, jobs=opts.jobs, workdir=workdir, on_event=on_event, parts=shots)
    sweep.rows = pool_sampled(sweep.rows, sampling)
    record_rate_ratios(sampling, sweep.rows)
    if not sweep.rows:
        first = sweep.failures[0][1] if sweep.failures else "no points"
        raise LadderError(f"too few successful trial encodes ({len(sweep.rows)} of "
                          f"{len(plan.encodes)}): {first}", path)
    doc = analysis_document(source, plan, sweep.rows, opts, ff,
                            sweep_info(plan, sweep, opts, encodes=len(plan.encodes), extra=extra),
                            notes=decode_notes(reference_decode(ff, decoded, cache), plan))
    if sampling:
        doc["analysed"]["sampling"] = sampling
    attach_parts(doc, plan, sweep.rows, opts.policy, sampling, shots)
    return Analysis(source, plan, sweep, doc)
