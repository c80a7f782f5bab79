"""Ladder export formats, and the schema check on load."""
import csv
import io
import json
import os
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

from .conftest import run


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
