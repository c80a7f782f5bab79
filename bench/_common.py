"""Shared by the bench scripts: the decode floor every mode is compared with."""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
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


def pertitle_command() -> list[str]:
    """The installed ``pertitle`` command of this Python (as a user runs it)."""
    exe = os.path.join(os.path.dirname(sys.executable), "pertitle")
    return [exe] if os.path.exists(exe) else [sys.executable, "-m", "pertitle.cli"]


def timed_run(argv: list[str], doc_path: str) -> tuple[dict, float]:
    """Run a ``pertitle`` command line that writes its document to ``doc_path`` (``-o`` and
    ``-q`` are added) in a new process: the document and the wall time. A failure stops the
    bench with the command's last error line."""
    argv = [*argv, "-o", doc_path, "-q"]
    t0 = time.perf_counter()
    p = subprocess.run(argv, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, argv))} failed: {p.stderr.strip().splitlines()[-1:]}")
    with open(doc_path, encoding="utf-8") as fh:
        return json.load(fh), wall


def write_results(text: str, data: dict, json_path: str | None, md_path: str | None) -> None:
    """Print the table and keep it (Markdown) with its data (JSON) where asked."""
    print(text, flush=True)
    if json_path:
        with open(json_path, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1)
    if md_path:
        with open(md_path, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
