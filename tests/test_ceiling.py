"""The scaling ceiling: each size's VMAF with no encode (the frames scaled to it and back), a
per-size feature of predict's model."""
import json
import math
from fractions import Fraction

import numpy as np
import pytest

from pertitle.encoder import commands as C
from pertitle.encoder.measure import parse_vmaf_log
from pertitle.encoder.probe import probe
from pertitle.encoder.runner import run
from pertitle.encoder.sweep import SharedReference
from pertitle.ladders import model as M
from pertitle.pipeline.common import AnalysisOptions, make_plan
from pertitle.pipeline.predict import CEILING_RUN, needs_ceiling, scaling_ceiling


def test_ceiling_command_scores_runs_of_consecutive_frames(ff, make_clip, tmp_path):
    """100 frames, runs of 8 every 30: frames 0-7, 30-37, 60-67, 90-97 are scored, for every
    size; the native size's scaling is a near no-op (VMAF of a picture against itself)."""
    clip = make_clip("ceil_cmd.mp4", size="320x240", rate=25, seconds=4)
    ref = tmp_path / "ref.y4m"
    run([ff.path, "-v", "error", "-i", clip, "-pix_fmt", "yuv420p", str(ref)])
    cmd = C.ceiling_command(ff.path, str(ref), (320, 240), Fraction(25), [(160, 120), (320, 240)],
                            ["a.json", "b.json"], C.MeasureSpec(), down_scaler="lanczos", period=30, run=8)
    run(cmd, cwd=str(tmp_path))
    small, full = (parse_vmaf_log(str(tmp_path / n)) for n in ("a.json", "b.json"))
    assert small.frames == full.frames == 32
    assert full.vmaf_mean > 97.0                   # the same picture (tolerance: VMAF's own, ~2)
    assert small.vmaf_mean < full.vmaf_mean - 5.0  # half the size loses testsrc2's fine detail
    doc = json.loads((tmp_path / "a.json").read_text())
    assert [f["frameNum"] for f in doc["frames"]] == list(range(32))


def test_ceiling_command_refuses_what_it_cannot_express():
    spec = C.MeasureSpec()
    with pytest.raises(ValueError):
        C.ceiling_command("ffmpeg", "r.y4m", (64, 64), Fraction(25), [(32, 32)], ["a.json", "b.json"], spec,
                          down_scaler="lanczos", period=10, run=4)
    with pytest.raises(ValueError):   # a log name that the filter graph would have to escape
        C.ceiling_command("ffmpeg", "r.y4m", (64, 64), Fraction(25), [(32, 32)], ["a:b.json"], spec,
                          down_scaler="lanczos", period=10, run=4)
    with pytest.raises(ValueError):
        C.ceiling_command("ffmpeg", "r.y4m", (64, 64), Fraction(25), [(32, 32)], ["a.json"], spec,
                          down_scaler="lanczos", period=4, run=8)


def _ceiling(ff, clip, tmp_path):
    plan = make_plan(probe(clip), AnalysisOptions())
    ref = SharedReference(ff, plan, str(tmp_path))
    try:
        return plan, scaling_ceiling(ff, plan, ref, workdir=str(tmp_path))
    finally:
        ref.close()


def test_an_upscaled_source_keeps_its_quality_at_the_size_it_was_made_at(ff, make_clip, tmp_path):
    """What the feature is for: a 640x360 source upscaled from 416x234 loses little at 416x234,
    a native 640x360 source of the same pattern (pixel-fine cells) loses much more there."""
    soft = make_clip("ceil_soft.mp4", size="416x234", rate=24, seconds=2, source="cellauto",
                     vf="scale=640:360:flags=bicubic")
    sharp = make_clip("ceil_sharp.mp4", size="640x360", rate=24, seconds=2, source="cellauto")
    plan, got_soft = _ceiling(ff, soft, tmp_path)
    _, got_sharp = _ceiling(ff, sharp, tmp_path)
    sizes = sorted({(e.width, e.height) for e in plan.encodes}, key=lambda s: s[0] * s[1])
    assert (416, 234) in sizes and sizes[-1] == (640, 360)
    for got in (got_soft, got_sharp):
        assert set(got) == {"ceil_s"} | {M.size_key(c, w, h) for c in M.SIZE_FEATURES for w, h in sizes}
        assert got[M.size_key("ceil_drop", 640, 360)] == 0.0
        # more pixels keep more of the picture (tolerance 1 point between neighbours: VMAF noise)
        v = [got[M.size_key("ceil_vmaf", w, h)] for w, h in sizes]
        assert all(b >= a - 1.0 for a, b in zip(v, v[1:]))
    key = M.size_key("ceil_vmaf", 416, 234)
    assert got_soft[key] > 85.0
    assert got_sharp[key] < got_soft[key] - 10.0
    assert math.isclose(got_sharp[M.size_key("ceil_drop", 416, 234)],
                        got_sharp[M.size_key("ceil_vmaf", 640, 360)] - got_sharp[key])


def test_a_model_reads_each_size_its_own_ceiling():
    """A per-size feature enters the design row of its own size, nowhere else; the shipped
    predict model asks for it, the fast mode's does not (its budget is wall time)."""
    model = M.CurveModel(family="hgb", feature_columns=("log_pixels", "ceil_vmaf"), members=1)
    model.columns_ = ["log_pixels", "ceil_vmaf", *M.ROW_FEATURES]
    feats = {"log_pixels": 10.0, M.size_key("ceil_vmaf", 320, 180): 81.5, M.size_key("ceil_vmaf", 640, 360): 99.0}
    recs, X = model._design_rows(feats, [(320, 180), (640, 360), (480, 270)], [20.0, 30.0], (640, 360))
    col = X[:, 1]
    assert list(col[:4]) == [81.5, 81.5, 99.0, 99.0] and np.isnan(col[4:]).all()
    assert (X[:, 0] == 10.0).all()
    from pertitle.pipeline import models
    assert needs_ceiling(models.new_model(members=1)) and not needs_ceiling(models.new_model(members=1, probe=False))
    assert CEILING_RUN >= 2


def test_the_measurement_is_cached_and_a_cached_one_needs_no_decode(ff, make_clip, tmp_path, cache):
    clip = make_clip("ceil_cache.mp4", size="480x270", rate=24, seconds=1)
    plan = make_plan(probe(clip), AnalysisOptions())
    ref = SharedReference(ff, plan, str(tmp_path))
    try:
        first = scaling_ceiling(ff, plan, ref, cache, workdir=str(tmp_path))
        assert ref.path is not None           # decoded for it
    finally:
        ref.close()
    unused = SharedReference(ff, plan, str(tmp_path))
    again = scaling_ceiling(ff, plan, unused, cache, workdir=str(tmp_path))
    assert unused.path is None                # the cache answered: nothing decoded
    assert {k: v for k, v in again.items() if k != "ceil_s"} == {k: v for k, v in first.items() if k != "ceil_s"}
