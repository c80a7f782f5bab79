"""Locate the FFmpeg binary and read its capabilities once.

Default: the build shipped by the ``imageio-ffmpeg`` wheel (it has libvmaf, libx264, libx265,
libsvtav1, libvpx-vp9, zimg, xpsnr). Override with ``--ffmpeg PATH`` or ``PERTITLE_FFMPEG``.
A system ``ffmpeg`` on PATH is never picked silently: Debian's, for one, has no libvmaf.
"""
from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from dataclasses import dataclass

from ..core.errors import FFmpegCapabilityError, FFmpegNotFound

ENV_VAR = "PERTITLE_FFMPEG"


@dataclass(frozen=True)
class FFmpeg:
    path: str
    version: str            # e.g. "n9.0.2-17-g2a571b6068-20260930"
    version_line: str       # first line of `ffmpeg -version`
    encoders: frozenset[str]
    filters: frozenset[str]

    def has_filter(self, name: str) -> bool:
        return name in self.filters

    def has_encoder(self, name: str) -> bool:
        return name in self.encoders

    def require_filter(self, name: str, why: str = "") -> None:
        if name not in self.filters:
            hint = {
                "libvmaf": "VMAF needs an FFmpeg built with --enable-libvmaf; the default "
                           "(imageio-ffmpeg's build) has it: drop --ffmpeg / unset " + ENV_VAR,
            }.get(name, "")
            raise FFmpegCapabilityError(
                f"this FFmpeg ({self.path}) has no '{name}' filter{(' ' + why) if why else ''}"
                f"{('; ' + hint) if hint else ''}")

    def require_encoder(self, name: str) -> None:
        if name not in self.encoders:
            raise FFmpegCapabilityError(
                f"this FFmpeg ({self.path}) has no '{name}' encoder; "
                f"available video encoders include: {', '.join(sorted(_software(self.encoders)))}")


def _software(encoders: frozenset[str]) -> list[str]:
    return [e for e in encoders if e.startswith("lib")]


def _candidate(path: str | None) -> str:
    if path:
        resolved = shutil.which(path) or path
        if not os.path.isfile(resolved):
            raise FFmpegNotFound(f"FFmpeg not found at {path!r}")
        return resolved
    env = os.environ.get(ENV_VAR)
    if env:
        return _candidate(env)
    try:
        import imageio_ffmpeg
    except ImportError:  # pragma: no cover - a hard dependency
        raise FFmpegNotFound("imageio-ffmpeg is not installed and no --ffmpeg / "
                             f"{ENV_VAR} was given") from None
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as exc:
        raise FFmpegNotFound(f"imageio-ffmpeg has no FFmpeg binary for this platform: {exc}") from None


def _query(exe: str, *args: str) -> str:
    try:
        out = subprocess.run([exe, "-hide_banner", *args], stdin=subprocess.DEVNULL,
                             capture_output=True, text=True, errors="replace", timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FFmpegNotFound(f"cannot run FFmpeg at {exe!r}: {exc}") from None
    return out.stdout


_LIST_LINE = re.compile(r"^\s*[A-Z.]{2,6}\s+(\S+)\s")


def _names(listing: str) -> frozenset[str]:
    names = set()
    for line in listing.splitlines():
        m = _LIST_LINE.match(line)
        if m and m.group(1) != "=":
            names.add(m.group(1))
    return frozenset(names)


@functools.lru_cache(maxsize=8)
def locate(path: str | None = None) -> FFmpeg:
    """Find FFmpeg (explicit path > $PERTITLE_FFMPEG > imageio-ffmpeg) and read its capabilities."""
    exe = _candidate(path)
    version_out = _query(exe, "-version")
    first = version_out.splitlines()[0] if version_out.strip() else ""
    m = re.match(r"ffmpeg version (\S+)", first)
    if not m:
        raise FFmpegNotFound(f"{exe!r} does not look like FFmpeg (no version line)")
    return FFmpeg(path=exe, version=m.group(1), version_line=first,
                  encoders=_names(_query(exe, "-encoders")),
                  filters=_names(_query(exe, "-filters")))
