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
- ``probe_*``: the main run encoded in memory with libx264 veryfast at half the analysis size and two CRFs,
  decoded back: bits per pixel and PSNR of each — how quality grows with rate;
- ``xo_*``: native-resolution crops encoded (ultrafast) at full, half and quarter size: whether a
  smaller size wins at equal bits — where the hull moves from one size to the next;
- compressed-domain facts from the demuxer: the source's bits per pixel, keyframe rate, the
  inter/intra packet size ratio (temporal predictability as the source encoder saw it);
- geometry and rate: width, height, fps, duration.
"""
from __future__ import annotations

import functools
import itertools
import math
import time
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .probe import decode_frames

FEATURE_VERSION = 5   # 5: computed over the analysed excerpt (start/duration), not the whole file
ANALYSIS_SHORT_SIDE = 270     # luma analysis size (short side)
MIN_RUN, MAX_RUN = 8, 24      # frames in the main run (consecutive: inter-frame coding needs them)
RUN_FRACTION = 0.12           # ... as a share of the clip's frames
PROBE_PRESET = "veryfast"      # has B-frames and mb-tree like the real encodes; ultrafast has neither
PROBE_CRFS = (23, 33)
PROBE_SIZES = (("lo", 2),)    # probe size: half the analysis size
PROBE_PLAN = (("lo", 23), ("lo", 33))   # (size, CRF) of each probe encode
CROSSOVER_CRFS = (24, 36)
CROSSOVER_FRAMES = 8           # consecutive frames of each native crop that the crossover probe encodes
CROSSOVER_PRESET = "ultrafast" # the probe compares sizes with one encoder: relative, so the fastest will do


@dataclass(frozen=True)
class FrameRun:
    luma: list[np.ndarray]          # analysis-size luma planes (float32)
    native_crops: list[np.ndarray]  # native-resolution luma crops of the first frame (float32)
    crop_seqs: list[list[np.ndarray]]  # per crop position, that crop in every frame of the run


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


def _native_crops(frame, size: int = 256) -> list[np.ndarray]:
    """Two crops at the source's own resolution (left and right of centre): VMAF is computed at
    that resolution, so detail and grain must be measured there, not after a downscale."""
    y = luma(frame)
    h, w = y.shape
    y0 = max(0, (h - size) // 2)
    xs = sorted({max(0, min(w - size, int(w * f - size / 2))) for f in (0.33, 0.67)})
    return [y[y0:y0 + size, x0:x0 + size].astype(np.float32) for x0 in xs]


class _Shrinker:
    """Decoded frame -> analysis-size luma, with one reused swscale context (area filter)."""

    def __init__(self, w: int, h: int):
        from av.video.reformatter import VideoReformatter

        self.w, self.h = w, h
        self.r = VideoReformatter()

    def __call__(self, frame) -> np.ndarray:
        g = self.r.reformat(frame, width=self.w, height=self.h, format="gray", interpolation="AREA")
        return g.to_ndarray().astype(np.float32)


def _scan_packets(container, vs, window: tuple[int, int] | None = None) -> dict:
    """Compressed-domain facts, from packets only (no decoding); with ``window`` (pts range),
    only the packets inside it count."""
    key_ts, sizes_key, sizes_inter = [], [], []
    first_ts = None
    for pkt in container.demux(vs):
        if not pkt.size or pkt.is_discard:     # discarded: before an edit list's start, never shown
            continue
        ts = pkt.pts if pkt.pts is not None else pkt.dts
        if window is not None and ts is not None and not (window[0] <= ts < window[1]):
            continue
        if ts is not None and (first_ts is None or ts < first_ts):
            first_ts = ts
        if pkt.is_keyframe:
            key_ts.append(ts)
            sizes_key.append(pkt.size)
        else:
            sizes_inter.append(pkt.size)
    return {"key_ts": [t for t in key_ts if t is not None], "key_bytes": sizes_key,
            "inter_bytes": sizes_inter, "first_ts": first_ts}


def run_length(frames: int) -> int:
    """Frames in the main run: about an eighth of a short clip, never fewer than 8 nor more than 24."""
    return int(min(MAX_RUN, max(MIN_RUN, round(frames * RUN_FRACTION))))


def _seek_to(c, vs, start_pts: int):
    """Frames from the one at ``start_pts`` on. A seek to a keyframe's own timestamp lands on
    it in MP4 or Matroska, but MPEG-TS's seek (a search on the packets' timestamps) lands on
    the *next* keyframe, or past the end after the last one: when the first frame decoded is
    already past ``start_pts`` (or there is none), seek again further back (one second, then
    ten, then the stream's start) and decode forward to the frame wanted."""
    tb = float(vs.time_base or 0) or 1.0
    second = max(1, int(round(1 / tb)))
    rate = float(vs.average_rate or vs.guessed_rate or 25)
    skipped = 1.5 / (rate * tb)     # the first frame this far past start_pts: frames were skipped
    for back in (0, second, 10 * second, None):
        c.seek(0 if back is None else max(0, int(start_pts) - back), stream=vs, backward=True, any_frame=False)
        frames = decode_frames(c, vs)
        first = next(frames, None)
        if first is None or (back is not None and first.pts is not None and first.pts - start_pts >= skipped):
            continue        # landed past the frame wanted
        for frame in itertools.chain([first], frames):
            if frame.pts is None or frame.pts >= start_pts:
                yield frame
        return


def _decode_run(c, vs, start_pts: int | None, n: int, shrink: _Shrinker) -> FrameRun | None:
    lumas, seqs = [], []
    for frame in (decode_frames(c, vs) if start_pts is None else _seek_to(c, vs, start_pts)):
        crops = _native_crops(frame)
        if not seqs:
            seqs = [[] for _ in crops]
        for seq, crop in zip(seqs, crops):
            seq.append(crop)
        lumas.append(shrink(frame))
        if len(lumas) >= n:
            break
    return FrameRun(lumas, [q[0] for q in seqs], seqs) if lumas else None


def _sample_runs(c, vs, info: dict, fps: float, duration: float, aw: int, ah: int,
                 start_pts: int | None = None) -> list[FrameRun]:
    """One contiguous main run (inter-frame statistics and the probe encodes need consecutive
    frames) at the keyframe nearest the middle, plus two 2-frame runs at other keyframes for
    spatial variety. Without three keyframes to seek to (long GOPs), the main run starts at the
    first frame of the analysed part (``start_pts``): decoding on to its middle would cost more
    than the whole feature budget."""

    shrink = _Shrinker(aw, ah)
    key_ts = sorted(set(info["key_ts"]))
    n = run_length(int(duration * fps))
    if len(key_ts) >= 3:
        mid = key_ts[len(key_ts) // 2]
        main = _decode_run(c, vs, mid, n, shrink)
        extras = [key_ts[len(key_ts) // 6], key_ts[(5 * len(key_ts)) // 6]]
        runs = [main] + [_decode_run(c, vs, ts, 2, shrink) for ts in extras if ts != mid]
    else:
        first = start_pts if start_pts is not None else info["first_ts"]
        runs = [_decode_run(c, vs, first, n, shrink)]
    return [r for r in runs if r is not None]


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


@functools.lru_cache(maxsize=None)
def dct_matrix(n: int) -> np.ndarray:
    """The orthonormal DCT-II matrix: ``m @ v`` is the DCT of ``v``, ``m @ b @ m.T`` a block's."""
    k = np.arange(n)[:, None]
    m = np.cos(np.pi * (2 * np.arange(n)[None, :] + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    m[0] /= np.sqrt(2.0)
    return m


def block_energy(y: np.ndarray) -> np.ndarray:
    """Weighted DCT energy of each 16x16 block (VCA-style texture), shape (by, bx). The 2-D
    DCT as two products with the DCT matrix (in float64; no FFT library to import)."""
    h, w = (y.shape[0] // _BLOCK) * _BLOCK, (y.shape[1] // _BLOCK) * _BLOCK
    blocks = y[:h, :w].reshape(h // _BLOCK, _BLOCK, w // _BLOCK, _BLOCK).transpose(0, 2, 1, 3)
    m = dct_matrix(_BLOCK)
    coefs = m @ blocks.astype(np.float64) @ m.T
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


# x264's AVX-512 code (in PyAV's build) makes mb-tree's results depend on what the process did
# before: the same frames gave 14197, 14206 or 14238 bytes at CRF 23 around a numpy product or a
# decode, while AVX2 (and C) code gives the same bytes every time. Capped at AVX2 where the CPU has
# AVX-512: these features are then a function of the frames, whatever ran before or beside them.
_AVX2_SET = {"sse4_2", "ssse3", "avx", "avx2", "fma", "bmi1", "bmi2"}


def x264_asm_cap(cpu_flags: set[str] | frozenset[str] | None = None) -> str | None:
    """x264's ``asm`` parameter for the in-memory probes: ``"SSE2Fast,AVX2"`` on a CPU with
    AVX-512 and the whole AVX2 set (the level x264 would pick without AVX-512), else ``None``
    (x264 detects). ``cpu_flags``: /proc/cpuinfo's flags (read when not given; none elsewhere)."""
    if cpu_flags is None:
        cpu_flags = _cpu_flags()
    has_lzcnt = "abm" in cpu_flags or "lzcnt" in cpu_flags
    if "avx512f" in cpu_flags and _AVX2_SET <= cpu_flags and has_lzcnt:
        return "SSE2Fast,AVX2"
    return None


@functools.lru_cache(maxsize=1)
def _cpu_flags() -> frozenset[str]:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def _encode_in_memory(frames: list[np.ndarray], fps: float, crf: int,
                      preset: str = PROBE_PRESET) -> tuple[list[int], list[np.ndarray]]:
    """x264 in memory: packet sizes in decode order, and the decoded luma frames."""
    import av

    h, w = frames[0].shape
    enc = av.CodecContext.create("libx264", "w")
    enc.width, enc.height, enc.pix_fmt = w, h, "yuv420p"
    enc.time_base = Fraction(1, 1000)
    enc.framerate = Fraction(fps).limit_denominator(1001)
    enc.options = {"preset": preset, "crf": str(crf), "threads": "1"}
    cap = x264_asm_cap()
    if cap:
        enc.options = {**enc.options, "x264-params": f"asm={cap}"}
    dec = av.CodecContext.create("h264", "r")
    sizes, decoded, pts = [], [], 0
    for y in frames:
        vf = av.VideoFrame.from_ndarray(_yuv420(y), format="yuv420p")
        vf.pts = pts
        pts += int(round(1000 / fps))
        for pkt in enc.encode(vf):
            sizes.append(pkt.size)
            decoded.extend(dec.decode(pkt))
    for pkt in enc.encode(None):
        sizes.append(pkt.size)
        decoded.extend(dec.decode(pkt))
    decoded.extend(dec.decode(None))
    return sizes, [luma(d) for d in decoded]


def _probe_encodes(run: FrameRun, fps: float) -> dict[str, float]:
    """The main run encoded in memory at each (size, CRF) of PROBE_PLAN, decoded back.
    The first packet is the intra frame; the cost of a 2 s delivery GOP is estimated as
    (I + (G - 1) * mean inter) / G, because a run is much shorter than a real GOP."""
    out: dict[str, float] = {}
    gop = max(2, int(round(2 * fps)))
    for name, crf in PROBE_PLAN:
        k = dict(PROBE_SIZES)[name]
        frames = [area_down(y, k) for y in run.luma]
        sizes, decoded = _encode_in_memory(frames, fps, crf)
        px = frames[0].shape[0] * frames[0].shape[1]
        i_bpp = sizes[0] * 8 / px
        p_bpp = (float(np.mean(sizes[1:])) if len(sizes) > 1 else sizes[0]) * 8 / px
        est = (i_bpp + (gop - 1) * p_bpp) / gop
        errors = [psnr(np.clip(y + 0.5, 0, 255), d) for y, d in zip(frames, decoded)]
        out[f"probe_{name}_crf{crf}_log_bpp"] = math.log(max(est, 1e-6))
        out[f"probe_{name}_crf{crf}_intra_log_bpp"] = math.log(max(i_bpp, 1e-6))
        out[f"probe_{name}_crf{crf}_inter_ratio"] = p_bpp / max(i_bpp, 1e-9)
        out[f"probe_{name}_crf{crf}_psnr"] = float(np.mean(errors)) if errors else float("nan")
    lo, hi = PROBE_CRFS
    # curve slopes at the small size: dB per doubling of bits, and log-bits per CRF step
    dr = out[f"probe_lo_crf{lo}_log_bpp"] - out[f"probe_lo_crf{hi}_log_bpp"]
    dq = out[f"probe_lo_crf{lo}_psnr"] - out[f"probe_lo_crf{hi}_psnr"]
    out["probe_lo_slope"] = dq / (dr / math.log(2)) if dr > 1e-6 else 0.0
    out["probe_lo_rate_slope"] = dr / (hi - lo)
    return out


def _upscale(y: np.ndarray, shape: tuple[int, int], reformatter) -> np.ndarray:
    import av

    f = av.VideoFrame.from_ndarray(np.clip(y, 0, 255).astype(np.uint8), format="gray")
    g = reformatter.reformat(f, width=shape[1], height=shape[0], interpolation="BICUBIC")
    return g.to_ndarray().astype(np.float32)


NATIVE_PROBE_CRFS = (20, 28)   # about where the top rungs sit (VMAF 90-95 at the native size)
NATIVE_PROBE_FRAMES = 12


def _native_probe(run: FrameRun, fps: float) -> dict[str, float]:
    """The native-resolution crops of the main run encoded in memory with the *analysis* preset
    (x264 medium) at the CRFs where top rungs sit: bits per pixel and PSNR. The level of the top of
    the ladder is set at the source's own size with the real encoder; a small-size or ultrafast probe
    has to extrapolate to it."""
    seqs = [q[:NATIVE_PROBE_FRAMES] for q in run.crop_seqs if len(q) >= 2 and min(q[0].shape) >= 32]
    out: dict[str, float] = {}
    for crf in NATIVE_PROBE_CRFS:
        if not seqs:
            out[f"nat_crf{crf}_log_bpp"] = out[f"nat_crf{crf}_psnr"] = math.nan
            out[f"nat_crf{crf}_inter_ratio"] = math.nan
            continue
        bits, px, err, inter, intra = 0.0, 0, [], [], []
        for seq in seqs:
            frames = [y[: y.shape[0] // 2 * 2, : y.shape[1] // 2 * 2] for y in seq]
            sizes, decoded = _encode_in_memory(frames, fps, crf, "medium")
            h, w = frames[0].shape
            gop = max(2, int(round(2 * fps)))
            i_bits = sizes[0] * 8
            p_bits = (float(np.mean(sizes[1:])) if len(sizes) > 1 else sizes[0]) * 8
            bits += (i_bits + (gop - 1) * p_bits) / gop
            px += h * w
            intra.append(i_bits)
            inter.append(p_bits)
            err.extend(psnr(np.clip(y + 0.5, 0, 255), d) for y, d in zip(frames, decoded))
        out[f"nat_crf{crf}_log_bpp"] = math.log(max(bits / px, 1e-6))
        out[f"nat_crf{crf}_psnr"] = float(np.mean(err))
        out[f"nat_crf{crf}_inter_ratio"] = float(np.mean(inter) / max(np.mean(intra), 1e-9))
    return out


def _crossover_probe(run: FrameRun, fps: float) -> dict[str, float]:
    """Does a smaller size win at equal bits, for this content, at the source's own resolution?

    Native-resolution crops of the main run are encoded in memory at full, half and quarter
    size and two CRFs, decoded, scaled back up (bicubic, as the measurement does) and compared
    with the crops. For half and quarter size, the PSNR gain over full size at the same bits
    per native pixel is read at a low and a high rate. Positive: the smaller size is better.
    That is the question every rung asks, measured directly instead of guessed from texture.
    """
    from av.video.reformatter import VideoReformatter

    ref = VideoReformatter()
    curves: dict[int, list[tuple[float, float]]] = {}
    seqs = [q for q in run.crop_seqs if len(q) >= 2 and min(q[0].shape) >= 64]
    if not seqs:
        # too small to compare sizes (a 32x32 source): no evidence either way, and the
        # full-size probe point comes from the main probe instead
        return {**{f"xo_{k}_{r}": 0.0 for k in (2, 4) for r in ("low", "high")},
                "xo_full_low_log_bpp": math.nan, "xo_full_low_psnr": math.nan,
                "xo_full_high_log_bpp": math.nan, "xo_full_high_psnr": math.nan}
    for k in (1, 2, 4):
        pts = []
        for crf in CROSSOVER_CRFS:
            bits, px, err = 0.0, 0, []
            for seq in seqs:
                seq = seq[:CROSSOVER_FRAMES]
                frames = [area_down(y, k) if k > 1 else y[: y.shape[0] // 4 * 4, : y.shape[1] // 4 * 4]
                          for y in seq]
                sizes, decoded = _encode_in_memory(frames, fps, crf, CROSSOVER_PRESET)
                h, w = frames[0].shape
                bits += sum(sizes) * 8
                px += h * w * k * k * len(frames)
                native = [y[: h * k, : w * k] for y in seq]
                err.extend(psnr(n, _upscale(d, n.shape, ref)) for n, d in zip(native, decoded))
            pts.append((math.log(max(bits / px, 1e-6)), float(np.mean(err))))
        curves[k] = sorted(pts)
    full = curves[1]
    out = {}
    for k in (2, 4):
        xs, ys = [p[0] for p in curves[k]], [p[1] for p in curves[k]]
        for name, (lb, q) in zip(("low", "high"), full):
            # the smaller size's PSNR at the full size's bits (linear in log-bits, extrapolated)
            slope = (ys[1] - ys[0]) / (xs[1] - xs[0]) if xs[1] != xs[0] else 0.0
            out[f"xo_{k}_{name}"] = ys[0] + slope * (lb - xs[0]) - q
    out["xo_full_low_log_bpp"], out["xo_full_low_psnr"] = full[0]
    out["xo_full_high_log_bpp"], out["xo_full_high_psnr"] = full[1]
    return out


def extract(path: str, source=None, allow_references: bool = False, start_s: float = 0.0,
            duration_s: float | None = None) -> dict[str, float]:
    """Feature dict for ``path``, or for its part from ``start_s`` lasting ``duration_s`` (the
    excerpt an analysis measures); a probed :class:`Source` saves re-reading the header."""
    from .probe import open_media, probe, video_stream

    t0 = time.monotonic()
    src = source or probe(path, allow_references)
    w, h = src.reference_size
    fps = float(src.fps)
    aw, ah = analysis_size(w, h)
    start_s = max(0.0, float(start_s or 0.0))
    end_s = src.duration_s if duration_s is None else min(src.duration_s, start_s + float(duration_s))
    if end_s <= start_s:
        start_s, end_s = 0.0, src.duration_s
    span = end_s - start_s
    whole = start_s <= 0.0 and end_s >= src.duration_s
    # One opening: the packet scan, then seeks back for the sampled runs.
    with open_media(path, src.demuxer, allow_references) as c:
        vs = video_stream(c)
        vs.thread_type = "AUTO"
        window = start_pts = None
        if not whole:
            tb = float(vs.time_base)
            base = int(vs.start_time or 0)
            start_pts = base + int(round(start_s / tb))
            window = (start_pts, base + int(round(end_s / tb)))
        info = _scan_packets(c, vs, window)
        runs = _sample_runs(c, vs, info, fps, span, aw, ah, start_pts)
    si, ti, e_vals, h_vals, noise, d2, d4, bright, contrast = [], [], [], [], [], [], [], [], []
    nat_si, nat_e, nat_d2, nat_d4 = [], [], [], []
    for r in runs:
        for crop in r.native_crops or []:
            noise.append(immerkaer_sigma(crop))
            nat_si.append(sobel_std(crop))
            nat_e.append(float(np.mean(block_energy(crop))))
            nat_d2.append(detail_loss_psnr(crop, 2))
            nat_d4.append(detail_loss_psnr(crop, 4))
        prev_e = None
        for i, y in enumerate(r.luma):
            if i % 2 == 0:  # spatial measures change slowly: every other frame is enough
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
    nbytes = sum(info["key_bytes"]) + sum(info["inter_bytes"])
    bpp = nbytes * 8 / (max(span, 1e-3) * w * h * fps)
    feats: dict[str, float] = {
        "width": float(w), "height": float(h), "log_pixels": math.log(w * h), "fps": fps,
        "duration_s": float(span),
        "source_bpp": bpp, "source_log_bpp": math.log(max(bpp, 1e-4)),
        "source_keyframes_per_s": key_n / max(span, 1e-3),
        "source_inter_intra_ratio": float(inter / intra) if key_n and info["inter_bytes"] else 1.0,
        "si_mean": float(np.mean(si)), "si_max": float(np.max(si)),
        "ti_mean": float(np.mean(ti)) if ti else 0.0, "ti_max": float(np.max(ti)) if ti else 0.0,
        "ti_p90_over_mean": float(np.percentile(ti, 90) / max(np.mean(ti), 1e-3)) if ti else 1.0,
        "dct_e": float(np.mean(e_vals)), "dct_h": float(np.mean(h_vals)) if h_vals else 0.0,
        "noise_sigma": float(np.median(noise)) if noise else 0.0,
        "down2_psnr": float(np.mean(d2)), "down4_psnr": float(np.mean(d4)),
        "nat_si": float(np.mean(nat_si)) if nat_si else 0.0,
        "nat_dct_e": float(np.mean(nat_e)) if nat_e else 0.0,
        "nat_down2_psnr": float(np.mean(nat_d2)) if nat_d2 else 60.0,
        "nat_down4_psnr": float(np.mean(nat_d4)) if nat_d4 else 60.0,
        "brightness": float(np.mean(bright)), "contrast": float(np.mean(contrast)),
        "sampled_frames": float(sum(len(r.luma) for r in runs)),
    }
    feats.update(_probe_encodes(runs[0], fps))
    feats.update(_crossover_probe(runs[0], fps))
    feats.update(_native_probe(runs[0], fps))
    feats["feature_s"] = time.monotonic() - t0
    return feats


FEATURE_COLUMNS = [
    "log_pixels", "fps", "source_log_bpp", "source_keyframes_per_s", "source_inter_intra_ratio",
    "si_mean", "si_max", "ti_mean", "ti_max", "ti_p90_over_mean", "dct_e", "dct_h", "noise_sigma",
    "down2_psnr", "down4_psnr", "brightness", "contrast",
    "nat_si", "nat_dct_e", "nat_down2_psnr", "nat_down4_psnr",
    *[f"probe_{s}_crf{q}_{k}" for s, q in PROBE_PLAN for k in ("log_bpp", "intra_log_bpp", "inter_ratio", "psnr")],
    "probe_lo_slope", "probe_lo_rate_slope",
    "xo_2_low", "xo_2_high", "xo_4_low", "xo_4_high", "xo_full_low_log_bpp", "xo_full_low_psnr",
    "xo_full_high_log_bpp", "xo_full_high_psnr",
    *[f"nat_crf{q}_{k}" for q in NATIVE_PROBE_CRFS for k in ("log_bpp", "psnr", "inter_ratio")],
]
"""The features a model may use (bookkeeping columns like feature_s and duration are not)."""

PROBE_COLUMNS = ["fp_log_bpp", "fp_vmaf"]
"""Features of one real encode of the analysed frames (``pipeline.predict.probe_encode``): not
computed here (they need FFmpeg), and used only by models whose feature list names them."""
