"""Run a command as a user would and watch what it costs: wall time, the peak resident memory of its
whole process tree (pertitle and every FFmpeg it starts), and the peak size of its work folder."""
from __future__ import annotations

import os
import subprocess
import time

import psutil


def folder_bytes(path: str) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


def watched(cmd: list[str], workdir: str | None = None, every: float = 0.2) -> dict:
    """``cmd`` to the end; returns rc, wall seconds, peak tree RSS (MiB) and peak ``workdir`` size (MiB)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    top = psutil.Process(proc.pid)
    peak_rss = peak_disk = 0
    while proc.poll() is None:
        try:
            procs = [top, *top.children(recursive=True)]
            rss = 0
            for p in procs:
                try:
                    rss += p.memory_info().rss
                except psutil.Error:
                    pass
            peak_rss = max(peak_rss, rss)
        except psutil.Error:
            pass
        if workdir:
            peak_disk = max(peak_disk, folder_bytes(workdir))
        time.sleep(every)
    out, err = proc.communicate()
    return {"rc": proc.returncode, "s": round(time.perf_counter() - t0, 1), "peak_rss_mib": round(peak_rss / 2**20),
            "peak_tmp_mib": round(peak_disk / 2**20), "stdout": out, "stderr": err}
