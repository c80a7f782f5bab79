"""Shared by the bench scripts: the decode floor every mode is compared with."""
from __future__ import annotations

import statistics
import subprocess
import time

from pertitle.encoder.commands import decode_command


def decode_seconds(ffmpeg: str, path: str, start: float = 0.0, duration: float | None = None,
                   repeat: int = 3) -> float:
    """Median wall time of FFmpeg decoding the (excerpt of the) video once, default threads."""
    cmd = decode_command(ffmpeg, path, start, duration)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)
