"""``predict``: features -> model -> predicted RD points -> the same ladder code as ``analyze``.

Zero trial encodes beyond the in-memory feature probes. The model's calibration (see
:mod:`pertitle.ladders.uncertainty`) removes its winner's-curse optimism from the curves and gives
every rung a VMAF interval, the top rung a bitrate interval and the ladder a loss bound; the
summary says when that is too uncertain to ship without measuring (``--fast``). With
``verify=N``, at most N real encodes, chosen by the measurement search (each rung's size against
its closest rival and the next larger size at the rung's bitrate), correct the prediction; rungs
are then placed only at sizes measured near their bitrates.
"""
from __future__ import annotations

import time

from ..core.codecs import codec as codec_info
from ..core.errors import InvalidOptions
from ..encoder.cache import Cache, fingerprint
from ..encoder.features import extract
from ..encoder.ffmpeg import FFmpeg
from ..encoder.probe import Source, probe
from ..encoder.sweep import SweepPlan, candidate_sizes, points_measurer
from ..ladders.document import build_document, curves_from_rows
from ..ladders.policy import choose_ladder
from ..ladders.search import evidence_of, search, unbacked
from ..ladders.uncertainty import debias, intervals, spreads
from . import models
from .common import AnalysisOptions, analysed_dict, make_plan, source_dict

VERIFY_ROUNDS = 3


def title_features(source: Source, plan: SweepPlan, opts: AnalysisOptions) -> dict:
    """Features of what the plan analyses: its excerpt, or the whole title (also when it is
    sampled in segments: the segments stand for the title)."""
    ref = plan.reference
    if ref.segments:
        return extract(source.path, source, opts.allow_references)
    return extract(source.path, source, opts.allow_references, start_s=ref.start_s, duration_s=ref.duration_s)


def predicted_rows(source: Source, plan: SweepPlan, opts: AnalysisOptions, cache: Cache | None = None):
    """The model's RD rows for every grid point of ``plan``, with its calibrated optimism removed;
    also the members' rows, the model's metadata and the features."""
    model, meta = (models.load(opts.model_path, trust_pickle=opts.trust_model) if opts.model_path
                   else models.load_default_model(cache.root if cache else None))
    codec = plan.encodes[0].codec if plan.encodes else "libx264"
    if meta.get("codec") and meta["codec"] != codec:
        raise InvalidOptions(f"the model was trained on {meta['codec']} encodes, not {codec}")
    feats = title_features(source, plan, opts)
    crfs = sorted({float(e.crf) for e in plan.encodes if e.crf is not None}) or meta["grid"]["crfs"]
    sizes = sorted({(e.width, e.height) for e in plan.encodes}, key=lambda s: s[1]) or candidate_sizes(source)
    fps = float(plan.reference.fps)
    cal = getattr(model, "calibration_", {}) or {}
    bias = cal.get("rung", {}).get("bias", 0.0)
    rows = debias(model.predict_rows(feats, sizes, crfs, plan.ref_size, fps), bias)
    members = [debias(m, bias) for m in model.predict_member_rows(feats, sizes, crfs, plan.ref_size, fps)]
    return rows, members, {**meta, "calibration": cal}, feats


def predict_ladder(path: str, opts: AnalysisOptions, *, verify: int = 0, ff: FFmpeg | None = None,
                   cache: Cache | None = None, workdir: str | None = None) -> dict:
    t0 = time.monotonic()
    source = probe(path, opts.allow_references)
    if opts.policy.pooling != "mean":
        raise InvalidOptions("the model predicts mean-pooled VMAF: use --pooling mean with predict")
    plan = make_plan(source, opts)
    rows, members, meta, feats = predicted_rows(source, plan, opts, cache)
    t_feat = float(feats.get("feature_s", 0.0))
    col = opts.policy.quality_column
    rungs = choose_ladder(curves_from_rows(rows, col), opts.policy).rungs
    unc = intervals(meta["calibration"], rungs, spreads(rows, members, rungs, opts.policy)) \
        if meta["calibration"] else None
    found = None
    if verify:
        if ff is None:
            raise ValueError("verify needs an FFmpeg")
        with points_measurer(ff, plan, cache or Cache(None), jobs=opts.jobs, workdir=workdir) as run_points:
            found = search(rows, lambda pts: run_points(pts).rows, opts.policy, min(plan.ref_size),
                           ceiling=verify, rounds=VERIFY_ROUNDS, batch_min=min(verify, 2))
        rows = found.rows
    wall = time.monotonic() - t0
    measured = found.measured if found else []
    evidence = evidence_of(measured) if measured else None
    prediction: dict = {
        "model": meta.get("family"), "model_members": meta.get("members"),
        "model_data_sha256": meta.get("training_data_sha256"), "model_titles": meta.get("n_titles"),
        "features": {k: round(float(v), 6) for k, v in feats.items() if v == v},
        "feature_s": round(t_feat, 3), "wall_s": round(wall, 3), "verify_encodes": len(measured),
        "verify_points": [{k: m.get(k) for k in ("width", "height", "crf", "kbps", "vmaf_mean", "cached")}
                          for m in measured],
        "winners_curse_correction_vmaf": round(float(meta["calibration"].get("rung", {}).get("bias", 0.0)), 3),
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
        prediction["confident"] = unc["confident"]
    doc["notes"] = list(source.warnings) + doc["notes"]
    if found is not None:
        gaps = unbacked(doc["rungs"], measured, [(e.width, e.height) for e in plan.encodes])
        prediction["search"]["unbacked_rungs"] = gaps
        if gaps:
            doc["notes"].append(f"rungs {', '.join(map(str, gaps))} are not backed by a measurement of their "
                                "size and the next larger one near their bitrate: more --verify encodes, or --fast")
    elif unc is not None and not unc["confident"]:
        doc["notes"].append(
            f"too uncertain to ship without measuring: top rung {unc['top_kbps'][0]:.0f}-{unc['top_kbps'][1]:.0f} "
            f"kbps ({unc['level']:.0%} interval), BD-rate loss up to {unc['loss_bound_pct']:.1f}% "
            f"({unc['level']:.0%} bound); run `pertitle analyze --fast` (or predict --verify N)")
    if min(plan.ref_size) > 1080:
        doc["notes"].append("the model was trained on sources up to 1080p with vmaf_v0.6.1")
    return doc
