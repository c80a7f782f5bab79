"""Cheap content features of a title, in-process with PyAV (no trial encode of the title).

Budget: well under the time FFmpeg needs to decode the whole source. Only a fraction of the
frames is decoded: short runs of consecutive frames at keyframes spread over the title (or, when
the source has too few keyframes to seek to, every few frames of a bounded prefix), downscaled
by swscale to a small analysis size. On them:

- ``si_*`` / ``ti_*``: ITU-T P.910 spatial / temporal information (Sobel std, frame-difference std);
- ``dct_e`` / ``dct_h``: DCT texture energy of 16x16 blocks and its change between consecutive
  frames (the E and h of the open Video Complexity Analyzer, re-derived here);
- ``noise_sigma``: Immerkaer's fast noise estimate on a native-resolution crop (grain survives
  no downscale);
- ``down2_psnr`` / ``down4_psnr``: how much detail a 2x / 4x smaller size loses (downscale, upscale,
  PSNR against the analysis frame) — how quality grows with resolution;
- ``probe_*``: the sampled runs encoded in memory with libx264 ultrafast at two sizes and two CRFs,
  decoded back: bits per pixel and PSNR of each — how quality grows with rate;
- compressed-domain facts from the demuxer: the source's bits per pixel, keyframe rate, the
  inter/intra packet size ratio (temporal predictability as the source encoder saw it);
- geometry and rate: width, height, fps, duration.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

FEATURE_VERSION = 1
ANALYSIS_SHORT_SIDE = 270     # luma analysis size (short side)
RUNS = 6                      # sampled runs
RUN_LENGTH = 4                # consecutive frames per run
PREFIX_FRACTION = 0.2         # when seeking is useless: at most this share of frames decoded
PROBE_CRFS = (23, 33)
PROBE_SIZES = (("hi", 1), ("lo", 2))   # the analysis size, and half of it


@dataclass(frozen=True)
class FrameRun:
    luma: list[np.ndarray]        # analysis-size luma planes (float32)
    native_crop: np.ndarray       # native-resolution luma crop of the first frame (float32)


def _even(x: float) -> int:
    return max(2, int(round(x / 2)) * 2)


def area_down(y: np.ndarray, k: int) -> np.ndarray:
    """Integer-factor area downscale (mean of k x k blocks), cropped to even output."""
    if k <= 1:
        h, w = y.shape
        return y[: h - h % 2, : w - w % 2]
    h, w = (y.shape[0] // k) // 2 * 2 * k, (y.shape[1] // k) // 2 * 2 * k
    # two contiguous reductions are several times faster than one over axes (1, 3)
    return y[:h, :w].reshape(h // k, k, w).sum(axis=1).reshape(h // k, w // k, k).sum(axis=2) / (k * k)


def up_nearest(y: np.ndarray, k: int, shape: tuple[int, int]) -> np.ndarray:
    up = np.repeat(np.repeat(y, k, axis=0), k, axis=1)
    out = np.empty(shape, np.float32)
    h, w = min(shape[0], up.shape[0]), min(shape[1], up.shape[1])
    out[:h, :w] = up[:h, :w]
    out[h:, :] = out[h - 1:h, :] if h < shape[0] else out[h:, :]
    out[:, w:] = out[:, w - 1:w] if w < shape[1] else out[:, w:]
    return out


def analysis_size(w: int, h: int, short: int = ANALYSIS_SHORT_SIDE) -> tuple[int, int]:
    if min(w, h) <= short:
        return _even(w), _even(h)
    f = short / min(w, h)
    return _even(w * f), _even(h * f)


_EIGHT_BIT = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "nv21", "gray"}


def luma(frame) -> np.ndarray:
    """The Y plane as uint8, without a colour conversion when the format is 8-bit planar."""
    if frame.format.name in _EIGHT_BIT:
        p = frame.planes[0]
        return np.frombuffer(p, np.uint8).reshape(frame.height, p.line_size)[:, :frame.width]
    return frame.to_ndarray(format="gray")


def _native_crop(frame, size: int = 256) -> np.ndarray:
    y = luma(frame)
    h, w = y.shape
    y0, x0 = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return y[y0:y0 + size, x0:x0 + size].astype(np.float32)


class _Shrinker:
    """Decoded frame -> analysis-size luma, with one reused swscale context (area filter)."""

    def __init__(self, w: int, h: int):
        from av.video.reformatter import VideoReformatter

        self.w, self.h = w, h
        self.r = VideoReformatter()

    def __call__(self, frame) -> np.ndarray:
        g = self.r.reformat(frame, width=self.w, height=self.h, format="gray", interpolation="AREA")
        return g.to_ndarray().astype(np.float32)


def _scan_packets(container, vs) -> dict:
    """Compressed-domain facts, from packets only (no decoding)."""
    key_ts, sizes_key, sizes_inter = [], [], []
    for pkt in container.demux(vs):
        if not pkt.size:
            continue
        if pkt.is_keyframe:
            key_ts.append(pkt.pts if pkt.pts is not None else pkt.dts)
            sizes_key.append(pkt.size)
        else:
            sizes_inter.append(pkt.size)
    return {"key_ts": [t for t in key_ts if t is not None], "key_bytes": sizes_key,
            "inter_bytes": sizes_inter}


def _sample_runs(path: str, info: dict, fps: float, duration: float, aw: int, ah: int) -> list[FrameRun]:
    import av

    runs: list[FrameRun] = []
    shrink = _Shrinker(aw, ah)
    key_ts = sorted(set(info["key_ts"]))
    with av.open(path, metadata_errors="ignore") as c:
        vs = c.streams.video[0]
        vs.thread_type = "AUTO"
        tb = float(vs.time_base or Fraction(1, 90000))
        start = float(vs.start_time or 0) * tb
        if len(key_ts) >= 3:
            # Seekable: a run at each of RUNS keyframes spread over the title.
            picks = sorted({key_ts[int(round(i * (len(key_ts) - 1) / max(1, RUNS - 1)))] for i in range(RUNS)})
            for ts in picks:
                c.seek(int(ts), stream=vs, backward=True, any_frame=False)
                lumas, crop = [], None
                for frame in c.decode(vs):
                    if frame.pts is not None and frame.pts < ts:
                        continue
                    if crop is None:
                        crop = _native_crop(frame)
                    lumas.append(shrink(frame))
                    if len(lumas) >= RUN_LENGTH:
                        break
                if lumas:
                    runs.append(FrameRun(lumas, crop))
        else:
            # One or two GOPs (short clips): a bounded prefix, runs spread inside it.
            total = max(1, int(duration * fps))
            budget = max(RUN_LENGTH * 3, int(total * PREFIX_FRACTION))
            stride = max(RUN_LENGTH, budget // RUNS)
            lumas, crop, n = [], None, 0
            for frame in c.decode(vs):
                pos = n % stride
                if pos < RUN_LENGTH:
                    if pos == 0:
                        crop = _native_crop(frame)
                    lumas.append(shrink(frame))
                    if pos == RUN_LENGTH - 1:
                        runs.append(FrameRun(lumas, crop))
                        lumas = []
                n += 1
                if n >= budget or len(runs) >= RUNS:
                    break
            if lumas:
                runs.append(FrameRun(lumas, crop))
        del start
    return runs


# ------------------------------------------------------------------------------------------
# Per-frame measures (numpy)
# ------------------------------------------------------------------------------------------


def sobel_std(y: np.ndarray) -> float:
    gx = (y[:-2, 2:] + 2 * y[1:-1, 2:] + y[2:, 2:]) - (y[:-2, :-2] + 2 * y[1:-1, :-2] + y[2:, :-2])
    gy = (y[2:, :-2] + 2 * y[2:, 1:-1] + y[2:, 2:]) - (y[:-2, :-2] + 2 * y[:-2, 1:-1] + y[:-2, 2:])
    return float(np.std(np.hypot(gx, gy)))


_BLOCK = 16
_DCT_W = None


def _dct_weights() -> np.ndarray:
    global _DCT_W
    if _DCT_W is None:
        u = np.arange(_BLOCK)
        uu, vv = np.meshgrid(u, u, indexing="ij")
        w = np.exp(np.abs((uu * vv / _BLOCK ** 2) ** 2 - 1))
        w[0, 0] = 0.0  # DC carries brightness, not texture
        _DCT_W = w
    return _DCT_W


def block_energy(y: np.ndarray) -> np.ndarray:
    """Weighted DCT energy of each 16x16 block (VCA-style texture), shape (by, bx)."""
    from scipy.fft import dctn

    h, w = (y.shape[0] // _BLOCK) * _BLOCK, (y.shape[1] // _BLOCK) * _BLOCK
    blocks = y[:h, :w].reshape(h // _BLOCK, _BLOCK, w // _BLOCK, _BLOCK).transpose(0, 2, 1, 3)
    coefs = dctn(blocks, axes=(2, 3), norm="ortho")
    return (np.abs(coefs) * _dct_weights()).sum(axis=(2, 3)) / _BLOCK ** 2


def immerkaer_sigma(y: np.ndarray) -> float:
    """Fast noise standard deviation estimate (Immerkaer 1996)."""
    if y.shape[0] < 3 or y.shape[1] < 3:
        return 0.0
    conv = (y[:-2, :-2] - 2 * y[:-2, 1:-1] + y[:-2, 2:]
            - 2 * y[1:-1, :-2] + 4 * y[1:-1, 1:-1] - 2 * y[1:-1, 2:]
            + y[2:, :-2] - 2 * y[2:, 1:-1] + y[2:, 2:])
    return float(math.sqrt(math.pi / 2) * np.mean(np.abs(conv)) / 6)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float32) - b.astype(np.float32)) ** 2))
    return 100.0 if mse <= 1e-10 else min(100.0, 10 * math.log10(255.0 ** 2 / mse))


def detail_loss_psnr(y: np.ndarray, k: int) -> float:
    """PSNR of ``y`` against itself k times smaller and blown back up: detail a smaller rung loses."""
    small = area_down(y, k)
    return psnr(y, up_nearest(small, k, y.shape))


def _yuv420(y: np.ndarray) -> np.ndarray:
    """A yuv420p ndarray (PyAV layout) with neutral chroma."""
    h, w = y.shape
    out = np.full((h * 3 // 2, w), 128, np.uint8)
    out[:h] = np.clip(y + 0.5, 0, 255).astype(np.uint8)
    return out


def _probe_encodes(runs: list[FrameRun], fps: float) -> dict[str, float]:
    """Encode the sampled runs in memory (x264 ultrafast) at two sizes and two CRFs, decode
    them back: bits per pixel and PSNR of each."""
    import av

    out: dict[str, float] = {}
    for name, k in PROBE_SIZES:
        frames = [area_down(y, k) for r in runs for y in r.luma]
        ph, pw = frames[0].shape
        for crf in PROBE_CRFS:
            enc = av.CodecContext.create("libx264", "w")
            enc.width, enc.height, enc.pix_fmt = pw, ph, "yuv420p"
            enc.time_base = Fraction(1, 1000)
            enc.framerate = Fraction(fps).limit_denominator(1001)
            enc.options = {"preset": "ultrafast", "crf": str(crf), "threads": "1"}
            # Each run starts a GOP so runs from different places do not predict from each other.
            enc.gop_size = RUN_LENGTH
            dec = av.CodecContext.create("h264", "r")
            total_bytes, pts, decoded = 0, 0, []
            for y in frames:
                vf = av.VideoFrame.from_ndarray(_yuv420(y), format="yuv420p")
                vf.pts = pts
                pts += int(round(1000 / fps))
                for pkt in enc.encode(vf):
                    total_bytes += pkt.size
                    decoded.extend(dec.decode(pkt))
            for pkt in enc.encode(None):
                total_bytes += pkt.size
                decoded.extend(dec.decode(pkt))
            decoded.extend(dec.decode(None))
            errors = [psnr(np.clip(y + 0.5, 0, 255), luma(d)) for y, d in zip(frames, decoded)]
            bpp = total_bytes * 8 / (pw * ph * len(frames))
            out[f"probe_{name}_crf{crf}_log_bpp"] = math.log(max(bpp, 1e-6))
            out[f"probe_{name}_crf{crf}_psnr"] = float(np.mean(errors)) if errors else float("nan")
    lo, hi = PROBE_CRFS
    for name, _ in PROBE_SIZES:
        # dB per doubling of bits between the two CRFs at that size (curve slope)
        dr = out[f"probe_{name}_crf{lo}_log_bpp"] - out[f"probe_{name}_crf{hi}_log_bpp"]
        dq = out[f"probe_{name}_crf{lo}_psnr"] - out[f"probe_{name}_crf{hi}_psnr"]
        out[f"probe_{name}_slope"] = dq / (dr / math.log(2)) if dr > 1e-6 else 0.0
    (a, _), (b, _) = PROBE_SIZES
    out["probe_size_gain_psnr"] = out[f"probe_{a}_crf{hi}_psnr"] - out[f"probe_{b}_crf{hi}_psnr"]
    out["probe_size_cost_log"] = out[f"probe_{a}_crf{hi}_log_bpp"] - out[f"probe_{b}_crf{hi}_log_bpp"]
    return out


def extract(path: str, source=None) -> dict[str, float]:
    """Feature dict for ``path`` (a probed :class:`Source` saves re-reading the header)."""
    import av

    from .probe import probe

    t0 = time.monotonic()
    src = source or probe(path)
    w, h = src.reference_size
    fps = float(src.fps)
    with av.open(path, metadata_errors="ignore") as c:
        info = _scan_packets(c, c.streams.video[0])
    aw, ah = analysis_size(w, h)
    runs = _sample_runs(path, info, fps, src.duration_s, aw, ah)
    if not runs:
        from .errors import NotAVideo

        raise NotAVideo("no frames could be sampled for features", path)

    si, ti, e_vals, h_vals, noise, d2, d4, bright, contrast = [], [], [], [], [], [], [], [], []
    for r in runs:
        if r.native_crop is not None:
            noise.append(immerkaer_sigma(r.native_crop))
        prev_e = None
        for i, y in enumerate(r.luma):
            si.append(sobel_std(y))
            bright.append(float(np.mean(y)))
            contrast.append(float(np.std(y)))
            e = block_energy(y)
            e_vals.append(float(np.mean(e)))
            if prev_e is not None:
                h_vals.append(float(np.mean(np.abs(e - prev_e))))
                ti.append(float(np.std(y - r.luma[i - 1])))
            prev_e = e
        d2.append(detail_loss_psnr(r.luma[0], 2))
        d4.append(detail_loss_psnr(r.luma[0], 4))

    key_n = len(info["key_bytes"])
    inter = np.mean(info["inter_bytes"]) if info["inter_bytes"] else float("nan")
    intra = np.mean(info["key_bytes"]) if info["key_bytes"] else float("nan")
    feats: dict[str, float] = {
        "width": float(w), "height": float(h), "log_pixels": math.log(w * h), "fps": fps,
        "duration_s": float(src.duration_s),
        "source_bpp": src.bits_per_pixel, "source_log_bpp": math.log(max(src.bits_per_pixel, 1e-4)),
        "source_keyframes_per_s": key_n / max(src.duration_s, 1e-3),
        "source_inter_intra_ratio": float(inter / intra) if key_n and info["inter_bytes"] else 1.0,
        "si_mean": float(np.mean(si)), "si_max": float(np.max(si)),
        "ti_mean": float(np.mean(ti)) if ti else 0.0, "ti_max": float(np.max(ti)) if ti else 0.0,
        "ti_p90_over_mean": float(np.percentile(ti, 90) / max(np.mean(ti), 1e-3)) if ti else 1.0,
        "dct_e": float(np.mean(e_vals)), "dct_h": float(np.mean(h_vals)) if h_vals else 0.0,
        "noise_sigma": float(np.median(noise)) if noise else 0.0,
        "down2_psnr": float(np.mean(d2)), "down4_psnr": float(np.mean(d4)),
        "brightness": float(np.mean(bright)), "contrast": float(np.mean(contrast)),
        "sampled_frames": float(sum(len(r.luma) for r in runs)),
    }
    feats.update(_probe_encodes(runs, fps))
    feats["feature_s"] = time.monotonic() - t0
    return feats


FEATURE_COLUMNS = [
    "log_pixels", "fps", "source_log_bpp", "source_keyframes_per_s", "source_inter_intra_ratio",
    "si_mean", "si_max", "ti_mean", "ti_max", "ti_p90_over_mean", "dct_e", "dct_h", "noise_sigma",
    "down2_psnr", "down4_psnr", "brightness", "contrast",
    *[f"probe_{s}_crf{q}_{k}" for s, _ in PROBE_SIZES for q in PROBE_CRFS for k in ("log_bpp", "psnr")],
    *[f"probe_{s}_slope" for s, _ in PROBE_SIZES], "probe_size_gain_psnr", "probe_size_cost_log",
]
"""The features a model may use (bookkeeping columns like feature_s and duration are not)."""
