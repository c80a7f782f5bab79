"""The analysis pipeline end to end on generated clips (real FFmpeg)."""
import subprocess

import numpy as np
import pytest

from pertitle.encoder import commands as C
from pertitle.pipeline.analyze import analyze
from pertitle.pipeline.common import AnalysisOptions
from pertitle.encoder.cache import Cache
from pertitle.ladders.document import validate

from .conftest import damaged_copy

FAST = dict(crfs=(20, 28, 36, 44), duration_s=None, gop_seconds=1.0)


def test_analyze_tiny_clip_writes_a_valid_ladder(ff, make_clip, cache):
    src = make_clip("mandel.mp4", size="480x270", seconds=1, source="mandelbrot")
    a = analyze(src, AnalysisOptions(**FAST, jobs=2), ff, cache)
    doc = a.document
    validate(doc)
    assert doc["kind"] == "analyzed" and doc["codec"] == "libx264"
    assert doc["source"]["width"] == 480 and doc["source"]["sha256"]
    rates = [r["bitrate_kbps"] for r in doc["rungs"]]
    assert rates == sorted(rates)
    sizes = {(c["width"], c["height"]) for c in doc["curves"]}
    assert sizes <= {(416, 234), (480, 270)}
    df = a.rd_frame()
    assert len(df) == 8 and set(df.height) == {234, 270}
    assert (df.kbps > 0).all() and df.vmaf_mean.between(0, 100).all()
    # Within a resolution, a lower CRF never costs fewer bits.
    for _, g in df.groupby("height"):
        g = g.sort_values("crf")
        assert g.kbps.is_monotonic_decreasing
    assert doc["sweep"]["encodes"] == 8 and doc["sweep"]["cached"] == 0
    # each rung's expected quality comes from a measured curve at its own size
    for r in doc["rungs"]:
        assert (r["width"], r["height"]) in sizes
        assert r["encoder"]["ffmpeg_args"][:2] == ["-vf", f"scale={r['width']}:{r['height']}:flags=lanczos,setsar=1"]


def test_rerun_is_served_from_the_cache(ff, make_clip, cache):
    src = make_clip("cached.mp4", size="320x180", seconds=1)
    opts = AnalysisOptions(crfs=(24, 36), heights=(180,), jobs=1)
    first = analyze(src, opts, ff, cache)
    second = analyze(src, opts, ff, cache)
    assert first.document["sweep"]["cached"] == 0
    assert second.document["sweep"]["cached"] == 2 and second.document["sweep"]["measured"] == 0
    assert second.document["rungs"] == first.document["rungs"]
    # another measurement setting is another key
    third = analyze(src, AnalysisOptions(crfs=(24, 36), heights=(180,), vmaf_model="vmaf_v0.6.1neg"), ff, cache)
    assert third.document["sweep"]["cached"] == 0


def test_cache_is_keyed_by_content_not_path(ff, make_clip, cache, tmp_path):
    import shutil

    src = make_clip("content.mp4", size="320x180", seconds=1)
    copy = tmp_path / "renamed copy.mp4"
    shutil.copy(src, copy)
    opts = AnalysisOptions(crfs=(30,), heights=(180,))
    analyze(src, opts, ff, cache)
    again = analyze(str(copy), opts, ff, cache)
    assert again.document["sweep"]["cached"] == 1


@pytest.mark.parametrize("kind", ["vfr", "tenbit", "fullrange", "odd", "anamorphic", "rotated", "interlaced"])
def test_unusual_sources_are_analysed(ff, make_clip, tmp_path, kind):
    clips = {
        "vfr": dict(name="vfr.mkv", rate=30, vf="select='not(mod(n\\,3))+not(mod(n\\,7))',setpts=PTS",
                    extra_out=["-fps_mode", "vfr"]),
        "tenbit": dict(name="ten.mkv", pix_fmt="yuv420p10le"),
        "fullrange": dict(name="full.mp4", pix_fmt="yuvj420p"),
        "odd": dict(name="odd.mkv", vf="scale=321:181", pix_fmt="yuv444p"),
        "anamorphic": dict(name="ana.mp4", size="360x240", vf="setsar=32/27"),
        "rotated": dict(name="unrot.mp4"),
        "interlaced": dict(name="int.mp4", vf="tinterlace=mode=interleave_top,setfield=tff",
                           codec=["-c:v", "libx264", "-preset", "ultrafast", "-flags", "+ilme+ildct"]),
    }[kind]
    args = {"size": "320x180", "seconds": 1, **clips}
    src = make_clip(**args)
    if kind == "rotated":
        rot = str(tmp_path / "rot.mp4")
        subprocess.run([ff.path, "-loglevel", "error", "-y", "-display_rotation", "90", "-i", src,
                        "-c", "copy", rot], check=True)
        src = rot
    a = analyze(src, AnalysisOptions(crfs=(22, 34), jobs=2, gop_seconds=1), ff, Cache(None))
    validate(a.document)
    ref_w = a.document["analysed"]["reference_width"]
    ref_h = a.document["analysed"]["reference_height"]
    assert ref_w % 2 == 0 and ref_h % 2 == 0
    if kind == "rotated":
        assert ref_h > ref_w  # upright portrait
        assert all(r["height"] > r["width"] for r in a.document["rungs"])
    if kind == "anamorphic":
        assert {(c["width"], c["height"]) for c in a.document["curves"]} >= {(426, 240)}
    if kind in ("vfr", "tenbit", "fullrange", "odd", "interlaced"):
        assert a.document["notes"], "the normalisation is reported"
    # The best encode of the normalised reference is close to it: nothing is misaligned.
    best = a.rd_frame().sort_values("vmaf_mean").iloc[-1]
    assert best.vmaf_mean > 85


def test_notes_name_one_rung_or_several_in_agreement():
    from pertitle.pipeline.common import rungs_phrase

    assert rungs_phrase([0]) == "rung 0 is"
    assert rungs_phrase([0, 2]) == "rungs 0, 2 are"


def test_the_unbacked_note_agrees_with_its_rungs_and_ends_with_the_advice():
    from pertitle.pipeline.common import unbacked_note

    assert unbacked_note([1], ": more --verify encodes") == (
        "rung 1 is not backed by a measurement of its size and the next larger one near the rung's "
        "bitrate: more --verify encodes")
    assert unbacked_note([0, 1], "!").startswith("rungs 0, 1 are not backed by a measurement of their size")


def test_a_stream_whose_size_and_format_change_midway_gives_a_whole_reference(ff, make_clip, tmp_path):
    """Two MPEG-TS streams joined (640x360 4:2:0, then 320x240 4:4:4): the reference graph is not
    rebuilt when frames change (a rebuilt one restarts its frame numbering), so the later frames
    were read as if they had the first one's size and format — a garbled second half, analysed
    silently. They are scaled to the first frame's size and format first: each half of the
    reference is its own picture, and a near-lossless encode of it scores high on every frame."""
    from pertitle.encoder.probe import probe
    from pertitle.encoder.runner import run as run_ff
    from pertitle.encoder.sweep import plan_sweep

    a = make_clip("a.ts", size="640x360", rate=25, seconds=1.0, extra_out=["-f", "mpegts"])
    b = make_clip("b.ts", size="320x240", rate=25, seconds=1.0, source="testsrc", pix_fmt="yuv444p",
                  extra_out=["-f", "mpegts"])
    joined = tmp_path / "joined.ts"
    joined.write_bytes(open(a, "rb").read() + open(b, "rb").read())
    s = probe(str(joined))
    plan = plan_sweep(s, crfs=[30], heights=[360])
    y4m = tmp_path / "ref.y4m"
    run_ff(C.reference_command(ff.path, plan.reference, str(y4m)))
    frames = read_y4m_luma(y4m, 640, 360)
    assert len(frames) == 50
    # the second half is b scaled to 640x360 (a garbled frame has 4:4:4 planes read as 4:2:0
    # rows of another size: a mean luma difference of ~97 here before)
    expect = tmp_path / "b.y4m"
    run_ff([ff.path, "-v", "error", "-y", "-i", b, "-vf", "scale=640:360,format=yuv420p", "-f", "yuv4mpegpipe", str(expect)])
    want = read_y4m_luma(expect, 640, 360)
    assert np.abs(frames[30].astype(float) - want[5].astype(float)).mean() < 3.0
    res = analyze(str(joined), AnalysisOptions(crfs=(16,), heights=(360,), gop_seconds=1, jobs=2), ff, Cache(None))
    assert res.rd_frame().vmaf_mean.min() > 90
    # ... and the document says so, with where (b's first frame: 1 s in)
    said = [n for n in res.document["notes"] if n.startswith("the picture changes size or format midway")]
    assert len(said) == 1 and "640x360 to 320x240 at 1.00 s" in said[0] and "scaled to 640x360" in said[0], said
    steady = analyze(a, AnalysisOptions(crfs=(16,), heights=(360,), gop_seconds=1), ff, Cache(None))
    assert not [n for n in steady.document["notes"] if "midway" in n]


def read_y4m_luma(path, w: int, h: int) -> list:
    """The luma planes of a 4:2:0 Y4M file."""
    data = open(path, "rb").read()
    out, i = [], data.index(b"\n") + 1
    while i < len(data):
        assert data[i:i + 5] == b"FRAME"
        start = data.index(b"\n", i) + 1
        out.append(np.frombuffer(data[start:start + w * h], np.uint8).reshape(h, w))
        i = start + w * h * 3 // 2
    return out


def test_excerpts_of_an_mpeg_ts_begin_where_asked(ff, make_clip, tmp_path):
    """MPEG-TS (and MPEG-PS) seeks land on the keyframe *after* the time asked for: an excerpt
    from 2.5 s of a TS with 1-s GOPs began at 3 s (the reference was another part of the title
    than the document said), and one after the last keyframe had no frame at all (every trial
    encode then failed). The reference now seeks a keyframe interval earlier and trims: its
    frames equal those of the same packets in MP4 (whose seek is exact), for one excerpt, for
    spread segments, and for an excerpt after a single keyframe; the stream starts at 100 s."""
    from pertitle.encoder.probe import probe
    from pertitle.encoder.runner import run as run_ff
    from pertitle.encoder.sweep import plan_sweep, prepare_reference

    x264 = ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"]   # with B-frames
    for gop in (25, 250):
        ts = make_clip(f"seek{gop}.ts", size="320x180", rate=25, seconds=6.0, codec=[*x264, "-g", str(gop)],
                       extra_out=["-output_ts_offset", "100", "-f", "mpegts"])
        mp4 = tmp_path / f"seek{gop}.mp4"
        run_ff([ff.path, "-v", "error", "-y", "-i", ts, "-c", "copy", str(mp4)])
        cases = [dict(start_s=2.5, duration_s=1.0), dict(start_s=4.3), dict(segments=3, segment_s=1.0)]
        for case in cases:
            refs = []
            for path in (ts, str(mp4)):
                src = probe(path)
                plan = plan_sweep(src, crfs=[30], heights=[180], **case)
                work = tmp_path / f"{gop}-{len(refs)}-{case.get('start_s', 's')}"
                work.mkdir()
                refs.append(read_y4m_luma(prepare_reference(ff, plan, str(work)), 320, 180))
            assert len(refs[0]) == len(refs[1]) > 0, (gop, case)
            assert all(np.array_equal(a, b) for a, b in zip(*refs)), (gop, case)
        assert probe(ts).key_interval_s == pytest.approx(1.0 if gop == 25 else 6.0, abs=0.1)


def test_a_video_that_starts_after_the_audio(ff, tmp_path):
    """A file whose audio runs 0-10 s and whose video runs 3-9 s was refused as "truncated" (the
    header's 10 s against 6 s of video); and FFmpeg's -ss counts from the file's start while the
    excerpts' times count from the video's. Now the probe says so, and every excerpt equals the
    same one of the video alone."""
    from pertitle.encoder.probe import probe
    from pertitle.encoder.sweep import plan_sweep, prepare_reference

    late = str(tmp_path / "late.mp4")
    subprocess.run([ff.path, "-v", "error", "-f", "lavfi", "-i", "sine=d=10", "-itsoffset", "3", "-f", "lavfi",
                    "-i", "testsrc2=s=320x180:r=25:d=6", "-map", "0", "-map", "1", "-c:v", "libx264",
                    "-preset", "veryfast", "-g", "50", "-c:a", "aac", late], check=True)
    alone = str(tmp_path / "alone.mp4")
    subprocess.run([ff.path, "-v", "error", "-i", late, "-map", "0:v", "-c", "copy", alone], check=True)
    s = probe(late)
    assert s.video_start_s == pytest.approx(3.0, abs=0.05) and s.duration_s == pytest.approx(6.0, abs=0.1)
    assert any("starts 3.00 s into the file" in w for w in s.warnings)
    assert probe(alone).video_start_s == 0.0
    for case in (dict(start_s=1.0, duration_s=2.0), dict(duration_s=2.0), dict(segments=2, segment_s=1.0)):
        refs = []
        for path in (late, alone):
            work = tmp_path / f"{len(refs)}-{sorted(case.items())}"
            work.mkdir()
            plan = plan_sweep(probe(path), crfs=[30], heights=[180], **case)
            refs.append(read_y4m_luma(prepare_reference(ff, plan, str(work)), 320, 180))
        assert len(refs[0]) == len(refs[1]) > 0, case
        assert all(np.array_equal(a, b) for a, b in zip(*refs)), case


def test_run_shows_every_line_of_stderr_and_a_decode_log_counts_them():
    """The reference decode's log is read over all of FFmpeg's stderr, not the tail kept for
    error messages; a size change is read off FFmpeg's own line."""
    import sys

    from pertitle.encoder.runner import STDERR_TAIL_LINES, run
    from pertitle.encoder.sweep import DecodeLog

    n = 3 * STDERR_TAIL_LINES
    change = ("[graph -1 input from stream 0:0 @ 0x1] filter context - w: 640 h: 360 fmt: 0 csp: unknown "
              "range: unknown alpha: unspecified, incoming frame - w: 320 h: 240 fmt: 5 csp: unknown range: "
              "unknown alpha: unspecified pts_time: 2.04")
    code = (f"import sys\nfor i in range({n}):\n    print('x corrupt decoded frame' if i % 3 == 0 "
            "else 'y Error submitting packet to decoder: z', file=sys.stderr)\n"
            f"print({change!r}, file=sys.stderr)")
    log = DecodeLog()
    assert run([sys.executable, "-c", code], on_line=log) is None
    assert log.record() == {"corrupt_frames": n // 3, "rejected_packets": n - n // 3, "frame_changes": 1,
                            "changes": [[640, 360, 320, 240, 2.04]]}


def test_a_damaged_source_is_said_in_every_mode_and_from_the_cache(ff, make_clip, tmp_path):
    """A source whose decode meets damage: the document says how many packets the decoder
    rejected (the count FFmpeg's own decode of the file reports) and in how many frames it
    concealed errors, also when every point comes from the cache and nothing is decoded; an
    intact source gets no such note. (How many frames come out corrupt can differ by one or two
    from one decode to the next: FFmpeg's frame threads conceal a damaged frame from whatever
    reference they have reached.)"""
    import re

    from pertitle.encoder import sweep
    from pertitle.pipeline.predict import predict_ladder

    src = make_clip("damage-src.mp4", size="320x180", seconds=3, codec=["-c:v", "libx264", "-g", "24"])
    opts = AnalysisOptions(crfs=(30,), heights=(180,))

    def ffmpeg_says(path):   # FFmpeg's own account of decoding the whole file (one thread: repeatable)
        err = subprocess.run([ff.path, "-nostdin", "-hide_banner", "-loglevel", "repeat+warning", "-threads", "1",
                              "-i", path, "-f", "null", "-"], capture_output=True, text=True).stderr
        return err.count("corrupt decoded frame"), err.count("Error submitting packet to decoder")

    for seed in range(20):
        dst = tmp_path / f"damaged-{seed}.mp4"
        damaged_copy(src, dst, seed)
        corrupt, rejected = ffmpeg_says(str(dst))
        if corrupt and rejected:
            break
    assert corrupt and rejected, "no damage FFmpeg reports both ways: the test proves nothing"
    dst = str(dst)

    def said(doc):
        notes = [n for n in doc["notes"] if n.startswith("the source is damaged")]
        assert len(notes) == 1, doc["notes"]
        m = re.search(r"rejected (\d+) packets? and concealed errors in (\d+) frames?", notes[0])
        assert m, notes[0]
        assert int(m[1]) == rejected and 1 <= int(m[2]) <= 72   # 72 frames in the clip
        return notes[0]

    root = str(tmp_path / "cache")
    first = said(analyze(dst, opts, ff, Cache(root)).document)
    sweep._decode_seen.clear()                     # a later process: only the cache knows
    again = analyze(dst, opts, ff, Cache(root)).document
    assert again["sweep"]["cached"] == again["sweep"]["encodes"] == 1 and said(again) == first
    sweep._decode_seen.clear()
    said(predict_ladder(dst, opts, ff=ff, cache=Cache(None)))   # decoded for the probe encode
    assert ffmpeg_says(src) == (0, 0)
    assert not [n for n in analyze(src, opts, ff, Cache(root)).document["notes"] if "damaged" in n]
