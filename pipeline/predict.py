"""``predict``: features -> model -> predicted RD points -> the same ladder code as ``analyze``.

Zero trial encodes beyond the in-memory feature probe; with ``verify=N``, at most N real
encodes (chosen where the ladder is most sensitive: the top rung first) correct the prediction.
"""
from __future__ import annotations

import time

from ..core.codecs import codec as codec_info
from ..core.errors import InvalidOptions
from ..encoder.cache import Cache, fingerprint
from ..encoder.features import extract
from ..encoder.ffmpeg import FFmpeg
from ..encoder.probe import probe
from ..encoder.sweep import SweepPlan, candidate_sizes, points_measurer
from ..ladders.document import build_document
from ..ladders.hybrid import refine
from . import models
from .common import AnalysisOptions, analysed_dict, make_plan, source_dict


def predicted_rows(source, plan: SweepPlan, opts: AnalysisOptions, cache: Cache | None = None):
    """Model-predicted RD rows for every grid point of ``plan`` (sizes x the model's CRFs)."""
    model, meta = (models.load(opts.model_path, trust_pickle=opts.trust_model) if opts.model_path
                   else models.load_default_model(cache.root if cache else None))
    codec = plan.encodes[0].codec if plan.encodes else "libx264"
    if meta.get("codec") and meta["codec"] != codec:
        raise InvalidOptions(f"the model was trained on {meta['codec']} encodes, not {codec}")
    feats = extract(source.path, source, opts.allow_references)
    crfs = sorted({float(e.crf) for e in plan.encodes if e.crf is not None}) or meta["grid"]["crfs"]
    sizes = sorted({(e.width, e.height) for e in plan.encodes}, key=lambda s: s[1]) or candidate_sizes(source)
    rows = model.predict_rows(feats, sizes, crfs, plan.ref_size, float(plan.reference.fps))
    return rows, meta, feats


def predict_ladder(path: str, opts: AnalysisOptions, *, verify: int = 0, ff: FFmpeg | None = None,
                   cache: Cache | None = None, workdir: str | None = None) -> dict:
    t0 = time.monotonic()
    source = probe(path, opts.allow_references)
    if opts.policy.pooling != "mean":
        raise InvalidOptions("the model predicts mean-pooled VMAF: use --pooling mean with predict")
    plan = make_plan(source, opts)
    rows, meta, feats = predicted_rows(source, plan, opts, cache)
    t_feat = float(feats.get("feature_s", 0.0))
    measured: list[dict] = []
    if verify:
        if ff is None:
            raise ValueError("verify needs an FFmpeg")
        with points_measurer(ff, plan, cache or Cache(None), jobs=opts.jobs, workdir=workdir) as run_points:

            def measure(points):
                return [{k: r[k] for k in ("width", "height", "crf", "kbps", "vmaf_mean", "cached")}
                        for r in run_points(points).rows]

            rows, measured = refine(rows, measure, verify, opts.policy, min(plan.ref_size))
    wall = time.monotonic() - t0
    doc = build_document(
        kind="predicted", source=source_dict(source, fingerprint(source.path)), analysed=analysed_dict(plan),
        rows=[{**r, "codec": opts.codec} for r in rows], codec=opts.codec,
        preset=meta.get("preset") or codec_info(opts.codec).default_preset,
        gop=plan.encodes[0].gop if plan.encodes else 0, vmaf_model=meta.get("vmaf_model", "vmaf_v0.6.1"),
        policy=opts.policy, ffmpeg_version=ff.version if ff else "", fixed_ladder=opts.fixed_ladder,
        extra={"prediction": {
            "model": meta.get("family"), "model_data_sha256": meta.get("training_data_sha256"),
            "model_titles": meta.get("n_titles"), "features": {k: round(float(v), 6) for k, v in feats.items()},
            "feature_s": round(t_feat, 3), "wall_s": round(wall, 3), "verify_encodes": len(measured),
            "verify_points": measured,
            "note": "qualities are predicted; the fixed-ladder comparison uses the predicted curves"}})
    doc["notes"] = list(source.warnings) + doc["notes"]
    if min(plan.ref_size) > 1080:
        doc["notes"].append("the model was trained on sources up to 1080p with vmaf_v0.6.1")
    return doc
