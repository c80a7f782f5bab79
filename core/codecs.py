"""The codec table and the typed description of one encode (pure: no process, no FFmpeg).

Every codec quirk (how quality is spelled, its range, presets, threads, 2-pass, GOP, the HLS
segment container) lives in :data:`CODECS`; callers never branch on the codec name. Both sides
use it: ``encoder`` builds command lines from an :class:`EncodeSpec`, ``ladders`` writes a
rung's encoder settings with the same arguments.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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
    mp4_tag: str | None = None              # sample entry players require in MP4 (HEVC: hvc1, not hev1)
    revision: int = 0                       # bumped when its arguments change what it encodes (cache keys)
    rate_vbv: bool = True                   # takes -maxrate/-bufsize with a target bitrate


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
        # Fixed, closed GOPs: x265's default open GOP starts them on CRA pictures whose leading
        # pictures reference the GOP before, so a segment cut there does not decode alone (a player
        # switching renditions drops frames); no scene-cut I-frames either, as x264's sc_threshold 0.
        gop_args=lambda g: ["-g", str(g), "-keyint_min", str(g), "-x265-params", "scenecut=0:open-gop=0"],
        two_pass=True, param_flag="-x265-params", hls_container="fmp4", mp4_tag="hvc1", revision=1),
    "libsvtav1": Codec(
        name="libsvtav1", family="av1", quality_flag="-crf", quality_range=(1, 63),
        default_grid=(20, 25, 30, 35, 40, 45, 50, 55, 60),
        presets=tuple(str(i) for i in range(14)), default_preset="8",
        preset_args=lambda p: ["-preset", p],
        threads_args=lambda n: ["-svtav1-params", f"lp={n}"],
        gop_args=lambda g: ["-g", str(g)],
        # SVT-AV1 takes a maximum bitrate in CRF mode only ("Max Bitrate only supported with CRF
        # mode": the encoder does not open): its rungs are 2-pass VBR at their target (on six corpus
        # clips at 250/600/1500 kbps, 1-pass missed it by -33 ... +10 %, mean |error| 13 %; 2-pass
        # by -12.5 ... +2.7 %, 3.6 %), the peak measured from the segments by `encode`, not capped.
        two_pass=True, hls_container="fmp4", rate_vbv=False),
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
        revision = codec(self.codec).revision
        if revision:
            d["revision"] = revision   # keys of unchanged codecs stay as they were
        return d

    def rate_args(self) -> list[str]:
        c = codec(self.codec)
        if self.crf is not None:
            q = f"{self.crf:g}"
            args = [c.quality_flag, q, *c.constant_quality_extra]
        else:
            args = ["-b:v", f"{self.bitrate_kbps:.0f}k"]
        if self.crf is None and not c.rate_vbv:
            return args
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
