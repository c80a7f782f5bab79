"""Quality measurement against known answers, and frame alignment on purpose."""
import json
from fractions import Fraction

import numpy as np
import pytest

from pertitle.encoder import commands as C
from pertitle.core.errors import CacheWarning, MeasurementError
from pertitle.encoder.measure import parse_vmaf_log, parse_xpsnr_log, pool
from pertitle.encoder.measure import measure_many
from pertitle.encoder.sweep import plan_sweep, run_sweep

from .conftest import REFERENCE


def test_matches_ffmpeg_quality_metrics_golden_scores(ff, tmp_path):
    """The distorted 854x480 clip is scaled to 1280x720 (bicubic) and scored; that tool's own
    per-frame numbers must be matched within its tolerance of 0.25."""
    d = REFERENCE / "ffmpeg-quality-metrics"
    if not d.exists():
        pytest.skip("reference data not available")
    golden = json.loads((d / "response.json").read_text())
    spec = C.MeasureSpec(model="vmaf_v0.6.1", psnr=True, ssim=True, threads=2)
    cmd = C.measure_command(ff.path, str(d / "ref-1280x720.mkv"), (1280, 720), Fraction(25),
                            [C.Distorted(str(d / "dist-854x480.mkv"), "v.json")], spec)
    from pertitle.encoder.runner import run

    run(cmd, cwd=str(tmp_path))
    doc = json.loads((tmp_path / "v.json").read_text())
    frames = doc["frames"]
    assert len(frames) == len(golden["vmaf"]) == 3
    for ours, theirs in zip(frames, golden["vmaf"]):
        assert ours["metrics"]["vmaf"] == pytest.approx(theirs["vmaf"], abs=0.25)
    for ours, theirs in zip(frames, golden["psnr"]):
        assert ours["metrics"]["psnr_y"] == pytest.approx(theirs["psnr_y"], abs=0.25)
    for ours, theirs in zip(frames, golden["ssim"]):
        assert ours["metrics"]["float_ssim"] == pytest.approx(theirs["ssim_y"], abs=0.01)
    scores = parse_vmaf_log(str(tmp_path / "v.json"))
    assert scores.vmaf_mean == pytest.approx(np.mean([f["vmaf"] for f in golden["vmaf"]]), abs=0.25)


@pytest.mark.parametrize("container,extra", [
    ("mkv", []),                                   # Matroska: 1 ms time base
    ("mp4", ["-video_track_timescale", "1000"]),   # MP4 forced to 1 ms ticks
    ("mp4", []),
])
def test_lossless_encode_scores_perfectly_on_every_frame(ff, make_clip, cache, tmp_path, container, extra):
    """Alignment on purpose: a lossless encode at the source size must score PSNR 60 (identical,
    libvmaf's 8-bit cap) on every frame; any mis-pairing would show as a dip."""
    from pertitle.encoder.probe import probe

    src = make_clip(f"align.{container}", size="320x180", rate="24000/1001", seconds=1.5,
                    extra_out=extra)
    s = probe(src)
    plan = plan_sweep(s, crfs=[0], heights=[180], gop_seconds=1)
    res = run_sweep(ff, plan, cache, jobs=1)
    [row] = res.rows
    assert row["frames"] == 36
    assert row["psnr_y"] == pytest.approx(60.0, abs=1e-6)
    assert row["vmaf_min"] > 95


def test_measure_many_equals_one_by_one(ff, make_clip, tmp_path):
    """Several encodes scored against one decoded reference give the same scores as one at a time."""
    from pertitle.encoder.probe import probe
    from pertitle.encoder.sweep import encode_one, prepare_reference

    s = probe(make_clip("many.mp4", size="320x180", seconds=1))
    plan = plan_sweep(s, crfs=[24, 36], heights=[180], gop_seconds=1)
    ref = prepare_reference(ff, plan, str(tmp_path))
    outs = [encode_one(ff, ref, plan.reference.fps, e, str(tmp_path), f"e{i}")[0]
            for i, e in enumerate(plan.encodes)]
    together = measure_many(ff, ref, plan.ref_size, plan.reference.fps, outs, plan.measure, str(tmp_path))
    alone = [measure_many(ff, ref, plan.ref_size, plan.reference.fps, [o], plan.measure, str(tmp_path))[0]
             for o in outs]
    for a, b in zip(together, alone):
        assert a["vmaf_mean"] == pytest.approx(b["vmaf_mean"], abs=1e-6)
        assert a["psnr_y"] == pytest.approx(b["psnr_y"], abs=1e-6)
    assert together[0]["vmaf_mean"] > together[1]["vmaf_mean"] + 5  # CRF 24 beats CRF 36


def test_xpsnr_is_measured_when_asked(ff, make_clip, cache):
    from pertitle.encoder.probe import probe

    s = probe(make_clip("xp.mp4", size="320x180", seconds=0.5))
    plan = plan_sweep(s, crfs=[30], heights=[180], measure=C.MeasureSpec(xpsnr=True, ssim=True))
    [row] = run_sweep(ff, plan, cache).rows
    assert 20 < row["xpsnr_y"] < 70 and 0.5 < row["ssim"] <= 1.0


def test_pooling():
    p = pool(np.array([90.0, 90.0, 10.0]))
    assert p["vmaf_mean"] == pytest.approx(63.333, abs=1e-3)
    assert p["vmaf_hmean"] < p["vmaf_mean"]
    assert p["vmaf_min"] == 10.0 and p["vmaf_p5"] < 90
    with pytest.raises(MeasurementError):
        pool(np.array([]))


def test_parse_errors(tmp_path):
    with pytest.raises(MeasurementError, match="no log"):
        parse_vmaf_log(str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(MeasurementError, match="not valid JSON"):
        parse_vmaf_log(str(bad))
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"frames": []}))
    with pytest.raises(MeasurementError, match="no VMAF"):
        parse_vmaf_log(str(empty))
    x = tmp_path / "x.log"
    x.write_text("n:    1  XPSNR y: 40.0  XPSNR u: 45.0  XPSNR v: 44.0\n"
                 "n:    2  XPSNR y: 42.0  XPSNR u: 45.0  XPSNR v: 44.0\n")
    assert parse_xpsnr_log(str(x)) == pytest.approx(41.0)
    assert parse_xpsnr_log(str(tmp_path / "none.log")) is None


def _changing_colour_metadata(ff, tmp_path):
    """A title of two joined parts whose colour tags differ (as joined scenes from different
    sources do): 48 frames tagged BT.709, then 48 tagged BT.601."""
    import subprocess

    parts = []
    for i, (src, csp) in enumerate((("testsrc2", "bt709"), ("mandelbrot", "bt470bg"))):
        out = tmp_path / f"part{i}.mp4"
        subprocess.run([ff.path, "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                        f"{src}=size=320x180:rate=24", "-t", "2", "-c:v", "libx264", "-preset", "ultrafast",
                        "-crf", "20", "-pix_fmt", "yuv420p", "-colorspace", csp, "-color_primaries",
                        "bt709" if csp == "bt709" else "bt470bg", "-color_trc", "bt709" if csp == "bt709" else "gamma28",
                        "-g", "24", "-video_track_timescale", "12288", str(out)], check=True)
        parts.append(out)
    listing = tmp_path / "list.txt"
    listing.write_text("".join(f"file '{p}'\n" for p in parts))
    joined = tmp_path / "joined.mp4"
    subprocess.run([ff.path, "-nostdin", "-loglevel", "error", "-y", "-f", "concat", "-safe", "0", "-i",
                    str(listing), "-c", "copy", str(joined)], check=True)
    return str(joined)


def test_a_title_whose_frame_parameters_change_midway_keeps_every_frame(ff, cache, tmp_path):
    """Without -reinit_filter 0 the filter graph was rebuilt at the change, setpts=N restarted at 0
    and the constant-rate reference silently kept only the first part's frames."""
    from pertitle.encoder.probe import probe

    clip = _changing_colour_metadata(ff, tmp_path)
    plan = plan_sweep(probe(clip), crfs=(30,), heights=(180,), gop_seconds=1)
    assert plan.frames == 96
    [row] = run_sweep(ff, plan, cache).rows
    assert row["frames"] == 96
    # the second part (Mandelbrot) is scored too: a reference of only the first part would give
    # the encode of the test card's 48 frames
    assert row["kbps"] > 0


def test_a_cached_point_of_another_frame_count_is_measured_again(ff, make_clip, cache):
    from pertitle.encoder.probe import probe
    from pertitle.encoder.sweep import point_key
    from pertitle.encoder.cache import fingerprint

    clip = make_clip("frames_check.mp4", seconds=2.0)
    plan = plan_sweep(probe(clip), crfs=(30,), heights=(180,), gop_seconds=1)
    [row] = run_sweep(ff, plan, cache).rows
    key = point_key(plan, fingerprint(plan.source.path), plan.encodes[0], ff.version)
    cache.put(key, {**row, "frames": row["frames"] // 3})           # as if measured on a truncated reference
    with pytest.warns(CacheWarning, match=f"stale cache entry \\(measured on {row['frames'] // 3} frames"):
        res = run_sweep(ff, plan, cache)
    assert res.rows[0]["cached"] is False and res.rows[0]["frames"] == row["frames"]
    assert run_sweep(ff, plan, cache).rows[0]["cached"] is True


def test_colour_tags_of_an_encode_do_not_change_its_score(ff, make_clip, tmp_path):
    """A rendition encoded from the source carries the source's colour tags (BT.709 here); the
    reference carries none. The two must be compared as code values: an encode and the same
    bitstream with BT.709 written into its VUI (no pixel changed) score the same. FFmpeg
    converted the tagged one to the reference's unspecified (BT.601) matrix first: here VMAF 55.6
    instead of 94.7, and a real 720p rendition 95.8 instead of 97.1."""
    from pertitle.encoder.runner import run

    src = make_clip("tagsrc.mp4", size="320x180", seconds=1.0)
    ref = tmp_path / "ref.y4m"
    run([ff.path, "-v", "error", "-y", "-i", src, "-pix_fmt", "yuv420p", "-f", "yuv4mpegpipe", str(ref)])
    plain, tagged = tmp_path / "plain.mp4", tmp_path / "tagged.mp4"
    run([ff.path, "-v", "error", "-y", "-i", str(ref), "-c:v", "libx264", "-preset", "ultrafast", "-crf", "32",
         "-pix_fmt", "yuv420p", str(plain)])
    run([ff.path, "-v", "error", "-y", "-i", str(plain), "-c", "copy", "-bsf:v",
         "h264_metadata=colour_primaries=1:transfer_characteristics=1:matrix_coefficients=1", str(tagged)])
    a, b = measure_many(ff, str(ref), (320, 180), Fraction(24), [str(plain), str(tagged)],
                        C.MeasureSpec(psnr=True), str(tmp_path))
    assert a["vmaf_mean"] < 99    # a real distortion, not a lossless pair
    assert b["vmaf_mean"] == pytest.approx(a["vmaf_mean"], abs=1e-6)
    assert b["psnr_y"] == pytest.approx(a["psnr_y"], abs=1e-6)
