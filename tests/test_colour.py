"""Colour: HDR sources (PQ, HLG) tone-mapped to SDR BT.709 and RGB sources converted with the
BT.709 matrix, for the analysis and in every rendition, said so, and the renditions tagged as
what they are. Real FFmpeg on clips made with lavfi."""
from __future__ import annotations

import json

import av
import numpy as np
import pytest

from pertitle.encoder import commands as C
from pertitle.encoder.probe import probe
from pertitle.encoder.sweep import plan_sweep
from pertitle.ladders.export import ffmpeg_package_args

from .conftest import run

PQ = "setparams=color_primaries=bt2020:color_trc=smpte2084:colorspace=bt2020nc"
HLG = "setparams=color_primaries=bt2020:color_trc=arib-std-b67:colorspace=bt2020nc"
TEN_BIT = ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "16"]
QUICK = ["--crf", "22,30,38", "--heights", "180,360", "--gop", "1", "-j", "2"]


def mean_luma(path: str, frames: int = 5) -> float:
    with av.open(path) as c:
        ys = [np.asarray(f.to_ndarray(format="gray")).mean() for _, f in zip(range(frames), c.decode(video=0))]
    return float(np.mean(ys))


@pytest.mark.parametrize("vf,transfer,name", [(PQ, "smpte2084", "PQ"), (HLG, "arib-std-b67", "HLG")])
def test_hdr_transfer_is_found_and_tone_mapped(make_clip, vf, transfer, name):
    clip = make_clip(f"hdr-{name}.mp4", size="320x180", seconds=1.0, vf=vf, codec=TEN_BIT, pix_fmt="yuv420p10le")
    s = probe(clip)
    assert s.hdr_transfer == transfer and s.bit_depth == 10
    assert any(w.startswith(f"HDR source ({name}): tone-mapped to SDR BT.709") for w in s.warnings)
    ref = plan_sweep(s, crfs=[30], heights=[180]).reference
    assert ref.tone_map == transfer
    graph = C.reference_filters(ref)
    assert f"zscale=tin={transfer}:" in graph and "tonemap=tonemap=hable" in graph
    assert graph.endswith("zscale=t=bt709:m=bt709:r=limited,format=yuv420p")


def test_sdr_sources_are_not_tone_mapped(make_clip):
    # a BT.709-tagged 10-bit SDR clip: reduced to 8 bits, nothing else
    clip = make_clip("sdr10.mp4", size="320x180", seconds=1.0, codec=TEN_BIT, pix_fmt="yuv420p10le",
                     vf="setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709")
    s = probe(clip)
    assert s.hdr_transfer is None and not any("HDR" in w for w in s.warnings)
    ref = plan_sweep(s, crfs=[30], heights=[180]).reference
    assert ref.tone_map is None and "zscale" not in C.reference_filters(ref)


def test_a_pq_title_gets_an_sdr_ladder_and_sdr_renditions(make_clip, ff, tmp_path):
    clip = make_clip("hdr-pq-2s.mp4", size="640x360", seconds=2.0, vf=PQ, codec=TEN_BIT, pix_fmt="yuv420p10le")
    lad = tmp_path / "pq.ladder.json"
    p = run("analyze", clip, "-o", lad, "--cache", tmp_path / "cache", *QUICK)
    assert p.returncode == 0, p.stderr
    doc = json.loads(lad.read_text())
    assert doc["analysed"]["tone_mapped"] == "smpte2084 to bt709 (hable)"
    assert doc["source"]["hdr_transfer"] == "smpte2084"
    assert any("HDR source (PQ)" in n for n in doc["notes"])
    out = tmp_path / "pkg"
    e = run("encode", clip, lad, "-o", out, "--verify", "--no-audio")
    assert e.returncode == 0, e.stderr
    pkg = json.loads((out / "package.json").read_text())
    for r in pkg["renditions"]:
        # the renditions are scored against the tone-mapped reference the ladder was chosen on:
        # the whole clip was analysed, so each lands near its rung's expectation
        assert abs(r["vmaf_error"]) < 3.0, r
    # every rendition says it is SDR BT.709 (an 8-bit stream tagged PQ would be neither SDR nor HDR10)
    v0 = out / "v0"
    joined = tmp_path / "v0.mp4"
    joined.write_bytes((v0 / "init.mp4").read_bytes() + b"".join(p.read_bytes() for p in sorted(v0.glob("seg_*.m4s"))))
    with av.open(str(joined)) as c:
        cc = c.streams.video[0].codec_context
        assert (int(cc.color_primaries), int(cc.color_trc), int(cc.colorspace)) == (1, 1, 1)   # BT.709
    # and the tone map did something: the rendition's luma is not the PQ signal's cut to 8 bits
    top = out / f"v{len(pkg['renditions']) - 1}"
    joined_top = tmp_path / "top.mp4"
    joined_top.write_bytes((top / "init.mp4").read_bytes() + b"".join(p.read_bytes() for p in sorted(top.glob("seg_*.m4s"))))
    assert abs(mean_luma(str(joined_top)) - mean_luma(clip)) > 3.0


def test_an_ffmpeg_without_zscale_refuses_an_hdr_title_in_one_line(make_clip, ff, tmp_path):
    # the real FFmpeg, except that it does not list zscale (a system build without libzimg)
    fake = tmp_path / "ffmpeg"
    fake.write_text(f"#!/bin/sh\ncase \"$*\" in *-filters*) '{ff.path}' \"$@\" | grep -v ' zscale ';; "
                    f"*) exec '{ff.path}' \"$@\";; esac\n")
    fake.chmod(0o755)
    clip = make_clip("hdr-PQ.mp4", size="320x180", seconds=1.0, vf=PQ, codec=TEN_BIT, pix_fmt="yuv420p10le")
    p = run("analyze", clip, "--ffmpeg", fake, "-o", tmp_path / "x.json", *QUICK)
    assert p.returncode == 21 and "Traceback" not in p.stderr, p.stderr
    assert "no 'zscale' filter (needed to tone-map an HDR source to SDR)" in p.stderr
    errors = [line for line in p.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and errors[0].startswith("pertitle: error:") and not (tmp_path / "x.json").exists()
    info = json.loads(run("info", "--ffmpeg", fake).stdout)
    assert info["hdr_tone_map"] is False and info["libvmaf"] is True
    assert json.loads(run("info").stdout)["hdr_tone_map"] is True


def test_an_rgb_title_is_converted_with_the_bt709_matrix_and_says_so(make_clip, ff, tmp_path):
    """swscale's default for RGB is BT.601's matrix, and an untagged HD stream is shown as BT.709:
    pure red came out with Y 81 (BT.601) and untagged. Now Y 63 (BT.709) and tagged BT.709."""
    from pertitle.encoder.runner import run as run_ff

    clip = make_clip("red.mov", size="320x180", seconds=1.0, source="color=c=red:size=320x180:rate=24",
                     codec=["-c:v", "qtrle"], pix_fmt="rgb24")
    s = probe(clip)
    assert s.rgb and any(w.startswith("RGB source: converted to YUV 4:2:0 with the BT.709 matrix") for w in s.warnings)
    plan = plan_sweep(s, crfs=[30], heights=[180])
    y4m = tmp_path / "ref.y4m"
    run_ff(C.reference_command(ff.path, plan.reference, str(y4m)))
    data = y4m.read_bytes()
    first = data.index(b"FRAME\n") + 6
    y, u, v = data[first], data[first + 320 * 180], data[first + 320 * 180 + 160 * 90]
    assert abs(y - 63) <= 1 and abs(u - 102) <= 1 and abs(v - 240) <= 1, (y, u, v)   # BT.709 (BT.601: 81, 90, 240)
    lad = tmp_path / "red.ladder.json"
    assert run("analyze", clip, "-o", lad, "--cache", tmp_path / "cache", *QUICK).returncode == 0
    doc = json.loads(lad.read_text())
    assert doc["source"]["rgb"] is True and doc["analysed"]["rgb_to_yuv"] == "bt709"
    out = tmp_path / "pkg"
    e = run("encode", clip, lad, "-o", out, "--no-audio")
    assert e.returncode == 0, e.stderr
    v0 = out / "v0"
    joined = tmp_path / "v0.mp4"
    joined.write_bytes((v0 / "init.mp4").read_bytes() + b"".join(p.read_bytes() for p in sorted(v0.glob("seg_*.m4s"))))
    with av.open(str(joined)) as c:
        cc = c.streams.video[0].codec_context
        assert (int(cc.color_primaries), int(cc.color_trc), int(cc.colorspace)) == (1, 1, 1)
    line = " ".join(ffmpeg_package_args(doc))
    assert "scale=out_color_matrix=bt709:out_range=limited" in line and "-colorspace bt709" in line


def test_a_yuv_title_is_not_converted(make_clip):
    s = probe(make_clip("yuv.mp4", size="320x180", seconds=1.0))
    assert not s.rgb and s.hdr_transfer is None
    graph = C.reference_filters(plan_sweep(s, crfs=[30], heights=[180]).reference)
    assert "out_color_matrix" not in graph and "setparams" not in graph and "zscale" not in graph
