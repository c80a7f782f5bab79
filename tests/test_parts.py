"""Per-part view: each excerpt's / shot's own bitrate and VMAF inside the title's trial encodes,
its own ladder, and which part drives the title's top rung (issue 12, item 4)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pertitle.core.errors import MeasurementError
from pertitle.encoder.measure import pool_parts
from pertitle.ladders.parts import part_rows, part_view
from pertitle.ladders.policy import LadderPolicy
from pertitle.ladders.report import parts_section
from pertitle.ladders.sampling import shot_frames

from .conftest import run


def test_pool_parts_sums_each_parts_bytes_and_pools_its_frames():
    sizes = [1000] * 10 + [3000] * 10
    vmaf = [90.0] * 10 + [70.0] * 5 + [80.0] * 5
    p = pool_parts([(0, 10), (10, 20)], sizes, vmaf, fps=25.0)
    assert p[0]["kbps"] == pytest.approx(1000 * 8 * 25 / 1000)     # 200 kbit/s
    assert p[1]["kbps"] == pytest.approx(3000 * 8 * 25 / 1000)     # 600 kbit/s
    assert p[0]["vmaf_mean"] == pytest.approx(90.0) and p[0]["vmaf_min"] == pytest.approx(90.0)
    assert p[1]["vmaf_mean"] == pytest.approx(75.0) and p[1]["vmaf_min"] == pytest.approx(70.0)


def test_pool_parts_maps_subsampled_scores_to_their_frames():
    # every 3rd frame scored: frames 0,3,6,9 -> scores 10,20,30,40; part [4, 10) holds frames 6 and 9
    p = pool_parts([(0, 4), (4, 10)], [1] * 10, [10.0, 20.0, 30.0, 40.0], fps=10.0, subsample=3)
    assert p[0]["vmaf_mean"] == pytest.approx(15.0)
    assert p[1]["vmaf_mean"] == pytest.approx(35.0)


def test_pool_parts_refuses_a_part_outside_the_encode():
    with pytest.raises(MeasurementError):
        pool_parts([(0, 5), (5, 12)], [1] * 10, [50.0] * 10, fps=25.0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 40), min_size=1, max_size=6), st.integers(0, 2**31 - 1))
def test_the_parts_frame_weighted_bitrate_is_the_encodes(lengths, seed):
    rng = np.random.default_rng(seed)
    n = sum(lengths)
    sizes = [int(x) for x in rng.integers(1, 50_000, n)]
    vmaf = list(rng.uniform(0, 100, n))
    edges = np.cumsum([0] + lengths)
    bounds = list(zip(edges[:-1].tolist(), edges[1:].tolist()))
    parts = pool_parts(bounds, sizes, vmaf, fps=30.0)
    total_kbps = sum(sizes) * 8 * 30.0 / n / 1000
    assert sum(p["kbps"] * ln for p, ln in zip(parts, lengths)) / n == pytest.approx(total_kbps, rel=1e-4)
    assert sum(p["vmaf_mean"] * ln for p, ln in zip(parts, lengths)) / n == pytest.approx(np.mean(vmaf), abs=1e-3)


def test_shot_frames_cover_the_title_and_fold_a_short_tail():
    assert shot_frames([2.0, 5.0], 8.0, 25.0) == [(0, 50), (50, 125), (125, 200)]
    assert shot_frames([2.0, 7.6], 8.0, 25.0) == [(0, 50), (50, 200)]     # 0.4-s tail joins its shot
    assert shot_frames([], 3.0, 24.0) == [(0, 72)]


def _rows(bounds):
    """Two parts at two sizes: part 0 easy (high VMAF for few bits), part 1 hard."""
    rows = []
    for (w, h), scale in (((640, 360), 1.0), ((320, 180), 0.6)):
        for kbps in (100, 200, 400, 800, 1600, 3200):
            easy = min(100.0, 60 + 12 * np.log2(kbps * scale / 100))
            hard = min(100.0, 30 + 12 * np.log2(kbps * scale / 100))
            rows.append({"width": w, "height": h, "crf": None, "kbps": kbps, "vmaf_mean": (easy + hard) / 2,
                         "parts": [{"kbps": kbps * 0.5, "vmaf_mean": easy}, {"kbps": kbps * 1.5, "vmaf_mean": hard}],
                         "parts_frames": [list(b) for b in bounds]})
    return rows


def test_the_hard_part_drives_the_top_rung_and_the_title_ladder_is_scored_on_each_part():
    bounds = [(0, 50), (50, 100)]
    rows = _rows(bounds)
    ladder = [{"width": 640, "height": 360, "bitrate_kbps": 800}]
    view = part_view(rows, bounds, 25.0, [{"start_s": 0.0, "duration_s": 2.0}, {"start_s": 2.0, "duration_s": 2.0}],
                     ladder, LadderPolicy(), "shots")
    assert view["kind"] == "shots" and view["drives_top"] == 1 and view["easiest"] == 0
    easy, hard = view["items"]
    assert hard["top_kbps"] > easy["top_kbps"]
    assert view["top_kbps_range"] == [easy["top_kbps"], hard["top_kbps"]]
    # the title's 800-kbit/s rung is worse on the hard part than on the easy one
    assert hard["title_rungs_vmaf"][0] < easy["title_rungs_vmaf"][0]
    assert all(r["vmaf"] <= 100 for r in hard["rungs"])


def test_rows_measured_with_other_boundaries_are_left_out():
    rows = _rows([(0, 50), (50, 100)])
    assert part_rows(rows, [(0, 40), (40, 100)], 0) == []
    assert part_view(rows, [(0, 40), (40, 100)], 25.0, [{"start_s": 0}, {"start_s": 1.6}], [], LadderPolicy(),
                     "shots") is None
    assert len(part_rows(rows, [(0, 50), (50, 100)], 1)) == len(rows)


def test_the_report_shows_each_part_and_marks_the_driver():
    bounds = [(0, 50), (50, 100)]
    ladder = [{"width": 640, "height": 360, "bitrate_kbps": 800, "vmaf": 90.0}]
    view = part_view(_rows(bounds), bounds, 25.0, [{"start_s": 0.0, "duration_s": 2.0, "why": "a <b>"},
                                                   {"start_s": 2.0, "duration_s": 2.0}], ladder, LadderPolicy(), "shots")
    doc = {"rungs": ladder, "parts": view, "source": {"duration_s": 4.0}}
    html = parts_section(doc)
    assert "Per shot: which scenes drive the ladder" in html
    assert html.count('class="pt part"') == 2
    assert "drives the top rung" in html and "a &lt;b&gt;" in html and "a <b>" not in html


# ------------------------------------------------------------------------------------------
# Real FFmpeg: a title of two shots, one still and one noisy
# ------------------------------------------------------------------------------------------

TWO_SHOTS = ("smptebars=size=320x180:rate=24:d=3[a];testsrc2=size=320x180:rate=24:d=3,"
             "noise=alls=40:allf=t[b];[a][b]concat=n=2[out0]")


def test_per_shot_finds_the_shots_of_a_real_title_and_the_noisy_one_drives(make_clip, tmp_path):
    clip = make_clip("twoshots.mp4", seconds=6.0, source=TWO_SHOTS)
    lad = tmp_path / "shots.json"
    p = run("analyze", clip, "-o", lad, "--per-shot", "--crf", "22,30,38", "--gop", "1", "--heights", "180,90",
            "--report", tmp_path / "r.html", "--cache", tmp_path / "cache", "-j", "2")
    assert p.returncode == 0, p.stderr
    doc = json.loads(lad.read_text())
    view = doc["parts"]
    assert view["kind"] == "shots" and len(view["items"]) == 2
    still, noisy = view["items"]
    assert still["start_s"] == 0.0 and noisy["start_s"] == pytest.approx(3.0, abs=0.05)
    assert still["frames"] + noisy["frames"] == doc["analysed"]["frames"]
    assert view["drives_top"] == 1 and noisy["top_kbps"] > 2 * still["top_kbps"]
    # the parts' frame-weighted bitrate is the title's, for every trial encode (RD CSV holds the title's)
    assert "Per shot: which scenes drive the ladder" in (tmp_path / "r.html").read_text()


def test_per_shot_is_refused_with_excerpts_or_fast(make_clip, tmp_path):
    clip = make_clip("twoshots.mp4", seconds=6.0, source=TWO_SHOTS)
    for extra in (["--segments", "2"], ["--fast"], ["--start", "1"]):
        p = run("analyze", clip, "-o", tmp_path / "x.json", "--per-shot", *extra)
        assert p.returncode == 2 and "--per-shot" in p.stderr, p.stderr
