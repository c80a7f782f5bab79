"""``verify``: encode every rung of a ladder as delivery would (2-pass at the rung bitrate, with
its VBV cap and GOP), measure it, and compare with what the ladder promised and with the hull.

This is the independent check that the hull and the rung choice are right, not just plausible:
the re-encoded rungs should sit on the measured hull (BD-rate near 0) at about the VMAF the
ladder predicted.
"""
from __future__ import annotations

import time
from dataclasses import replace

from ..core.codecs import EncodeSpec
from ..core.errors import InputNotFound, InvalidLadderFile
from ..encoder.cache import Cache, fingerprint
from ..encoder.events import EventSink, no_events
from ..encoder.ffmpeg import FFmpeg
from ..encoder.probe import probe
from ..encoder.sweep import SweepPlan, run_sweep
from ..ladders.bdrate import BDRateError, bd_rate
from ..ladders.curves import Curve, Envelope
from .common import AnalysisOptions, make_plan, pool_sampled, rate_ratios


def rung_spec(rung: dict, codec: str) -> EncodeSpec:
    enc = rung["encoder"]
    two_pass = enc.get("rate_control") == "2pass"
    return EncodeSpec(codec=codec, width=rung["width"], height=rung["height"],
                        bitrate_kbps=float(enc["bitrate_kbps"]),
                        maxrate_kbps=float(enc["maxrate_kbps"]) if enc.get("maxrate_kbps") else None,
                        bufsize_kbits=float(enc["bufsize_kbits"]) if enc.get("bufsize_kbits") else None,
                        preset=enc.get("preset"), gop=int(enc.get("gop_frames") or 0), threads=1,
                        passes=2 if two_pass else 1)


def _aimed(spec: EncodeSpec, ratio: float) -> EncodeSpec:
    if ratio == 1.0:
        return spec
    return replace(spec, bitrate_kbps=round(spec.bitrate_kbps * ratio, 1),
                   maxrate_kbps=round(spec.maxrate_kbps * ratio, 1) if spec.maxrate_kbps else spec.maxrate_kbps,
                   bufsize_kbits=round(spec.bufsize_kbits * ratio, 1) if spec.bufsize_kbits else spec.bufsize_kbits)


def verify_ladder(doc: dict, ff: FFmpeg, cache: Cache, *, source_path: str | None = None, jobs: int = 1,
                  on_event: EventSink = no_events, workdir: str | None = None,
                  allow_references: bool = False) -> dict:
    t0 = time.monotonic()
    path = source_path or doc["source"]["path"]
    try:
        source = probe(path, allow_references)
    except InputNotFound as exc:
        if not source_path:
            exc.message += " (the source this ladder was made from: --source names where it is now)"
        raise
    if doc["source"].get("sha256"):
        if fingerprint(path) != doc["source"]["sha256"]:
            raise InvalidLadderFile("the source's content differs from the one the ladder was made for", path)
    an = doc.get("analysed", {})
    segs = an.get("segments") or []
    opts = AnalysisOptions(codec=doc["codec"], start_s=float(an.get("start_s") or 0.0),
                           duration_s=an.get("duration_s"), vmaf_model=doc["vmaf_model"], jobs=jobs,
                           segment_times=tuple((float(a), float(b)) for a, b in segs))
    try:
        base = make_plan(source, opts)
    except (ValueError, TypeError):
        raise InvalidLadderFile("cannot rebuild the analysed excerpts of this ladder", path) from None
    try:
        specs = tuple(rung_spec(r, doc["codec"]) for r in doc["rungs"])
    except ValueError as exc:
        raise InvalidLadderFile(f"a rung cannot be encoded as written: {exc}", path) from None
    # A content-sampled ladder's bitrates are the title's (weighted) estimates: the joined excerpts
    # are encoded at the rate whose weighted bitrate is the rung's (the analysis' ratio for the size).
    ratios = rate_ratios(an.get("sampling"))
    specs = tuple(_aimed(s, ratios.get((s.width, s.height), 1.0)) for s in specs)
    plan = SweepPlan(source, base.reference, specs, replace(base.measure, model=doc["vmaf_model"]))
    res = run_sweep(ff, plan, cache, jobs=jobs, on_event=on_event, workdir=workdir)
    # a content-sampled ladder's rungs are the title's estimates: its excerpts weighted as analysed
    res.rows = pool_sampled(res.rows, an.get("sampling"))
    by_size_rate = {(r["width"], r["height"], round(float(r["target_kbps"]))): r for r in res.rows}
    qcol = {"mean": "vmaf_mean", "hmean": "vmaf_hmean", "p5": "vmaf_p5"}[doc.get("pooling", "mean")]
    failed = {(e.width, e.height, round(float(e.bitrate_kbps))): msg for e, msg in res.failures}
    rungs = []
    for i, (r, spec) in enumerate(zip(doc["rungs"], specs)):
        key = (r["width"], r["height"], round(float(spec.bitrate_kbps)))
        m = by_size_rate.get(key)
        if m is None:
            rungs.append({"index": r.get("index", i), "width": r["width"], "height": r["height"],
                          "target_kbps": r["bitrate_kbps"], "status": "failed",
                          "error": failed.get(key, "no measurement")})
            continue
        rungs.append({"index": r.get("index", i), "status": "ok", "width": r["width"], "height": r["height"],
                      "target_kbps": r["bitrate_kbps"], "measured_kbps": m["kbps"],
                      "expected_vmaf": r["vmaf"], "measured_vmaf": m[qcol],
                      "vmaf_error": round(r["vmaf"] - m[qcol], 3),
                      "rate_error_pct": round(100 * (m["kbps"] / r["bitrate_kbps"] - 1), 2),
                      "psnr_y": m.get("psnr_y"),
                      **({"vmaf_frames": m["vmaf_frames"]} if m.get("vmaf_frames") else {})})
    ok = [r for r in rungs if r["status"] == "ok"]
    measured = [(r["measured_kbps"], r["measured_vmaf"]) for r in ok]
    out: dict = {"source": path, "codec": doc["codec"], "rungs": rungs,
                 "encodes": len(specs), "cached": sum(bool(r.get("cached")) for r in res.rows),
                 "failed": [f"{e.width}x{e.height}: {msg}" for e, msg in res.failures],
                 "all_ok": len(ok) == len(rungs)}
    hull = [(h["kbps"], h["vmaf"]) for h in doc.get("hull", [])]
    if hull and len(measured) >= 2:
        try:
            out["bd_rate_vs_hull_pct"] = round(bd_rate(hull, measured, min_overlap=1.0), 3)
        except BDRateError as exc:
            out["bd_rate_vs_hull_pct"] = None
            out["bd_rate_note"] = str(exc)
    curves = [Curve.from_points(c["width"], c["height"], [p[0] for p in c["points"]], [p[1] for p in c["points"]])
              for c in doc.get("curves", [])]
    if curves and len(measured) >= 2:
        env = Envelope(curves)
        env_pts = [(k, env.quality_at(k)) for k, _ in measured if k >= env.min_kbps]
        try:
            out["bd_rate_vs_envelope_pct"] = round(bd_rate(env_pts, measured, min_overlap=1.0), 3)
        except BDRateError:
            out["bd_rate_vs_envelope_pct"] = None
    errs = [abs(r["vmaf_error"]) for r in ok]
    out["vmaf_mae"] = round(sum(errs) / len(errs), 3) if errs else None
    out["wall_s"] = round(time.monotonic() - t0, 2)
    return out
