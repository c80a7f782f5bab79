"""Build FFmpeg command lines from frozen dataclasses. Nothing here runs a process.

Codec quirks live in the codec table (:mod:`pertitle.core.codecs`); callers never branch on the
codec name. Every input is opened as a local file and nothing else: paths are ``file:`` URLs
(odd names such as ``a:b.mp4``, ``-x.mp4``, ``concat:a|b`` or ``http:/x`` stay file names),
inputs carry ``-protocol_whitelist file``, and the source is read with the demuxer the probe
accepted (``-f``), never one FFmpeg would guess anew. Filter-option values that are file names
(libvmaf / xpsnr logs) are bare names relative to the process' working directory.

The measurement graph (two or more inputs, split, scale, libvmaf, xpsnr) is built with
ffmpeg-python, which escapes filter options at both levels FFmpeg parses them; the other
commands are short linear chains written out directly.
"""
from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import ffmpeg as ffmpeg_graph

from ..core.codecs import EncodeSpec, codec, scale_filter
from ..core.colour import RGB_TO_YUV, SDR_TAGS, chain, tone_map_steps


def file_url(path: str) -> str:
    """A local-file URL for FFmpeg: never interpreted as a protocol or an option."""
    return "file:" + os.path.abspath(path)


LOCAL_ONLY = ["-protocol_whitelist", "file"]
"""Input option: this input may open local files only (no network, no nested protocols)."""
SOURCE_VIDEO = "0:V:0"
"""The source's video: its first video stream that is not an attached picture (cover art), the
one the probe describes and the features decode (``V``, not ``v``, which counts cover art too)."""


def input_args(path: str, fmt: str | None = None) -> list[str]:
    """``-i`` for a local file, with the protocol fence and, when known, the demuxer pinned."""
    return [*LOCAL_ONLY, *(["-f", fmt] if fmt else []), "-i", file_url(path)]


def source_args(path: str, fmt: str | None = None) -> list[str]:
    """``-i`` for a source decoded through a filter graph. ``-reinit_filter 0``: a stream whose
    frame parameters change midway (colour metadata of joined scenes, a broadcast capture's VUI)
    must not rebuild the graph — a rebuilt graph restarts ``setpts=N`` at 0 and the constant-rate
    output then drops every frame up to the old count: a 164-s title of joined clips gave a
    reference of its first 60 s, silently. The frames keep flowing through the same graph
    (its scaler and format filters adapt per frame)."""
    return ["-reinit_filter", "0", *input_args(path, fmt)]


def _base(loglevel: str) -> list[str]:
    return ["-nostdin", "-hide_banner", "-nostats", "-loglevel", loglevel, "-y"]


BASE = _base("warning")
# The reference decode's warnings one line each ("repeat": not folded into "Last message repeated
# N times"), so that what the decoder meets can be counted (sweep.DecodeLog).
REFERENCE_BASE = _base("repeat+warning")

# ------------------------------------------------------------------------------------------
# Reference preparation: decode the source once into a constant-rate, even-sized, limited-range
# 8-bit 4:2:0 reference that every encode and every measurement then reads.
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReferenceSpec:
    source: str
    fps: Fraction
    width: int                       # even, upright
    height: int
    start_s: float = 0.0
    duration_s: float | None = None
    make_cfr: bool = False           # VFR source: resample to fps (dups/drops) instead of renumbering
    deinterlace: bool = False
    full_range: bool = False
    lossless_container: bool = False  # lossless H.264 in Matroska instead of raw Y4M (big sources)
    segments: tuple[tuple[float, float], ...] = ()  # (start, duration) excerpts joined end to end;
                                                    # when given, start_s/duration_s are unused
    source_format: str | None = None  # the demuxer the probe accepted (pinned with -f)
    tone_map: str | None = None      # an HDR source's transfer ("smpte2084", "arib-std-b67"): mapped to SDR
    rgb: bool = False                # RGB source: to YUV with the BT.709 matrix (swscale's default is BT.601)
    # The first frame's upright size and pixel format: a frame that differs (a stream whose size or
    # format changes midway) is scaled to them first, or the graph, not rebuilt, would read it as one
    input_frame: tuple[int, int, str] | None = None
    # Seek this much before each start and drop the frames before it after decoding: for demuxers
    # whose seek lands on the keyframe *after* the time asked for (MPEG-TS, MPEG-PS); 0: seek there
    seek_margin_s: float = 0.0
    # Where the video starts in the file's timeline when it starts late (the other streams begin
    # first): FFmpeg's -ss counts from the file's start, the excerpts' times from the video's
    video_start_s: float = 0.0

    @property
    def excerpts(self) -> list[tuple[float, float | None]]:
        """(start, duration) of each part read, the start in the file's timeline (None: to the end)."""
        parts = list(self.segments) if self.segments else [(self.start_s, self.duration_s)]
        return [(a + self.video_start_s, d) for a, d in parts]

    @property
    def trimmed_seek(self) -> bool:
        """Whether an excerpt is cut after decoding (:attr:`seek_margin_s`), not by the seek."""
        return self.seek_margin_s > 0 and any(a > 0 for a, _ in self.excerpts)

    @property
    def colour_conversions(self) -> dict:
        """The colour conversions the source needs (HDR tone map, RGB matrix), only those that
        apply: what a cached point or a made rendition must have been made with, beyond the
        source itself (a YUV SDR source's keys stay what they were before these existed)."""
        return {k: v for k, v in (("tone_map", self.tone_map), ("rgb", self.rgb)) if v}

    @property
    def analysed_seconds(self) -> float | None:
        return sum(d for _, d in self.segments) if self.segments else self.duration_s

    @property
    def suffix(self) -> str:
        return ".mkv" if self.lossless_container else ".y4m"


def fps_str(fps: Fraction) -> str:
    return f"{fps.numerator}/{fps.denominator}"


def reference_filters(spec: ReferenceSpec) -> str:
    f: list[str] = []
    if spec.input_frame:
        # a no-op while the frames keep the first one's size and format
        w, h, pix_fmt = spec.input_frame
        f.append(f"scale={w}:{h},format={pix_fmt}")
    if spec.deinterlace:
        f.append("bwdif=mode=send_frame:parity=auto:deint=all")
    if spec.make_cfr:
        f.append(f"fps={fps_str(spec.fps)}")
    else:
        # Renumber frames in a 1/fps time base: exact constant-rate timestamps, so no frame is
        # duplicated or dropped because of timestamp jitter (e.g. 24 fps in 1 ms ticks).
        f.append(f"settb={spec.fps.denominator}/{spec.fps.numerator},setpts=N")
    f.append(f"crop={spec.width}:{spec.height}:0:0")
    if spec.tone_map:
        f.append(tone_map_filters(spec.tone_map, spec.full_range))
    elif spec.rgb:
        f.append(chain(RGB_TO_YUV))
    elif spec.full_range:
        f.append("scale=in_range=pc:out_range=tv")
    f.append("format=yuv420p")
    return ",".join(f)


def tone_map_filters(transfer: str, full_range: bool = False) -> str:
    """The chain that maps an HDR source to SDR BT.709 (:func:`pertitle.core.colour.tone_map_steps`)."""
    return chain(tone_map_steps(transfer, full_range))


def _excerpt(start: float, duration: float | None, margin: float) -> tuple[list[str], str]:
    """Input options that read ``duration`` seconds from ``start``, and the filter that must
    open the chain. With a ``margin`` the seek goes that far earlier (to a keyframe before the
    start even where the demuxer lands on the next one) and ``trim`` drops what precedes the
    start, and what follows its end: FFmpeg's timestamps are then relative to the seek point (or
    to the stream's start without one), wherever the demuxer landed."""
    if margin <= 0 or start <= 0:
        return ((["-ss", f"{start:.3f}"] if start else []) + (["-t", f"{duration:.3f}"] if duration else []), "")
    seek = round(max(0.0, start - margin), 3)
    skip = round(start - seek, 3)
    # the input's -t counts from the first frame read, wherever the seek landed: a bound only
    args = (["-ss", f"{seek:.3f}"] if seek > 0 else []) + (["-t", f"{duration + skip + margin:.3f}"] if duration else [])
    end = f":end={skip + duration:.3f}" if duration else ""
    return args, f"trim=start={skip:.3f}{end},"


def reference_command(ffmpeg: str, spec: ReferenceSpec, out_path: str) -> list[str]:
    cmd = [ffmpeg, *REFERENCE_BASE]
    per = reference_filters(spec)
    if spec.segments:
        # Each excerpt is its own input (fast input seeking), normalised alike, then joined;
        # the joined stream is renumbered so frames pair by index with every encode.
        trims = []
        for start, dur in spec.excerpts:
            args, trim = _excerpt(start, dur, spec.seek_margin_s)
            cmd += [*args, *source_args(spec.source, spec.source_format)]
            trims.append(trim)
        parts = ";".join(f"[{i}:V:0]{trim}{per}[s{i}]" for i, trim in enumerate(trims))
        joined = "".join(f"[s{i}]" for i in range(len(spec.segments)))
        graph = (f"{parts};{joined}concat=n={len(spec.segments)}:v=1:a=0,"
                 f"settb={spec.fps.denominator}/{spec.fps.numerator},setpts=N[ref]")
        cmd += ["-filter_complex", graph, "-map", "[ref]", "-an", "-sn", "-dn", "-r", fps_str(spec.fps)]
    else:
        args, trim = _excerpt(*spec.excerpts[0], spec.seek_margin_s)
        cmd += [*args, *source_args(spec.source, spec.source_format), "-map", SOURCE_VIDEO, "-an", "-sn", "-dn",
                "-vf", trim + per, "-r", fps_str(spec.fps)]
    if spec.full_range or spec.tone_map:
        cmd += ["-color_range", "tv"]
    if spec.lossless_container:
        cmd += ["-c:v", "libx264", "-qp", "0", "-preset", "ultrafast", "-f", "matroska"]
    else:
        cmd += ["-f", "yuv4mpegpipe"]
    return cmd + [file_url(out_path)]


# ------------------------------------------------------------------------------------------
# Encodes
# ------------------------------------------------------------------------------------------


def _merge_params(args: list[str], flag: str, extra: str) -> list[str]:
    """Append ``extra`` to an existing ``flag`` value (x265-params) or add the flag."""
    out = list(args)
    if flag in out:
        i = out.index(flag) + 1
        out[i] = f"{out[i]}:{extra}"
    else:
        out += [flag, extra]
    return out


def encode_commands(ffmpeg: str, ref_path: str, fps: Fraction, spec: EncodeSpec, out_path: str,
                    passlog: str | None = None) -> list[list[str]]:
    """One command (1 pass) or two (2-pass; ``passlog`` is the stats file prefix)."""
    head = [ffmpeg, *BASE, "-r", fps_str(fps), *input_args(ref_path), "-map", "0:v:0",
            "-an", "-sn", "-dn", "-vf", scale_filter(spec.width, spec.height, spec.scaler)]
    return _passes(head, spec, ["-f", "matroska", file_url(out_path)], passlog)


def _passes(head: list[str], spec: EncodeSpec, output: list[str], passlog: str | None) -> list[list[str]]:
    """``head`` (input and filters) + the encoder's arguments, as one command or two passes (the
    first to the null muxer) writing ``output``."""
    c = codec(spec.codec)
    body = spec.codec_args()
    threads = c.threads_args(spec.threads)
    if c.param_flag and threads and threads[0] == c.param_flag:
        body = _merge_params(body, c.param_flag, threads[1])
    else:
        body += threads
    if spec.passes == 1:
        return [head + body + output]
    if not passlog:
        raise ValueError("2-pass needs a passlog prefix")
    cmds = []
    for n in (1, 2):
        if c.param_flag:
            b = _merge_params(body, c.param_flag, f"pass={n}:stats={passlog}.log")
        else:
            b = body + ["-pass", str(n), "-passlogfile", passlog]
        cmds.append(head + b + (["-f", "null", "-"] if n == 1 else output))
    return cmds


# ------------------------------------------------------------------------------------------
# Quality measurement
# ------------------------------------------------------------------------------------------

VMAF_MODELS = {
    # name on our CLI -> libvmaf's model option (unescaped: the graph builder escapes it);
    # 'phone' is the v0.6.1 model with its phone-viewing transform.
    "vmaf_v0.6.1": "version=vmaf_v0.6.1:name=vmaf",
    "vmaf_4k_v0.6.1": "version=vmaf_4k_v0.6.1:name=vmaf",
    "vmaf_v0.6.1neg": "version=vmaf_v0.6.1neg:name=vmaf",
    "phone": "version=vmaf_v0.6.1:name=vmaf:enable_transform=true",
}


@dataclass(frozen=True)
class MeasureSpec:
    model: str = "vmaf_v0.6.1"
    psnr: bool = True
    ssim: bool = False
    xpsnr: bool = False
    subsample: int = 1          # libvmaf n_subsample; use odd steps (even ones can bias)
    threads: int = 2
    scaler: str = "bicubic"     # distorted -> reference size

    def __post_init__(self) -> None:
        if self.model not in VMAF_MODELS:
            raise ValueError(f"unknown VMAF model {self.model!r}; choose one of {', '.join(VMAF_MODELS)}")
        if self.subsample < 1:
            raise ValueError("subsample must be >= 1")

    def key(self) -> dict:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d.pop("threads")  # libvmaf's thread count does not change scores
        return d


@dataclass(frozen=True)
class Distorted:
    path: str
    vmaf_log: str               # bare file name, relative to the measuring process' cwd
    xpsnr_log: str | None = None


def untagged(stream):
    """A stream's frames with no colour primaries, transfer or matrix: scored as code values.
    The reference (Y4M) carries none; an encode of the source itself (a rendition: ``pertitle
    encode --verify``) carries the source's, e.g. BT.709, and FFmpeg's format negotiation then
    converted its pixels to the reference's (unspecified) colour space before libvmaf — a 720p
    rendition scored 95.8 instead of 97.1. Range is kept (both are limited)."""
    return stream.filter("setparams", color_primaries="unknown", color_trc="unknown", colorspace="unknown")


def ceiling_command(ffmpeg: str, ref_path: str, ref_size: tuple[int, int], fps: Fraction,
                    sizes: Sequence[tuple[int, int]], logs: Sequence[str], spec: MeasureSpec, *,
                    down_scaler: str, period: int, run: int) -> list[str]:
    """Score each size's *scaling alone* against the reference, in one process: the reference
    scaled to the size as an encode is (``down_scaler``) and back as a measurement scales an
    encode (``spec.scaler``), no encode between: the quality a size keeps however many bits it
    gets. Only ``run`` consecutive frames of every ``period`` are scored (libvmaf's motion needs
    consecutive frames); ``logs[i]``: size i's libvmaf JSON log, a plain file name in the working
    folder. The graph is written here, not by ffmpeg-python: its select expression needs escaped
    commas, which that library's escaping would double."""
    if not sizes or len(logs) != len(sizes):
        raise ValueError("one log per size")
    if run < 2 or period < run:
        raise ValueError("runs of at least 2 frames, no longer than their period")
    if any(not re.fullmatch(r"[A-Za-z0-9_.-]+", log) for log in logs):
        raise ValueError("log names must be plain file names")
    rw, rh = ref_size
    model = VMAF_MODELS[spec.model].replace("=", r"\\=").replace(":", r"\\:")   # escaped for the option, then the graph
    n = 2 * len(sizes)
    graph = [f"[0:v]setparams=color_primaries=unknown:color_trc=unknown:colorspace=unknown,"
             f"select=lt(mod(n\\,{period})\\,{run}),split={n}"
             + "".join(f"[d{i}][r{i}]" for i in range(len(sizes)))]
    maps: list[str] = []
    for i, ((w, h), log) in enumerate(zip(sizes, logs)):
        graph.append(f"[d{i}]scale={w}:{h}:flags={down_scaler},setsar=1,scale={rw}:{rh}:flags={spec.scaler},"
                     f"format=yuv420p[s{i}];[r{i}]format=yuv420p[t{i}];"
                     f"[s{i}][t{i}]libvmaf=log_fmt=json:log_path={log}:model={model}:n_threads=1[o{i}]")
        maps += ["-map", f"[o{i}]", "-f", "null", "-"]
    return [ffmpeg, *BASE, *LOCAL_ONLY, "-r", fps_str(fps), "-i", file_url(ref_path), "-filter_complex", ";".join(graph), *maps]


def measure_command(ffmpeg: str, ref_path: str, ref_size: tuple[int, int], fps: Fraction,
                    dists: Sequence[Distorted], spec: MeasureSpec) -> list[str]:
    """Score several encodes against one decoded reference in one process.

    Both inputs get ``-r`` as an input option so frames pair by index, not by rounded
    timestamps (a 1 ms Matroska time base against an MP4 mis-pairs frames otherwise). Each
    encode is scaled back to the reference size with ``spec.scaler`` before scoring; the
    reference is split once per consumer (libvmaf, and xpsnr when asked).
    """
    if not dists:
        raise ValueError("nothing to measure")
    rw, rh = ref_size
    rate = fps_str(fps)
    ref = untagged(ffmpeg_graph.input(file_url(ref_path), r=rate, protocol_whitelist="file").video)
    consumers = sum(1 + (1 if d.xpsnr_log else 0) for d in dists)
    refs = (ref.filter_multi_output("split", consumers) if consumers > 1 else None)
    ref_out = iter(refs[i] for i in range(consumers)) if refs is not None else iter([ref])
    features = [name for on, name in ((spec.psnr, "name=psnr"), (spec.ssim, "name=float_ssim")) if on]
    outputs = []
    for d in dists:
        dist = (untagged(ffmpeg_graph.input(file_url(d.path), r=rate, protocol_whitelist="file").video)
                .filter("scale", rw, rh, flags=spec.scaler).filter("format", "yuv420p"))
        if d.xpsnr_log:
            split = dist.filter_multi_output("split", 2)
            dist, dist_x = split[0], split[1]
        opts = {"log_fmt": "json", "log_path": d.vmaf_log, "model": VMAF_MODELS[spec.model],
                "n_threads": spec.threads}
        if features:
            opts["feature"] = "|".join(features)
        if spec.subsample > 1:
            opts["n_subsample"] = spec.subsample
        vmaf = ffmpeg_graph.filter([dist, next(ref_out)], "libvmaf", **opts)
        outputs.append(vmaf.output("-", f="null"))
        if d.xpsnr_log:
            x = ffmpeg_graph.filter([dist_x, next(ref_out)], "xpsnr", stats_file=d.xpsnr_log)
            outputs.append(x.output("-", f="null"))
    graph = ffmpeg_graph.merge_outputs(*outputs) if len(outputs) > 1 else outputs[0]
    return [ffmpeg, *BASE, *ffmpeg_graph.get_args(graph)]


def decode_command(ffmpeg: str, source: str, start_s: float = 0.0, duration_s: float | None = None,
                   fmt: str | None = None) -> list[str]:
    """Decode the video (or an excerpt) once and discard it: the floor analyses are compared with."""
    cmd = [ffmpeg, *BASE]
    if start_s:
        cmd += ["-ss", f"{start_s:.3f}"]
    if duration_s:
        cmd += ["-t", f"{duration_s:.3f}"]
    return cmd + [*input_args(source, fmt), "-map", SOURCE_VIDEO, "-f", "null", "-"]


__all__ = ["BASE", "LOCAL_ONLY", "SOURCE_VIDEO", "MeasureSpec", "ReferenceSpec", "Distorted", "VMAF_MODELS",
           "decode_command", "encode_commands", "input_args", "measure_command", "reference_command",
           "reference_filters", "tone_map_filters", "file_url", "fps_str"]


# ------------------------------------------------------------------------------------------
# Delivery: renditions of the whole title and their segments (``pertitle encode``)
# ------------------------------------------------------------------------------------------


def rendition_commands(ffmpeg: str, ref: ReferenceSpec, spec: EncodeSpec, out_path: str,
                       passlog: str) -> list[list[str]]:
    """A rung encoded from the source itself (the whole title), normalised exactly as the
    analysis' reference (same crop, rate, range, deinterlacing) and scaled with the same
    scaler; 2-pass where the spec says so. Output: MP4 (video only)."""
    head = [ffmpeg, *BASE, *source_args(ref.source, ref.source_format), "-map", SOURCE_VIDEO, "-an", "-sn", "-dn",
            "-vf", reference_filters(ref) + "," + scale_filter(spec.width, spec.height, spec.scaler),
            "-r", fps_str(ref.fps)]
    if ref.full_range or ref.tone_map:
        head += ["-color_range", "tv"]
    if ref.tone_map or ref.rgb:   # the renditions say what they are: BT.709
        head += list(SDR_TAGS)
    return _passes(head, spec, ["-f", "mp4", file_url(out_path)], passlog)


def audio_command(ffmpeg: str, source: str, source_format: str | None, out_path: str, kbps: int = 128,
                  channels: int = 2, start_s: float = 0.0, duration_s: float | None = None) -> list[str]:
    """The source's first audio track as AAC-LC (stereo by default), MP4; from ``start_s`` (the
    video's first frame, where the video starts late: the renditions begin there) and for at most
    ``duration_s`` (the video's length: audio that goes on after the last frame is not packaged)."""
    seek = ["-ss", f"{start_s:.3f}"] if start_s > 0 else []
    bound = ["-t", f"{duration_s:.3f}"] if duration_s else []
    return [ffmpeg, *BASE, *seek, *input_args(source, source_format), "-map", "0:a:0", *bound, "-vn", "-sn", "-dn",
            "-c:a", "aac", "-b:a", f"{kbps}k", "-ac", str(channels), "-ar", "48000", "-f", "mp4",
            file_url(out_path)]


SEGMENT_PLAYLIST = "ffmpeg.m3u8"
INIT_NAME = "init.mp4"
SEGMENT_PATTERN = "seg_%05d.m4s"


TS_SEGMENT_PATTERN = "seg_%05d.ts"


def segment_command(ffmpeg: str, in_path: str, segment_s: float, ts: bool = False,
                    tag: str | None = None) -> list[str]:
    """Cut an encoded rendition into fMP4 (CMAF) segments without re-encoding: ``init.mp4`` and
    ``seg_00000.m4s``... (or MPEG-TS ``seg_00000.ts`` with ``ts``) in the working directory (run
    with ``cwd`` = the rendition folder: the names stay relative, so nothing in them is read as a
    protocol). The playlist FFmpeg writes only tells the segment durations; the package's
    playlists are written by pertitle. ``tag``: the video sample entry to write (HEVC: ``hvc1``,
    which Apple's players require; FFmpeg's MP4 muxer writes ``hev1`` unless told)."""
    kind = (["-hls_segment_type", "mpegts", "-hls_segment_filename", TS_SEGMENT_PATTERN] if ts else
            ["-hls_segment_type", "fmp4", "-hls_fmp4_init_filename", INIT_NAME,
             "-hls_segment_filename", SEGMENT_PATTERN])
    return [ffmpeg, *BASE, *input_args(in_path, "mov"), "-map", "0", "-c", "copy",
            *(["-tag:v", tag] if tag else []),
            "-f", "hls", "-hls_time", f"{segment_s:.4f}", "-hls_playlist_type", "vod", *kind,
            "-hls_flags", "independent_segments", SEGMENT_PLAYLIST]


# ------------------------------------------------------------------------------------------
# Title structure: one cheap pass over the whole title (scene scores + a low-resolution probe)
# ------------------------------------------------------------------------------------------

STRUCTURE_WIDTH = 256
SCENE_FILE = "scenes.txt"


def structure_command(ffmpeg: str, source: str, source_format: str | None, out_path: str,
                      fps: Fraction) -> list[str]:
    """Decode the whole title once at low resolution: FFmpeg's scene score of every frame goes to
    ``scenes.txt`` (relative to the working directory: run with ``cwd``), and an ultrafast x264
    probe at a fixed CRF with 1-s GOPs goes to ``out_path``; its packet sizes are the title's
    complexity over time."""
    gop = max(1, round(float(fps)))
    vf = (f"scale={STRUCTURE_WIDTH}:-2:flags=fast_bilinear,select=gte(scene\\,0),"
          f"metadata=mode=print:key=lavfi.scene_score:file={SCENE_FILE}")
    return [ffmpeg, *BASE, *source_args(source, source_format), "-map", SOURCE_VIDEO, "-an", "-sn", "-dn",
            "-vf", vf, "-c:v", "libx264", "-preset", "ultrafast", "-crf", "30", "-g", str(gop),
            "-pix_fmt", "yuv420p", "-f", "matroska", file_url(out_path)]
