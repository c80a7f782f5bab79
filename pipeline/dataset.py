"""``dataset build``: exhaustive sweeps + features of many titles -> one tidy training table.

One row per trial encode: the title, its CV group, the encode (size, CRF), the measured bitrate
and qualities, and the title's cheap features. Sweeps go through the same cache as ``analyze``,
so titles already analysed cost nothing, and a killed build resumes where it stopped.
"""
from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Callable, Iterable

from ..core.errors import DatasetError, PertitleError
from ..encoder.cache import Cache
from ..encoder.discover import discover
from ..encoder.events import EventSink, no_events
from ..encoder.features import FEATURE_VERSION, extract
from ..encoder.ffmpeg import FFmpeg
from ..encoder.probe import probe
from ..encoder.sweep import run_sweep
from .common import AnalysisOptions, make_plan

KEEP = ["width", "height", "crf", "kbps", "frames", "vmaf_mean", "vmaf_hmean", "vmaf_p5", "vmaf_min",
        "psnr_y", "encode_s", "measure_s"]


def expand_sources(sources: Iterable[str]) -> list[str]:
    out: list[str] = []
    for s in sources:
        if os.path.isdir(s):
            out.extend(discover(s))
        elif os.path.isfile(s):
            out.append(s)
        else:
            raise DatasetError("no such file or folder", s)
    if not out:
        raise DatasetError("no video sources given")
    return out


def group_function(regex: str | None) -> Callable[[str], str]:
    """Title -> CV group: the regex's first group (or whole match) when it matches, else the title."""
    if not regex:
        return lambda title: title
    pat = re.compile(regex)

    def group(title: str) -> str:
        m = pat.search(title)
        if not m:
            return title
        return next((g for g in m.groups() if g), m.group(0))

    return group


def title_rows(path: str, opts: AnalysisOptions, ff: FFmpeg, cache: Cache, group: str,
               on_event: EventSink = no_events) -> list[dict]:
    source = probe(path, opts.allow_references)
    plan = make_plan(source, opts)
    sweep = run_sweep(ff, plan, cache, jobs=opts.jobs, on_event=on_event)
    feats = extract(path, source, opts.allow_references)
    rw, rh = plan.ref_size
    title = os.path.splitext(os.path.basename(path))[0]
    analysis_s = sum(float(r.get("encode_s") or 0) + float(r.get("measure_s") or 0) for r in sweep.rows)
    rows = []
    for r in sweep.rows:
        pixels = r["width"] * r["height"]
        row = {"title": title, "group": group, "file": os.path.basename(path),
               "ref_width": rw, "ref_height": rh, "ref_fps": float(plan.reference.fps),
               "codec": r["codec"], "preset": r["preset"], "vmaf_model": r["vmaf_model"],
               **{k: r.get(k) for k in KEEP},
               "log_bpp": math.log(max(r["kbps"], 1e-3) * 1000 / (pixels * float(plan.reference.fps))),
               "analysis_encode_s": round(analysis_s, 2), "feature_version": FEATURE_VERSION,
               **{f"f_{k}": v for k, v in feats.items()}}
        rows.append(row)
    return rows


def build(sources: Iterable[str], opts: AnalysisOptions, ff: FFmpeg, cache: Cache, *,
          group_regex: str | None = None, on_event: EventSink = no_events,
          log: Callable[[str], None] = lambda _: None):
    import pandas as pd

    paths = expand_sources(sources)
    grouper = group_function(group_regex)
    rows: list[dict] = []
    failures: list[tuple[str, str]] = []
    for i, p in enumerate(paths, 1):
        title = os.path.splitext(os.path.basename(p))[0]
        t0 = time.monotonic()
        try:
            rows.extend(title_rows(p, opts, ff, cache, grouper(title), on_event))
            log(f"[{i}/{len(paths)}] {title}: ok ({time.monotonic() - t0:.1f} s)")
        except PertitleError as exc:
            failures.append((p, str(exc)))
            log(f"[{i}/{len(paths)}] {title}: skipped: {exc}")
    if not rows:
        raise DatasetError(f"no title could be swept ({len(failures)} failed)")
    return pd.DataFrame(rows), failures
