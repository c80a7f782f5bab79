"""HLS and DASH manifests of an encoded package, written from measured segments (pure).

Every rendition is a folder of CMAF segments (``init.mp4`` + ``seg_NNNNN.m4s``) shared by both
manifests. Rates are measured, not nominal: a segment's bitrate is its bytes over its duration;
HLS ``BANDWIDTH`` is the peak segment bitrate of the variant (video plus its audio group's peak)
and ``AVERAGE-BANDWIDTH`` the average over the title, as Apple's authoring spec asks; DASH
``bandwidth`` is the peak as well (a client that fetches at that rate never stalls).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from xml.sax.saxutils import quoteattr


@dataclass(frozen=True)
class Segment:
    name: str
    duration_s: float
    bytes: int


@dataclass(frozen=True)
class Rendition:
    folder: str                      # relative to the package root, e.g. "v0"
    kind: str                        # "video" / "audio"
    codecs: str
    segments: tuple[Segment, ...]
    init: str | None = "init.mp4"    # None: MPEG-TS segments (no initialization segment)
    width: int = 0
    height: int = 0
    fps: str = ""                    # rational "30000/1001"
    target_kbps: float | None = None
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def duration_s(self) -> float:
        return sum(s.duration_s for s in self.segments)

    @property
    def peak_bps(self) -> int:
        return peak_bps(self.segments)

    @property
    def average_bps(self) -> int:
        return average_bps(self.segments)


def peak_bps(segments: Sequence[Segment]) -> int:
    """The highest segment bitrate (bits per second, rounded up)."""
    return max(math.ceil(s.bytes * 8 / s.duration_s) for s in segments if s.duration_s > 0)


def average_bps(segments: Sequence[Segment]) -> int:
    total = sum(s.duration_s for s in segments)
    return math.ceil(sum(s.bytes for s in segments) * 8 / total)


def _fps_value(fps: str) -> float:
    num, _, den = fps.partition("/")
    return float(num) / float(den or 1)


def hls_media_playlist(r: Rendition) -> str:
    target = max(math.ceil(s.duration_s - 1e-3) for s in r.segments)
    lines = ["#EXTM3U", f"#EXT-X-VERSION:{7 if r.init else 3}", f"#EXT-X-TARGETDURATION:{target}",
             "#EXT-X-MEDIA-SEQUENCE:0", "#EXT-X-PLAYLIST-TYPE:VOD", "#EXT-X-INDEPENDENT-SEGMENTS"]
    if r.init:
        lines.append(f'#EXT-X-MAP:URI="{r.init}"')
    for s in r.segments:
        lines += [f"#EXTINF:{s.duration_s:.6f},", s.name]
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def hls_multivariant(videos: Sequence[Rendition], audio: Rendition | None, media_name: str = "media.m3u8") -> str:
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    if audio is not None:
        lines.append(f'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="audio",DEFAULT=YES,AUTOSELECT=YES,'
                     f'CHANNELS="{int(audio.extra.get("channels", 2))}",URI="{audio.folder}/{media_name}"')
    for v in sorted(videos, key=lambda v: v.peak_bps):
        peak, avg = v.peak_bps, v.average_bps
        codecs = v.codecs
        if audio is not None:
            peak += audio.peak_bps
            avg += audio.average_bps
            codecs += "," + audio.codecs
        attrs = [f"BANDWIDTH={peak}", f"AVERAGE-BANDWIDTH={avg}", f'CODECS="{codecs}"',
                 f"RESOLUTION={v.width}x{v.height}", f"FRAME-RATE={_fps_value(v.fps):.3f}"]
        if audio is not None:
            attrs.append('AUDIO="aud"')
        lines += ["#EXT-X-STREAM-INF:" + ",".join(attrs), f"{v.folder}/{media_name}"]
    return "\n".join(lines) + "\n"


def _iso_duration(seconds: float) -> str:
    return f"PT{seconds:.3f}S"


def _timeline(r: Rendition, timescale: int) -> str:
    """SegmentTimeline in ``timescale`` ticks; repeated durations folded with ``r``; the ticks
    are cumulative-rounded so the timeline never drifts from the media time."""
    out, t_prev, acc = [], 0, 0.0
    ds = []
    for s in r.segments:
        acc += s.duration_s
        t = round(acc * timescale)
        ds.append(t - t_prev)
        t_prev = t
    i = 0
    while i < len(ds):
        j = i
        while j + 1 < len(ds) and ds[j + 1] == ds[i]:
            j += 1
        rep = f' r="{j - i}"' if j > i else ""
        start = ' t="0"' if i == 0 else ""
        out.append(f'<S{start} d="{ds[i]}"{rep}/>')
        i = j + 1
    return "".join(out)


def dash_mpd(videos: Sequence[Rendition], audio: Rendition | None, timescale: int = 1000) -> str:
    duration = max(v.duration_s for v in videos)
    max_seg = max(s.duration_s for v in videos for s in v.segments)
    parts = ['<?xml version="1.0" encoding="UTF-8"?>',
             '<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" '
             'profiles="urn:mpeg:dash:profile:isoff-live:2011,urn:mpeg:dash:profile:cmaf:2019" '
             f'mediaPresentationDuration="{_iso_duration(duration)}" minBufferTime="{_iso_duration(max_seg)}">',
             '<Period id="0" start="PT0S">']
    fps = videos[0].fps
    parts.append(f'<AdaptationSet id="0" contentType="video" mimeType="video/mp4" segmentAlignment="true" '
                 f'startWithSAP="1" frameRate={quoteattr(fps)}>')
    for i, v in enumerate(sorted(videos, key=lambda v: v.peak_bps)):
        parts.append(f'<Representation id={quoteattr(v.folder)} bandwidth="{v.peak_bps}" width="{v.width}" '
                     f'height="{v.height}" sar="1:1" codecs={quoteattr(v.codecs)}>'
                     f'<SegmentTemplate timescale="{timescale}" initialization={quoteattr(v.folder + "/" + v.init)} '
                     f'media={quoteattr(v.folder + "/seg_$Number%05d$.m4s")} startNumber="0">'
                     f'<SegmentTimeline>{_timeline(v, timescale)}</SegmentTimeline></SegmentTemplate></Representation>')
    parts.append("</AdaptationSet>")
    if audio is not None:
        parts.append('<AdaptationSet id="1" contentType="audio" mimeType="audio/mp4" segmentAlignment="true" '
                     'startWithSAP="1" lang="und">'
                     f'<Representation id={quoteattr(audio.folder)} bandwidth="{audio.peak_bps}" '
                     f'codecs={quoteattr(audio.codecs)} audioSamplingRate="48000">'
                     '<AudioChannelConfiguration schemeIdUri="urn:mpeg:dash:23003:3:audio_channel_configuration:2011" '
                     f'value="{int(audio.extra.get("channels", 2))}"/>'
                     f'<SegmentTemplate timescale="{timescale}" initialization={quoteattr(audio.folder + "/" + audio.init)} '
                     f'media={quoteattr(audio.folder + "/seg_$Number%05d$.m4s")} startNumber="0">'
                     f'<SegmentTimeline>{_timeline(audio, timescale)}</SegmentTimeline></SegmentTemplate>'
                     '</Representation></AdaptationSet>')
    parts += ["</Period>", "</MPD>"]
    return "\n".join(parts) + "\n"


def parse_ffmpeg_playlist(text: str) -> list[tuple[str, float]]:
    """(segment name, duration) from the media playlist FFmpeg's segmenter wrote."""
    out, dur = [], None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("#EXTINF:"):
            dur = float(line[8:].split(",", 1)[0])
        elif line and not line.startswith("#"):
            if dur is None:
                raise ValueError(f"segment {line!r} without a duration")
            out.append((line, dur))
            dur = None
    return out
