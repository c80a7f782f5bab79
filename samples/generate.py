"""Deterministic synthetic clips from FFmpeg's lavfi sources (no download).

Each *kind* controls spatial detail, motion, grain, flat/animated content and scene cuts, so
the same generator serves the README's demo clip, the tests and the model's training set.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from ..encoder.commands import BASE, file_url
from ..encoder.runner import run


@dataclass(frozen=True)
class Kind:
    description: str
    graph: str              # lavfi filtergraph producing [v]; {w},{h},{r},{d} substituted


KINDS: dict[str, Kind] = {
    "demo": Kind("testsrc2 pattern with moving elements, text and a second scene",
                 "testsrc2=size={w}x{h}:rate={r}:duration={d2}[a];"
                 "mandelbrot=size={w}x{h}:rate={r}:end_scale=0.1,trim=duration={d2},setpts=PTS-STARTPTS[b];"
                 "[a][b]concat=n=2:v=1,format=yuv420p[v]"),
    "flat": Kind("flat colours with a slowly moving box (motion graphics)",
                 "color=c=0x3050a0:size={w}x{h}:rate={r}:duration={d},"
                 "drawbox=x='mod(t*{w}/4\\,{w})':y={h}/3:w={w}/5:h={h}/4:color=0xf0c020:t=fill,format=yuv420p[v]"),
    "gradient": Kind("smooth gradients, slow drift (easy content)",
                     "gradients=size={w}x{h}:rate={r}:duration={d}:speed=0.01:seed=7,format=yuv420p[v]"),
    "detail": Kind("dense static detail (cellular automaton), no motion",
                   "cellauto=size={w}x{h}:rate={r}:rule=18:random_seed=5:scroll=0:stitch=0,"
                   "trim=duration={d},setpts=PTS-STARTPTS,scale={w}:{h}:flags=neighbor,format=yuv420p[v]"),
    "zoom": Kind("fractal zoom: high detail, constant motion",
                 "mandelbrot=size={w}x{h}:rate={r}:end_scale=0.01,trim=duration={d},setpts=PTS-STARTPTS,format=yuv420p[v]"),
    "life": Kind("game of life: high-entropy motion",
                 "life=size={w}x{h}:rate={r}:random_seed=3:mold=10:ratio=0.3:life_color=white:death_color=black:mold_color=0x306030,"
                 "trim=duration={d},setpts=PTS-STARTPTS,format=yuv420p[v]"),
    "grain": Kind("test pattern under heavy temporal grain",
                  "testsrc2=size={w}x{h}:rate={r}:duration={d},noise=alls=28:allf=t+u,format=yuv420p[v]"),
    "cuts": Kind("four scenes of different complexity, hard cuts",
                 "testsrc2=size={w}x{h}:rate={r}:duration={d4}[a];"
                 "color=c=0x202020:size={w}x{h}:rate={r}:duration={d4},format=yuv420p[b];"
                 "mandelbrot=size={w}x{h}:rate={r},trim=duration={d4},setpts=PTS-STARTPTS,format=yuv420p[c];"
                 "smptehdbars=size={w}x{h}:rate={r}:duration={d4},noise=alls=20:allf=t,format=yuv420p[e];"
                 "[a][b][c][e]concat=n=4:v=1[v]"),
}


def command(ffmpeg: str, out: str, kind: str = "demo", width: int = 960, height: int = 540,
            rate: int = 24, seconds: float = 4.0, crf: int = 12) -> list[str]:
    if kind not in KINDS:
        raise ValueError(f"unknown sample kind {kind!r}; choose one of {', '.join(KINDS)}")
    if width % 2 or height % 2:
        raise ValueError("sample width and height must be even")
    g = KINDS[kind].graph.format(w=width, h=height, r=rate, d=seconds, d2=seconds / 2, d4=seconds / 4)
    return [ffmpeg, *BASE, "-filter_complex", g, "-map", "[v]", "-t", f"{seconds}",
            "-c:v", "libx264", "-preset", "medium", "-crf", str(crf), "-pix_fmt", "yuv420p",
            # Deterministic output: one thread, no wall-clock metadata.
            "-threads", "1", "-fflags", "+bitexact", "-flags:v", "+bitexact",
            file_url(out)]


def generate(ffmpeg: str, out: str, **kw) -> str:
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    run(command(ffmpeg, out, **kw), what="sample generation")
    return out
