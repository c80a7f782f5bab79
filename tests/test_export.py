"""Ladder export formats, and the schema check on load."""
import csv
import io
import json
import os
import re
import shlex
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pertitle.pipeline.analyze import analyze
from pertitle.pipeline.common import AnalysisOptions
from pertitle.encoder.cache import Cache
from pertitle.core.errors import InvalidLadderFile
from pertitle.ladders import export as X
from pertitle.ladders.document import load, validate

from .conftest import ladder_for, run


@pytest.fixture(scope="module")
def ladder_file(ff, make_clip, tmp_path_factory):
    src = make_clip("exp.mp4", size="480x270", seconds=2, source="mandelbrot")
    a = analyze(src, AnalysisOptions(crfs=(20, 28, 36, 44), gop_seconds=1, jobs=2), ff, Cache(None))
    path = tmp_path_factory.mktemp("exp") / "exp.ladder.json"
    path.write_text(json.dumps(a.document))
    return path


def test_csv_and_json_roundtrip(ladder_file):
    doc = load(str(ladder_file))
    rows = list(csv.DictReader(io.StringIO(X.to_csv(doc))))
    assert [int(r["bitrate_kbps"]) for r in rows] == [r["bitrate_kbps"] for r in doc["rungs"]]
    assert rows[0]["codec"] == "libx264" and rows[0]["maxrate_kbps"]
    assert json.loads(X.to_json(doc)) == doc


def test_hls_and_dash(ladder_file):
    doc = load(str(ladder_file))
    m3u8 = X.to_hls(doc)
    lines = m3u8.splitlines()
    assert lines[0] == "#EXTM3U"
    inf = [l for l in lines if l.startswith("#EXT-X-STREAM-INF")]
    assert len(inf) == len(doc["rungs"])
    for l, r in zip(inf, doc["rungs"]):
        assert f"AVERAGE-BANDWIDTH={r['bitrate_kbps'] * 1000}" in l
        assert f"RESOLUTION={r['width']}x{r['height']}" in l and "FRAME-RATE=" in l and 'CODECS="avc1.' in l
    import xml.etree.ElementTree as ET

    mpd = ET.fromstring(X.to_dash(doc))
    reps = mpd.findall(".//{urn:mpeg:dash:schema:mpd:2011}Representation")
    assert len(reps) == len(doc["rungs"]) and all(int(r.get("bandwidth")) > 0 for r in reps)


def test_h264_codec_strings():
    assert X.h264_codec_string(640, 360, 30) == "avc1.64001e"
    assert X.h264_codec_string(1280, 720, 30) == "avc1.64001f"
    assert X.h264_codec_string(1920, 1080, 30) == "avc1.640028"
    assert X.h264_codec_string(1920, 1080, 60) == "avc1.64002a"


def test_ffmpeg_packaging_command_really_packages(ladder_file, ff, tmp_path):
    """The exported one-command packaging runs and writes a master playlist with every rung."""
    doc = load(str(ladder_file))
    args = X.ffmpeg_package_args(doc)
    subprocess.run([ff.path, "-loglevel", "error", "-y", *args], cwd=tmp_path, check=True, timeout=300)
    master = (tmp_path / "master.m3u8").read_text()
    assert master.count("#EXT-X-STREAM-INF") == len(doc["rungs"])
    for r in doc["rungs"]:
        assert (tmp_path / f"stream_{r['height']}p_{r['bitrate_kbps']}k" / "playlist.m3u8").exists()
    assert shlex.split(X.to_ffmpeg(doc))[0] == "ffmpeg"


@pytest.mark.parametrize("codec", ["libx265", "libsvtav1", "libvpx-vp9"])
def test_ffmpeg_packaging_command_packages_every_codec(ladder_file, ff, tmp_path, codec):
    """The one-command packaging of an HEVC, AV1 or VP9 ladder runs too (SVT-AV1 refuses a maximum
    bitrate outside CRF mode: its line carries none) and writes fMP4 segments, HEVC as hvc1."""
    doc = ladder_for(load(str(ladder_file)), codec)
    args = X.ffmpeg_package_args(doc)
    assert ("-maxrate:v:0" in args) == (codec != "libsvtav1")
    p = subprocess.run([ff.path, "-loglevel", "error", "-y", *args], cwd=tmp_path, capture_output=True,
                       text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    master = (tmp_path / "master.m3u8").read_text()
    assert master.count("#EXT-X-STREAM-INF") == len(doc["rungs"])
    top = max(doc["rungs"], key=lambda r: r["bitrate_kbps"])
    folder = tmp_path / f"stream_{top['height']}p_{top['bitrate_kbps']}k"
    assert list(folder.glob("*.m4s")) and not list(folder.glob("*.ts"))
    if codec == "libx265":
        init = next(folder.glob("init*.mp4")).read_bytes()
        assert b"hvc1" in init and b"hev1" not in init


def test_cli_export_and_invalid_files(ladder_file, tmp_path):
    p = run("export", ladder_file, "--format", "csv")
    assert p.returncode == 0 and p.stdout.startswith("index,width,height")
    out = tmp_path / "m.m3u8"
    p = run("export", ladder_file, "-f", "hls", "-o", out)
    assert p.returncode == 0 and out.read_text().startswith("#EXTM3U")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"schema_version": 1, "rungs": []}))
    p = run("export", bad)
    assert p.returncode == InvalidLadderFile.exit_code and "not a valid ladder" in p.stderr
    notjson = tmp_path / "x.json"
    notjson.write_text("{")
    assert run("export", notjson).returncode == InvalidLadderFile.exit_code
    assert run("export", tmp_path / "missing.json").returncode == InvalidLadderFile.exit_code


def test_schema_rejects_descending_rungs(ladder_file):
    doc = load(str(ladder_file))
    if len(doc["rungs"]) < 2:
        pytest.skip("one-rung ladder")
    doc["rungs"] = list(reversed(doc["rungs"]))
    with pytest.raises(InvalidLadderFile, match="ascend"):
        validate(doc)


def test_ffmpeg_packaging_line_normalises_like_the_analysis(ladder_file):
    """An HDR title's line tone-maps as the analysis did and tags its renditions BT.709; an
    interlaced one's deinterlaces; a plain one does neither."""
    from pertitle.core.colour import chain, tone_map_steps
    from pertitle.encoder.commands import tone_map_filters

    doc = load(str(ladder_file))
    plain = " ".join(X.ffmpeg_package_args(doc))
    assert "zscale" not in plain and "bwdif" not in plain and "-color_trc" not in plain
    hdr = json.loads(json.dumps(doc))
    hdr["source"]["hdr_transfer"] = "smpte2084"
    hdr["analysed"]["deinterlaced"] = True
    args = X.ffmpeg_package_args(hdr)
    graph = args[args.index("-filter_complex") + 1]
    assert graph.startswith("[0:V:0]bwdif=") and graph.count("zscale=") == 3 and "tonemap=desat=0:tonemap=hable" in graph
    assert "tin=smpte2084" in graph and graph.index("tonemap") < graph.index("split=")
    assert args[args.index("-color_trc") + 1] == "bt709" and args[args.index("-colorspace") + 1] == "bt709"
    # the analysis' chain is the same steps
    assert tone_map_filters("arib-std-b67", True) == chain(tone_map_steps("arib-std-b67", True))
    assert tone_map_filters("smpte2084").startswith("zscale=tin=smpte2084:min=bt2020nc:pin=bt2020:rin=limited:")
    with pytest.raises(ValueError):
        tone_map_steps("bt709")


@settings(max_examples=60, deadline=None)
@given(st.binary(min_size=1, max_size=24).filter(lambda b: b"\0" not in b))
def test_a_shell_word_is_the_very_name_in_bash(raw):
    """Any file name (bytes, as a file system holds them; Python carries the ones that are not
    UTF-8 as surrogates) quoted by the FFmpeg export reads back in bash as the same bytes."""
    import subprocess

    name = os.fsdecode(raw)
    word = X.shell_word(name)
    word.encode("utf-8")          # text that a terminal and a UTF-8 file can hold (strict)
    got = subprocess.run(["bash", "-c", "printf %s " + word], capture_output=True).stdout
    assert got == raw


# ------------------------------------------------------------------------------------------
# MediaConvert: checked against AWS's own service model (botocore's mediaconvert 2017-08-29)
# ------------------------------------------------------------------------------------------


def check_shape(model: dict, shape: str, value, where: str = "") -> list[str]:
    """Every way ``value`` breaks ``shape`` of a botocore service model: unknown or missing
    members, wrong types, values outside an enum, a pattern or a range."""
    s = model["shapes"][shape]
    kind, errs = s["type"], []
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{where}: not an object"]
        errs += [f"{where}.{k}: unknown member" for k in value if k not in s["members"]]
        errs += [f"{where}.{k}: missing" for k in s.get("required", []) if k not in value]
        for k, v in value.items():
            if k in s["members"]:
                errs += check_shape(model, s["members"][k]["shape"], v, f"{where}.{k}")
    elif kind == "list":
        if not isinstance(value, list):
            return [f"{where}: not a list"]
        for i, v in enumerate(value):
            errs += check_shape(model, s["member"]["shape"], v, f"{where}[{i}]")
    elif kind == "string":
        if not isinstance(value, str):
            return [f"{where}: not a string"]
        if "enum" in s and value not in s["enum"]:
            errs.append(f"{where}: {value!r} not in {s['enum']}")
        if "pattern" in s and not re.search(s["pattern"], value):
            errs.append(f"{where}: {value!r} does not match {s['pattern']}")
    elif kind in ("integer", "long", "double"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind != "double" and not isinstance(value, int)):
            return [f"{where}: not a {kind}"]
        if "min" in s and value < s["min"] or "max" in s and value > s["max"]:
            errs.append(f"{where}: {value} outside {s.get('min')}..{s.get('max')}")
    elif kind == "boolean" and not isinstance(value, bool):
        errs.append(f"{where}: not a boolean")
    return errs


@pytest.fixture(scope="module")
def mediaconvert_model():
    loaders = pytest.importorskip("botocore.loaders")
    return loaders.Loader().load_service_model("mediaconvert", "service-2")


def test_mediaconvert_export_is_a_valid_job_settings_fragment(ladder_file, mediaconvert_model):
    doc = json.loads(ladder_file.read_text())
    job = json.loads(X.render(doc, "mediaconvert"))
    assert check_shape(mediaconvert_model, "JobSettings", job, "JobSettings") == []
    outs = job["OutputGroups"][0]["Outputs"]
    assert len(outs) == len(doc["rungs"]) and len({o["NameModifier"] for o in outs}) == len(outs)
    for o, r in zip(outs, sorted(doc["rungs"], key=lambda r: -r["bitrate_kbps"])):
        v = o["VideoDescription"]
        h = v["CodecSettings"]["H264Settings"]
        assert (v["Width"], v["Height"]) == (r["width"], r["height"])
        assert h["Bitrate"] == r["encoder"]["bitrate_kbps"] * 1000 and h["MaxBitrate"] == r["encoder"]["maxrate_kbps"] * 1000
        assert h["HrdBufferSize"] == r["encoder"]["bufsize_kbits"] * 1000
        assert h["GopSize"] == r["encoder"]["gop_frames"] and h["GopSizeUnits"] == "FRAMES"
        assert h["QualityTuningLevel"] == "MULTI_PASS_HQ" and h["RateControlMode"] == "VBR"
    hevc = json.loads(json.dumps(doc))
    hevc["codec"] = "libx265"
    job265 = json.loads(X.render(hevc, "mediaconvert"))
    assert check_shape(mediaconvert_model, "JobSettings", job265, "JobSettings") == []
    assert job265["OutputGroups"][0]["Outputs"][0]["VideoDescription"]["CodecSettings"]["Codec"] == "H_265"
    # the source normalisations the analysis made go with it; the checker itself can fail
    hdr = json.loads(json.dumps(doc))
    hdr["source"]["hdr_transfer"] = "smpte2084"
    hdr.setdefault("analysed", {})["deinterlaced"] = True
    job = json.loads(X.render(hdr, "mediaconvert"))
    pre = job["OutputGroups"][0]["Outputs"][0]["VideoDescription"]["VideoPreprocessors"]
    assert pre["ColorCorrector"]["ColorSpaceConversion"] == "FORCE_709" and pre["Deinterlacer"]["Mode"] == "DEINTERLACE"
    assert check_shape(mediaconvert_model, "JobSettings", job, "JobSettings") == []
    job["OutputGroups"][0]["Outputs"][0]["VideoDescription"]["Width"] = 9000
    job["OutputGroups"][0]["Outputs"][0]["VideoDescription"]["CodecSettings"]["H264Settings"]["RateControlMode"] = "CRF"
    assert len(check_shape(mediaconvert_model, "JobSettings", job, "JobSettings")) == 2


def test_mediaconvert_export_refuses_what_it_cannot_say(ladder_file, tmp_path):
    doc = json.loads(ladder_file.read_text())
    vp9 = json.loads(json.dumps(doc))
    vp9["codec"] = "libvpx-vp9"
    for r in vp9["rungs"]:
        r["encoder"]["codec"] = "libvpx-vp9"
    with pytest.raises(X.ExportError, match="H.264 and H.265"):
        X.render(vp9, "mediaconvert")
    tiny = json.loads(json.dumps(doc))
    tiny["rungs"][0]["width"], tiny["rungs"][0]["height"] = 16, 16
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(tiny))
    p = run("export", path, "-f", "mediaconvert")
    assert p.returncode == 2 and "32 to 8192 pixels" in p.stderr and p.stderr.count("\n") == 1, p.stderr
