"""Unusual input is handled; invalid input gets a typed one-line error."""
import random
import shutil
import subprocess

import pytest

from pertitle.core import errors as E
from pertitle.encoder.probe import probe


def test_plain_clip(make_clip):
    s = probe(make_clip("plain.mp4", size="320x180", rate=24, seconds=1))
    assert (s.width, s.height, s.fps, s.vfr) == (320, 180, 24, False)
    assert s.frames == 24 and s.duration_s == pytest.approx(1.0, abs=0.05)
    assert s.reference_size == (320, 180) and s.display_size == (320, 180)
    assert not s.warnings


def test_missing_directory_empty(tmp_path):
    with pytest.raises(E.InputNotFound):
        probe(str(tmp_path / "nope.mp4"))
    with pytest.raises(E.InputNotFound, match="directory"):
        probe(str(tmp_path))
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(E.InputEmpty):
        probe(str(empty))


def test_not_a_video(tmp_path):
    txt = tmp_path / "notes.mp4"
    txt.write_text("this is not a video, just text with an mp4 name\n" * 20)
    with pytest.raises(E.NotAVideo):
        probe(str(txt))
    rnd = tmp_path / "noise.mkv"
    rnd.write_bytes(random.Random(7).randbytes(50_000))  # fixed bytes: os.urandom can look like a subtitle format
    with pytest.raises(E.NotAVideo):
        probe(str(rnd))


def test_audio_only(make_clip):
    with pytest.raises(E.NoVideoStream, match="audio only"):
        probe(make_clip("tone.m4a", video=False, audio=True, seconds=1))


def test_truncated_mp4_without_moov(make_clip, tmp_path):
    src = make_clip("whole.mp4", seconds=2)
    cut = tmp_path / "cut.mp4"
    data = open(src, "rb").read()
    cut.write_bytes(data[: len(data) // 2])  # moov is at the end: gone
    with pytest.raises(E.TruncatedInput):
        probe(str(cut))


def test_truncated_faststart_mp4(make_clip, tmp_path):
    # with an audio track: cut short too, so still truncated (a video merely shorter than its
    # audio is not: tests/test_analyze.py)
    src = make_clip("fast.mp4", seconds=4, audio=True, extra_out=["-movflags", "+faststart"])
    cut = tmp_path / "cut_fast.mp4"
    data = open(src, "rb").read()
    cut.write_bytes(data[: len(data) // 3])  # header says 4 s, a third of the media is there
    with pytest.raises(E.TruncatedInput, match="header says"):
        probe(str(cut))


def test_absurd_dimensions(make_clip):
    with pytest.raises(E.UnsupportedInput, match="dimensions"):
        probe(make_clip("tiny.mp4", size="16x16", seconds=0.5))


def test_odd_dimensions_cropped(make_clip):
    s = probe(make_clip("odd.mkv", size="320x180", seconds=0.5, vf="scale=321:181",
                        codec=["-c:v", "libx264", "-preset", "ultrafast"], pix_fmt="yuv444p"))
    assert (s.width, s.height) == (321, 181)
    assert s.reference_size == (320, 180)
    assert any("odd dimensions" in w for w in s.warnings)


def test_vfr_detected_and_made_constant(make_clip):
    # Drop frames irregularly and keep their timestamps: variable frame rate.
    p = make_clip("vfr.mkv", seconds=2, rate=30,
                  vf="select='not(mod(n\\,3))+not(mod(n\\,7))',setpts=PTS",
                  extra_out=["-fps_mode", "vfr"])
    s = probe(p)
    assert s.vfr and any("variable frame rate" in w for w in s.warnings)
    assert 5 < float(s.fps) <= 30


def rotated(src: str, ff) -> str:
    """Stream-copy with a 90-degree display matrix (how phones store portrait video)."""
    out = src.replace(".mp4", "-rot90.mp4")
    subprocess.run([ff.path, "-loglevel", "error", "-y", "-display_rotation", "90", "-i", src,
                    "-c", "copy", out], check=True)
    return out


def test_ten_bit_full_range_rotation_sar_interlaced(make_clip, ff):
    ten = probe(make_clip("ten.mkv", pix_fmt="yuv420p10le", seconds=0.5))
    assert ten.bit_depth == 10 and any("10-bit" in w for w in ten.warnings)
    full = probe(make_clip("full.mp4", pix_fmt="yuvj420p", seconds=0.5))
    assert full.full_range
    rot = probe(rotated(make_clip("unrot.mp4", size="320x180", seconds=0.5), ff))
    assert rot.rotation in (90, 270) and rot.upright_size == (180, 320)
    assert rot.display_size == (180, 320)
    sar = probe(make_clip("anamorphic.mp4", size="360x240", seconds=0.5, vf="setsar=32/27"))
    assert sar.sar == pytest.approx(32 / 27) and sar.display_size == (426, 240)
    inter = probe(make_clip("interlaced.mp4", seconds=0.5, vf="tinterlace=mode=interleave_top,setfield=tff",
                            codec=["-c:v", "libx264", "-preset", "ultrafast", "-flags", "+ilme+ildct"]))
    assert inter.interlaced and any("interlaced" in w for w in inter.warnings)


def _ffmpeg_decoded_size(ff, path: str) -> tuple[int, int]:
    """The size of the first frame FFmpeg's command line decodes (autorotate on, as in every
    command pertitle runs), read from a PGM header."""
    out = subprocess.run([ff.path, "-v", "error", "-i", path, "-frames:v", "1", "-c:v", "pgm",
                          "-f", "image2pipe", "-"], check=True, capture_output=True).stdout
    w, h = out.split(b"\n")[1].split()
    return int(w), int(h)


@pytest.mark.parametrize("flags, turned, note", [
    (["-display_rotation", "90"], True, None),
    (["-display_rotation", "89.7"], True, None),       # FFmpeg rounds to a degree: transposed
    (["-display_rotation", "80"], False, "not a right angle"),   # turned inside the frame
    (["-display_hflip"], False, "mirrored"),
    (["-display_rotation", "180", "-display_hflip"], False, "mirrored"),
    (["-display_rotation", "90", "-display_vflip"], True, "mirrored"),
])
def test_display_matrix_as_ffmpeg_applies_it(make_clip, ff, tmp_path, flags, turned, note):
    """The probe's upright size is the size FFmpeg's decode gives (the reference and the
    renditions are made by it); what is not a plain right-angle rotation is said."""
    src = make_clip("dm.mp4", size="320x180", seconds=0.5)
    out = str(tmp_path / "dm-matrix.mp4")
    subprocess.run([ff.path, "-loglevel", "error", "-y", *flags, "-i", src, "-c", "copy", out], check=True)
    s = probe(out)
    assert s.upright_size == _ffmpeg_decoded_size(ff, out) == ((180, 320) if turned else (320, 180))
    assert (s.rotation in (90, 270)) == turned
    notes = [w for w in s.warnings if "display matrix" in w]
    if note:
        assert len(notes) == 1 and note in notes[0], s.warnings
    else:
        assert not notes, s.warnings
    if note == "mirrored":
        assert not any(w.startswith("rotated 180") for w in s.warnings)


def test_odd_file_name(make_clip, tmp_path):
    src = make_clip("x.mp4", seconds=0.5)
    odd = tmp_path / "-we:ird ñame [1] 'q'.mp4"
    shutil.copy(src, odd)
    s = probe(str(odd))
    assert s.frames == 12


def test_several_video_streams(ff, tmp_path):
    """The first real video stream is analysed, and the probe says the others are ignored; a
    still image first (one packet) is an error that names the streams; cover art is not counted."""
    two = str(tmp_path / "two.mkv")
    subprocess.run([ff.path, "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=160x90:r=24:d=0.5",
                    "-f", "lavfi", "-i", "testsrc2=s=320x180:r=24:d=0.5", "-map", "0", "-map", "1",
                    "-c:v", "libx264", "-preset", "ultrafast", two], check=True)
    s = probe(two)
    assert (s.width, s.height) == (160, 90)
    assert s.warnings[0] == "2 video streams: the first (#0, 160x90) is analysed, the others (#1 320x180) are ignored"
    still = str(tmp_path / "still.mkv")
    subprocess.run([ff.path, "-v", "error", "-f", "lavfi", "-i", "color=c=red:s=160x90:d=0.04",
                    "-f", "lavfi", "-i", "testsrc2=s=320x180:r=24:d=0.5", "-map", "0", "-map", "1",
                    "-c:v:0", "mjpeg", "-frames:v:0", "1", "-c:v:1", "libx264", "-preset", "ultrafast", still],
                   check=True)
    with pytest.raises(E.NotAVideo, match=r"first of its 2 video streams \(#0.*a still image \(one frame\)"):
        probe(still)
    covered = str(tmp_path / "covered.mp4")
    png = str(tmp_path / "cover.png")
    subprocess.run([ff.path, "-v", "error", "-f", "lavfi", "-i", "color=c=blue:s=64x64", "-frames:v", "1", png],
                   check=True)
    subprocess.run([ff.path, "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=320x180:r=24:d=0.5", "-i", png,
                    "-map", "0", "-map", "1", "-c:v:0", "libx264", "-preset", "ultrafast", "-c:v:1", "png",
                    "-disposition:v:1", "attached_pic", covered], check=True)
    c = probe(covered)
    assert (c.width, c.height) == (320, 180) and not c.warnings


def test_raw_elementary_streams_are_refused_with_the_way_out(ff, make_clip, tmp_path):
    """A bare H.264 / HEVC / MPEG-2 stream has no timestamps and cannot be seeked: the features
    decoded nothing from it (an internal error). Refused in one line that says how to wrap it,
    and the wrapped file is analysed."""
    src = make_clip("es_src.mp4", seconds=1.0)
    for ext, fmt in (("h264", "h264"), ("m2v", "mpeg2video")):
        raw = str(tmp_path / f"raw.{ext}")
        codec = ["-c:v", "copy", "-bsf:v", "h264_mp4toannexb"] if ext == "h264" else ["-c:v", "mpeg2video"]
        subprocess.run([ff.path, "-v", "error", "-i", src, *codec, "-f", fmt, raw], check=True)
        with pytest.raises(E.UnsupportedInput, match=r"raw \w+ elementary stream .*ffmpeg -framerate FPS"):
            probe(raw)
    wrapped = str(tmp_path / "wrapped.mp4")
    subprocess.run([ff.path, "-v", "error", "-framerate", "24", "-i", str(tmp_path / "raw.h264"), "-c", "copy",
                    wrapped], check=True)
    assert probe(wrapped).frames == 24


def test_an_mp4_cut_without_reencoding_counts_only_what_it_shows(ff, make_clip, tmp_path):
    """``ffmpeg -ss 2.4 -i in.mp4 -c copy -t 4 out.mp4`` keeps the packets from the keyframe
    before 2.4 s and an edit list that hides them: they are decoded but never shown (discard
    flag). The probe counted them: 6.6 s and 162 frames for a clip that plays 4.2 s (~102)."""
    src = make_clip("long_gop.mp4", size="320x180", rate=25, seconds=10,
                    codec=["-c:v", "libx264", "-preset", "veryfast", "-g", "125"])
    cut = str(tmp_path / "cut.mp4")
    subprocess.run([ff.path, "-v", "error", "-ss", "2.4", "-i", src, "-c", "copy", "-t", "4", cut], check=True)
    shown = subprocess.run([ff.path, "-v", "error", "-i", cut, "-f", "framemd5", "-"], capture_output=True,
                           text=True, check=True).stdout
    n = sum(1 for line in shown.splitlines() if line and not line.startswith("#"))
    s = probe(cut)
    assert abs(s.frames - n) <= 3 and s.duration_s == pytest.approx(n / 25, abs=0.2), (s.frames, n, s.duration_s)


def test_a_still_image_says_what_it_is(ff, tmp_path):
    png = str(tmp_path / "still.png")
    subprocess.run([ff.path, "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=320x180", "-frames:v", "1", png],
                   check=True)
    with pytest.raises(E.NotAVideo, match=r"a still image \(one frame\): nothing to analyse"):
        probe(png)


def test_joined_mpeg_ts_whose_timestamps_restart_is_read_on(ff, make_clip, tmp_path):
    """Two MPEG-TS recordings joined byte for byte: the second restarts its timestamps. FFmpeg's
    command line reads on (a jump back continues from the last frame); the probe counted the
    frames of the overlapping times once and gave 2 s of a 4-s title (the document said 48 frames
    analysed, its RD table 96). Now the duration and frame count are the whole title's, with a
    warning; the same packets remuxed by FFmpeg (continuous timestamps) probe alike, no warning."""
    a = make_clip("ra.ts", size="320x180", rate=24, seconds=2.0, extra_out=["-f", "mpegts"])
    b = make_clip("rb.ts", size="320x180", rate=24, seconds=2.0, source="testsrc", extra_out=["-f", "mpegts"])
    joined = tmp_path / "joined.ts"
    joined.write_bytes(open(a, "rb").read() + open(b, "rb").read())
    s = probe(str(joined))
    assert s.duration_s == pytest.approx(4.0, abs=1 / 24) and s.frames == 96
    said = [w for w in s.warnings if "timestamps restart" in w]
    assert len(said) == 1 and "restart once (at 2.00 s" in said[0], s.warnings
    mkv = tmp_path / "joined.mkv"
    subprocess.run([ff.path, "-v", "error", "-y", "-i", str(joined), "-c", "copy", str(mkv)], check=True)
    m = probe(str(mkv))
    assert m.duration_s == pytest.approx(s.duration_s, abs=1 / 24) and m.frames == s.frames
    assert not [w for w in m.warnings if "restart" in w]
    assert not [w for w in probe(a).warnings if "restart" in w]
