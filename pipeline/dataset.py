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
from ..encoder.features import FEATURE_VERSION, PROBE_COLUMNS, extract
from ..encoder.ffmpeg import FFmpeg
from ..encoder.probe import probe
from ..encoder.sweep import SharedReference, run_sweep
from ..ladders.model import SIZE_FEATURES, size_key
from .common import AnalysisOptions, make_plan
from .predict import probe_encode, scaling_ceiling

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


def size_features(measured: dict, width: int, height: int) -> dict:
    """A training row's per-size features (:data:`pertitle.ladders.model.SIZE_FEATURES`) from a
    title's measurements keyed by size (:func:`pertitle.pipeline.predict.scaling_ceiling`);
    missing (NaN) where the title has none."""
    return {f"f_{c}": measured.get(size_key(c, width, height), math.nan) for c in SIZE_FEATURES}


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
    ref = SharedReference(ff, plan, on_event=on_event)   # one decode for the sweep and the probe encode
    try:
        sweep = run_sweep(ff, plan, cache, jobs=opts.jobs, on_event=on_event, reference=ref)
        probed = probe_encode(ff, plan, cache, reference=ref)
        ceiling = scaling_ceiling(ff, plan, ref, cache)
    finally:
        ref.close()
    feats = extract(path, source, opts.allow_references)
    feats.update({k: probed[k] for k in PROBE_COLUMNS})
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
               **{f"f_{k}": v for k, v in feats.items()}, **size_features(ceiling, r["width"], r["height"])}
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


# ------------------------------------------------------------------------------------------
# Windows: several non-overlapping excerpts of one source are several titles to the model
# (different scenes), always in the source's CV group.
# ------------------------------------------------------------------------------------------

SWEEP_COLUMNS = ["source", "source_sha256", "start_s", "duration_s", "ref_width", "ref_height", "ref_fps",
                 "origin", "vmaf_model", "width", "height", "crf", "kbps", "frames", "vmaf_mean", "vmaf_hmean", "vmaf_p5",
                 "vmaf_min", "psnr_y", "encode_s", "measure_s"]
"""``samples/training_sweeps.csv``: one row per trial encode of one window (the expensive part of the
training data, kept so that features can be recomputed without sweeping again)."""


SYNTHETIC_GROUP = re.compile(r"^(?:(photo_.+)_(?:pan|fastpan|zoom|grain|soft|scroll|still)$|(lavfi_[a-z]+)_\d+p$"
                             r"|(credits)_)")


def origin_group(stem: str) -> str:
    """CV group of a source: for a corpus clip its origin (the repository or dataset it came from:
    the name's first token: clips of one origin share cameras, people or processing); for a
    synthetic clip its picture or lavfi kind. A group never straddles a split."""
    m = SYNTHETIC_GROUP.match(stem)
    if m:
        return next(g for g in m.groups() if g)
    return stem.split("_", 1)[0] if "_" in stem else stem


def consolidate(records: Iterable[dict]):
    """One record per window: this tool's own sweep wins over a reference sweep of the same window
    (the reference's plan can differ: portrait sizes, odd widths, VFR frame counts)."""
    best: dict[tuple[str, float], dict] = {}
    for d in records:
        key = (d["source"], round(float(d["start_s"]), 3))
        if key not in best or (best[key].get("origin") == "reference" and d.get("origin") != "reference"):
            best[key] = d
    return [best[k] for k in sorted(best)]


def plan_windows(duration_s: float, window_s: float = 6.0, spread: int = 0) -> list[tuple[float, float]]:
    """Non-overlapping windows: from the start, every ``window_s`` while a whole one fits (the first
    always, to the end if the source is shorter); or, with ``spread`` > 0, that many centred in equal
    parts of the title (long titles: scenes far apart)."""
    if spread > 0 and duration_s >= spread * window_s:
        return [(round(max(0.0, (k + 0.5) * duration_s / spread - window_s / 2), 3), window_s)
                for k in range(spread)]
    out, k = [], 0
    while k == 0 or (k + 1) * window_s <= duration_s + 1e-3:
        out.append((k * window_s, window_s))
        k += 1
    return out


def window_name(path: str, start_s: float) -> str:
    return f"{os.path.splitext(os.path.basename(path))[0]}@{start_s:g}"


def sweep_window(path: str, start_s: float, duration_s: float, opts: AnalysisOptions, ff: FFmpeg,
                 cache: Cache, on_event: EventSink = no_events) -> dict:
    """The exhaustive sweep of one window, as a JSON-able record (see SWEEP_COLUMNS)."""
    from dataclasses import replace

    from ..encoder.cache import fingerprint

    source = probe(path, opts.allow_references)
    plan = make_plan(source, replace(opts, start_s=start_s, duration_s=duration_s, segments=0))
    t0 = time.monotonic()
    sw = run_sweep(ff, plan, cache, jobs=opts.jobs, on_event=on_event)
    fps = plan.reference.fps
    return {"source": os.path.basename(path), "source_sha256": fingerprint(path), "start_s": start_s,
            "duration_s": duration_s,
            "reference": {"width": plan.ref_size[0], "height": plan.ref_size[1],
                          "fps": f"{fps.numerator}/{fps.denominator}", "frames": plan.frames},
            "vmaf_model": plan.measure.model, "ffmpeg": ff.version, "origin": "pertitle",
            "failures": [f"{e.width}x{e.height} crf {e.crf}: {m}" for e, m in sw.failures],
            "wall_s": round(time.monotonic() - t0, 1),
            "points": [{k: r.get(k) for k in ("width", "height", "crf", "kbps", "frames", "vmaf_mean",
                                               "vmaf_hmean", "vmaf_p5", "vmaf_min", "psnr_y", "encode_s",
                                               "measure_s")} for r in sw.rows]}


def sweep_records(paths: Iterable[str]) -> list[dict]:
    """Sweep records from JSON files (this tool's, or the reference sweeps' format: ``seconds``
    instead of ``start_s``/``duration_s``, always from the start). A file that is not one is a
    :class:`DatasetError` naming it."""
    import json

    out = []
    for p in paths:
        try:
            if os.path.getsize(p) > 64 << 20:
                raise ValueError("too large")
            with open(p, encoding="utf-8") as fh:
                d = json.load(fh)
            if "start_s" not in d:
                d = {**d, "start_s": 0.0, "duration_s": float(d.get("seconds", 6.0)), "origin": "reference"}
            _check_record(d)
        except (OSError, ValueError, TypeError, KeyError, AttributeError, UnicodeDecodeError, RecursionError) as exc:
            raise DatasetError(f"not a sweep record ({type(exc).__name__}: {str(exc)[:120]})", p) from None
        out.append(d)
    return out


def _check_record(d: dict) -> None:
    from fractions import Fraction

    if not isinstance(d, dict) or not isinstance(d.get("points"), list) or not isinstance(d.get("reference"), dict):
        raise ValueError("no points or reference")
    if not isinstance(d.get("source"), str) or not re.fullmatch(r"[0-9a-f]{64}", str(d.get("source_sha256", ""))):
        raise ValueError("no source name or SHA-256")
    parts = d["source"].replace("\\", "/").split("/")
    if not d["source"] or os.path.isabs(d["source"]) or any(x in ("", ".", "..") for x in parts):
        raise ValueError("the source must be a relative path inside the sources folder")
    float(Fraction(str(d["reference"]["fps"])))
    int(d["reference"]["width"]), int(d["reference"]["height"])
    for q in d["points"]:
        if not (isinstance(q, dict) and int(q["width"]) > 0 and int(q["height"]) > 0 and float(q["kbps"]) > 0
                and math.isfinite(float(q["vmaf_mean"])) and math.isfinite(float(q["crf"]))):
            raise ValueError("a point without a positive size, bitrate, CRF or VMAF")


def sweeps_frame(records: Iterable[dict]):
    """Sweep records -> the flat table of SWEEP_COLUMNS."""
    from fractions import Fraction

    import pandas as pd

    rows = []
    for d in records:
        ref = d["reference"]
        fps = float(Fraction(str(ref["fps"])))
        for p in d["points"]:
            rows.append({"source": d["source"], "source_sha256": d["source_sha256"],
                         "start_s": float(d["start_s"]), "duration_s": float(d["duration_s"]),
                         "ref_width": int(ref["width"]), "ref_height": int(ref["height"]), "ref_fps": fps,
                         "origin": d.get("origin", "pertitle"), "vmaf_model": d.get("vmaf_model", "vmaf_v0.6.1"),
                         **{k: p.get(k) for k in SWEEP_COLUMNS[9:]}})
    return pd.DataFrame(rows, columns=SWEEP_COLUMNS)


def find_source(name: str, roots: Iterable[str]) -> str | None:
    for root in roots:
        for sub in ("", "long"):
            p = os.path.join(root, sub, name)
            if os.path.isfile(p):
                return p
    return None


def assemble(sweeps, roots: Iterable[str], *, log: Callable[[str], None] = lambda _: None,
             features_cache: dict | None = None, ff: FFmpeg | None = None, workdir: str | None = None):
    """Training rows from a sweeps table (SWEEP_COLUMNS) and the sources themselves: each window's
    features are extracted over that window; with ``ff``, also the probe encode's
    (:func:`pertitle.pipeline.predict.probe_encode`, the window's plan as ``analyze`` would make
    it). A source that is missing or whose content changed (SHA-256) is skipped with a note."""
    import pandas as pd

    from ..encoder.cache import fingerprint

    roots = list(roots)
    out, skipped = [], []
    feats_cache = features_cache if features_cache is not None else {}
    for (name, sha, start, dur), pts in sweeps.groupby(["source", "source_sha256", "start_s", "duration_s"],
                                                        sort=True):
        path = find_source(name, roots)
        if path is None or fingerprint(path) != sha:
            skipped.append((name, "missing" if path is None else "content changed"))
            continue
        key = (sha, float(start), float(dur), FEATURE_VERSION)
        if key not in feats_cache:
            src = probe(path)
            feats_cache[key] = extract(path, src, start_s=float(start), duration_s=float(dur))
            if ff is not None:
                plan = make_plan(src, AnalysisOptions(start_s=float(start), duration_s=float(dur)))
                ref = SharedReference(ff, plan, workdir)
                try:
                    got = probe_encode(ff, plan, reference=ref, workdir=workdir)
                    got.update(scaling_ceiling(ff, plan, ref, workdir=workdir))
                finally:
                    ref.close()
                feats_cache[key].update({k: got[k] for k in PROBE_COLUMNS})
                feats_cache[("sizes", *key)] = got     # the per-size features, apart from the title's
        feats = feats_cache[key]
        ceiling = feats_cache.get(("sizes", *key), {})
        stem = os.path.splitext(os.path.basename(name))[0]
        title = f"{stem}@{float(start):g}"
        fps = float(pts["ref_fps"].iloc[0])
        analysis_s = float(pd.to_numeric(pts["encode_s"], errors="coerce").fillna(0).sum()
                           + pd.to_numeric(pts["measure_s"], errors="coerce").fillna(0).sum())
        for r in pts.itertuples(index=False):
            pixels = int(r.width) * int(r.height)
            out.append({"title": title, "group": origin_group(stem), "file": name, "start_s": float(start),
                        "duration_s": float(dur), "ref_width": int(r.ref_width), "ref_height": int(r.ref_height),
                        "ref_fps": fps, "codec": "libx264", "preset": "medium", "vmaf_model": r.vmaf_model,
                        "width": int(r.width), "height": int(r.height), "crf": float(r.crf),
                        "kbps": float(r.kbps), "frames": r.frames, "vmaf_mean": float(r.vmaf_mean),
                        "vmaf_hmean": r.vmaf_hmean, "vmaf_p5": r.vmaf_p5, "vmaf_min": r.vmaf_min,
                        "psnr_y": r.psnr_y, "encode_s": r.encode_s, "measure_s": r.measure_s,
                        "log_bpp": math.log(max(float(r.kbps), 1e-3) * 1000 / (pixels * fps)),
                        "analysis_encode_s": round(analysis_s, 2), "feature_version": FEATURE_VERSION,
                        "origin": r.origin, **{f"f_{k}": v for k, v in feats.items()},
                        **(size_features(ceiling, r.width, r.height) if ceiling else {})})
        log(f"{title}: {len(pts)} points")
    for name, why in skipped:
        log(f"skipped {name}: {why}")
    return pd.DataFrame(out), skipped
