"""Sampled excerpts: where they go, and that a sweep over them is a real, joined reference."""
import json

from hypothesis import given
from hypothesis import strategies as st

from pertitle.encoder.sweep import spread_segments

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
    p = run("analyze", clip, "-o", out, "--segments", "3", "--segment-seconds", "1", "--crf", "22,30,38",
            "--heights", "180", "--no-cache", "-q")
    assert p.returncode == 0, p.stderr
    doc = json.loads(out.read_text())
    assert doc["analysed"]["segments"] == [[1.5, 1.0], [5.5, 1.0], [9.5, 1.0]]
    assert doc["analysed"]["frames"] == 30           # 3 x 1 s at 10 fps, not the 120 of the title
    rd = (tmp_path / "seg.rd.csv").read_text().splitlines()
    header = rd[0].split(",")
    frames = {line.split(",")[header.index("frames")] for line in rd[1:]}
    assert frames == {"30"}
    p = run("analyze", clip, "--segments", "2", "--duration", "4")
    assert p.returncode == 2 and "--segments" in p.stderr
