"""Render a ladder document in other formats (pure: strings in, strings out).

- ``json``: the validated document itself.
- ``csv``: one row per rung.
- ``ffmpeg``: one FFmpeg command that encodes and packages every rung as HLS (aligned GOPs).
- ``hls`` / ``dash``: a multivariant playlist / MPD skeleton. Bitrates there are *nominal*:
  ``BANDWIDTH`` / ``@bandwidth`` are the rung's VBV maxrate and ``AVERAGE-BANDWIDTH`` its
  average, in bit/s. Real packaging should rewrite them from measured segments (RFC 8216
  section 4.1 peak segment bit rate); the packager that FFmpeg drives does that for ``ffmpeg``.
- ``mediaconvert``: the ``OutputGroups`` of an AWS Elemental MediaConvert job (:func:`to_mediaconvert`).
"""
from __future__ import annotations

import csv
import io
import os
import shlex
from xml.sax.saxutils import quoteattr

from ..core.codecs import codec as codec_info
from ..core.colour import RGB_TO_YUV, SDR_TAGS, tone_map_steps
from ..core.fsutil import csv_safe, to_json

CSV_FIELDS = ["index", "width", "height", "bitrate_kbps", "maxrate_kbps", "bufsize_kbits", "vmaf",
              "vmaf_hmean", "vmaf_p5", "psnr_y", "codec", "preset", "rate_control",
              "crf_equivalent", "gop_frames"]


FORMATS = ("json", "csv", "ffmpeg", "hls", "dash", "mediaconvert")


def render(doc: dict, fmt: str) -> str:
    try:
        fn = {"json": to_json, "csv": to_csv, "ffmpeg": to_ffmpeg, "hls": to_hls,
              "dash": to_dash, "mediaconvert": to_mediaconvert}[fmt]
    except KeyError:
        raise ValueError(f"unknown export format {fmt!r}") from None
    return fn(doc)


class ExportError(ValueError):
    """This ladder cannot be written in the format asked (the format's own limits)."""


# AWS Elemental MediaConvert (job settings, API 2017-08-29): the codecs it encodes with the rate
# control the rungs were chosen and verified with (2-pass VBR under a VBV cap), and its size limits
MC_CODECS = {"h264": ("H_264", "H264Settings", {"CodecProfile": "HIGH", "CodecLevel": "AUTO"}),
             "hevc": ("H_265", "H265Settings", {"CodecProfile": "MAIN_MAIN", "CodecLevel": "AUTO",
                                                "WriteMp4PackagingType": "HVC1"})}
MC_SIZE = (32, 8192)


def to_mediaconvert(doc: dict) -> str:
    """The ladder as a MediaConvert job's ``OutputGroups``: one CMAF group (fMP4 segments, HLS and
    DASH manifests, as ``pertitle encode`` packages) with one output per rung, encoded as the rungs
    were chosen and verified: VBR at the rung's bitrate under its VBV cap (``MaxBitrate``,
    ``HrdBufferSize``), two passes (``MULTI_PASS_HQ``), fixed GOPs of the ladder's length in
    frames (the source's frame rate is kept) with no scene-change keyframes, the rung's size with
    square pixels, and the source normalisations the analysis made (deinterlacing, HDR tone-mapped
    to BT.709 SDR, RGB to BT.709). Merge it into your job settings: the inputs, the destination
    (``CmafGroupSettings.Destination``, an S3 URL) and the audio are yours. Segments of about 6 s,
    a whole number of GOPs."""
    fam = codec_info(doc["codec"]).family
    if fam not in MC_CODECS:
        raise ExportError(f"MediaConvert export takes H.264 and H.265 ladders (VBR, two passes); this one is "
                          f"{doc['codec']}: use json or csv")
    name, settings_key, profile = MC_CODECS[fam]
    fps = float(doc["source"]["fps"])
    rungs = sorted(doc["rungs"], key=lambda r: r["bitrate_kbps"], reverse=True)
    gop_frames = rungs[0]["encoder"].get("gop_frames") or 0
    if not gop_frames or len({r["encoder"].get("gop_frames") for r in rungs}) != 1:
        raise ExportError("the rungs do not share one fixed GOP: MediaConvert could not align their segments")
    gop_s = gop_frames / fps
    lo, hi = MC_SIZE
    pre: dict = {}
    if (doc.get("analysed") or {}).get("deinterlaced"):
        pre["Deinterlacer"] = {"Algorithm": "INTERPOLATE", "Control": "NORMAL", "Mode": "DEINTERLACE"}
    src = doc.get("source") or {}
    if src.get("hdr_transfer"):
        pre["ColorCorrector"] = {"ColorSpaceConversion": "FORCE_709", "HdrToSdrToneMapper": "PRESERVE_DETAILS"}
    elif src.get("rgb"):
        pre["ColorCorrector"] = {"ColorSpaceConversion": "FORCE_709"}
    outputs = []
    for r in rungs:
        if not (lo <= r["width"] <= hi and lo <= r["height"] <= hi):
            raise ExportError(f"MediaConvert takes sizes of {lo} to {hi} pixels a side; rung {r['width']}x"
                              f"{r['height']} is not")
        enc = r["encoder"]
        codec = {"RateControlMode": "VBR", "QualityTuningLevel": "MULTI_PASS_HQ",
                 "Bitrate": int(enc["bitrate_kbps"]) * 1000,
                 **({"MaxBitrate": int(enc["maxrate_kbps"]) * 1000} if enc.get("maxrate_kbps") else {}),
                 **({"HrdBufferSize": int(enc["bufsize_kbits"]) * 1000} if enc.get("bufsize_kbits") else {}),
                 **profile, "GopSize": float(gop_frames), "GopSizeUnits": "FRAMES", "SceneChangeDetect": "DISABLED",
                 "ParControl": "SPECIFIED", "ParNumerator": 1, "ParDenominator": 1}
        video = {"Width": r["width"], "Height": r["height"], "ScalingBehavior": "STRETCH_TO_OUTPUT",
                 "CodecSettings": {"Codec": name, settings_key: codec},
                 **({"VideoPreprocessors": pre} if pre else {})}
        outputs.append({"NameModifier": f"_{r['width']}x{r['height']}_{r['bitrate_kbps']}k",
                        "ContainerSettings": {"Container": "CMFC"}, "VideoDescription": video})
    per_segment = max(1, round(6.0 / gop_s))
    group = {"Name": "CMAF", "OutputGroupSettings": {
        "Type": "CMAF_GROUP_SETTINGS",
        "CmafGroupSettings": {"SegmentLength": max(1, round(per_segment * gop_s)),
                              "FragmentLength": max(1, round(gop_s)),
                              "WriteHlsManifest": "ENABLED", "WriteDashManifest": "ENABLED"}},
        "Outputs": outputs}
    return to_json({"OutputGroups": [group]})


def to_csv(doc: dict) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in doc["rungs"]:
        enc = r["encoder"]
        row = {**r, "maxrate_kbps": enc.get("maxrate_kbps"), "bufsize_kbits": enc.get("bufsize_kbits"),
               "codec": enc["codec"], "preset": enc["preset"], "rate_control": enc["rate_control"],
               "crf_equivalent": enc.get("crf_equivalent"), "gop_frames": enc.get("gop_frames")}
        w.writerow({k: csv_safe(v) for k, v in row.items()})
    return buf.getvalue()


def h264_codec_string(width: int, height: int, fps: float) -> str:
    """RFC 6381 string for High profile at the lowest level that fits (nominal: an encoder
    may signal a different level; derive from the bitstream when you have it)."""
    mbs = ((width + 15) // 16) * ((height + 15) // 16)
    rate = mbs * fps
    for level, max_fs, max_mbps in ((30, 1620, 40500), (31, 3600, 108000), (32, 5120, 216000),
                                    (40, 8192, 245760), (42, 8704, 522240), (50, 22080, 589824),
                                    (51, 36864, 983040), (52, 36864, 2073600)):
        if mbs <= max_fs and rate <= max_mbps:
            return f"avc1.6400{level:02x}"
    return "avc1.640033"


def codec_string(doc: dict, rung: dict) -> str:
    fam = codec_info(doc["codec"]).family
    fps = float(doc["source"]["fps"])
    if fam == "h264":
        return h264_codec_string(rung["width"], rung["height"], fps)
    if fam == "hevc":
        return "hvc1.1.6.L120.B0" if rung["height"] <= 1080 else "hvc1.1.6.L153.B0"
    if fam == "av1":
        return "av01.0.08M.08" if rung["height"] <= 1080 else "av01.0.12M.08"
    return "vp09.00.40.08"


def to_hls(doc: dict) -> str:
    fps = float(doc["source"]["fps"])
    lines = ["#EXTM3U", "#EXT-X-VERSION:6", "#EXT-X-INDEPENDENT-SEGMENTS",
             "## nominal BANDWIDTH (VBV maxrate) / AVERAGE-BANDWIDTH (target): rewrite from measured segments"]
    for r in sorted(doc["rungs"], key=lambda r: r["bitrate_kbps"]):
        enc = r["encoder"]
        peak = int(enc.get("maxrate_kbps") or r["bitrate_kbps"]) * 1000
        lines.append(f"#EXT-X-STREAM-INF:BANDWIDTH={peak},AVERAGE-BANDWIDTH={r['bitrate_kbps'] * 1000},"
                     f"CODECS=\"{codec_string(doc, r)}\",RESOLUTION={r['width']}x{r['height']},"
                     f"FRAME-RATE={fps:.3f}")
        lines.append(f"{r['height']}p_{r['bitrate_kbps']}k/playlist.m3u8")
    return "\n".join(lines) + "\n"


def to_dash(doc: dict) -> str:
    fps = str(doc["source"].get("fps_rational") or f"{float(doc['source']['fps']):.3f}")
    dur = float(doc["source"]["duration_s"])
    reps = []
    for r in sorted(doc["rungs"], key=lambda r: r["bitrate_kbps"]):
        enc = r["encoder"]
        rid = f"{r['height']}p_{r['bitrate_kbps']}k"
        bw = int(enc.get("maxrate_kbps") or r["bitrate_kbps"]) * 1000
        reps.append(f'      <Representation id={quoteattr(rid)} bandwidth="{bw}" width="{r["width"]}" '
                    f'height="{r["height"]}" codecs={quoteattr(codec_string(doc, r))} sar="1:1"/>')
    return "\n".join([
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-on-demand:2011" '
        f'type="static" mediaPresentationDuration="PT{dur:.3f}S" minBufferTime="PT2S">',
        "  <!-- bandwidth = the rung's VBV maxrate (nominal); rewrite from measured segments -->",
        "  <Period>",
        f'    <AdaptationSet mimeType="video/mp4" segmentAlignment="true" startWithSAP="1" frameRate={quoteattr(fps)}>',
        '      <SegmentTemplate media="$RepresentationID$/seg_$Number%05d$.m4s" '
        'initialization="$RepresentationID$/init.mp4" duration="4" startNumber="1"/>',
        *reps,
        "    </AdaptationSet>",
        "  </Period>",
        "</MPD>",
        "",
    ])


def ffmpeg_package_args(doc: dict, source: str | None = None, hls_time: int = 6) -> list[str]:
    """Argument list (without the ffmpeg binary) that encodes every rung from the source in one
    process and writes an HLS multivariant playlist with aligned segments. The graph (one
    input split into a scaled branch per rung) is built with ffmpeg-python."""
    import ffmpeg as ffmpeg_graph

    rungs = sorted(doc["rungs"], key=lambda r: r["bitrate_kbps"], reverse=True)
    # a file: URL, so a name like "-x.mp4" or "concat:a|b" is read as the local file it is
    src = "file:" + os.path.abspath(source or doc["source"]["path"])
    c = codec_info(doc["codec"])
    # the graph is built on a stand-in name: ffmpeg-python hashes its nodes' text as UTF-8, which a
    # file name that is not UTF-8 (Python carries its bytes as surrogates) cannot be
    video = ffmpeg_graph.input(_SOURCE)["V:0"]   # the first video stream that is not cover art, as analysed
    # the normalisations that change the picture, as the analysis made them
    if (doc.get("analysed") or {}).get("deinterlaced"):
        video = video.filter("bwdif", mode="send_frame", parity="auto", deint="all")
    hdr = (doc.get("source") or {}).get("hdr_transfer")
    rgb = bool((doc.get("source") or {}).get("rgb"))
    steps = (tone_map_steps(str(hdr), bool((doc.get("source") or {}).get("full_range"))) if hdr
             else RGB_TO_YUV if rgb else [])
    for name, kw in steps:
        video = video.filter(name, **kw)
    split = video.filter_multi_output("split", len(rungs))
    branches = [split[i].filter("scale", r["width"], r["height"], flags="lanczos").filter("setsar", 1)
                for i, r in enumerate(rungs)]
    opts: dict[str, object] = {}
    for i, r in enumerate(rungs):
        enc = r["encoder"]
        opts[f"c:v:{i}"] = enc["codec"]
        opts[f"b:v:{i}"] = f"{enc['bitrate_kbps']}k"
        if enc.get("maxrate_kbps") and c.rate_vbv:   # SVT-AV1 takes none with a target bitrate
            opts[f"maxrate:v:{i}"] = f"{enc['maxrate_kbps']}k"
            opts[f"bufsize:v:{i}"] = f"{enc['bufsize_kbits']}k"
    tail = [*c.preset_args(rungs[0]["encoder"]["preset"])]
    gop = rungs[0]["encoder"].get("gop_frames") or 0
    if gop:
        tail += c.gop_args(gop)
    ext = "ts" if c.hls_container == "mpegts" else "m4s"
    if c.mp4_tag:
        tail += ["-tag:v", c.mp4_tag]
    if hdr or rgb:
        tail += list(SDR_TAGS)
    tail += ["-pix_fmt", "yuv420p", "-an", "-f", "hls", "-hls_time", str(hls_time),
             "-hls_playlist_type", "vod", "-hls_flags", "independent_segments",
             "-hls_segment_type", c.hls_container,
             "-hls_segment_filename", f"stream_%v/seg_%05d.{ext}",
             "-master_pl_name", "master.m3u8",
             "-var_stream_map", " ".join(f"v:{i},name:{r['height']}p_{r['bitrate_kbps']}k"
                                         for i, r in enumerate(rungs))]
    out = ffmpeg_graph.output(*branches, "stream_%v/playlist.m3u8", **opts)
    args = [src if a == _SOURCE else a for a in ffmpeg_graph.get_args(out)]
    # options that take a list (x264 GOP flags) go just before the output name
    return args[:-1] + tail + args[-1:]


_SOURCE = "file:pertitle-source"


def shell_word(arg: str) -> str:
    """``arg`` quoted for a POSIX shell; one holding control characters or bytes that are not
    UTF-8 (a file name's, carried as surrogates) in bash's ``$'...'`` quoting, byte by byte, so
    that the command names the very file."""
    try:
        arg.encode("utf-8")
        plain = arg.isprintable()
    except UnicodeEncodeError:
        plain = False
    if plain:
        return shlex.quote(arg)
    out = []
    for b in os.fsencode(arg):
        c = chr(b)
        out.append("\\" + c if c in "\\'" else c if 0x20 <= b < 0x7F else f"\\x{b:02x}")
    return "$'" + "".join(out) + "'"


def to_ffmpeg(doc: dict) -> str:
    return " ".join(shell_word(a) for a in ["ffmpeg", *ffmpeg_package_args(doc)]) + "\n"
