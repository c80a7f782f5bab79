"""``predict``: features -> model -> predicted RD points -> the same ladder code as ``analyze``.

No trial encode of the grid: the in-memory feature probes and, for a model that asks for them
(the shipped ``predict`` model does), one full-frame *probe encode* of the analysed frames at the
largest size with a fast preset (:func:`probe_encode`; a few per cent of the exhaustive
analysis' time), whose bitrate and VMAF tell the model the level of the title's curves. The
model's calibration (see :mod:`pertitle.ladders.uncertainty`) removes its winner's-curse optimism
from the curves and gives every rung a VMAF interval, the top rung a bitrate interval and the
ladder a loss bound; the summary says when that is too uncertain to ship without measuring
(``--fast``). With ``verify=N``, at most N real encodes, chosen by the measurement search (each
rung's size against its closest rival and the next larger size at the rung's bitrate), correct the
prediction; rungs are then placed at sizes measured near their bitrates, or at never-measured
smaller ones, reported unbacked (:func:`pertitle.ladders.search.evidence_of`).
"""
from __future__ import annotations

import math
import time
from dataclasses import replace

from ..core.codecs import codec as codec_info
from ..core.errors import InvalidOptions, LadderError
from ..core.workdirs import make_workdir, remove_workdir
from ..encoder.cache import Cache, fingerprint
from ..encoder.features import PROBE_COLUMNS, extract
from ..encoder.ffmpeg import FFmpeg
from ..encoder.measure import measure_scaling
from ..encoder.probe import Source, probe
from ..encoder.sweep import (
    SharedReference,
    SweepPlan,
    candidate_sizes,
    ceiling_key,
    decode_notes,
    measure_points,
    reference_decode,
    run_sweep,
)
from ..ladders.document import build_document, curves_from_rows
from ..ladders.model import SIZE_FEATURES, size_key
from ..ladders.policy import choose_ladder
from ..ladders.report import loss_text
from ..ladders.search import VERIFY_ROUNDS, evidence_of, search, skips_twins, unbacked
from ..ladders.slope import reslope
from ..ladders.uncertainty import debias, intervals, spreads
from . import models
from .common import AnalysisOptions, analysed_dict, excerpt_notes, make_plan, source_dict, unbacked_note

PROBE_PRESET = "veryfast"   # x264: 2-3x cheaper than medium, its bitrate and VMAF track medium's
PROBE_CRF = 23              # near where the top rungs sit
PROBE_SUBSAMPLE = 3         # VMAF on every 3rd frame (as the fast mode)


def probe_encode(ff: FFmpeg, plan: SweepPlan, cache: Cache | None = None, *, workdir: str | None = None,
                 reference=None) -> dict:
    """One real encode of what ``plan`` analyses, at its largest size, x264 ``PROBE_PRESET`` CRF
    ``PROBE_CRF`` with the plan's GOP, VMAF on every ``PROBE_SUBSAMPLE``-th frame: its bits per
    pixel and VMAF (``PROBE_COLUMNS``). Not a grid point (another preset): a feature. The in-memory
    probes see crops of a few frames; this one sees every frame, which is what the level of a
    title's curves (where the top rung sits) depends on. Cached like any encode."""
    if not plan.encodes:
        raise LadderError("the probe encode needs at least one size to encode", plan.source.path)
    top = max(plan.encodes, key=lambda e: (e.width * e.height, e.width, e.height))
    spec = replace(top, crf=float(PROBE_CRF), bitrate_kbps=None, maxrate_kbps=None, bufsize_kbits=None,
                   preset=PROBE_PRESET, passes=1)
    measure = replace(plan.measure, subsample=PROBE_SUBSAMPLE, psnr=False, ssim=False, xpsnr=False)
    res = run_sweep(ff, replace(plan, encodes=(spec,), measure=measure), cache or Cache(None),
                    workdir=workdir, reference=reference)
    if not res.rows:
        why = res.failures[0][1] if res.failures else "no result"
        raise LadderError(f"the probe encode failed: {why}", plan.source.path)
    r = res.rows[0]
    fps = float(plan.reference.fps)
    return {"fp_log_bpp": math.log(max(float(r["kbps"]), 1e-3) * 1000 / (spec.width * spec.height * fps)),
            "fp_vmaf": float(r["vmaf_mean"]),
            "fp_s": float(r.get("encode_s") or 0) + float(r.get("measure_s") or 0)}


CEILING_RUN = 8       # consecutive frames a run (libvmaf's motion compares neighbours)
CEILING_RUNS = 3      # runs spread over the analysed frames


def scaling_ceiling(ff: FFmpeg, plan: SweepPlan, reference, cache: Cache | None = None, *,
                    workdir: str | None = None) -> dict:
    """The quality each size of ``plan`` keeps with no encode: the analysed frames scaled to it and
    back, VMAF against the reference (:func:`pertitle.encoder.measure.measure_scaling`) on
    ``CEILING_RUNS`` runs of ``CEILING_RUN`` frames. As features of the size they sit on
    (:data:`pertitle.ladders.model.SIZE_FEATURES`: ``ceil_vmaf`` and ``ceil_drop``, the largest
    size's minus this size's), keyed ``name@WxH``; ``ceil_s``: the wall time. The curves of an
    upscaled or soft source barely fall with its size, those of a detailed one do: the model's
    other features see that only through crops and a downscale of the analysis frames. Cached
    like an encode (a cached result needs no reference decode)."""
    sizes = sorted({(e.width, e.height) for e in plan.encodes}, key=lambda s: (s[0] * s[1], s))
    if not sizes:
        raise LadderError("the scaling measurement needs at least one size", plan.source.path)
    t0 = time.monotonic()
    period = max(CEILING_RUN, plan.frames // CEILING_RUNS)
    cache = cache or Cache(None)
    key = ceiling_key(plan, sizes, ff.version, period=period, run=CEILING_RUN)
    hit = cache.get(key, check=lambda v: isinstance(v.get("vmaf"), list) and len(v["vmaf"]) == len(sizes)
                    and all(isinstance(x, (int, float)) and 0 <= x <= 100.5 for x in v["vmaf"]))
    if hit is not None:
        vm = [float(x) for x in hit["vmaf"]]
    else:
        tmp = make_workdir("pertitle-ceiling-", workdir)
        try:
            vm = measure_scaling(ff, reference(), plan.ref_size, plan.reference.fps, sizes, plan.measure, tmp,
                                 down_scaler=plan.encodes[0].scaler, period=period, run_frames=CEILING_RUN)
        finally:
            remove_workdir(tmp)
        cache.put(key, {"vmaf": vm})
    top = vm[-1]
    out: dict = {"ceil_s": time.monotonic() - t0}
    for (w, h), v in zip(sizes, vm):
        out[size_key("ceil_vmaf", w, h)] = float(v)
        out[size_key("ceil_drop", w, h)] = float(top - v)
    return out


PROBE_SEGMENTS = 6          # a long title analysed whole is probed on this many evenly spread 2-s excerpts


def probe_plan(source: Source, plan: SweepPlan, opts: AnalysisOptions) -> SweepPlan:
    """What the probe encode encodes: the plan's own frames, except for a long title analysed
    whole (no excerpt asked for), whose probe is ``PROBE_SEGMENTS`` evenly spread excerpts (as the
    fast mode samples a long title; the in-memory features see the whole title either way), so
    that its cost stays a few seconds whatever the title's length."""
    if plan.reference.segments or opts.start_s or opts.duration_s is not None:
        return plan
    sampled = make_plan(source, replace(opts, segments=PROBE_SEGMENTS, sampling="even", segment_times=()))
    return sampled if sampled.reference.segments else plan


def needs_probe(model) -> bool:
    return any(c in PROBE_COLUMNS for c in getattr(model, "feature_columns", ()))


def needs_ceiling(model) -> bool:
    return any(c in SIZE_FEATURES for c in getattr(model, "feature_columns", ()))


def title_features(source: Source, plan: SweepPlan, opts: AnalysisOptions, *, probe_with=None) -> dict:
    """Features of what the plan analyses: its excerpt, or the whole title (also when it is
    sampled in segments: the segments stand for the title). ``probe_with``: a callable running
    :func:`probe_encode` and :func:`scaling_ceiling` for the plan, as far as the model needs
    their columns (their seconds, ``fp_s`` and ``ceil_s``, count in ``feature_s``)."""
    ref = plan.reference
    if ref.segments:
        feats = extract(source.path, source, opts.allow_references)
    else:
        feats = extract(source.path, source, opts.allow_references, start_s=ref.start_s, duration_s=ref.duration_s)
    if probe_with is not None:
        got = probe_with()
        feats.update(got)
        feats["feature_s"] = float(feats.get("feature_s", 0.0)) + got.get("fp_s", 0.0) + got.get("ceil_s", 0.0)
    return feats


def load_model(opts: AnalysisOptions, cache: Cache | None = None, name: str = "default"):
    """The model of ``--model``, else the shipped one called ``name`` ("default": predict and
    verify; "fast": the fast mode's, which has no probe encode to spend on)."""
    if opts.model_path:
        return models.load(opts.model_path, trust_pickle=opts.trust_model)
    return models.load_default_model(cache.root if cache else None, name)


TRAINING_SCOPE = "the model was trained on sources up to 1080p with vmaf_v0.6.1"


def beyond_training(plan) -> bool:
    """Whether ``plan``'s source is larger than any the models were trained on (above 1080p, where
    the 4K VMAF model measures: the model's curves are of another scale)."""
    return min(plan.ref_size) > 1080


def predicted_rows(source: Source, plan: SweepPlan, opts: AnalysisOptions, cache: Cache | None = None, *,
                   ff: FFmpeg | None = None, workdir: str | None = None, reference=None,
                   model_name: str = "default"):
    """The model's RD rows for every grid point of ``plan``, with its calibrated optimism removed;
    also the members' rows, the model's metadata and the features."""
    model, meta = load_model(opts, cache, model_name)
    codec = plan.encodes[0].codec if plan.encodes else "libx264"
    if meta.get("codec") and meta["codec"] != codec:
        raise InvalidOptions(f"the model was trained on {meta['codec']} encodes, not {codec}")
    probe_with = None
    own_ref = None
    if needs_probe(model) or needs_ceiling(model):
        if ff is None:
            raise ValueError("this model needs the probe encode: give an FFmpeg")
        pplan = probe_plan(source, plan, opts)
        if pplan is plan and reference is not None:
            pref = reference
        else:   # a long title's sampled excerpts: their own reference, shared by both measurements
            pref = own_ref = SharedReference(ff, pplan, workdir, keep_log=True)

        def probe_with() -> dict:
            got = probe_encode(ff, pplan, cache, workdir=workdir, reference=pref) if needs_probe(model) else {}
            if needs_ceiling(model):
                got.update(scaling_ceiling(ff, pplan, pref, cache, workdir=workdir))
            return got
    try:
        feats = title_features(source, plan, opts, probe_with=probe_with)
    finally:
        if own_ref is not None:
            own_ref.close()
    crfs = sorted({float(e.crf) for e in plan.encodes if e.crf is not None}) or meta["grid"]["crfs"]
    sizes = sorted({(e.width, e.height) for e in plan.encodes}, key=lambda s: s[1]) or candidate_sizes(source)
    fps = float(plan.reference.fps)
    cal = getattr(model, "calibration_", {}) or {}
    bias = cal.get("rung", {}).get("bias", 0.0)
    rows = debias(model.predict_rows(feats, sizes, crfs, plan.ref_size, fps), bias)
    members = [debias(m, bias) for m in model.predict_member_rows(feats, sizes, crfs, plan.ref_size, fps)]
    # a one-rung prior: its rate's slope in CRF from the in-memory native probe (ladders/slope.py)
    rows, members, slope = reslope(rows, members, feats, opts.policy, plan.ref_size)
    return rows, members, {**meta, "calibration": cal, "one_rung_slope": slope,
                           "sizes_model": getattr(model, "sizes_", None)}, feats


def predict_ladder(path: str, opts: AnalysisOptions, *, verify: int = 0, ff: FFmpeg | None = None,
                   cache: Cache | None = None, workdir: str | None = None) -> dict:
    t0 = time.monotonic()
    source = probe(path, opts.allow_references)
    if opts.policy.pooling != "mean":
        raise InvalidOptions("the model predicts mean-pooled VMAF: use --pooling mean with predict")
    plan = make_plan(source, opts)
    if verify and ff is None:
        raise ValueError("verify needs an FFmpeg")
    cache = cache or Cache(None)
    ref = SharedReference(ff, plan, workdir, keep_log=True) if ff is not None else None
    try:   # one decode of the reference for the probe encode and the verify encodes
        rows, members, meta, feats = predicted_rows(source, plan, opts, cache, ff=ff, workdir=workdir,
                                                    reference=ref)
        t_feat = float(feats.get("feature_s", 0.0))
        col = opts.policy.quality_column
        # the sizes each rung may take: the two the model's size model names at its bitrate
        # (ladders/sizes.py); a search's final ladder decides sizes by its measurements instead
        sm = meta.get("sizes_model") if not verify else None
        grid_sizes = [(e.width, e.height) for e in plan.encodes]
        allowed = (sm.eligible(feats, grid_sizes, plan.ref_size, float(plan.reference.fps))
                   if sm is not None else None)
        rungs = choose_ladder(curves_from_rows(rows, col), opts.policy, allowed).rungs
        unc = intervals(meta["calibration"], rungs, spreads(rows, members, rungs, opts.policy)) \
            if meta["calibration"] else None
        found = None
        if verify:
            run_points = lambda pts: measure_points(ff, plan, pts, cache, jobs=opts.jobs,
                                                    workdir=workdir, reference=ref)
            found = search(rows, lambda pts: run_points(pts).rows, opts.policy, min(plan.ref_size),
                           ceiling=verify, rounds=VERIFY_ROUNDS, batch_min=min(verify, 2),
                           skip_twins=skips_twins(verify))
            rows = found.rows
    finally:
        if ref is not None:
            ref.close()
    wall = time.monotonic() - t0
    measured = found.measured if found else []
    evidence = (evidence_of(measured, found.evidence_ratio, sizes=grid_sizes, skip_twins=found.skip_twins,
                            discount=found.discount)
                if measured else allowed)
    prediction: dict = {
        "model": meta.get("family"), "model_members": meta.get("members"),
        "model_data_sha256": meta.get("training_data_sha256"), "model_titles": meta.get("n_titles"),
        "features": {k: round(float(v), 6) for k, v in feats.items() if v == v},
        "probe_encode": ({"preset": PROBE_PRESET, "crf": PROBE_CRF, "vmaf_subsample": PROBE_SUBSAMPLE,
                          "seconds": round(float(feats.get("fp_s", 0.0)), 3)} if "fp_vmaf" in feats else None),
        "scaling_ceiling": ({"runs": CEILING_RUNS, "run_frames": CEILING_RUN,
                             "seconds": round(float(feats["ceil_s"]), 3)} if "ceil_s" in feats else None),
        "feature_s": round(t_feat, 3), "wall_s": round(wall, 3), "verify_encodes": len(measured),
        "verify_points": [{k: m.get(k) for k in ("width", "height", "crf", "kbps", "vmaf_mean", "cached")}
                          for m in measured],
        "winners_curse_correction_vmaf": round(float(meta["calibration"].get("rung", {}).get("bias", 0.0)), 3),
        # set when the prior made one rung: the model's slope (log rate per CRF step, native size)
        # replaced by the in-memory probe's, every size alike, pivoting at the probe encode's CRF
        "one_rung_slope": meta.get("one_rung_slope"),
        # each rung's size chosen among the two the size model names at its bitrate, or by the
        # curves alone (no size model, or a search that measured)
        "size_choice": "size_model" if allowed is not None else "curves",
        "note": "qualities are predicted; the fixed-ladder comparison uses the predicted curves"}
    if found is not None:
        prediction["search"] = found.to_dict()
    doc = build_document(
        kind="predicted", source=source_dict(source, fingerprint(source.path)), analysed=analysed_dict(plan),
        rows=[{**r, "codec": opts.codec} for r in rows], codec=opts.codec,
        preset=meta.get("preset") or codec_info(opts.codec).default_preset,
        gop=plan.encodes[0].gop if plan.encodes else 0, vmaf_model=meta.get("vmaf_model", "vmaf_v0.6.1"),
        policy=opts.policy, ffmpeg_version=ff.version if ff else "", fixed_ladder=opts.fixed_ladder,
        extra={"prediction": prediction}, evidence=evidence)
    if unc is not None and found is None:
        # intervals describe the unmeasured prediction: with measurements the rungs moved
        for rung, iv in zip(doc["rungs"], unc["rungs"]):
            rung["vmaf_interval"] = [round(iv["vmaf_low"], 2), round(iv["vmaf_high"], 2)]
        prediction["interval_level"] = unc["level"]
        prediction["top_kbps_interval"] = [round(v) for v in unc["top_kbps"]]
        prediction["loss_bound_pct"] = round(unc["loss_bound_pct"], 2)
        # a BD-rate needs two rungs: one rung's loss is its rate excess over the best size there
        prediction["loss_bound_kind"] = "bd_rate" if len(rungs) > 1 else "rate_excess"
        prediction["confident"] = unc["confident"]
    met = decode_notes(reference_decode(ff, [plan], cache), plan) if ff is not None else []
    doc["notes"] = list(source.warnings) + excerpt_notes(source, opts) + met + doc["notes"]
    if found is not None:
        gaps = unbacked(doc["rungs"], measured, grid_sizes)
        prediction["search"]["unbacked_rungs"] = gaps
        if gaps:
            doc["notes"].append(unbacked_note(gaps, ": more --verify encodes, or --fast"))
    elif unc is not None and not unc["confident"]:
        doc["notes"].append(
            # the figures the document records (the summary prints them: one rounding, one value)
            f"too uncertain to ship without measuring: top rung {prediction['top_kbps_interval'][0]}-"
            f"{prediction['top_kbps_interval'][1]} kbps ({unc['level']:.0%} interval), {loss_text(prediction)} up to "
            f"{prediction['loss_bound_pct']:.1f}% "
            f"({unc['level']:.0%} bound); run `pertitle analyze --fast` (or predict --verify N)")
    if beyond_training(plan):
        doc["notes"].append(TRAINING_SCOPE)
    return doc
