"""A title analysed whole, in chunks: memory and temporary disk that follow the chunk, not the
title, and one title's work fanned out over a Dask cluster (issue 12, item 5).

The title is cut on its keyframes into chunks of about ``chunk_s`` seconds
(:func:`pertitle.encoder.sweep.chunk_plans`). Each chunk is an ordinary sweep of its own: its
reference is decoded alone, every grid point is encoded and scored on it, and its points are
cached under the chunk's own keys (a killed run, or a lost worker, resumes per chunk and point).
The title's RD rows are then pooled from the chunks' rows (:func:`merge_chunk_rows`: bytes
summed, VMAF pooled over every frame). An encode of a chunk is an encode of the title that
restarts its rate control at the chunk's first keyframe: with CRF and fixed GOPs the bits and
the scores differ from one encode of the whole title only by what x264's look-ahead would have
seen across the boundary (measured in ``bench/scale_out.py``).

On a cluster each chunk and encoded size is one task; tasks run wherever there is a free worker,
each worker needs FFmpeg, the source (same path) and, to share the cache, the cache folder.
"""
from __future__ import annotations

import os
import time
from dataclasses import replace

from ..core.errors import PertitleError
from ..encoder.cache import Cache
from ..encoder.events import EventSink, Stage, no_events
from ..encoder.ffmpeg import FFmpeg, locate
from ..encoder.sweep import SweepPlan, SweepResult, chunk_plans, merge_chunk_rows, run_sweep

TASK_RETRIES = 3


def _chunk_task(plan: SweepPlan, ffmpeg_path: str | None, cache_root: str | None,
                workdir: str | None) -> tuple[list[dict], list[tuple], float]:
    """Runs on a worker: one chunk's sweep (rows with per-frame VMAF), its failures, reference seconds."""
    ff = locate(ffmpeg_path)
    res = run_sweep(ff, plan, Cache.open(cache_root), jobs=1, workdir=workdir, keep_frames=True)
    return res.rows, [(e, str(m)) for e, m in res.failures], res.reference_s


def run_chunked(ff: FFmpeg, plan: SweepPlan, cache: Cache, *, chunk_s: float, jobs: int = 1,
                workdir: str | None = None, on_event: EventSink = no_events, client=None) -> tuple[SweepResult, int]:
    """The sweep of ``plan`` (a title analysed whole) run chunk by chunk; on ``client`` (a Dask
    Client) the chunks are tasks. Returns the title's sweep and the number of chunks."""
    plans = chunk_plans(plan, chunk_s)
    t0 = time.monotonic()
    per_chunk: list[list[dict]] = [[] for _ in plans]
    failures: dict[tuple, tuple] = {}
    reference_s = 0.0
    n = len(plans)
    if client is None:
        for i, p in enumerate(plans):
            on_event(Stage("chunk", f"{i + 1}/{n}: from {p.reference.start_s:.1f} s"))
            res = run_sweep(ff, p, cache, jobs=jobs, workdir=workdir, keep_frames=True)
            per_chunk[i] = res.rows
            reference_s += res.reference_s
            for e, m in res.failures:
                failures.setdefault((e.width, e.height, e.crf), (e, m))
    else:
        from dask.distributed import as_completed

        ff_path = os.environ.get("PERTITLE_FFMPEG", ff.path)
        # One task per chunk and encoded size: a title of C chunks and S sizes keeps C x S workers
        # busy (each task decodes its chunk's reference: a small overhead next to its encodes).
        sizes = sorted({(e.width, e.height) for e in plan.encodes}, key=lambda wh: -wh[0] * wh[1])
        # A worker is one single-threaded slot: its libvmaf runs on one thread too (the thread
        # count is not part of a point's cache key).
        tasks = [(i, replace(p, encodes=tuple(e for e in p.encodes if (e.width, e.height) == wh),
                             measure=replace(p.measure, threads=1)))
                 for wh in sizes for i, p in enumerate(plans)]
        name = os.path.basename(plan.source.path)
        futures = {client.submit(_chunk_task, p, ff_path, cache.root, workdir, pure=False, retries=TASK_RETRIES,
                                 key=f"pertitle-chunk-{i}-{p.encodes[0].width}x{p.encodes[0].height}-{name}"): i
                   for i, p in tasks}
        done = 0
        for fut in as_completed(futures):
            i = futures[fut]
            try:
                rows, fails, ref_s = fut.result()
            except PertitleError:
                raise
            except Exception as exc:  # noqa: BLE001 - a task that kept failing on the cluster
                raise PertitleError(f"chunk {i + 1} of {n} failed on the cluster: {type(exc).__name__}: "
                                    f"{str(exc)[:200]}", plan.source.path) from None
            per_chunk[i].extend(rows)
            reference_s += ref_s
            for e, m in fails:
                failures.setdefault((e.width, e.height, e.crf), (e, m))
            done += 1
            on_event(Stage("chunk", f"{done}/{len(tasks)} tasks done (chunk {i + 1} of {n})"))
    rows = merge_chunk_rows(per_chunk, float(plan.reference.fps))
    have = {(r["width"], r["height"], r.get("crf")) for r in rows}
    for e in plan.encodes:  # a point missing in any chunk is missing for the title
        k = (e.width, e.height, e.crf)
        if k not in have and k not in failures:
            failures[k] = (e, "not measured in every chunk")
    for r in rows:
        r["title"] = os.path.splitext(os.path.basename(plan.source.path))[0]
    result = SweepResult(rows, list(failures.values()), wall_s=time.monotonic() - t0, reference_s=reference_s)
    return result, n
