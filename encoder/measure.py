"""Quality measurement: run the scoring command, parse its logs (libvmaf JSON, xpsnr stats), pool.

Scores always come from libvmaf's JSON log, never from scraping stderr.
"""
from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..core.errors import MeasurementError
from . import commands as C
from .ffmpeg import FFmpeg
from .runner import run

# PSNR of identical frames is infinite; libvmaf caps it (60 dB at 8 bit). Keep the cap.


@dataclass(frozen=True)
class Scores:
    frames: int
    vmaf_mean: float
    vmaf_hmean: float
    vmaf_p5: float
    vmaf_min: float
    psnr_y: float | None = None
    psnr_avg: float | None = None
    ssim: float | None = None
    xpsnr_y: float | None = None
    vmaf_frames: tuple[float, ...] = ()   # per scored frame, in order

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def pool(values: np.ndarray) -> dict[str, float]:
    """Pooled VMAF: mean, harmonic mean (libvmaf's definition, offset by 1), 5th percentile, min."""
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        raise MeasurementError("no frames were scored")
    return {
        "vmaf_mean": float(np.mean(v)),
        "vmaf_hmean": float(1.0 / np.mean(1.0 / (v + 1.0)) - 1.0),
        "vmaf_p5": float(np.percentile(v, 5)),
        "vmaf_min": float(np.min(v)),
    }


def pool_parts(bounds, frame_bytes, vmaf_frames, fps: float, subsample: int = 1) -> list[dict]:
    """Bitrate and pooled VMAF of each part ``[first, end)`` (frame indices) of one encode:
    ``frame_bytes`` in presentation order, ``vmaf_frames`` every ``subsample``-th frame's score."""
    vm = np.asarray(vmaf_frames, dtype=float)
    out = []
    for first, end in bounds:
        sizes = frame_bytes[first:end]
        lo, hi = -(-first // subsample), -(-end // subsample)   # scored frames inside the part
        if not len(sizes) or hi <= lo or hi > vm.size:
            raise MeasurementError(f"part [{first}, {end}) lies outside the {len(frame_bytes)} encoded frames")
        out.append({"kbps": round(sum(sizes) * 8 * fps / len(sizes) / 1000.0, 3),
                    **{k: round(v, 4) for k, v in pool(vm[lo:hi]).items()}})
    return out


def parse_vmaf_log(path: str, expected_frames: int | None = None) -> Scores:
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except FileNotFoundError:
        raise MeasurementError(f"libvmaf wrote no log ({os.path.basename(path)})") from None
    except json.JSONDecodeError as exc:
        raise MeasurementError(f"libvmaf log is not valid JSON: {exc}") from None
    frames = doc.get("frames") or []
    vm = [f["metrics"]["vmaf"] for f in frames if "vmaf" in f.get("metrics", {})]
    if not vm:
        raise MeasurementError("libvmaf log holds no VMAF scores")
    pooled = pool(np.array(vm))
    psnr_y = _mean_metric(frames, "psnr_y")
    psnr_cb = _mean_metric(frames, "psnr_cb")
    psnr_cr = _mean_metric(frames, "psnr_cr")
    psnr_avg = None
    if psnr_y is not None and psnr_cb is not None and psnr_cr is not None:
        psnr_avg = (6 * psnr_y + psnr_cb + psnr_cr) / 8  # the usual 6:1:1 weighting for 4:2:0
    return Scores(frames=len(vm), psnr_y=psnr_y, psnr_avg=psnr_avg,
                  ssim=_mean_metric(frames, "float_ssim"), vmaf_frames=tuple(float(v) for v in vm), **pooled)


def _mean_metric(frames: list[dict], name: str) -> float | None:
    vals = [f["metrics"][name] for f in frames if name in f.get("metrics", {})]
    if not vals:
        return None
    vals = [v for v in vals if v is not None and math.isfinite(v)]
    return float(np.mean(vals)) if vals else None


_XPSNR_FRAME = re.compile(r"XPSNR y:\s*([0-9.]+|inf)", re.IGNORECASE)
_XPSNR_AVERAGE = re.compile(r"XPSNR average.*?\by:\s*([0-9.]+|inf)", re.IGNORECASE)


def parse_xpsnr_log(path: str) -> float | None:
    """XPSNR-Y from FFmpeg's xpsnr stats file: the filter's own average line when present
    (it pools in the error domain), else the mean of the per-frame values."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except FileNotFoundError:
        return None
    m = _XPSNR_AVERAGE.search(text)
    if m and m.group(1).lower() != "inf":
        return float(m.group(1))
    vals = [float(v.group(1)) for v in _XPSNR_FRAME.finditer(text) if v.group(1).lower() != "inf"]
    return float(np.mean(vals)) if vals else None


def with_xpsnr(scores: Scores, xpsnr_y: float | None) -> Scores:
    from dataclasses import replace

    return replace(scores, xpsnr_y=xpsnr_y)


def measure_many(ff: FFmpeg, ref_path: str, ref_size: tuple[int, int], fps: Fraction,
                 encodes: Sequence[str], spec: C.MeasureSpec, workdir: str) -> list[dict]:
    """Score encodes against one decoded reference in one FFmpeg process."""
    dists = []
    for i, path in enumerate(encodes):
        stem = os.path.splitext(os.path.basename(path))[0]
        dists.append(C.Distorted(path, f"{stem}-vmaf{i}.json",
                                 f"{stem}-xpsnr{i}.log" if spec.xpsnr else None))
    cmd = C.measure_command(ff.path, ref_path, ref_size, fps, dists, spec)
    # Log names in the filter options are relative to cwd: no filtergraph escaping needed.
    run(cmd, what="quality measurement", cwd=workdir)
    out = []
    for d in dists:
        s = parse_vmaf_log(os.path.join(workdir, d.vmaf_log))
        if d.xpsnr_log:
            s = with_xpsnr(s, parse_xpsnr_log(os.path.join(workdir, d.xpsnr_log)))
        out.append(s.to_dict())
        for log in (d.vmaf_log, d.xpsnr_log):
            if log:
                try:
                    os.unlink(os.path.join(workdir, log))
                except OSError:
                    pass
    return out


def measure_scaling(ff: FFmpeg, ref_path: str, ref_size: tuple[int, int], fps: Fraction,
                    sizes: Sequence[tuple[int, int]], spec: C.MeasureSpec, workdir: str, *,
                    down_scaler: str, period: int, run_frames: int) -> list[float]:
    """Mean VMAF of each size's scaling alone (:func:`pertitle.encoder.commands.ceiling_command`),
    in the order of ``sizes``: one FFmpeg process, one decode of the reference. Its logs stay in
    ``workdir``, a folder of the caller's own."""
    logs = [f"ceiling{i}.json" for i in range(len(sizes))]
    cmd = C.ceiling_command(ff.path, ref_path, ref_size, fps, sizes, logs, spec, down_scaler=down_scaler,
                            period=period, run=run_frames)
    run(cmd, what="scaling measurement", cwd=workdir)
    return [parse_vmaf_log(os.path.join(workdir, log)).vmaf_mean for log in logs]
