"""Build FFmpeg command lines from frozen dataclasses. Nothing here runs a process.

Every codec quirk (how quality is spelled, its range, presets, threads, 2-pass, GOP) lives in
the :data:`CODECS` table; callers never branch on the codec name.

All media paths are passed as ``file:`` URLs so that odd file names (``a:b.mp4``,
``-x.mp4``, ``http...``) are always read as local files. Filter-option values that are file
names (libvmaf / xpsnr logs) are bare names relative to the process' working directory, which
avoids filtergraph escaping entirely.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction

# ------------------------------------------------------------------------------------------
# Codec table
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Codec:
    name: str                               # FFmpeg encoder name
    family: str                             # h264 / hevc / av1 / vp9
    quality_flag: str                       # constant-quality flag
    quality_range: tuple[int, int]          # valid constant-quality values
    default_grid: tuple[int, ...]           # default sweep of constant-quality values
    presets: tuple[str, ...]
    default_preset: str
    preset_args: Callable[[str], list[str]]
    threads_args: Callable[[int], list[str]]
    gop_args: Callable[[int], list[str]]
    two_pass: bool                          # FFmpeg drives a real 2-pass encode for it
    constant_quality_extra: tuple[str, ...] = ()
    param_flag: str | None = None           # where pass/stats options go for x265-style encoders
    hls_container: str = "mpegts"           # HLS segment container (HEVC/AV1 must be fMP4)


_X26X_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow",
                 "slower", "veryslow", "placebo")

CODECS: dict[str, Codec] = {
    "libx264": Codec(
        name="libx264", family="h264", quality_flag="-crf", quality_range=(0, 51),
        default_grid=(16, 19, 22, 25, 28, 31, 34, 38, 42),
        presets=_X26X_PRESETS, default_preset="medium",
        preset_args=lambda p: ["-preset", p],
        threads_args=lambda n: ["-threads", str(n)],
        # Fixed, aligned GOPs as streaming delivery needs them; no scene-cut keyframes.
        gop_args=lambda g: ["-g", str(g), "-keyint_min", str(g), "-sc_threshold", "0"],
        two_pass=True),
    "libx265": Codec(
        name="libx265", family="hevc", quality_flag="-crf", quality_range=(0, 51),
        default_grid=(18, 21, 24, 27, 30, 33, 36, 40, 44),
        presets=_X26X_PRESETS, default_preset="medium",
        preset_args=lambda p: ["-preset", p],
        # -threads alone does not bound x265's thread pools.
        threads_args=lambda n: ["-x265-params", f"pools={n}:frame-threads={min(n, 4)}:log-level=error"],
        gop_args=lambda g: ["-g", str(g), "-keyint_min", str(g)],
        two_pass=True, param_flag="-x265-params", hls_container="fmp4"),
    "libsvtav1": Codec(
        name="libsvtav1", family="av1", quality_flag="-crf", quality_range=(1, 63),
        default_grid=(20, 25, 30, 35, 40, 45, 50, 55, 60),
        presets=tuple(str(i) for i in range(14)), default_preset="8",
        preset_args=lambda p: ["-preset", p],
        threads_args=lambda n: ["-svtav1-params", f"lp={n}"],
        gop_args=lambda g: ["-g", str(g)],
        two_pass=False, hls_container="fmp4"),
    "libvpx-vp9": Codec(
        name="libvpx-vp9", family="vp9", quality_flag="-crf", quality_range=(0, 63),
        default_grid=(20, 25, 30, 35, 40, 45, 50, 55, 60),
        presets=tuple(str(i) for i in range(6)), default_preset="2",
        preset_args=lambda p: ["-deadline", "good", "-cpu-used", p],
        threads_args=lambda n: ["-threads", str(n), "-row-mt", "1"],
        gop_args=lambda g: ["-g", str(g), "-keyint_min", str(g)],
        # VP9 is only in constant-quality mode with -b:v 0.
        two_pass=True, constant_quality_extra=("-b:v", "0"), hls_container="fmp4"),
}


def codec(name: str) -> Codec:
    try:
        return CODECS[name]
    except KeyError:
        raise ValueError(f"unknown codec {name!r}; choose one of {', '.join(CODECS)}") from None


def file_url(path: str) -> str:
    """A local-file URL for FFmpeg: never interpreted as a protocol or an option."""
    import os

    return "file:" + os.path.abspath(path)


BASE = ["-nostdin", "-hide_banner", "-nostats", "-loglevel", "warning", "-y"]

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
    if spec.deinterlace:
        f.append("bwdif=mode=send_frame:parity=auto:deint=all")
    if spec.make_cfr:
        f.append(f"fps={fps_str(spec.fps)}")
    else:
        # Renumber frames in a 1/fps time base: exact constant-rate timestamps, so no frame is
        # duplicated or dropped because of timestamp jitter (e.g. 24 fps in 1 ms ticks).
        f.append(f"settb={spec.fps.denominator}/{spec.fps.numerator},setpts=N")
    f.append(f"crop={spec.width}:{spec.height}:0:0")
    if spec.full_range:
        f.append("scale=in_range=pc:out_range=tv")
    f.append("format=yuv420p")
    return ",".join(f)


def reference_command(ffmpeg: str, spec: ReferenceSpec, out_path: str) -> list[str]:
    cmd = [ffmpeg, *BASE]
    if spec.segments:
        # Each excerpt is its own input (fast input seeking), normalised alike, then joined;
        # the joined stream is renumbered so frames pair by index with every encode.
        for start, dur in spec.segments:
            cmd += ["-ss", f"{start:.3f}", "-t", f"{dur:.3f}", "-i", file_url(spec.source)]
        per = reference_filters(spec)
        parts = ";".join(f"[{i}:v:0]{per}[s{i}]" for i in range(len(spec.segments)))
        joined = "".join(f"[s{i}]" for i in range(len(spec.segments)))
        graph = (f"{parts};{joined}concat=n={len(spec.segments)}:v=1:a=0,"
                 f"settb={spec.fps.denominator}/{spec.fps.numerator},setpts=N[ref]")
        cmd += ["-filter_complex", graph, "-map", "[ref]", "-an", "-sn", "-dn", "-r", fps_str(spec.fps)]
    else:
        if spec.start_s:
            cmd += ["-ss", f"{spec.start_s:.3f}"]
        if spec.duration_s:
            cmd += ["-t", f"{spec.duration_s:.3f}"]
        cmd += ["-i", file_url(spec.source), "-map", "0:v:0", "-an", "-sn", "-dn",
                "-vf", reference_filters(spec), "-r", fps_str(spec.fps)]
    if spec.full_range:
        cmd += ["-color_range", "tv"]
    if spec.lossless_container:
        cmd += ["-c:v", "libx264", "-qp", "0", "-preset", "ultrafast", "-f", "matroska"]
    else:
        cmd += ["-f", "yuv4mpegpipe"]
    return cmd + [file_url(out_path)]


# ------------------------------------------------------------------------------------------
# Encodes
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EncodeSpec:
    codec: str
    width: int
    height: int
    crf: float | None = None            # constant quality ...
    bitrate_kbps: float | None = None   # ... or average bitrate (2-pass where the codec has it)
    maxrate_kbps: float | None = None
    bufsize_kbits: float | None = None
    preset: str | None = None           # None: the codec's default
    gop: int = 0                        # frames; 0 = encoder default
    threads: int = 1
    passes: int = 1
    scaler: str = "lanczos"

    def __post_init__(self) -> None:
        c = codec(self.codec)
        if (self.crf is None) == (self.bitrate_kbps is None):
            raise ValueError("give exactly one of crf / bitrate_kbps")
        if self.crf is not None and not (c.quality_range[0] <= self.crf <= c.quality_range[1]):
            raise ValueError(f"{c.quality_flag} {self.crf} outside {c.quality_range} for {c.name}")
        if self.width % 2 or self.height % 2 or self.width <= 0 or self.height <= 0:
            raise ValueError(f"encode size must be positive and even, got {self.width}x{self.height}")
        if self.passes not in (1, 2):
            raise ValueError("passes must be 1 or 2")
        if self.passes == 2 and (self.bitrate_kbps is None or not c.two_pass):
            raise ValueError(f"2-pass needs a bitrate and a codec that supports it ({c.name})")
        if self.preset is not None and self.preset not in c.presets:
            raise ValueError(f"preset {self.preset!r} unknown for {c.name}")

    @property
    def effective_preset(self) -> str:
        return self.preset or codec(self.codec).default_preset

    def key(self) -> dict:
        """Everything that changes the bitstream (for cache keys)."""
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["preset"] = self.effective_preset
        return d

    def rate_args(self) -> list[str]:
        c = codec(self.codec)
        if self.crf is not None:
            q = f"{self.crf:g}"
            args = [c.quality_flag, q, *c.constant_quality_extra]
        else:
            args = ["-b:v", f"{self.bitrate_kbps:.0f}k"]
        if self.maxrate_kbps:
            args += ["-maxrate", f"{self.maxrate_kbps:.0f}k"]
        if self.bufsize_kbits:
            args += ["-bufsize", f"{self.bufsize_kbits:.0f}k"]
        return args

    def codec_args(self) -> list[str]:
        """The encoder part of the command (what a rung's settings record to reproduce it)."""
        c = codec(self.codec)
        args = ["-c:v", c.name, *c.preset_args(self.effective_preset), *self.rate_args()]
        if self.gop:
            args += c.gop_args(self.gop)
        args += ["-pix_fmt", "yuv420p"]
        return args


def scale_filter(width: int, height: int, scaler: str) -> str:
    return f"scale={width}:{height}:flags={scaler},setsar=1"


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
    c = codec(spec.codec)
    head = [ffmpeg, *BASE, "-r", fps_str(fps), "-i", file_url(ref_path), "-map", "0:v:0",
            "-an", "-sn", "-dn", "-vf", scale_filter(spec.width, spec.height, spec.scaler)]
    body = spec.codec_args()
    threads = c.threads_args(spec.threads)
    if c.param_flag and threads and threads[0] == c.param_flag:
        body = _merge_params(body, c.param_flag, threads[1])
    else:
        body += threads
    if spec.passes == 1:
        return [head + body + ["-f", "matroska", file_url(out_path)]]
    if not passlog:
        raise ValueError("2-pass needs a passlog prefix")
    cmds = []
    for n in (1, 2):
        if c.param_flag:
            b = _merge_params(body, c.param_flag, f"pass={n}:stats={passlog}.log")
        else:
            b = body + ["-pass", str(n), "-passlogfile", passlog]
        if n == 1:
            cmds.append(head + b + ["-f", "null", "-"])
        else:
            cmds.append(head + b + ["-f", "matroska", file_url(out_path)])
    return cmds


# ------------------------------------------------------------------------------------------
# Quality measurement
# ------------------------------------------------------------------------------------------

VMAF_MODELS = {
    # name on our CLI -> libvmaf model string (inside model='...'); 'phone' is the v0.6.1 model
    # with its phone-viewing transform.
    "vmaf_v0.6.1": "version=vmaf_v0.6.1\\:name=vmaf",
    "vmaf_4k_v0.6.1": "version=vmaf_4k_v0.6.1\\:name=vmaf",
    "vmaf_v0.6.1neg": "version=vmaf_v0.6.1neg\\:name=vmaf",
    "phone": "version=vmaf_v0.6.1\\:name=vmaf\\:enable_transform=true",
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


def measure_command(ffmpeg: str, ref_path: str, ref_size: tuple[int, int], fps: Fraction,
                    dists: Sequence[Distorted], spec: MeasureSpec) -> list[str]:
    """Score several encodes against one decoded reference in one process.

    Both inputs get ``-r`` as an input option so frames pair by index, not by rounded
    timestamps (a 1 ms Matroska time base against an MP4 mis-pairs frames otherwise).
    """
    if not dists:
        raise ValueError("nothing to measure")
    rw, rh = ref_size
    rate = fps_str(fps)
    cmd = [ffmpeg, *BASE, "-r", rate, "-i", file_url(ref_path)]
    for d in dists:
        cmd += ["-r", rate, "-i", file_url(d.path)]
    n = len(dists)
    per_dist = [1 + (1 if d.xpsnr_log else 0) for d in dists]
    total = sum(per_dist)
    parts = []
    ref_labels = [f"r{i}" for i in range(total)]
    parts.append(f"[0:v]split={total}" + "".join(f"[{x}]" for x in ref_labels) if total > 1
                 else f"[0:v]null[{ref_labels[0]}]")
    features = []
    if spec.psnr:
        features.append("name=psnr")
    if spec.ssim:
        features.append("name=float_ssim")
    maps: list[str] = []
    ri = 0
    for i, d in enumerate(dists, start=1):
        k = i - 1
        scaled = f"[d{k}]"
        parts.append(f"[{i}:v]scale={rw}:{rh}:flags={spec.scaler},format=yuv420p"
                     + (f",split=2[d{k}a][d{k}b]" if d.xpsnr_log else scaled))
        vin = f"[d{k}a]" if d.xpsnr_log else scaled
        opts = [f"log_fmt=json", f"log_path={d.vmaf_log}", f"model='{VMAF_MODELS[spec.model]}'",
                f"n_threads={spec.threads}"]
        if features:
            opts.append("feature='" + "|".join(features) + "'")
        if spec.subsample > 1:
            opts.append(f"n_subsample={spec.subsample}")
        parts.append(f"{vin}[{ref_labels[ri]}]libvmaf=" + ":".join(opts) + f"[v{k}]")
        maps.append(f"[v{k}]")
        ri += 1
        if d.xpsnr_log:
            parts.append(f"[d{k}b][{ref_labels[ri]}]xpsnr=stats_file={d.xpsnr_log}[x{k}]")
            maps.append(f"[x{k}]")
            ri += 1
    cmd += ["-filter_complex", ";".join(parts)]
    for m in maps:
        cmd += ["-map", m, "-f", "null", "-"]
    return cmd


def decode_command(ffmpeg: str, source: str, start_s: float = 0.0, duration_s: float | None = None) -> list[str]:
    """Decode the video (or an excerpt) once and discard it: the floor analyses are compared with."""
    cmd = [ffmpeg, *BASE]
    if start_s:
        cmd += ["-ss", f"{start_s:.3f}"]
    if duration_s:
        cmd += ["-t", f"{duration_s:.3f}"]
    return cmd + ["-i", file_url(source), "-map", "0:v:0", "-f", "null", "-"]


__all__ = ["CODECS", "Codec", "EncodeSpec", "MeasureSpec", "ReferenceSpec", "Distorted",
           "VMAF_MODELS", "codec", "decode_command", "encode_commands", "measure_command",
           "reference_command", "reference_filters", "file_url", "fps_str"]
