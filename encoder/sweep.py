"""Plan and run a sweep: the trial encodes of one title and their quality measurements.

The source is decoded once into a normalised reference (constant rate, even size, limited
range, 8-bit 4:2:0); every trial encode reads that reference and is scored against it. Each
measured point is cached under a content-addressed key, so a rerun or a resumed batch redoes
nothing, and a killed run loses at most the points in flight.
"""
from __future__ import annotations

import math
import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from fractions import Fraction

from ..core.codecs import EncodeSpec
from ..core.codecs import codec as codec_info
from ..core.errors import FFmpegError, MeasurementError, OutputError, PertitleError
from ..core.workdirs import make_workdir, remove_workdir
from . import commands as C
from .cache import Cache, fingerprint, make_key
from .events import EventSink, PointDone, PointFailed, Stage, SweepStarted, no_events
from .ffmpeg import FFmpeg
from .measure import measure_many, pool_parts
from .probe import Source, even
from .runner import run

STANDARD_HEIGHTS = (2160, 1440, 1080, 720, 540, 432, 360, 270, 234)
Y4M_LIMIT_BYTES = 4 << 30   # above this the reference is lossless H.264 instead of raw Y4M

# ------------------------------------------------------------------------------------------
# The RD table: one row per trial encode. The columns, documented once.
# ------------------------------------------------------------------------------------------
RD_COLUMNS = {
    "title": "source file stem",
    "codec": "FFmpeg encoder",
    "preset": "encoder preset",
    "width": "encoded width (square pixels)",
    "height": "encoded height",
    "crf": "constant-quality value (CRF); empty for bitrate-mode encodes",
    "target_kbps": "target average bitrate of bitrate-mode (2-pass) encodes; empty for CRF",
    "kbps": "measured video bitrate: packet bytes * 8 / (frames / fps) / 1000",
    "bytes": "video packet bytes",
    "frames": "frames encoded",
    "vmaf_mean": "VMAF, arithmetic mean over frames",
    "vmaf_hmean": "VMAF, harmonic mean (libvmaf's definition)",
    "vmaf_p5": "VMAF, 5th percentile over frames",
    "vmaf_min": "VMAF, worst frame",
    "psnr_y": "PSNR of luma, mean over frames (dB; 60 = identical at 8 bit)",
    "psnr_avg": "PSNR (6*Y + Cb + Cr) / 8",
    "ssim": "SSIM (libvmaf float_ssim), mean over frames",
    "xpsnr_y": "XPSNR of luma (FFmpeg xpsnr filter)",
    "vmaf_model": "libvmaf model used",
    "subsample": "libvmaf n_subsample (1 = every frame)",
    "encode_s": "wall seconds of the encode",
    "measure_s": "wall seconds of the measurement",
    "cached": "true when the point came from the cache",
    "key": "cache key of the point",
    "sample_kbps": "content-sampled title: the joined excerpts' own bitrate (kbps is their duration-weighted "
                   "estimate of the title's)",
    "sample_vmaf_mean": "content-sampled title: the joined excerpts' own mean VMAF (vmaf_mean is the weighted one)",
}

RD_ORDER = ("height", "width", "crf", "target_kbps")   # the table's row order


def _order_key(row: dict) -> tuple:
    """Ascending by ``RD_ORDER``; a missing (None / NaN) value sorts after every number."""
    key = []
    for col in RD_ORDER:
        v = row.get(col)
        missing = v is None or (isinstance(v, float) and math.isnan(v))
        key.append((1, 0) if missing else (0, v))
    return tuple(key)


def rd_table(rows: Sequence[dict]) -> list[dict]:
    """The RD table of ``rows`` without pandas: every row with exactly the ``RD_COLUMNS`` keys
    (None where a row lacks one), sorted by size then rate setting; the sort is stable."""
    cols = list(RD_COLUMNS)
    return sorted(({c: r.get(c) for c in cols} for r in rows), key=_order_key)


@dataclass(frozen=True)
class SweepPlan:
    source: Source
    reference: C.ReferenceSpec
    encodes: tuple[EncodeSpec, ...]
    measure: C.MeasureSpec

    @property
    def ref_size(self) -> tuple[int, int]:
        return self.reference.width, self.reference.height

    @property
    def frames(self) -> int:
        if self.reference.segments:
            return max(1, sum(segment_frames(self.reference.segments, self.reference.fps)))
        dur = self.reference.analysed_seconds or (self.source.duration_s - self.reference.start_s)
        return max(1, int(round(dur * float(self.reference.fps))))


def segment_frames(segments: Sequence[tuple[float, float]], fps: Fraction) -> list[int]:
    """Frames each excerpt gives (an excerpt of (n - 0.5) / fps s from 0, or n / fps s from half a
    frame early, gives n)."""
    f = float(fps)
    return [int(math.floor(d * f + 0.5 + 1e-6)) for _, d in segments]


def candidate_sizes(source: Source, heights: Sequence[int] | None = None) -> list[tuple[int, int]]:
    """Rung sizes to try: standard heights not above the source (and the source's own height
    when the default list is used), width from the display aspect ratio, both even. For
    portrait sources the "height" is the short side."""
    dw, dh = source.display_size
    portrait = dh > dw
    short, long_ = (dw, dh) if portrait else (dh, dw)
    chosen = set(h for h in (heights or STANDARD_HEIGHTS) if h <= short)
    if heights is None:
        chosen.add(short - short % 2)
    if not chosen:
        raise ValueError(f"none of the heights {list(heights or [])} fits a {dw}x{dh} source")
    sizes = []
    for s in sorted(chosen):
        other = min(even(s * long_ / short), long_ - long_ % 2) if s < short else long_ - long_ % 2
        sizes.append((s, other) if portrait else (other, s))
    return sizes


def spread_segments(duration_s: float, n: int, seconds: float) -> tuple[tuple[float, float], ...]:
    """``n`` excerpts of ``seconds`` centred in ``n`` equal parts of the title, or none (analyse
    it whole) when they would cover most of it anyway. Start times are on a millisecond grid."""
    if n <= 0 or seconds <= 0 or n * seconds * 2 > duration_s:
        return ()
    out = []
    for k in range(n):
        centre = (k + 0.5) * duration_s / n
        start = min(max(0.0, centre - seconds / 2), duration_s - seconds)
        out.append((round(start, 3), float(seconds)))
    return tuple(out)


def gop_frames(gop_seconds: float, fps: Fraction) -> int:
    """Keyframe interval in frames (0: the encoder's default)."""
    return int(round(gop_seconds * float(fps))) if gop_seconds > 0 else 0


def lossless_needed(width: int, height: int, frames: int) -> bool:
    """A raw Y4M reference of this many frames would be too big: lossless H.264 instead."""
    return width * height * 1.5 * frames > Y4M_LIMIT_BYTES


def frame_span(first: int, n: int, fps: float) -> tuple[float, float]:
    """(start, duration) in seconds that a seek keeps exactly frames ``first .. first + n - 1`` of,
    whatever the timestamp rounding: from half a frame early (or from 0) to half a frame early."""
    if first == 0:
        return 0.0, round((n - 0.5) / fps, 6)
    return round((first - 0.5) / fps, 6), round(n / fps, 6)


def gop_aligned(segments: Sequence[tuple[float, float]], duration_s: float, fps: Fraction,
                gop: int) -> tuple[tuple[float, float], ...]:
    """Excerpts of whole GOPs, frame-exact. Joined into one reference, an excerpt that is not a
    whole number of GOPs puts a cut inside a GOP: the encoder codes the new picture as a P frame
    that costs an intra frame, so the sample spends more bits than the title does (a 342-s
    microscopy timelapse measured +23 % at CRF 16 with 3-s excerpts and 2-s GOPs, +0.6 % with
    4-s ones). Each excerpt here is the nearest whole number of GOPs (at least one), so the
    reference's keyframes fall exactly on the excerpt starts, and it starts on the title's own
    keyframe grid (a multiple of ``gop`` frames from the first frame: where the whole title's
    encode, and the delivered one with fixed GOPs, put their keyframes). Off the grid, the excerpt's
    GOPs group its frames differently from the title's: on a 139-s static-camera title whose source
    pulses every 10 frames, six 2-s excerpts encoded off the grid scored 0.57 VMAF below the same
    frames in the whole title's encode at the same bitrate; on the grid, 0.27 below at 7 % fewer
    bits, i.e. on its curve. It starts half a frame before its first frame (so the seek keeps
    exactly that frame whatever the timestamp rounding) and stays inside the title.
    Idempotent: aligned excerpts come back unchanged; excerpts inside the title that did not
    overlap still do not (one that runs past the end is moved back inside, over another if the
    title is too short for both)."""
    if gop <= 0 or not segments:
        return tuple(segments)
    f = float(fps)
    total = int(math.floor(duration_s * f + 1e-6))
    out = []
    for start, dur in segments:
        n = max(1, int(math.floor(dur * f / gop + 0.5))) * gop
        n = min(n, max(gop, total - total % gop) if total >= gop else total)
        j = int(round(start * f + 0.25))             # (j - 0.5) / fps -> j, whatever the float error
        j = int(math.floor(j / gop + 0.5)) * gop     # the nearest keyframe of the title's grid
        last = max(0, (total - n) // gop * gop)      # the last grid start that keeps it inside
        out.append(frame_span(max(0, min(j, last)), n, f))
    return tuple(out)


def auto_model(ref_height: int, ref_width: int) -> str:
    """vmaf_v0.6.1 is trained for 1080p viewing; above 1080p use the 4K model."""
    return "vmaf_4k_v0.6.1" if min(ref_width, ref_height) > 1080 else "vmaf_v0.6.1"


SEEKS_PAST_KEYFRAME = frozenset({"mpegts", "mpegtsraw", "mpeg"})
"""Demuxers whose seek (a search on timestamps, no index) lands on the keyframe *after* the time
asked for: FFmpeg's ``-ss`` there started an excerpt up to a GOP late — or after the last
keyframe, with no frame at all (measured: a 2-s excerpt at 2.5 s of an MPEG-TS or MPEG-PS with
1-s GOPs began at 3 s; at 3.2 s, at 4 s; MP4, Matroska, WebM, FLV, Ogg, MXF, NUT and fragmented
MP4 began where asked)."""


def seek_margin(source: Source) -> float:
    """How far before an excerpt's start the reference's seek must go to decode it from the right
    frame: the source's longest stretch without a keyframe (and two frames) where the demuxer
    seeks past keyframes, else 0 (seek to the start itself)."""
    if source.demuxer not in SEEKS_PAST_KEYFRAME:
        return 0.0
    return round(float(source.key_interval_s or source.duration_s) + 2 / float(source.fps), 3)


def plan_sweep(source: Source, *, codec: str = "libx264", crfs: Sequence[float] | None = None,
               heights: Sequence[int] | None = None, preset: str | None = None,
               gop_seconds: float = 2.0, start_s: float = 0.0, duration_s: float | None = None,
               segments: int = 0, segment_s: float = 2.0,
               measure: C.MeasureSpec | None = None, model: str = "auto",
               segment_times: Sequence[tuple[float, float]] = ()) -> SweepPlan:
    """``segment_times``: explicit (start, duration) excerpts (chosen from the title's structure)
    instead of ``segments`` evenly spread ones."""
    c = codec_info(codec)
    rw, rh = source.reference_size
    if start_s >= source.duration_s:
        raise ValueError(f"--start {start_s} is beyond the end ({source.duration_s:.2f} s)")
    if duration_s is not None and start_s + duration_s > source.duration_s:
        duration_s = None  # to the end
    gop = gop_frames(gop_seconds, source.fps)
    chosen = (tuple((float(a), float(b)) for a, b in segment_times) if segment_times
              else spread_segments(source.duration_s, segments, segment_s))
    ref = C.ReferenceSpec(
        source=source.path, fps=source.fps, width=rw, height=rh, start_s=start_s,
        duration_s=duration_s, make_cfr=source.vfr, deinterlace=source.interlaced,
        full_range=source.full_range, tone_map=source.hdr_transfer, rgb=source.rgb,
        input_frame=(*source.upright_size, source.pix_fmt),
        segments=gop_aligned(chosen, source.duration_s, source.fps, gop),
        source_format=source.demuxer, seek_margin_s=seek_margin(source), video_start_s=source.video_start_s)
    frames = int(((ref.analysed_seconds or (source.duration_s - start_s)) * float(source.fps)) + 1)
    if lossless_needed(rw, rh, frames):
        ref = replace(ref, lossless_container=True)
    grid = tuple(crfs) if crfs else c.default_grid
    encodes = tuple(
        EncodeSpec(codec=codec, width=w, height=h, crf=q, preset=preset, gop=gop, threads=1)
        for (w, h) in candidate_sizes(source, heights) for q in grid)
    m = measure or C.MeasureSpec()
    if model == "auto":
        m = replace(m, model=auto_model(rh, rw))
    elif model:
        m = replace(m, model=model)
    return SweepPlan(source, ref, encodes, m)


# ------------------------------------------------------------------------------------------
# Running
# ------------------------------------------------------------------------------------------


def plausible_row(row: dict, enc: EncodeSpec, frames: int | None = None) -> bool | str:
    """A cached point must describe this encode and hold sane numbers (else False: it is measured
    again); with ``frames`` (what the plan analyses) also about that many frames: a point taken on a
    reference that lost frames is not this plan's measurement (then the reason, a string)."""
    try:
        if frames is not None and not 0.9 * frames - 2 <= int(row["frames"]) <= 1.1 * frames + 2:
            return f"measured on {int(row['frames'])} frames, the plan analyses {frames}"
        if (int(row["width"]), int(row["height"])) != (enc.width, enc.height):
            return False
        if (row.get("crf") is None) != (enc.crf is None) or (enc.crf is not None and float(row["crf"]) != float(enc.crf)):
            return False
        kbps, nbytes, frames = float(row["kbps"]), int(row["bytes"]), int(row["frames"])
        if not (math.isfinite(kbps) and kbps > 0 and nbytes > 0 and frames > 0):
            return False
        for k in ("vmaf_mean", "vmaf_hmean", "vmaf_p5", "vmaf_min"):
            v = float(row[k])
            if not (math.isfinite(v) and -1.0 <= v <= 100.5):
                return False
        return all(row.get(k) is None or math.isfinite(float(row[k]))
                   for k in ("psnr_y", "psnr_avg", "ssim", "xpsnr_y"))
    except (KeyError, TypeError, ValueError):
        return False


def point_key(plan: SweepPlan, source_sha: str, enc: EncodeSpec, ffmpeg_version: str) -> str:
    return make_key(source=source_sha, reference=_reference_identity(plan), encode=enc.key(),
                    measure=plan.measure.key(), ffmpeg=ffmpeg_version)


def _reference_identity(plan: SweepPlan) -> dict:
    """What makes the reference's frames what they are (a part of every point's key)."""
    ref = {k: getattr(plan.reference, k) for k in plan.reference.__dataclass_fields__}
    ref.pop("source")
    ref.pop("lossless_container")  # lossless either way: the frames are identical
    ref.pop("source_format")       # the demuxer the probe chose, pinned: same frames
    ref.pop("input_frame")  # the source's own first frame: the source's hash says it
    ref.pop("tone_map")
    ref.pop("rgb")
    ref.pop("seek_margin_s")       # how far back the seek starts: the frames kept are the same
    if not ref["video_start_s"]:
        ref.pop("video_start_s")   # (a video starting with the file: keys stay what they were)
    ref.update(plan.reference.colour_conversions)
    if plan.reference.trimmed_seek:
        ref["seek"] = "trim"       # an excerpt of an MPEG-TS/PS before the seek was corrected began late
    if not ref["segments"]:
        ref.pop("segments")  # keys of contiguous excerpts stay what they were before segments existed
    else:
        ref["segments"] = [list(s) for s in ref["segments"]]
    return ref


# What FFmpeg's command line says, one line each, of the source it decodes: a frame decoded
# with errors concealed, a packet its decoder rejected (skipped, as the features do), and a frame
# whose size or format differs from the one the filters were set up for (the first frame's: the
# reference scales it to that, commands.reference_filters).
_CORRUPT = "corrupt decoded frame"
_REJECTED = "Error submitting packet to decoder"
_CHANGE = re.compile(r"filter context - w: (\d+) h: (\d+) .*incoming frame - w: (\d+) h: (\d+) .*pts_time: (-?[0-9.]+)")
KEPT_CHANGES = 4     # the first few changes a record keeps (their number is kept whole)
_COUNTS = ("corrupt_frames", "rejected_packets", "frame_changes")   # a record's counts (summed over chunks)
_decode_lock = threading.Lock()
_decode_seen: dict[str, dict] = {}   # reference decodes of this process: decode_key -> record


class DecodeLog:
    """What one reference decode met, read off FFmpeg's stderr line by line (``runner.run``'s
    ``on_line``)."""

    def __init__(self) -> None:
        self.corrupt_frames = self.rejected_packets = self.frame_changes = 0
        self.changes: list[list] = []    # [from w, from h, to w, to h, at s]

    def __call__(self, line: str) -> None:
        if _CORRUPT in line:
            self.corrupt_frames += 1
        elif _REJECTED in line:
            self.rejected_packets += 1
        elif "incoming frame - w:" in line:
            self.frame_changes += 1
            m = _CHANGE.search(line)
            if m and len(self.changes) < KEPT_CHANGES:
                self.changes.append([int(m[1]), int(m[2]), int(m[3]), int(m[4]), round(float(m[5]), 3)])

    def record(self) -> dict:
        return {"corrupt_frames": self.corrupt_frames, "rejected_packets": self.rejected_packets,
                "frame_changes": self.frame_changes, "changes": self.changes}


def decode_key(plan: SweepPlan, ffmpeg_version: str) -> str:
    """The cache key of what the reference decode of ``plan`` met (its frames' identity, as in
    the points' keys): kept beside the points, so that a run whose points all come from the cache
    (no decode) says what the run that decoded it said."""
    return make_key(kind="reference-decode", source=fingerprint(plan.source.path),
                    reference=_reference_identity(plan), ffmpeg=ffmpeg_version)


def ceiling_key(plan: SweepPlan, sizes, ffmpeg_version: str, **how) -> str:
    """The cache key of ``plan``'s scaling measurement at ``sizes`` (no encode: the reference's
    frames, the scalers, the VMAF model and ``how`` the frames are chosen say it all)."""
    return make_key(kind="scaling-ceiling", source=fingerprint(plan.source.path),
                    reference=_reference_identity(plan), sizes=[list(s) for s in sizes],
                    down=plan.encodes[0].scaler if plan.encodes else None, measure=plan.measure.key(),
                    ffmpeg=ffmpeg_version, **how)


def _plausible_record(value: dict) -> bool:
    if set(value) != {*_COUNTS, "changes"} or not isinstance(value["changes"], list):
        return False
    whole = lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0  # noqa: E731
    return (all(whole(value[k]) for k in _COUNTS) and len(value["changes"]) <= KEPT_CHANGES
            and all(isinstance(c, list) and len(c) == 5 and all(whole(v) for v in c[:4])
                    and isinstance(c[4], (int, float)) and not isinstance(c[4], bool) and math.isfinite(c[4])
                    for c in value["changes"]))


def reference_decode(ff: FFmpeg, plans: Sequence[SweepPlan], cache: Cache | None) -> dict | None:
    """What the reference decodes of ``plans`` (one, or a title's chunks) met, summed: from this
    process's decodes, else from the cache; None when no decode of theirs is known (all points
    cached by a version that did not keep it, or decoded on another machine without a shared
    cache). Counts, not an exact census: a decode that starts before its part (a chunk's seek
    from a keyframe) counts what it reads there too, and FFmpeg's frame threads conceal a damaged
    frame from whatever reference they have reached, so the corrupt frames of two decodes of one
    file can differ by a few. A chunk that begins after a change of size does not see it."""
    total = {**dict.fromkeys(_COUNTS, 0), "changes": []}
    known = False
    for plan in plans:
        key = decode_key(plan, ff.version)
        found = _seen(key)
        if found is None and cache is not None:
            found = cache.get(key, check=_plausible_record)
        if found is not None:
            known = True
            for k in _COUNTS:
                total[k] += found[k]
            total["changes"] = (total["changes"] + found["changes"])[:KEPT_CHANGES]
    return total if known else None


def decode_notes(met: dict | None, plan: SweepPlan) -> list[str]:
    """The document's notes on what the reference decode met (none for an intact, steady source)."""
    if not met:
        return []

    def n(count: int, what: str) -> str:
        return f"{count} {what}{'' if count == 1 else 's'}"

    notes = []
    if met["rejected_packets"] or met["corrupt_frames"]:
        said = []
        if met["rejected_packets"]:
            said.append(f"rejected {n(met['rejected_packets'], 'packet')}")
        if met["corrupt_frames"]:
            said.append(f"concealed errors in {n(met['corrupt_frames'], 'frame')}")
        notes.append(f"the source is damaged: reading the analysed part, FFmpeg's decoder {' and '.join(said)}; "
                     "the analysis sees the picture as FFmpeg conceals it, as every rendition encoded from "
                     "this source will")
    if met["frame_changes"]:
        shown = [f"{a}x{b} to {c}x{d} at {t:.2f} s" if (a, b) != (c, d) else f"its format at {t:.2f} s"
                 for a, b, c, d, t in met["changes"]]
        more = "; ..." if met["frame_changes"] > len(shown) else ""
        when = "midway" if met["frame_changes"] == 1 else f"{met['frame_changes']} times"
        what = f" ({'; '.join(shown)}{more})" if shown else ""
        notes.append(f"the picture changes size or format {when}{what}: every frame is scaled to "
                     f"{plan.reference.width}x{plan.reference.height} 4:2:0 for the analysis")
    return notes


def require_reference_filters(ff: FFmpeg, ref: C.ReferenceSpec) -> None:
    """The filters the source's normalisation needs beyond FFmpeg's built-in ones."""
    if ref.tone_map:
        for name in ("zscale", "tonemap"):
            ff.require_filter(name, "(needed to tone-map an HDR source to SDR)")


def prepare_reference(ff: FFmpeg, plan: SweepPlan, workdir: str, keep_log: bool = False) -> str:
    """Decode the source once into the reference every point reads. ``keep_log``: what the
    decode met (:class:`DecodeLog`) is kept in this process for :func:`reference_decode` (and goes
    to the cache with the first point measured on it, :func:`run_sweep`); off for a caller with no
    document to say it in (it costs the source's hash)."""
    require_reference_filters(ff, plan.reference)
    out = os.path.join(workdir, "reference" + plan.reference.suffix)
    log = DecodeLog()
    try:
        run(C.reference_command(ff.path, plan.reference, out), what="reference decode",
            path=plan.source.path, on_line=log)
    except FFmpegError as exc:
        if "No space left on device" not in exc.stderr_tail:
            raise
        ref = plan.reference
        kind = "lossless H.264" if ref.lossless_container else "4:2:0 Y4M"
        named = os.path.dirname(workdir) if os.path.basename(workdir).startswith("pertitle-") else workdir
        raise OutputError(f"the work folder is full: the reference decode of the analysed part ({ref.width}x"
                          f"{ref.height}, {kind}) did not fit; --workdir on a disk with more room", named) from None
    size = os.path.getsize(out) if os.path.exists(out) else 0
    # a Y4M holds its header even when no frame came out (one 4:2:0 frame: 1.5 bytes a pixel)
    one_frame = plan.reference.width * plan.reference.height * 3 // 2 if out.endswith(".y4m") else 1
    if size < one_frame:
        raise MeasurementError("the reference decode produced no frames (nothing decodes in the part "
                               "asked for)", plan.source.path)
    if keep_log:
        with _decode_lock:
            _decode_seen[decode_key(plan, ff.version)] = log.record()
    return out


def _cache_decode(ff: FFmpeg, plan: SweepPlan, cache: Cache) -> None:
    """Keep what this process's decode of ``plan``'s reference met beside the points measured on
    it (a run refused before its first point leaves nothing in the cache)."""
    key = decode_key(plan, ff.version)
    met = _seen(key)
    if met is not None:
        cache.put(key, met)


def _seen(key: str) -> dict | None:
    with _decode_lock:
        return _decode_seen.get(key)


def frame_bytes(path: str) -> list[int]:
    """The video packet sizes of an encode in presentation order (one per frame)."""
    from .probe import open_media, video_stream

    with open_media(path, "matroska") as c:
        vs = video_stream(c)
        sized = [(pkt.pts if pkt.pts is not None else i, pkt.size)
                 for i, pkt in enumerate(c.demux(vs)) if pkt.size]
    return [size for _, size in sorted(sized)]


def excerpt_parts(plan: SweepPlan) -> tuple[tuple[int, int], ...]:
    """Frame ranges of the excerpts joined in the reference (none when it is one contiguous part)."""
    segs = plan.reference.segments
    if len(segs) < 2:
        return ()
    bounds, a = [], 0
    for n in segment_frames(segs, plan.reference.fps):
        bounds.append((a, a + n))
        a += n
    return tuple(bounds)


def encode_one(ff: FFmpeg, ref_path: str, fps: Fraction, enc: EncodeSpec, workdir: str,
               name: str) -> tuple[str, float]:
    out = os.path.join(workdir, name + ".mkv")
    t0 = time.monotonic()
    for cmd in C.encode_commands(ff.path, ref_path, fps, enc, out,
                                 passlog=os.path.join(workdir, name + "-pass")):
        run(cmd, what=f"{enc.codec} encode {enc.width}x{enc.height}")
    return out, time.monotonic() - t0


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def run_point(ff: FFmpeg, plan: SweepPlan, ref_path: str, enc: EncodeSpec, key: str,
              workdir: str, title: str, parts: Sequence[tuple[int, int]] = (), keep_frames: bool = False) -> dict:
    """Encode and score one point. ``parts`` (frame ranges: the excerpts or the shots of the
    reference) adds each part's own bitrate and pooled VMAF to the row (``parts``, ``parts_frames``)."""
    name = f"e{key[:12]}"
    out, enc_s = encode_one(ff, ref_path, plan.reference.fps, enc, workdir, name)
    try:
        sizes = frame_bytes(out)
        nbytes, nframes = sum(sizes), len(sizes)
        t0 = time.monotonic()
        scores = measure_many(ff, ref_path, plan.ref_size, plan.reference.fps, [out],
                              plan.measure, workdir)[0]
        meas_s = time.monotonic() - t0
    finally:
        _unlink(out)
        for suffix in ("-pass-0.log", "-pass-0.log.mbtree", "-pass.log", "-pass.log.cutree"):
            _unlink(os.path.join(workdir, name + suffix))
    if nframes == 0:
        raise MeasurementError(f"encode {enc.width}x{enc.height} produced no frames")
    duration = nframes / float(plan.reference.fps)
    per_frame = scores.pop("vmaf_frames", ())
    row = {
        "title": title, "codec": enc.codec, "preset": enc.effective_preset,
        "width": enc.width, "height": enc.height, "crf": enc.crf,
        "target_kbps": enc.bitrate_kbps,
        "kbps": round(nbytes * 8 / duration / 1000.0, 3), "bytes": nbytes, "frames": nframes,
        **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in scores.items()
           if k != "frames"},
        "vmaf_model": plan.measure.model, "subsample": plan.measure.subsample,
        "encode_s": round(enc_s, 3), "measure_s": round(meas_s, 3), "cached": False, "key": key,
    }
    if parts and per_frame:
        bounds = [(a, min(b, nframes)) for a, b in parts if a < nframes]
        row["parts"] = pool_parts(bounds, sizes, per_frame, float(plan.reference.fps),
                                  max(1, int(plan.measure.subsample or 1)))
        row["parts_frames"] = [list(b) for b in bounds]
    if (keep_frames or enc.crf is None) and per_frame:
        # A delivered rung (rate mode, as ``verify`` encodes it) keeps its per-frame VMAF: where
        # quality dips over time; so does a chunk of a title analysed in chunks (its points are
        # pooled over the whole title). The CRF sweep's points do not need it.
        row["vmaf_frames"] = [round(v, 2) for v in per_frame]
    return row


def chunk_plans(plan: SweepPlan, chunk_s: float) -> list[SweepPlan]:
    """A title analysed whole, cut into chunks of about ``chunk_s`` seconds that start on the
    plan's keyframes (whole GOPs, so every encode's keyframes fall where the whole title's do).
    Each chunk is a plan of its own: its reference is decoded alone (memory and temporary disk
    follow the chunk, not the title) and its points are cached alone (a killed run resumes per
    chunk and point). A title shorter than two chunks stays one plan."""
    ref = plan.reference
    if ref.segments:
        raise ValueError("excerpts are not analysed in chunks")
    fps = float(ref.fps)
    total = plan.frames
    gop = (plan.encodes[0].gop if plan.encodes else 0) or max(1, int(round(2 * fps)))
    step = max(gop, int(round(chunk_s * fps / gop)) * gop)
    if total < 2 * step:
        return [plan]
    edges = list(range(0, total, step))
    if total - edges[-1] < step // 2:
        edges.pop()            # a short tail joins the chunk before it
    plans = []
    for i, a in enumerate(edges):
        last = i == len(edges) - 1
        frames = (total - a) if last else step
        start, dur = frame_span(a, frames, fps)
        plans.append(replace(plan, reference=replace(
            ref, start_s=round(ref.start_s + start, 6),
            duration_s=None if last and ref.duration_s is None else dur,   # the last one runs to the end
            lossless_container=lossless_needed(ref.width, ref.height, frames))))
    return plans


def merge_chunk_rows(per_chunk: Sequence[Sequence[dict]], fps: float) -> list[dict]:
    """The whole title's RD rows from its chunks' rows: bytes and frames summed, VMAF pooled over
    every frame of every chunk (exact when the chunks kept their per-frame scores), PSNR / SSIM /
    XPSNR frame-weighted. Only points measured in every chunk are returned."""
    import numpy as np

    from .measure import pool

    def k(r):
        return int(r["width"]), int(r["height"]), r.get("crf"), r.get("target_kbps")

    keyed = [{k(r): r for r in rows} for rows in per_chunk]
    common = set(keyed[0]).intersection(*keyed[1:]) if keyed else set()
    out = []
    for key in sorted(common, key=lambda t: (t[1], t[0], t[2] if t[2] is not None else -1, t[3] or 0)):
        rs = [kd[key] for kd in keyed]
        frames = sum(int(r["frames"]) for r in rs)
        nbytes = sum(int(r["bytes"]) for r in rs)
        dur = frames / float(fps)
        w = [int(r["frames"]) / frames for r in rs]
        if all(r.get("vmaf_frames") for r in rs):
            pooled = pool(np.concatenate([np.asarray(r["vmaf_frames"], dtype=float) for r in rs]))
        else:  # older cache entries: frame-weighted (exact for the mean, close for the others)
            pooled = {c: float(sum(wi * float(r[c]) for wi, r in zip(w, rs))) for c in
                      ("vmaf_mean", "vmaf_hmean", "vmaf_p5")}
            pooled["vmaf_min"] = min(float(r["vmaf_min"]) for r in rs)
        row = {**{c: v for c, v in rs[0].items() if c not in ("vmaf_frames", "parts", "parts_frames")},
               "kbps": round(nbytes * 8 / dur / 1000.0, 3), "bytes": nbytes, "frames": frames,
               **{c: round(v, 4) for c, v in pooled.items()},
               "encode_s": round(sum(float(r.get("encode_s") or 0) for r in rs), 3),
               "measure_s": round(sum(float(r.get("measure_s") or 0) for r in rs), 3),
               "cached": all(bool(r.get("cached")) for r in rs),
               "key": make_key(chunks=[r.get("key") for r in rs])}
        for c in ("psnr_y", "psnr_avg", "ssim", "xpsnr_y"):
            vals = [r.get(c) for r in rs]
            row[c] = (round(float(sum(wi * float(v) for wi, v in zip(w, vals))), 4)
                      if all(v is not None for v in vals) else None)
        out.append(row)
    return out


@dataclass
class SweepResult:
    rows: list[dict]
    failures: list[tuple[EncodeSpec, str]] = field(default_factory=list)
    wall_s: float = 0.0
    reference_s: float = 0.0

    @property
    def point_s(self) -> float:
        """Encode + measure seconds of every point, cached or not: the sweep's cost when measured."""
        return sum(float(r.get("encode_s") or 0) + float(r.get("measure_s") or 0) for r in self.rows)

    def table(self) -> list[dict]:
        """The RD table: one dict per point with exactly ``RD_COLUMNS``, sorted (see ``rd_table``)."""
        return rd_table(self.rows)

    def frame(self):
        """The RD table as a pandas DataFrame (tests and notebooks; the commands use ``table``)."""
        import pandas as pd

        return pd.DataFrame(self.table(), columns=list(RD_COLUMNS))


def run_sweep(ff: FFmpeg, plan: SweepPlan, cache: Cache, *, jobs: int = 1,
              workdir: str | None = None, on_event: EventSink = no_events,
              title: str | None = None, reference: Callable[[], str] | None = None,
              parts: Sequence[tuple[int, int]] | None = None, keep_frames: bool = False) -> SweepResult:
    """Encode and measure every point of ``plan`` that the cache does not have. ``reference``,
    if given, returns the path of an already decoded reference for ``plan`` (the caller owns
    it: several sweeps of one title can share it); otherwise it is decoded here, once.
    ``parts``: frame ranges measured on their own too (default: the excerpts of the plan)."""
    from joblib import Parallel, delayed

    t_start = time.monotonic()
    ff.require_filter("libvmaf")
    ff.require_encoder(plan.encodes[0].codec if plan.encodes else "libx264")
    if plan.measure.xpsnr:
        ff.require_filter("xpsnr")
    title = title or os.path.splitext(os.path.basename(plan.source.path))[0]
    parts = tuple(parts) if parts is not None else excerpt_parts(plan)
    sha = fingerprint(plan.source.path)
    keyed = [(enc, point_key(plan, sha, enc, ff.version)) for enc in plan.encodes]
    rows: list[dict] = []
    todo: list[tuple[EncodeSpec, str]] = []
    expected = plan.frames
    for enc, key in keyed:
        hit = cache.get(key, check=lambda row, enc=enc: plausible_row(row, enc, expected))
        if hit is not None:
            hit = {**hit, "title": title, "cached": True}
            rows.append(hit)
        else:
            todo.append((enc, key))
    on_event(SweepStarted(total=len(keyed), cached=len(rows)))
    for r in rows:
        on_event(PointDone(r, cached=True))
    result = SweepResult(rows)
    if not todo:
        result.wall_s = time.monotonic() - t_start
        return result

    tmp = make_workdir("pertitle-", workdir)
    try:
        t0 = time.monotonic()
        if reference is None:
            on_event(Stage("reference", "decoding the source once"))
            ref_path = prepare_reference(ff, plan, tmp, keep_log=True)
        else:
            ref_path = reference()
        result.reference_s = time.monotonic() - t0
        on_event(Stage("sweep", f"{len(todo)} encodes, {jobs} at a time"))

        def task(enc: EncodeSpec, key: str):
            try:
                row = run_point(ff, plan, ref_path, enc, key, tmp, title, parts, keep_frames)
            except PertitleError as exc:
                return enc, None, str(exc)
            cache.put(key, row)
            return enc, row, None

        par = Parallel(n_jobs=max(1, jobs), prefer="threads", return_as="generator_unordered")
        for enc, row, err in par(delayed(task)(e, k) for e, k in todo):
            if row is not None:
                rows.append(row)
                on_event(PointDone(row, cached=False))
            else:
                result.failures.append((enc, err))
                on_event(PointFailed(enc, err))
        if any(not r.get("cached") for r in result.rows):
            _cache_decode(ff, plan, cache)
    finally:
        remove_workdir(tmp)
    result.wall_s = time.monotonic() - t_start
    return result


def measure_points(ff: FFmpeg, plan: SweepPlan, points, cache: Cache, *, jobs: int = 1,
                   workdir: str | None = None, on_event: EventSink = no_events,
                   reference: Callable[[], str] | None = None) -> SweepResult:
    """Run just the grid points ``(width, height, crf)`` of ``plan`` (cached like any sweep)."""
    by_key = {(e.width, e.height, float(e.crf)): e for e in plan.encodes if e.crf is not None}
    encs = tuple(by_key[(int(w), int(h), float(q))] for (w, h, q) in points if (int(w), int(h), float(q)) in by_key)
    return run_sweep(ff, replace(plan, encodes=encs), cache, jobs=jobs, workdir=workdir, on_event=on_event,
                     reference=reference)


class SharedReference:
    """The reference of one plan, decoded on first use and reused by later sweeps of the title
    (the fast mode's rounds, hybrid verification); ``close()`` deletes it."""

    def __init__(self, ff: FFmpeg, plan: SweepPlan, workdir: str | None = None,
                 on_event: EventSink = no_events, keep_log: bool = False):
        self.ff, self.plan, self.workdir, self.on_event = ff, plan, workdir, on_event
        self.keep_log = keep_log   # (see prepare_reference)
        self.dir: str | None = None
        self.path: str | None = None
        self.decode_s = 0.0   # wall time of the decode

    def __call__(self) -> str:
        if self.path is None:
            t0 = time.monotonic()
            self.on_event(Stage("reference", "decoding the source once"))
            self.dir = make_workdir("pertitle-ref-", self.workdir)
            self.path = prepare_reference(self.ff, self.plan, self.dir, self.keep_log)
            self.decode_s = time.monotonic() - t0
        return self.path

    def close(self) -> None:
        remove_workdir(self.dir)
        self.dir = self.path = None


@contextmanager
def points_measurer(ff: FFmpeg, plan: SweepPlan, cache: Cache, *, jobs: int = 1,
                    workdir: str | None = None, on_event: EventSink = no_events, early: bool = False):
    """``measure(points) -> SweepResult`` for grid points of ``plan``, called any number of
    times (rounds): the reference is decoded once and deleted on exit. ``early``: its decode (an
    FFmpeg process) starts on entry, in a thread, so that what the caller does before its first
    call (the fast mode's features and prior) runs beside it; else on the first call.
    ``measure.reference`` is the shared reference (its ``decode_s``: the decode's wall time)."""
    ref = SharedReference(ff, plan, workdir, on_event, keep_log=True)
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pertitle-ref") if early else None
    decoding = pool.submit(ref) if pool else None

    def measure(points):
        if decoding is not None:
            decoding.result()   # its error, if the decode failed
        return measure_points(ff, plan, points, cache, jobs=jobs, workdir=workdir, on_event=on_event,
                              reference=ref)

    measure.reference = ref
    try:
        yield measure
    finally:
        if pool is not None:
            pool.shutdown(wait=True)   # the decode ends before its folder is removed
        ref.close()
