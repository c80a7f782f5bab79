"""``encode``: the ladder's renditions of the whole title and their HLS/DASH package.

Every rung is encoded exactly as the ladder says (codec, preset, 2-pass at the rung's bitrate,
VBV maxrate and buffer, the same fixed GOP in every rendition so keyframes fall at the same
times) from the whole source, normalised as the analysis' reference was and scaled with the same
scaler. Each rendition is cut, without re-encoding, into CMAF segments of a whole number of GOPs
that both manifests share. The manifests carry measured rates (peak and average segment
bitrates) and the codecs strings read from the streams' sample entries (avc1, hvc1, av01, vp09:
every codec a ladder can name is packaged; MPEG-TS segments only for H.264).

Resumable: a finished rendition is a folder with its ``rendition.json``; a rerun with the same
source, ladder and options encodes only what is missing. A different package in the folder is
never mixed with this one.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass, replace

from ..core.codecs import CODECS
from ..core.errors import InvalidLadderFile, LadderError, OutputError, PertitleError
from ..core.fsutil import atomic_write_text, check_folder, to_json
from ..core.version import __version__
from ..core.workdirs import make_workdir, remove_workdir
from ..encoder import commands as C
from ..encoder.cache import fingerprint
from ..encoder.events import EventSink, Stage, no_events
from ..encoder.ffmpeg import FFmpeg
from ..encoder.mp4 import codecs_string
from ..encoder.probe import probe
from ..encoder.measure import measure_many
from ..encoder.runner import run
from ..encoder.sweep import SharedReference, require_reference_filters
from ..ladders.packaging import (Rendition, Segment, dash_mpd, hls_media_playlist, hls_multivariant,
                                 parse_ffmpeg_playlist)
from .common import AnalysisOptions, make_plan
from .verify import rung_spec

STATE_NAME = ".pertitle-package.json"
RENDITION_FILE = "rendition.json"
MEDIA_PLAYLIST = "media.m3u8"
MULTIVARIANT = "master.m3u8"
MULTIVARIANT_TS = "master_ts.m3u8"
TS_DIR = "ts"
MPD_NAME = "manifest.mpd"
SUMMARY_NAME = "package.json"
OURS = re.compile(r"^(v\d+|a0|\.tmp-.*|\.pertitle-tmp-.*|master(_ts)?\.m3u8|manifest\.mpd|package\.json"
                  r"|\.pertitle-package\.json)$")
PACKAGED_CODECS = tuple(CODECS)   # every codec the analysis sweeps: CMAF fMP4 segments for all


@dataclass(frozen=True)
class EncodeOptions:
    hls: bool = True
    dash: bool = True
    audio: bool = True
    audio_kbps: int = 128
    segment_target_s: float = 6.0
    force: bool = False
    overwrite: bool = False
    jobs: int = 1
    allow_references: bool = False
    verify: bool = False             # measure every rendition against the source (VMAF as analysed)
    hls_ts: bool = False             # also MPEG-TS segments and their HLS playlists (master_ts.m3u8)


def ladder_digest(doc: dict) -> str:
    """What makes the renditions: codec and every rung's encoder settings."""
    key = {"codec": doc["codec"], "rungs": [r["encoder"] for r in doc["rungs"]]}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def _disk_full(exc: BaseException) -> bool:
    return (isinstance(exc, OSError) and exc.errno == errno.ENOSPC) or "No space left on device" in str(exc)


def prepare_folder(outdir: str, state: dict, overwrite: bool) -> str:
    """The package folder: new, or holding this same package (resume), or - with ``overwrite``
    - another pertitle package, which is removed first. Anything else is refused."""
    outdir = check_folder(outdir, what="package folder")
    entries = os.listdir(outdir)
    state_path = os.path.join(outdir, STATE_NAME)
    if entries:
        old = None
        if os.path.isfile(state_path) and not os.path.islink(state_path) and os.path.getsize(state_path) < 1 << 20:
            try:
                with open(state_path, encoding="utf-8") as fh:
                    old = json.load(fh)
            except (OSError, ValueError):
                old = None
        foreign = [e for e in entries if not OURS.match(e)]
        # a resume writes into the folders it finds: a symbolic link among them would lead it out
        link = _first_link(outdir) if old == state and not foreign else None
        if old == state and not foreign and not link:
            return outdir  # resume
        if old is None or foreign:
            raise OutputError("the package folder is not empty and holds no pertitle package: choose an empty or "
                              "new folder", outdir)
        if link and not overwrite:
            raise OutputError(f"the package folder holds a symbolic link ({link}): a package is resumed in real "
                              "folders only: remove the link, or --overwrite makes the package anew", outdir)
        if not overwrite:
            raise OutputError("the package folder holds another package (other source, ladder or options): "
                              "--overwrite replaces it", outdir)
        for e in entries:
            p = os.path.join(outdir, e)
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p)
            else:
                os.unlink(p)
    atomic_write_text(state_path, to_json(state))
    return outdir


def _first_link(folder: str) -> str | None:
    """The first symbolic link under ``folder`` (its path relative to it), not followed."""
    for here, dirs, files in os.walk(folder):          # os.walk does not descend into linked folders
        for name in sorted(dirs + files):
            path = os.path.join(here, name)
            if os.path.islink(path):
                return os.path.relpath(path, folder)
    return None


def precheck(outdir: str) -> None:
    """Before an analysis that ends with ``--encode``: the folder is usable (no work wasted)."""
    path = check_folder(outdir, what="package folder")
    if [e for e in os.listdir(path) if not OURS.match(e)]:
        raise OutputError("the package folder is not empty and holds no pertitle package: choose an empty or "
                          "new folder", outdir)


def encode_package(input_path: str, doc: dict, outdir: str, opts: EncodeOptions, ff: FFmpeg, *,
                   on_event: EventSink = no_events) -> dict:
    source = probe(input_path, opts.allow_references)
    sha = fingerprint(input_path)
    want = (doc.get("source") or {}).get("sha256")
    if want and want != sha and not opts.force:
        raise InvalidLadderFile("this ladder was made for another source (its content differs): --force "
                                "encodes it anyway", input_path)
    if doc["codec"] not in PACKAGED_CODECS:
        raise LadderError(f"encode packages {', '.join(PACKAGED_CODECS)} ladders; this one is {doc['codec']}")
    delivered = CODECS[doc["codec"]]
    tag = delivered.mp4_tag
    if opts.hls_ts and delivered.hls_container != "mpegts":
        raise LadderError(f"--hls-ts: MPEG-TS segments are made for H.264 ladders only; this one is {doc['codec']}, "
                          "whose HLS playlists use the CMAF (fMP4) segments")
    try:
        specs = [rung_spec(r, doc["codec"]) for r in doc["rungs"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidLadderFile(f"a rung cannot be encoded as written: {exc}", input_path) from None
    ff.require_encoder(doc["codec"])
    gops = {s.gop for s in specs}
    if len(gops) != 1 or not specs[0].gop:
        raise InvalidLadderFile("the rungs do not share one fixed GOP: their keyframes would not align",
                                input_path)
    plan = make_plan(source, AnalysisOptions(codec=doc["codec"], allow_references=opts.allow_references,
                                             vmaf_model=doc.get("vmaf_model", "auto")))
    ref = replace(plan.reference, start_s=0.0, duration_s=None, segments=())
    require_reference_filters(ff, ref)
    plan = replace(plan, reference=ref)
    gop_s = specs[0].gop / float(ref.fps)
    per_segment = max(1, round(opts.segment_target_s / gop_s))
    segment_s = per_segment * gop_s
    with_audio = opts.audio and source.has_audio
    state = {"tool": "pertitle", "version": __version__, "source_sha256": sha, "ladder": ladder_digest(doc),
             "segment_gops": per_segment, "audio": with_audio, "audio_kbps": opts.audio_kbps}
    outdir = prepare_folder(outdir, state, opts.overwrite)
    threads = max(1, (os.cpu_count() or 1) // max(1, opts.jobs))
    # The segmenter cuts at the first keyframe at or after the target: aim a little below a
    # whole number of GOPs so float rounding never pushes a cut one GOP later.
    cut_s = segment_s - 0.5 / float(ref.fps)

    def cut(media: str, into: str, folder: str, ts: bool, video: bool) -> tuple[Segment, ...]:
        """Segment ``media`` into the new folder ``into``: the segments with their durations and sizes."""
        os.mkdir(into)
        run(C.segment_command(ff.path, media, cut_s, ts=ts, tag=tag if video else None),
            what=f"segmenting of {folder}", cwd=into)
        listing = os.path.join(into, C.SEGMENT_PLAYLIST)
        with open(listing, encoding="utf-8") as fh:
            entries = parse_ffmpeg_playlist(fh.read())
        os.unlink(listing)
        return tuple(Segment(name, dur, os.path.getsize(os.path.join(into, name))) for name, dur in entries)

    def finished(folder: str, key: dict) -> Rendition | None:
        path = os.path.join(outdir, folder, RENDITION_FILE)
        try:
            with open(path, encoding="utf-8") as fh:
                d = json.load(fh)
        except (OSError, ValueError):
            return None
        if d.get("key") != key or (opts.verify and d.get("kind") == "video" and not d.get("measured")):
            return None
        segs = tuple(Segment(s["name"], float(s["duration_s"]), int(s["bytes"])) for s in d["segments"])
        if not all(os.path.isfile(os.path.join(outdir, folder, s.name)) for s in segs):
            return None
        if opts.hls_ts and not d.get("ts_segments"):
            return None
        return _rendition(folder, d, segs)

    def make(folder: str, key: dict, commands_for, meta: dict) -> Rendition:
        done = finished(folder, key)
        if done is not None:
            on_event(Stage("encode", f"{folder}: done earlier, kept"))
            return done
        on_event(Stage("encode", f"{folder}: {meta.get('label', '')}"))
        # locked while it is made: the next encode into the folder removes what a killed one left
        tmp = make_workdir(f".tmp-{folder}-", outdir)
        try:
            media = os.path.join(tmp, "rendition.mp4")
            for cmd in commands_for(media, os.path.join(tmp, "pass")):
                run(cmd, what=f"encode of {folder}", cwd=tmp)
            if opts.verify and meta["kind"] == "video":
                sc = measure_many(ff, reference(), plan.ref_size, ref.fps, [media], plan.measure, tmp)[0]
                meta = {**meta, "measured": {k: (round(v, 3) if isinstance(v, float) else v)
                                             for k, v in sc.items() if k != "vmaf_frames"}}
            seg_dir = os.path.join(tmp, folder)
            video = meta["kind"] == "video"
            segs = cut(media, seg_dir, folder, ts=False, video=video)
            d = {"key": key, "codecs": codecs_string(os.path.join(seg_dir, C.INIT_NAME)), **meta,
                 "segments": [_seg_dict(s) for s in segs]}
            if opts.hls_ts:
                d["ts_segments"] = [_seg_dict(s) for s in cut(media, os.path.join(seg_dir, TS_DIR), folder, ts=True,
                                                               video=video)]
            atomic_write_text(os.path.join(seg_dir, RENDITION_FILE), to_json(d))
            final = os.path.join(outdir, folder)
            if os.path.lexists(final):
                shutil.rmtree(final)  # a stale, unfinished rendition of this same package
            os.rename(seg_dir, final)
            on_event(Stage("encode", f"{folder}: {len(segs)} segments"))
            return _rendition(folder, d, segs)
        finally:
            remove_workdir(tmp)

    jobs: list[tuple] = []
    for i, spec in enumerate(specs):
        spec_t = replace(spec, threads=threads)
        key = {"spec": spec.key(), "segment_s": round(segment_s, 6), **ref.colour_conversions}
        meta = {"kind": "video", "width": spec.width, "height": spec.height, "fps": C.fps_str(ref.fps),
                "target_kbps": spec.bitrate_kbps, "label": f"{spec.width}x{spec.height} at {spec.bitrate_kbps:.0f} kbps"}
        jobs.append((f"v{i}", key, lambda out, log, s=spec_t: C.rendition_commands(ff.path, ref, s, out, log), meta))
    if with_audio:
        key = {"audio": "aac", "kbps": opts.audio_kbps, "channels": 2, "segment_s": round(segment_s, 6),
               "end_s": round(source.duration_s, 3)}   # no audio after the video's last frame
        if ref.video_start_s:
            key["start_s"] = ref.video_start_s   # in step with a video that starts late
        jobs.append(("a0", key, lambda out, log: [C.audio_command(ff.path, ref.source, ref.source_format, out,
                                                                   opts.audio_kbps, start_s=ref.video_start_s,
                                                                   duration_s=source.duration_s)],
                     {"kind": "audio", "channels": 2, "target_kbps": opts.audio_kbps, "label": "AAC stereo"}))

    from joblib import Parallel, delayed

    reference = SharedReference(ff, plan, None, on_event)
    if opts.verify:
        reference()  # decoded once, before the parallel renditions read it

    def task(job):
        try:
            return job[0], make(*job), None
        except (PertitleError, OSError) as exc:
            return job[0], None, exc

    results = {}
    errors = []
    try:
        for folder, rend, err in Parallel(n_jobs=max(1, opts.jobs), prefer="threads",
                                          return_as="generator_unordered")(delayed(task)(j) for j in jobs):
            if err is None:
                results[folder] = rend
            else:
                errors.append((folder, err))
    finally:
        reference.close()
    if errors:
        folder, err = sorted(errors, key=lambda e: e[0])[0]
        kept = ", ".join(sorted(results)) or "none"
        if any(_disk_full(e) for _, e in errors):
            raise OutputError(f"the disk is full (while making {folder}); finished renditions kept ({kept}): "
                              "free space and rerun to resume", outdir)
        if isinstance(err, PertitleError):
            raise err
        raise OutputError(f"{folder}: {err}", outdir)

    videos = [results[f"v{i}"] for i in range(len(specs))]
    audio = results.get("a0")
    written = []
    try:
        for r in videos + ([audio] if audio else []):
            atomic_write_text(os.path.join(outdir, r.folder, MEDIA_PLAYLIST), hls_media_playlist(r))
        if opts.hls:
            atomic_write_text(os.path.join(outdir, MULTIVARIANT), hls_multivariant(videos, audio, MEDIA_PLAYLIST))
            written.append(MULTIVARIANT)
        if opts.hls_ts:
            tv = [_ts_rendition(r) for r in videos]
            ta = _ts_rendition(audio) if audio else None
            for r in tv + ([ta] if ta else []):
                atomic_write_text(os.path.join(outdir, r.folder, TS_DIR, MEDIA_PLAYLIST), hls_media_playlist(r))
            atomic_write_text(os.path.join(outdir, MULTIVARIANT_TS),
                              hls_multivariant(tv, ta, f"{TS_DIR}/{MEDIA_PLAYLIST}"))
            written.append(MULTIVARIANT_TS)
        if opts.dash:
            atomic_write_text(os.path.join(outdir, MPD_NAME), dash_mpd(videos, audio))
            written.append(MPD_NAME)
        summary = package_summary(doc, videos, audio, segment_s, per_segment, written)
        atomic_write_text(os.path.join(outdir, SUMMARY_NAME), to_json(summary))
    except OSError as exc:
        if _disk_full(exc):
            raise OutputError("the disk is full while writing the manifests; the renditions are kept: rerun",
                              outdir) from None
        raise OutputError(f"cannot write the manifests: {exc.strerror}", outdir) from None
    summary["folder"] = outdir
    return summary


def _seg_dict(s: Segment) -> dict:
    return {"name": s.name, "duration_s": s.duration_s, "bytes": s.bytes}


def _ts_rendition(r: Rendition) -> Rendition:
    """The MPEG-TS twin of a rendition (same stream, TS segments, no initialization segment)."""
    segs = tuple(Segment(t["name"], float(t["duration_s"]), int(t["bytes"])) for t in r.extra["ts_segments"])
    return replace(r, segments=segs, init=None)


def _rendition(folder: str, d: dict, segs: tuple[Segment, ...]) -> Rendition:
    return Rendition(folder=folder, kind=d["kind"], codecs=d["codecs"], segments=segs,
                     width=int(d.get("width", 0)), height=int(d.get("height", 0)), fps=d.get("fps", ""),
                     target_kbps=d.get("target_kbps"),
                     extra={"channels": d.get("channels", 2), "measured": d.get("measured"),
                            "ts_segments": d.get("ts_segments")})


def package_summary(doc: dict, videos: list[Rendition], audio: Rendition | None, segment_s: float,
                    per_segment: int, manifests: list[str]) -> dict:
    rows = []
    for i, (r, rung) in enumerate(zip(videos, doc["rungs"])):
        avg, peak = r.average_bps / 1000, r.peak_bps / 1000
        rows.append({"index": i, "folder": r.folder, "width": r.width, "height": r.height, "codecs": r.codecs,
                     "target_kbps": r.target_kbps, "average_kbps": round(avg, 1), "peak_kbps": round(peak, 1),
                     "average_vs_target_pct": round(100 * (avg / r.target_kbps - 1), 2) if r.target_kbps else None,
                     "segments": len(r.segments), "duration_s": round(r.duration_s, 3),
                     "expected_vmaf": rung.get("vmaf")})
        m = r.extra.get("measured")
        if m:
            q = m.get({"mean": "vmaf_mean", "hmean": "vmaf_hmean", "p5": "vmaf_p5"}.get(doc.get("pooling", "mean"),
                                                                                       "vmaf_mean"))
            rows[-1].update({"measured_vmaf": q, "vmaf_error": round(q - rung["vmaf"], 3) if q is not None else None,
                             "measured": m})
    out = {"renditions": rows, "segment_s": round(segment_s, 4), "gops_per_segment": per_segment,
           "manifests": manifests}
    if audio is not None:
        out["audio"] = {"folder": audio.folder, "codecs": audio.codecs, "average_kbps": round(audio.average_bps / 1000, 1),
                        "peak_kbps": round(audio.peak_bps / 1000, 1), "segments": len(audio.segments)}
    return out
