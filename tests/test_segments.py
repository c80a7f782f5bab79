"""Sampled excerpts: where they go, and that a sweep over them is a real, joined reference."""
import json

from hypothesis import given
from hypothesis import strategies as st

from fractions import Fraction

import pytest

from pertitle.encoder.sweep import gop_aligned, segment_frames, spread_segments

from .conftest import run


@given(duration=st.floats(1, 20000), n=st.integers(0, 12), seconds=st.floats(0.5, 30))
def test_segments_are_inside_ordered_disjoint_or_absent(duration, n, seconds):
    segs = spread_segments(duration, n, seconds)
    if n == 0 or n * seconds * 2 > duration:
        assert segs == ()
        return
    assert len(segs) == n
    for (a, d), nxt in zip(segs, list(segs[1:]) + [None]):
        assert d == seconds and 0 <= a and a + d <= duration + 1e-3
        if nxt:
            assert a + d <= nxt[0] + 1e-3


def test_segments_are_spread_over_the_title():
    segs = spread_segments(100.0, 4, 3.0)
    assert [s for s, _ in segs] == [11.0, 36.0, 61.0, 86.0]


def test_analyze_on_segments_measures_the_joined_excerpts(make_clip, tmp_path):
    clip = make_clip("seg_src.mp4", size="320x180", rate=10, seconds=12, source="testsrc2")
    out = tmp_path / "seg.ladder.json"
    p = run("analyze", clip, "-o", out, "--segments", "3", "--segment-seconds", "1", "--sampling", "even",
            "--crf", "22,30,38",
            "--heights", "180", "--gop", "1", "--no-cache", "-q")
    assert p.returncode == 0, p.stderr
    doc = json.loads(out.read_text())
    # one GOP each, centred near frames 15, 55, 95: on the title's keyframe grid (every 10 frames), half
    # a frame before frames 20, 60, 100
    assert doc["analysed"]["segments"] == [[1.95, 1.0], [5.95, 1.0], [9.95, 1.0]]
    assert doc["analysed"]["frames"] == 30           # 3 x 1 s at 10 fps, not the 120 of the title
    rd = (tmp_path / "seg.rd.csv").read_text().splitlines()
    header = rd[0].split(",")
    frames = {line.split(",")[header.index("frames")] for line in rd[1:]}
    assert frames == {"30"}
    p = run("analyze", clip, "--segments", "2", "--duration", "4")
    assert p.returncode == 2 and "--segments" in p.stderr


def test_excerpts_that_cut_a_gop_grow_to_whole_gops(make_clip, tmp_path):
    """3 x 1 s with 2-s GOPs: each excerpt becomes one whole GOP (20 frames), so the joined
    reference's keyframes fall on the excerpt starts."""
    clip = make_clip("seg_src.mp4", size="320x180", rate=10, seconds=12, source="testsrc2")
    out = tmp_path / "g.ladder.json"
    p = run("analyze", clip, "-o", out, "--segments", "3", "--segment-seconds", "1", "--sampling", "even",
            "--crf", "30",
            "--heights", "180", "--no-cache", "-q")
    assert p.returncode == 0, p.stderr
    doc = json.loads(out.read_text())
    assert doc["analysed"]["segments"] == [[1.95, 2.0], [5.95, 2.0], [9.95, 2.0]]
    assert doc["analysed"]["frames"] == 60
    rd = (tmp_path / "g.rd.csv").read_text().splitlines()
    assert [line.split(",")[rd[0].split(",").index("frames")] for line in rd[1:]] == ["60"]


@given(duration=st.floats(2, 5000), fps=st.sampled_from([Fraction(24), Fraction(30000, 1001), Fraction(25),
                                                           Fraction(60), Fraction(10)]),
       gop_s=st.sampled_from([1.0, 2.0, 4.0]), segs=st.lists(st.tuples(st.floats(0, 1), st.floats(0.2, 8)),
                                                          min_size=1, max_size=8))
def test_aligned_excerpts_are_whole_gops_inside_the_title_and_stable(duration, fps, gop_s, segs):
    gop = int(round(gop_s * float(fps)))
    total = int(duration * float(fps) + 1e-6)
    chosen = [(round(a * duration, 3), d) for a, d in segs]
    out = gop_aligned(chosen, duration, fps, gop)
    assert len(out) == len(chosen)
    frames = segment_frames(out, fps)
    for (start, dur), n in zip(out, frames):
        first = 0 if start == 0 else int(round(start * float(fps) + 0.5))
        if total >= gop:
            assert n % gop == 0 and n >= gop
        assert first + n <= max(total, n)
        if start:   # half a frame before its first frame
            assert start * float(fps) == pytest.approx(first - 0.5, abs=1e-3)
        if total >= n:  # on the title's keyframe grid
            assert first % gop == 0
    # excerpts inside the title that did not overlap (in frames) still do not (one that runs past
    # the end is moved back inside, possibly over another: 1 s at 0 and 4 s at the end of a 4-s title)
    length = lambda d: max(1, int(d * float(fps) / gop + 0.5)) * gop  # noqa: E731
    spans = sorted((int(round(a * float(fps) + 0.25)), d) for a, d in chosen)
    disjoint = all(a + length(d) <= b for (a, d), (b, _) in zip(spans, spans[1:]))
    inside = all(a + length(d) <= total for a, d in spans)
    if disjoint and inside and total >= gop * len(chosen) * 2:
        firsts = sorted(zip([0 if s == 0 else int(round(s * float(fps) + 0.5)) for s, _ in out], frames))
        assert all(a + n <= b for (a, n), (b, _) in zip(firsts, firsts[1:]))
    assert gop_aligned(out, duration, fps, gop) == out       # idempotent: verify rebuilds the same excerpts
    assert gop_aligned(chosen, duration, fps, 0) == tuple(chosen)
