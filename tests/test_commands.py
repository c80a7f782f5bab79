from fractions import Fraction
from dataclasses import replace

import pytest

from pertitle.core import codecs as K
from pertitle.encoder import commands as C


def test_x264_crf_encode_argv_exact():
    spec = K.EncodeSpec(codec="libx264", width=640, height=360, crf=23, gop=48, threads=1)
    [cmd] = C.encode_commands("ffmpeg", "/w/ref.y4m", Fraction(24), spec, "/w/out.mkv")
    assert cmd == [
        "ffmpeg", "-nostdin", "-hide_banner", "-nostats", "-loglevel", "warning", "-y",
        "-r", "24/1", "-protocol_whitelist", "file", "-i", "file:/w/ref.y4m", "-map", "0:v:0", "-an", "-sn", "-dn",
        "-vf", "scale=640:360:flags=lanczos,setsar=1",
        "-c:v", "libx264", "-preset", "medium", "-crf", "23",
        "-g", "48", "-keyint_min", "48", "-sc_threshold", "0", "-pix_fmt", "yuv420p",
        "-threads", "1", "-f", "matroska", "file:/w/out.mkv"]


def test_x264_two_pass_with_vbv():
    spec = K.EncodeSpec(codec="libx264", width=1280, height=720, bitrate_kbps=1500,
                        maxrate_kbps=2250, bufsize_kbits=4500, passes=2, preset="slow")
    p1, p2 = C.encode_commands("ffmpeg", "/w/ref.y4m", Fraction(30000, 1001), spec, "/w/o.mkv",
                               passlog="/w/pl")
    assert p1[p1.index("-b:v") + 1] == "1500k"
    assert p1[p1.index("-maxrate") + 1] == "2250k" and p1[p1.index("-bufsize") + 1] == "4500k"
    assert p1[-7:] == ["-pass", "1", "-passlogfile", "/w/pl", "-f", "null", "-"]
    assert p1[p1.index("-pass") + 1] == "1" and p1[-3:] == ["-f", "null", "-"]
    assert p2[p2.index("-pass") + 1] == "2" and p2[-1] == "file:/w/o.mkv"
    assert "30000/1001" in p1


def test_x265_quirks_go_into_x265_params():
    spec = K.EncodeSpec(codec="libx265", width=640, height=360, bitrate_kbps=800, passes=2, threads=2)
    p1, p2 = C.encode_commands("ffmpeg", "r.y4m", Fraction(25), spec, "o.mkv", passlog="/t/s")
    params = p1[p1.index("-x265-params") + 1]
    assert "pools=2" in params and "pass=1" in params and "stats=/t/s.log" in params
    assert p1.count("-x265-params") == 1
    assert "pass=2" in p2[p2.index("-x265-params") + 1]
    assert "-pass" not in p1


def test_x265_gops_are_closed_and_fixed_in_one_x265_params_with_its_passes():
    """Segments must decode alone: no open GOP, no scene-cut I-frames; every x265 option in the
    one -x265-params FFmpeg reads (a second one would replace the first)."""
    spec = K.EncodeSpec(codec="libx265", width=640, height=360, bitrate_kbps=800, maxrate_kbps=1200,
                        bufsize_kbits=2400, passes=2, threads=2, gop=48)
    for cmd in C.encode_commands("ffmpeg", "r.y4m", Fraction(25), spec, "o.mkv", passlog="/t/s"):
        assert cmd.count("-x265-params") == 1
        params = cmd[cmd.index("-x265-params") + 1].split(":")
        assert {"scenecut=0", "open-gop=0", "pools=2"} <= set(params)
        assert cmd[cmd.index("-g") + 1] == cmd[cmd.index("-keyint_min") + 1] == "48"
    # the change in what x265 encodes is in its cache key; x264's keys are as they were
    assert spec.key()["revision"] == 1
    assert "revision" not in K.EncodeSpec(codec="libx264", width=640, height=360, crf=23).key()


def test_svtav1_rate_mode_takes_no_vbv_but_its_crf_mode_keeps_a_cap():
    """SVT-AV1 refuses a maximum bitrate outside CRF mode (the encoder does not open): a rung's
    target goes alone; a capped CRF keeps its -maxrate."""
    rate = K.EncodeSpec(codec="libsvtav1", width=640, height=360, bitrate_kbps=500, maxrate_kbps=750,
                        bufsize_kbits=1500)
    assert rate.rate_args() == ["-b:v", "500k"]
    capped = K.EncodeSpec(codec="libsvtav1", width=640, height=360, crf=35, maxrate_kbps=750)
    assert capped.rate_args() == ["-crf", "35", "-maxrate", "750k"]
    # its rungs are 2-pass like x264's: -pass / -passlogfile, the first pass to the null muxer
    first, second = C.encode_commands("ffmpeg", "r.y4m", Fraction(25), replace(rate, passes=2), "o.mkv",
                                      passlog="/t/s")
    assert first[first.index("-pass") + 1] == "1" and first[-3:] == ["-f", "null", "-"]
    assert second[second.index("-pass") + 1] == "2" and "-maxrate" not in second
    x264 = replace(rate, codec="libx264")
    assert x264.rate_args() == ["-b:v", "500k", "-maxrate", "750k", "-bufsize", "1500k"]


def test_vp9_constant_quality_needs_bv0_and_svtav1_threads():
    vp9 = K.EncodeSpec(codec="libvpx-vp9", width=640, height=360, crf=32)
    args = vp9.codec_args()
    assert args[args.index("-crf") + 1] == "32" and args[args.index("-b:v") + 1] == "0"
    assert ["-deadline", "good", "-cpu-used", "2"] == args[2:6]
    av1 = K.EncodeSpec(codec="libsvtav1", width=640, height=360, crf=35, threads=3)
    [cmd] = C.encode_commands("ffmpeg", "r.y4m", Fraction(25), av1, "o.mkv")
    assert cmd[cmd.index("-svtav1-params") + 1] == "lp=3"
    assert cmd[cmd.index("-preset") + 1] == "8"


@pytest.mark.parametrize("kwargs,msg", [
    (dict(crf=60), "outside"),
    (dict(crf=None), "exactly one"),
    (dict(crf=23, bitrate_kbps=500), "exactly one"),
    (dict(crf=23, width=641), "even"),
    (dict(crf=23, passes=2), "2-pass"),
    (dict(crf=23, preset="warp"), "preset"),
])
def test_encode_spec_validation(kwargs, msg):
    base = dict(codec="libx264", width=640, height=360)
    base.update(kwargs)
    with pytest.raises(ValueError, match=msg):
        K.EncodeSpec(**base)


def test_unknown_codec():
    with pytest.raises(ValueError, match="unknown codec"):
        K.codec("mpeg2video")


def test_measure_one_encode_argv():
    spec = C.MeasureSpec(model="vmaf_v0.6.1", psnr=True, ssim=False, threads=2)
    cmd = C.measure_command("ffmpeg", "/w/ref.y4m", (1280, 720), Fraction(25),
                            [C.Distorted("/w/a.mkv", "a.json")], spec)
    assert cmd[:7] == ["ffmpeg", "-nostdin", "-hide_banner", "-nostats", "-loglevel", "warning", "-y"]
    # ffmpeg-python numbers the inputs in graph order: the encode first, the reference second;
    # both read as local files only, frames paired by index (-r on both inputs).
    assert cmd[7:19] == ["-protocol_whitelist", "file", "-r", "25/1", "-i", "file:/w/a.mkv",
                         "-protocol_whitelist", "file", "-r", "25/1", "-i", "file:/w/ref.y4m"]
    assert cmd[19] == "-filter_complex"
    # Filter options escaped for both levels FFmpeg parses: the graph, then the filter's options
    # (the model string's own ':' and '=' reach libvmaf intact).
    # Both lose their colour tags first: compared as code values, never converted between matrices.
    untag = "setparams=color_primaries=unknown:color_trc=unknown:colorspace=unknown"
    assert cmd[20] == (f"[0:v]{untag}[s0];[s0]scale=1280:720:flags=bicubic[s1];[s1]format=yuv420p[s2];"
                       f"[1:v]{untag}[s3];"
                       "[s2][s3]libvmaf=feature=name\\\\=psnr:log_fmt=json:log_path=a.json:"
                       "model=version\\\\=vmaf_v0.6.1\\\\:name\\\\=vmaf:n_threads=2[s4]")
    assert cmd[21:] == ["-map", "[s4]", "-f", "null", "-"]


def test_measure_many_shares_one_reference_and_adds_xpsnr():
    spec = C.MeasureSpec(model="phone", psnr=True, ssim=True, subsample=3)
    dists = [C.Distorted("a.mkv", "a.json", "a.xpsnr"), C.Distorted("b.mkv", "b.json")]
    cmd = C.measure_command("ffmpeg", "ref.y4m", (640, 360), Fraction(30), dists, spec)
    graph = cmd[cmd.index("-filter_complex") + 1]
    assert "split=3" in graph and graph.count("libvmaf=") == 2 and graph.count("xpsnr=") == 1
    assert "enable_transform\\\\=true" in graph and "n_subsample=3" in graph
    assert "name\\\\=psnr|name\\\\=float_ssim" in graph
    assert "stats_file=a.xpsnr" in graph
    assert cmd.count("-map") == 3 and cmd.count("-i") == 3
    assert cmd.count("-protocol_whitelist") == 3


def test_reference_command_normalises():
    spec = C.ReferenceSpec(source="/in/we:ird.mov", fps=Fraction(30000, 1001), width=1138, height=540,
                           start_s=2.0, duration_s=6.0, make_cfr=True, deinterlace=True, full_range=True)
    cmd = C.reference_command("ffmpeg", spec, "/w/ref.y4m")
    assert cmd[cmd.index("-ss") + 1] == "2.000" and cmd[cmd.index("-t") + 1] == "6.000"
    assert cmd[cmd.index("-i") + 1] == "file:/in/we:ird.mov"
    assert cmd[cmd.index("-i") - 2:cmd.index("-i")] == ["-protocol_whitelist", "file"]
    vf = cmd[cmd.index("-vf") + 1]
    assert vf == ("bwdif=mode=send_frame:parity=auto:deint=all,fps=30000/1001,crop=1138:540:0:0,"
                  "scale=in_range=pc:out_range=tv,format=yuv420p")
    assert cmd[-3:] == ["-f", "yuv4mpegpipe", "file:/w/ref.y4m"]
    cfr = C.ReferenceSpec(source="a.mp4", fps=Fraction(24), width=640, height=360, lossless_container=True)
    vf2 = C.reference_filters(cfr)
    assert vf2 == "settb=1/24,setpts=N,crop=640:360:0:0,format=yuv420p"
    cmd2 = C.reference_command("ffmpeg", cfr, "/w/ref.mkv")
    assert ["-c:v", "libx264", "-qp", "0"] == cmd2[cmd2.index("-c:v"):cmd2.index("-c:v") + 4]


def test_cache_key_ignores_vmaf_threads_but_not_model():
    a = C.MeasureSpec(threads=1).key()
    b = C.MeasureSpec(threads=8).key()
    c = C.MeasureSpec(model="vmaf_v0.6.1neg").key()
    assert a == b and a != c


def test_decode_command_for_the_floor():
    assert C.decode_command("ffmpeg", "/a b.mp4", 1.5, 6) == [
        "ffmpeg", "-nostdin", "-hide_banner", "-nostats", "-loglevel", "warning", "-y",
        "-ss", "1.500", "-t", "6.000", "-protocol_whitelist", "file", "-i", "file:/a b.mp4",
        "-map", "0:V:0", "-f", "null", "-"]


def test_reference_from_segments_joins_normalised_excerpts():
    spec = C.ReferenceSpec(source="/in/t.mp4", fps=Fraction(25), width=640, height=360,
                           segments=((1.0, 2.0), (10.5, 2.0)))
    cmd = C.reference_command("ffmpeg", spec, "/w/ref.y4m")
    assert [cmd[i + 1] for i, a in enumerate(cmd) if a == "-ss"] == ["1.000", "10.500"]
    assert [cmd[i + 1] for i, a in enumerate(cmd) if a == "-t"] == ["2.000", "2.000"]
    assert cmd.count("-i") == 2 and "-vf" not in cmd
    graph = cmd[cmd.index("-filter_complex") + 1]
    per = C.reference_filters(spec)
    assert graph == (f"[0:V:0]{per}[s0];[1:V:0]{per}[s1];[s0][s1]concat=n=2:v=1:a=0,settb=1/25,setpts=N[ref]")
    assert cmd[cmd.index("-map") + 1] == "[ref]"
    assert spec.analysed_seconds == 4.0


def test_an_excerpt_seeks_early_and_trims_where_the_demuxer_seeks_past_keyframes():
    spec = C.ReferenceSpec(source="/in/t.ts", fps=Fraction(25), width=640, height=360, start_s=10.0,
                           duration_s=4.0, source_format="mpegts", seek_margin_s=2.08)
    cmd = C.reference_command("ffmpeg", spec, "/w/ref.y4m")
    assert cmd[cmd.index("-ss") + 1] == "7.920" and cmd[cmd.index("-t") + 1] == "8.160"
    vf = cmd[cmd.index("-vf") + 1]
    assert vf == "trim=start=2.080:end=6.080," + C.reference_filters(spec)
    assert spec.trimmed_seek
    # near the start the seek goes to the stream's start (no -ss) and the trim does it all
    near = C.reference_command("ffmpeg", replace(spec, start_s=1.0), "/w/ref.y4m")
    assert "-ss" not in near and near[near.index("-vf") + 1].startswith("trim=start=1.000:end=5.000,")
    # from the start, or without a margin, the command is the plain seek
    assert not replace(spec, start_s=0.0).trimmed_seek
    plain = C.reference_command("ffmpeg", replace(spec, seek_margin_s=0.0), "/w/ref.y4m")
    assert plain[plain.index("-ss") + 1] == "10.000" and plain[plain.index("-vf") + 1] == C.reference_filters(spec)
    segs = C.reference_command("ffmpeg", replace(spec, segments=((0.0, 2.0), (20.0, 2.0))), "/w/ref.y4m")
    graph = segs[segs.index("-filter_complex") + 1]
    assert graph.startswith("[0:V:0]" + C.reference_filters(spec) + "[s0];[1:V:0]trim=start=2.080:end=4.080,")
