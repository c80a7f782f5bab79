"""Which excerpts of a long title to analyse, from the title's own structure (pure).

Input: the title's cuts (scene changes) and a complexity signal over the whole title (the bits a
cheap low-resolution probe encode spends per frame). The title is split into *pieces* (shots,
and long shots cut into pieces of at most ``2 x`` the excerpt length); each piece's complexity is
its probe bitrate. The excerpts are then chosen so that the sample's complexity distribution
matches the title's, weighted by duration:

- one excerpt in the most demanding piece (the hardest content always decides the top rungs);
- the other ``n - 1`` split the title's duration-weighted complexity distribution into equal
  strata (each stands for the same share of the title's time), one excerpt each, in the piece
  closest to its stratum's duration-weighted median — preferring a shot no excerpt is in yet
  (two pieces of one shot are one scene measured twice; another shot of the stratum adds one).

Every excerpt is recorded with the reason it was chosen.
"""
from __future__ import annotations

import bisect
import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

CUT_SCORE = 0.3          # FFmpeg's scene score (0..1) above which a frame starts a new shot
MIN_SHOT_S = 1.0         # cuts closer than this to the previous one are ignored (flashes, strobes)


@dataclass(frozen=True)
class Piece:
    start: float
    end: float
    kbps: float          # probe bitrate over the piece (complexity)
    shot: int = -1       # index of the shot it belongs to (-1: a shot of its own)

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Excerpt:
    start: float
    duration: float
    why: str
    kbps: float


def cuts_from_scores(times: Sequence[float], scores: Sequence[float], threshold: float = CUT_SCORE,
                     min_gap: float = MIN_SHOT_S) -> list[float]:
    """Shot boundaries: frames whose scene score reaches ``threshold``, at least ``min_gap``
    after the previous boundary (and after the start)."""
    out: list[float] = []
    last = 0.0
    for t, s in zip(times, scores):
        if s >= threshold and t - last >= min_gap:
            out.append(float(t))
            last = t
    return out


def shot_frames(cuts: Sequence[float], duration: float, fps: float, min_len: float = MIN_SHOT_S) -> list[tuple[int, int]]:
    """Frame ranges ``[first, end)`` of the shots between ``cuts`` over ``duration`` seconds; a last
    shot shorter than ``min_len`` joins the one before it."""
    edges = [0.0] + [c for c in cuts if 0.0 < c < duration] + [duration]
    if len(edges) > 2 and edges[-1] - edges[-2] < min_len:
        del edges[-2]
    frames = [int(round(t * fps)) for t in edges]
    return [(a, b) for a, b in zip(frames, frames[1:]) if b > a]


def pieces(duration: float, cuts: Sequence[float], frame_times: Sequence[float], frame_bits: Sequence[float],
           max_len: float) -> list[Piece]:
    """Shots between ``cuts``, long ones split evenly into pieces of at most ``max_len``, each with
    its probe bitrate (kbit/s) from the frames inside it."""
    bounds = [0.0] + [c for c in sorted(cuts) if 0.0 < c < duration] + [duration]
    edges: list[float] = []
    shot_of: list[int] = []
    for n, (a, b) in enumerate(zip(bounds, bounds[1:])):
        k = max(1, int(-(-(b - a) // max_len)))
        edges += [a + (b - a) * i / k for i in range(k)]
        shot_of += [n] * k
    edges.append(duration)
    rate = probe_rate(frame_times, frame_bits)
    return [Piece(a, b, rate(a, b), shot) for a, b, shot in zip(edges, edges[1:], shot_of) if b - a > 1e-6]


def probe_rate(frame_times: Sequence[float], frame_bits: Sequence[float]) -> Callable[[float, float], float]:
    """``rate(a, b)``: the probe bitrate (kbit/s) of the frames in ``[a, b)`` (cumulative bits,
    so each window costs two bisections)."""
    order = sorted(range(len(frame_times)), key=lambda i: frame_times[i])
    ts = [float(frame_times[i]) for i in order]
    cum = [0.0]
    for i in order:
        cum.append(cum[-1] + float(frame_bits[i]))

    def rate(a: float, b: float) -> float:
        if b - a <= 0:
            return 0.0
        i, j = bisect.bisect_left(ts, a), bisect.bisect_left(ts, b)
        return (cum[j] - cum[i]) / (b - a) / 1000.0
    return rate


def _window(p: Piece, seconds: float, duration: float) -> tuple[float, float]:
    centre = (p.start + p.end) / 2
    start = min(max(0.0, centre - seconds / 2), max(0.0, duration - seconds))
    return round(start, 3), float(min(seconds, duration))


def _overlaps(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] < b[0] + b[1] and b[0] < a[0] + a[1]


def weighted_quantile(values: Sequence[float], weights: Sequence[float], q: float) -> float:
    pairs = sorted(zip(values, weights))
    total = sum(w for _, w in pairs)
    acc = 0.0
    for v, w in pairs:
        acc += w
        if acc >= q * total - 1e-12:
            return v
    return pairs[-1][0]


def choose_excerpts(ps: Sequence[Piece], duration: float, n: int, seconds: float) -> list[Excerpt]:
    """``n`` excerpts of ``seconds`` (see the module doc), in time order; none when they would
    cover most of the title anyway (analyse it whole)."""
    if n <= 0 or seconds <= 0 or n * seconds * 2 > duration or not ps:
        return []
    chosen: list[Excerpt] = []

    used_shots: set[int] = set()

    def free(p: Piece) -> bool:
        w = _window(p, seconds, duration)
        return all(not _overlaps(w, (c.start, c.duration)) for c in chosen)

    def seen(p: Piece) -> bool:
        return p.shot >= 0 and p.shot in used_shots

    # the most demanding piece, however short: the excerpt centred on it contains it
    top = max(ps, key=lambda p: (p.kbps, -p.start))
    w = _window(top, seconds, duration)
    chosen.append(Excerpt(w[0], w[1], f"the most demanding part ({top.kbps:.0f} kbit/s at probe size, "
                                      f"{top.start:.1f}-{top.end:.1f} s)", top.kbps))
    used_shots.add(top.shot)
    k = n - 1
    values, weights = [p.kbps for p in ps], [p.duration for p in ps]
    for s in range(k):
        lo, hi = s / k, (s + 1) / k
        lo_v = weighted_quantile(values, weights, lo) if s else min(values)
        hi_v = weighted_quantile(values, weights, hi)
        target = weighted_quantile(values, weights, (lo + hi) / 2)
        stratum = [p for p in ps if lo_v <= p.kbps <= hi_v] or list(ps)
        candidates = sorted(stratum, key=lambda p: (seen(p), abs(p.kbps - target), -p.duration, p.start))
        pick = next((p for p in candidates if free(p)), None)
        if pick is None:
            pick = next((p for p in sorted(ps, key=lambda p: (seen(p), abs(p.kbps - target), p.start)) if free(p)),
                        None)
        if pick is None:
            break
        w = _window(pick, seconds, duration)
        used_shots.add(pick.shot)
        chosen.append(Excerpt(w[0], w[1], f"complexity stratum {s + 1} of {k} (the {100 * lo:.0f}-{100 * hi:.0f} % "
                                          f"of the title's time between {lo_v:.0f} and {hi_v:.0f} kbit/s; this part "
                                          f"{pick.kbps:.0f} kbit/s, {pick.start:.1f}-{pick.end:.1f} s)", pick.kbps))
    return sorted(chosen, key=lambda e: e.start)


def coverage(ps: Sequence[Piece], excerpts: Sequence[Excerpt]) -> dict:
    """How the sample's complexity compares with the title's (duration-weighted mean and
    quartiles, kbit/s at the probe size)."""
    values, weights = [p.kbps for p in ps], [p.duration for p in ps]
    title = {q: weighted_quantile(values, weights, q) for q in (0.25, 0.5, 0.75)}
    mean = sum(v * w for v, w in zip(values, weights)) / sum(weights)
    sample = sorted(e.kbps for e in excerpts)
    return {"title_mean_kbps": round(mean, 1), "title_quartiles_kbps": [round(title[q], 1) for q in (0.25, 0.5, 0.75)],
            "sample_mean_kbps": round(sum(sample) / len(sample), 1) if sample else None,
            "pieces": len(ps)}


def stratum_weights(ps: Sequence[Piece], excerpt_kbps: Sequence[float]) -> list[float]:
    """The share of the title each excerpt stands for: every piece goes to the excerpt whose probe
    bitrate is nearest its own (log scale; ties to the earlier excerpt), and an excerpt weighs the
    duration of its pieces over the title's (post-stratification by complexity). Equal weights
    would give the always-included hardest piece a full 1/N of the title however short it is."""
    n = len(excerpt_kbps)
    if n == 0:
        return []
    logs = [math.log(max(k, 1e-3)) for k in excerpt_kbps]
    dur = [0.0] * n
    for p in ps:
        lp = math.log(max(p.kbps, 1e-3))
        i = min(range(n), key=lambda i: (abs(lp - logs[i]), i))
        dur[i] += p.duration
    total = sum(dur)
    return [d / total for d in dur] if total > 0 else [1.0 / n] * n


def pooled_row(row: Mapping, weights: Sequence[float]) -> dict:
    """``row`` (one encode of the joined excerpts, with each excerpt's own bitrate and VMAF in
    ``parts``) as the title's estimate: bitrate and mean VMAF are the excerpts' weighted means, the
    harmonic-mean VMAF their weighted harmonic mean, the minimum the lowest excerpt's. The joined
    stream's own values are kept as ``sample_kbps`` and ``sample_vmaf_mean``; rows without one part
    per weight come back unchanged."""
    parts = row.get("parts") or []
    if not weights or len(parts) != len(weights) or "sample_kbps" in row:
        return dict(row)
    out = dict(row)
    out["sample_kbps"], out["sample_vmaf_mean"] = row.get("kbps"), row.get("vmaf_mean")
    out["kbps"] = round(sum(w * p["kbps"] for w, p in zip(weights, parts)), 3)
    out["vmaf_mean"] = round(sum(w * p["vmaf_mean"] for w, p in zip(weights, parts)), 4)
    if all("vmaf_hmean" in p for p in parts):
        out["vmaf_hmean"] = round(1.0 / sum(w / (p["vmaf_hmean"] + 1.0) for w, p in zip(weights, parts)) - 1.0, 4)
    if all("vmaf_min" in p for p in parts):
        out["vmaf_min"] = min(p["vmaf_min"] for w, p in zip(weights, parts) if w > 0)
    return out


def sample_rate_ratios(rows: Sequence[Mapping]) -> dict[tuple[int, int], float]:
    """Per size, the joined excerpts' own bitrate over the title's weighted estimate (median over
    the size's pooled points): what a rate-mode encode of the excerpts must aim at for its
    weighted bitrate to be a rung's (``verify``)."""
    by: dict[tuple[int, int], list[float]] = {}
    for r in rows:
        s, k = r.get("sample_kbps"), r.get("kbps")
        if isinstance(s, (int, float)) and isinstance(k, (int, float)) and s > 0 and k > 0:
            by.setdefault((int(r["width"]), int(r["height"])), []).append(float(s) / float(k))
    return {size: statistics.median(v) for size, v in by.items()}
