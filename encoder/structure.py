"""A title's structure from one cheap pass: where the shots change and how complex it is over
time (the input of :mod:`pertitle.ladders.sampling`). Memory and disk stay small whatever the
title's length: the probe is 256 pixels wide and only packet sizes are read back."""
from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass

from ..core.errors import MeasurementError
from ..core.workdirs import make_workdir, remove_workdir
from . import commands as C
from .ffmpeg import FFmpeg
from .probe import Source, open_media, video_stream
from .runner import run

_FRAME = re.compile(r"pts_time:([-0-9.]+)")


@dataclass
class Structure:
    scene_times: list[float]
    scene_scores: list[float]
    frame_times: list[float]
    frame_bits: list[float]
    wall_s: float


def parse_scene_file(text: str) -> tuple[list[float], list[float]]:
    times, scores, t = [], [], None
    for line in text.splitlines():
        if line.startswith("frame:"):
            m = _FRAME.search(line)
            t = float(m.group(1)) if m else None
        elif line.startswith("lavfi.scene_score=") and t is not None:
            times.append(t)
            scores.append(float(line.split("=", 1)[1]))
    return times, scores


def title_structure(ff: FFmpeg, source: Source, workdir: str | None = None) -> Structure:
    t0 = time.monotonic()
    tmp = make_workdir("pertitle-structure-", workdir)
    try:
        probe_path = os.path.join(tmp, "probe.mkv")
        run(C.structure_command(ff.path, source.path, source.demuxer, probe_path, source.fps),
            what="structure pass", path=source.path, cwd=tmp)
        with open(os.path.join(tmp, C.SCENE_FILE), encoding="utf-8") as fh:
            st, ss = parse_scene_file(fh.read())
        times, bits = [], []
        with open_media(probe_path, "matroska") as c:
            v = video_stream(c)
            tb = float(v.time_base)
            for pkt in c.demux(v):
                if pkt.pts is None or pkt.size == 0:
                    continue
                times.append(pkt.pts * tb)
                bits.append(pkt.size * 8.0)
        if not times:
            raise MeasurementError("the structure pass produced no frames", source.path)
        t_min = min(times)
        return Structure(st, ss, [t - t_min for t in times], bits, time.monotonic() - t0)
    finally:
        remove_workdir(tmp)
