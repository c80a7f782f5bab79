"""Ladder policy: choose rungs from the per-resolution curves (pure).

Top rung: the cheapest bitrate whose best resolution reaches the target quality (VMAF 95),
never above ``max_kbps``, and never chasing the last fraction of a point where the curves
saturate (most sources are already lossy). Going down, each rung sits about one JND
(``step_quality``) below the previous one, but the bitrate ratio between neighbours is kept
between ``min_step_ratio`` and ``max_step_ratio`` (on steep curves — text, credits — pure
quality spacing would put rungs a few kbps apart; on flat ones too far). Each rung uses the
resolution that is best at its bitrate, with resolutions non-decreasing up the ladder. When the
whole curve sits below ``min_kbps`` the ladder is legitimately short; ``notes`` says so.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field

from ..core.errors import LadderError
from .curves import Curve, Envelope

POOLINGS = {"mean": "vmaf_mean", "hmean": "vmaf_hmean", "p5": "vmaf_p5"}


@dataclass(frozen=True)
class LadderPolicy:
    top_quality: float = 95.0
    step_quality: float = 6.0
    min_step_ratio: float = 1.5
    max_step_ratio: float = 2.0
    max_rungs: int = 8
    min_kbps: float = 145.0
    max_kbps: float = 8000.0
    min_quality: float = 0.0
    saturation_margin: float = 0.5   # top rung: stop this close to the best reachable quality
    heights: tuple[int, ...] | None = None
    pooling: str = "mean"

    def __post_init__(self) -> None:
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}")
        if not (0 < self.min_kbps < self.max_kbps):
            raise ValueError("need 0 < min_kbps < max_kbps")
        if not (1.0 < self.min_step_ratio <= self.max_step_ratio):
            raise ValueError("need 1 < min_step_ratio <= max_step_ratio")
        if self.max_rungs < 1:
            raise ValueError("max_rungs must be >= 1")
        if self.step_quality <= 0:
            raise ValueError("step_quality must be > 0")

    @property
    def quality_column(self) -> str:
        return POOLINGS[self.pooling]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["heights"] = list(self.heights) if self.heights else None
        return d


@dataclass(frozen=True)
class Rung:
    width: int
    height: int
    kbps: float
    quality: float
    values: dict = field(default_factory=dict)   # other metrics / CRF at this bitrate


@dataclass
class LadderChoice:
    rungs: list[Rung]
    notes: list[str]


def _allowed(curves: list[Curve], policy: LadderPolicy) -> list[Curve]:
    if not policy.heights:
        return curves
    allowed = [c for c in curves if c.height in set(policy.heights)]
    if not allowed:
        raise LadderError(f"none of the allowed heights {list(policy.heights)} was measured")
    return allowed


def _greedy(env: Envelope, b_top: float, floor: float, policy: LadderPolicy,
            step: float, max_ratio: float) -> tuple[list[float], bool]:
    rates = [b_top]
    while True:
        b = rates[-1]
        q = env.quality_at(b)
        if b / floor < policy.min_step_ratio * (1 - 1e-9) or q <= policy.min_quality:
            return rates, True  # no room for another rung above the floor
        target = env.kbps_for_quality(q - step)
        b_next = target if target is not None else floor
        b_next = min(max(b_next, b / max_ratio), b / policy.min_step_ratio)
        b_next = max(b_next, floor)
        if env.quality_at(b_next) < policy.min_quality:
            return rates, True
        if len(rates) == policy.max_rungs:
            return rates, False
        rates.append(b_next)


EVIDENCE_GUARD: float | None = 3.0
"""An ``evidence`` set holds a rung only while its best size there is within this many quality
steps of the envelope (every size's curve) at the rung's bitrate; beyond, the rung takes the
envelope's size as without evidence. The rungs' bitrates are spaced on the envelope, so a rung
held far below it breaks the spacing: a fast analysis of a 3072x1728 title (its prior trained on
another VMAF model's scale) measured 416x234 once, as a cheap point, and 1080p and up only above
500 kbps, and its rung at 281 kbps went to 416x234 at VMAF 28.8 where the 720p curve said 53.
At 3 steps the 480 held-out replays (``bench/search_replay.py``, assignments A/B/C, ``predict``,
``--verify 6``, ``--fast``) are unchanged to the last digit; at 2 steps nearly (fast mean B 0.496
-> 0.491, C 0.857 -> 0.859 %); at 1 step the fast mode's worst window is +28.9 % on A and B
(+7.1 / +5.9 % without): the evidence rule does its work within a few steps."""


def choose_ladder(curves: list[Curve], policy: LadderPolicy,
                  evidence: Callable[[float], set[tuple[int, int]] | Mapping[tuple[int, int], float]]
                  | None = None) -> LadderChoice:
    """Pick the rungs. ``curves`` hold one codec's per-resolution curves in the policy's metric.
    ``evidence(kbps)``, when given, names the sizes eligible at that bitrate (those measured near
    it: :func:`pertitle.ladders.search.evidence_of`; or the two a size model names there:
    :meth:`pertitle.ladders.sizes.SizeModel.eligible`): a rung's size is then chosen among them
    whenever there are any (a decision backed by measurement, not by an extrapolated curve). As a
    mapping it also gives each a handicap in quality points, subtracted for the choice only (how
    far the size's curve there is carried from its measurements); a rung's quality is its curve's."""
    curves = _allowed(list(curves), policy)
    env = Envelope(curves)
    notes: list[str] = []
    floor = max(policy.min_kbps, env.min_kbps)
    ceiling = min(policy.max_kbps, env.max_kbps)
    if floor > policy.max_kbps:
        raise LadderError(f"every measured encode needs more than max_kbps={policy.max_kbps:g}")
    if env.max_kbps < policy.min_kbps:
        # The whole curve sits below the floor: screen content, motion graphics.
        floor = ceiling = env.max_kbps
        notes.append(f"the whole rate-quality curve lies below min_kbps={policy.min_kbps:g}: "
                     "a one-rung ladder")
    best_q = env.quality_at(ceiling)
    target = min(policy.top_quality, best_q - policy.saturation_margin)
    b_top = env.kbps_for_quality(target)
    if b_top is None:
        b_top = ceiling
    b_top = min(max(b_top, floor), ceiling)
    if policy.top_quality > best_q:
        notes.append(f"VMAF {policy.top_quality:g} is not reached within {ceiling:.0f} kbps "
                     f"(best {best_q:.1f}): top rung at the saturation point")
    if b_top == floor and floor > env.min_kbps and env.quality_at(floor) >= policy.top_quality:
        notes.append(f"the target quality is reached below min_kbps={policy.min_kbps:g}")

    step, max_ratio = policy.step_quality, policy.max_step_ratio
    # a step wider than this makes every rung a max_ratio below the one above it
    span = env.quality_at(b_top) - env.quality_at(floor)
    for _ in range(100):
        rates, complete = _greedy(env, b_top, floor, policy, step, max_ratio)
        if complete:
            break
        # Out of rungs before reaching the floor: widen the quality step and try again; adjacent
        # rungs may be more than max_step_ratio apart only when no step fits them all in.
        if step < span:
            step *= 1.1
        else:
            max_ratio *= 1.05
    else:
        notes.append(f"max_rungs={policy.max_rungs} reached before min_kbps: the bottom rung "
                     f"is at {rates[-1]:.0f} kbps")
    if step > policy.step_quality * 1.001:
        notes.append(f"rungs spaced by {step:.1f} quality points (not {policy.step_quality:g}) "
                     f"to fit max_rungs={policy.max_rungs}")
    if max_ratio > policy.max_step_ratio * 1.001:
        notes.append(f"adjacent rungs up to {max_ratio:.2f}x apart (not {policy.max_step_ratio:g}x) "
                     f"to reach min_kbps={policy.min_kbps:g} in max_rungs={policy.max_rungs}")

    # Resolution per rung, from the top: best at that bitrate, never above the rung above.
    rungs: list[Rung] = []
    max_h: int | None = None
    for b in sorted(rates, reverse=True):
        backed = evidence(b) if evidence is not None else None
        c = None
        if backed:
            c, q = env.best(b, max_height=max_h, sizes=backed)
            if c is not None and EVIDENCE_GUARD is not None:
                free, fq = env.best(b, max_height=max_h)
                if free is not None and fq - q > EVIDENCE_GUARD * policy.step_quality:
                    c = None
        if c is None:
            c, q = env.best(b, max_height=max_h)
        if c is None:
            c, q = env.best(b)
        if c is None or math.isnan(q):
            continue
        max_h = c.height
        vals = {k: c.value_at(k, b) for k in c.columns}
        rungs.append(Rung(c.width, c.height, float(b), float(q), vals))
    rungs.reverse()
    if not rungs:
        raise LadderError("no rung could be placed")
    return LadderChoice(rungs, notes)
