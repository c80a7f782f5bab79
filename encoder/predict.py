"""``predict``: features -> model -> predicted RD points -> the same ladder code as ``analyze``.

Zero trial encodes beyond the in-memory feature probe; with ``verify=N``, at most N real
encodes (chosen where the ladder is most sensitive: the top rung first) correct the prediction.
"""
from __future__ import annotations

import time

from ladders.document import build_document
from ladders.hybrid import refine

from . import commands as C
from .analysis import AnalysisOptions, analysed_dict, make_plan, source_dict
from .cache import Cache, fingerprint
from .features import extract
from .ffmpeg import FFmpeg
from .probe import probe
from .sweep import SweepPlan, candidate_sizes, run_sweep


def predict_ladder(path: str, opts: AnalysisOptions, *, model_path: str | None = None, verify: int = 0,
                   ff: FFmpeg | None = None, cache: Cache | None = None, workdir: str | None = None) -> dict:
    from ladders import model as M
    from ladders.training import load_default_model

    t0 = time.monotonic()
    source = probe(path)
    model, meta = M.load(model_path) if model_path else load_default_model(cache.root if cache else None)
    feats = extract(path, source)
    t_feat = time.monotonic() - t0
    plan = make_plan(source, opts)
    crfs = meta["grid"]["crfs"]
    sizes = candidate_sizes(source)
    rows = model.predict_rows(feats, sizes, crfs, plan.ref_size, float(plan.reference.fps))
    measured: list[dict] = []
    if verify:
        if ff is None:
            raise ValueError("verify needs an FFmpeg")
        gop = plan.encodes[0].gop if plan.encodes else 0

        def measure(points):
            encs = tuple(C.EncodeSpec(codec=opts.codec, width=w, height=h, crf=q, preset=meta.get("preset"),
                                      gop=gop, threads=1) for (w, h, q) in points)
            res = run_sweep(ff, SweepPlan(source, plan.reference, encs, plan.measure), cache or Cache(None),
                            jobs=opts.jobs, workdir=workdir)
            return [{k: r[k] for k in ("width", "height", "crf", "kbps", "vmaf_mean", "cached")} for r in res.rows]

        rows, measured = refine(rows, measure, verify, opts.policy, min(plan.ref_size))
    wall = time.monotonic() - t0
    doc = build_document(
        kind="predicted", source=source_dict(source, fingerprint(source.path)), analysed=analysed_dict(plan),
        rows=[{**r, "codec": opts.codec} for r in rows], codec=opts.codec,
        preset=meta.get("preset") or C.codec(opts.codec).default_preset,
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
