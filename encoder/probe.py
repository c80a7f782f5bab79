"""Probe a source with PyAV (the imageio-ffmpeg wheel has no ffprobe).

Validates the input and turns every way it can be bad into a typed, one-line error; describes
what has to be normalised before analysis (odd size, variable frame rate, full range, 10-bit,
rotation, non-square pixels, interlacing) so the reference preparation can do it once.
"""
from __future__ import annotations

import functools
import math
import os
import stat
import struct
from dataclasses import asdict, dataclass, field
from fractions import Fraction

from ..core.colour import HDR_NAMES, HDR_TRANSFERS
from ..core.errors import (
    InputEmpty,
    InputNotFound,
    NotAVideo,
    NoVideoStream,
    TruncatedInput,
    UnsupportedInput,
)

MIN_DIMENSION = 32
MAX_DIMENSION = 8192
MAX_PIXELS = 8192 * 4320
MIN_FRAMES = 2
TS_DISCONT = 0x0200       # AVFMT_TS_DISCONT: the format's timestamps may jump (MPEG-TS)
TS_JUMP_BACK_S = 0.1      # a jump back beyond this, or ahead beyond the next, is a discontinuity
TS_JUMP_AHEAD_S = 10.0    # (FFmpeg's command line: ffmpeg_demux.c, -dts_delta_threshold 10)
VIDEO_START_LATE = 0.5   # s: a video starting this long after the file's other streams starts late


@dataclass(frozen=True)
class Source:
    path: str
    size_bytes: int
    container: str
    codec: str
    width: int                 # coded (storage) size, before rotation
    height: int
    sar: Fraction              # sample aspect ratio (1 = square pixels)
    rotation: int              # display rotation in degrees (0, 90, 180, 270); FFmpeg applies it
    fps: Fraction              # the constant rate the reference will have
    nominal_fps: Fraction      # the rate most frames are spaced at
    vfr: bool                  # timestamps are irregular: the reference is made constant-rate
    duration_s: float
    frames: int                # video packets in the file
    pix_fmt: str
    bit_depth: int
    full_range: bool
    interlaced: bool
    video_kbps: float          # the source's own video bitrate
    has_audio: bool
    warnings: tuple[str, ...] = field(default_factory=tuple)
    hdr_transfer: str | None = None   # "smpte2084" (PQ) or "arib-std-b67" (HLG): tone-mapped to SDR
    rgb: bool = False                 # RGB pixels: converted to YUV with the BT.709 matrix
    key_interval_s: float = 0.0       # the longest stretch without a keyframe (s; 0: not known)
    video_start_s: float = 0.0        # where the video starts in the file's timeline, when late (s)

    # --- derived geometry -----------------------------------------------------------------
    @property
    def upright_size(self) -> tuple[int, int]:
        """Storage size after rotation (what FFmpeg's autorotate produces)."""
        if self.rotation in (90, 270):
            return self.height, self.width
        return self.width, self.height

    @property
    def upright_sar(self) -> Fraction:
        return 1 / self.sar if self.rotation in (90, 270) and self.sar else self.sar

    @property
    def reference_size(self) -> tuple[int, int]:
        """Upright storage size cropped to even numbers: the VMAF reference size."""
        w, h = self.upright_size
        return w - (w % 2), h - (h % 2)

    @property
    def display_aspect(self) -> float:
        w, h = self.reference_size
        return w * float(self.upright_sar) / h

    @property
    def display_size(self) -> tuple[int, int]:
        """Square-pixel display size (even), height kept."""
        w, h = self.reference_size
        return even(h * self.display_aspect), h

    @property
    def demuxer(self) -> str:
        """FFmpeg's short name of the demuxer that opened the file (``-f`` value)."""
        return self.container.split(",")[0]

    @property
    def bits_per_pixel(self) -> float:
        w, h = self.upright_size
        return self.video_kbps * 1000.0 / (w * h * float(self.fps)) if self.fps else 0.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["sar"] = f"{self.sar.numerator}:{self.sar.denominator}"
        d["fps"] = float(self.fps)
        d["fps_rational"] = f"{self.fps.numerator}/{self.fps.denominator}"
        d["nominal_fps"] = float(self.nominal_fps)
        d["warnings"] = list(self.warnings)
        d["display_width"], d["display_height"] = self.display_size
        return d


def even(x: float) -> int:
    """Nearest even integer >= 2."""
    return max(2, int(round(x / 2.0)) * 2)


def check_path(path: str) -> int:
    """The checks that need no decoding. Returns the size in bytes."""
    if not os.path.lexists(path):
        raise InputNotFound("no such file", path)
    try:
        st = os.stat(path)
    except OSError as exc:
        raise InputNotFound(f"cannot access: {exc.strerror}", path) from None
    if stat.S_ISDIR(st.st_mode):
        raise InputNotFound("is a directory, not a video file (use `pertitle batch` for folders)", path)
    if not stat.S_ISREG(st.st_mode):
        raise InputNotFound("not a regular file", path)
    if st.st_size == 0:
        raise InputEmpty("file is empty (0 bytes)", path)
    if not os.access(path, os.R_OK):
        raise InputNotFound("not readable (permission denied)", path)
    return st.st_size


# Demuxers that open other files or run code: playlists and lists (HLS, DASH, concat/ffconcat,
# IMF), image sequences named by a pattern, scripts, network session descriptions, filter graphs.
# A title is one local file; these are refused unless the caller allows them explicitly.
REFERENCING_DEMUXERS = frozenset({
    "hls", "applehttp", "dash", "concat", "ffconcat", "imf", "webm_dash_manifest", "image2",
    "avisynth", "vapoursynth", "sdp", "rtp", "rtsp", "lavfi", "tee", "mpl2", "ffmetadata",
})


RAW_STREAM_DEMUXERS = frozenset({
    "h264", "hevc", "vvc", "m4v", "mpegvideo", "cavsvideo", "avs2", "avs3", "vc1", "h261", "h263",
    "obu", "dirac", "mjpeg", "mjpeg_2000",
})
"""Demuxers of bare video elementary streams: no container, so no timestamps (the rate is a
guess) and no seeking — the features and every excerpt decoded nothing. Refused with the
command that wraps one."""


def media_url(path: str) -> str:
    """The form every PyAV/FFmpeg open uses: a ``file:`` URL of the absolute path, so no name
    (``concat:a|b``, ``subfile,,...:x``, ``http:/...``) is read as a protocol."""
    return "file:" + os.path.abspath(path)


_SNIFF = ((b"#EXTM3U", "an HLS playlist"), (b"ffconcat version", "an ffconcat list"),
          (b"<MPD", "a DASH manifest"), (b"<?xml", "an XML document (DASH manifest?)"))


@functools.lru_cache(maxsize=1)
def safe_demuxers() -> str:
    """Every demuxer this PyAV build has, minus the ones that open other files: the
    ``format_whitelist`` FFmpeg itself enforces when PyAV opens an input."""
    import av

    names = []
    for n in sorted(av.formats_available):
        if n in REFERENCING_DEMUXERS:
            continue
        try:
            av.ContainerFormat(n, "r")
        except (ValueError, av.error.FFmpegError):
            continue  # a muxer only
        names.append(n)
    return ",".join(names)


def _sniff(path: str) -> str | None:
    try:
        with open(path, "rb") as fh:
            head = fh.read(512)
    except OSError:
        return None
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    for magic, what in _SNIFF:
        if stripped.startswith(magic) or (magic == b"<MPD" and magic in head):
            return what
    return None


def open_media(path: str, fmt: str | None = None, allow_references: bool = False):
    """Open ``path`` with PyAV as one local file: a ``file:`` URL, protocol whitelist ``file``,
    and (unless ``allow_references``) a format whitelist without the demuxers that open other
    files (playlists, lists), so FFmpeg itself refuses them before reading anything else.
    With ``fmt`` the demuxer is pinned instead of guessed again."""
    import av

    options = {"protocol_whitelist": "file"}
    if not allow_references:
        what = _sniff(path)
        if what:
            raise UnsupportedInput(f"{what} refers to other files: analyse the media file itself "
                                   "(--allow-playlists reads it anyway)", path)
        options["format_whitelist"] = safe_demuxers()
    try:
        c = av.open(media_url(path), format=fmt, options=options, metadata_errors="ignore")
    except av.error.FileNotFoundError:
        raise InputNotFound("no such file", path) from None
    except (av.error.InvalidDataError, av.error.EOFError):
        if _is_isobmff(path):
            # An MP4/MOV that does not open has lost its index (moov), which is written last.
            raise TruncatedInput("truncated MP4/MOV (no usable moov index: the file was cut "
                                 "short or never finalised)", path) from None
        raise NotAVideo("not a recognised video file", path) from None
    except av.error.ArgumentError:
        # EINVAL from the format whitelist: a demuxer that would open other files
        raise UnsupportedInput("not a media file pertitle reads (a playlist, list or other format "
                               "that opens further files; --allow-playlists reads it anyway)", path) from None
    except av.error.FFmpegError as exc:
        raise NotAVideo(f"cannot open as media: {exc.strerror or exc}", path) from None
    except (UnicodeDecodeError, ValueError):
        raise NotAVideo("cannot open as media (undecodable metadata)", path) from None
    names = set(c.format.name.split(","))
    if names & RAW_STREAM_DEMUXERS:
        c.close()
        raise UnsupportedInput(f"a raw {c.format.name} elementary stream (no container: no timestamps, "
                               "no seeking): wrap it first, e.g. ffmpeg -framerate FPS -i IN -c copy OUT.mp4", path)
    if names & REFERENCING_DEMUXERS and not allow_references:
        c.close()
        raise UnsupportedInput(f"a {c.format.name} file refers to other files (playlist or list): "
                               "analyse the media file itself (--allow-playlists reads it anyway)", path)
    return c


def real_videos(container) -> list:
    """The container's video streams that are not attached pictures (cover art in an audio file
    or an MP4/Matroska is a 'video' stream too), in file order."""
    import av

    return [s for s in container.streams.video if not (s.disposition & av.stream.Disposition.attached_pic)]


def video_stream(container):
    """The first real video stream: the one every part of pertitle analyses."""
    videos = real_videos(container)
    if not videos:
        raise NoVideoStream("no video stream", getattr(container, "name", None))
    return videos[0]


def _is_isobmff(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
    except OSError:
        return False
    return len(head) >= 8 and head[4:8] in (b"ftyp", b"mdat", b"moov", b"wide", b"free")


def probe(path: str, allow_references: bool = False) -> Source:
    """Validate and describe ``path``. Raises a :class:`PertitleError` subclass when unusable."""
    size = check_path(path)
    with open_media(path, allow_references=allow_references) as container:
        vs = _first_video(container, path)
        width, height = _checked_dimensions(vs, path)
        others = _other_videos(container, vs)
        has_audio = bool(container.streams.audio)
        fmt, index = container.format.name, vs.index
        # Decode the first frames: proves the stream decodes, gives rotation, interlacing,
        # pixel format and range as the decoder sees them.
        first = _first_frames(container, vs, path)
        sar = _sample_aspect(vs)
    # Demux every video packet (cheap): frame count, timestamps (VFR?), the span actually present
    # (truncated?) and the source's own bitrate. A second opening rather than a seek back,
    # which some containers refuse.
    with open_media(path, fmt.split(",")[0], allow_references) as container:
        vs = next(s for s in container.streams if s.index == index)
        try:
            timing = _timing(container, vs, path)
        except NotAVideo as exc:
            if not others:
                raise
            raise NotAVideo(f"the first of its {len(others) + 1} video streams (#{index}, the one "
                            f"pertitle analyses): {exc.message} (extract the stream wanted first, "
                            "e.g. ffmpeg -i IN -map 0:v:1 -c copy OUT)", path) from None
    f0 = first[0]
    rotation, orientation_note = orientation(f0)
    interlaced = any(getattr(f, "interlaced_frame", False) for f in first)
    pix_fmt = f0.format.name
    bit_depth = max((c.bits for c in f0.format.components), default=8) if f0.format.components else 8
    full_range = pix_fmt.startswith("yuvj") or int(getattr(f0, "color_range", 0) or 0) == 2
    hdr = hdr_transfer(f0, vs)
    rgb = bool(getattr(f0.format, "is_rgb", False))
    if others:
        timing.warnings.insert(0, f"{len(others) + 1} video streams: the first (#{index}, {width}x{height}) "
                                  f"is analysed, the others ({', '.join(others)}) are ignored")
    warnings = timing.warnings + _normalisation_notes(width, height, rotation, sar, interlaced,
                                                      full_range, bit_depth, hdr, rgb)
    if orientation_note:
        warnings.append(orientation_note)
    duration = timing.duration
    video_kbps = timing.total_bytes * 8 / 1000.0 / duration if duration > 0 else 0.0
    return Source(
        path=os.path.abspath(path), size_bytes=size, container=fmt, codec=timing.codec,
        width=width, height=height, sar=sar, rotation=rotation,
        fps=timing.fps, nominal_fps=timing.nominal, vfr=timing.vfr, duration_s=round(duration, 6),
        frames=timing.packets, pix_fmt=pix_fmt, bit_depth=bit_depth, full_range=full_range,
        interlaced=interlaced, video_kbps=round(video_kbps, 3), has_audio=has_audio,
        warnings=tuple(warnings), hdr_transfer=hdr, rgb=rgb, key_interval_s=timing.key_interval,
        video_start_s=timing.video_start)


def _display_matrix(frame) -> tuple[float, float, float, float] | None:
    """The 2x2 part (a, b, c, d) of the frame's display matrix, or None."""
    try:
        for sd in frame.side_data:     # PyAV yields the SideData objects themselves
            if str(getattr(sd, "type", "")).upper().endswith("DISPLAYMATRIX"):
                m = struct.unpack("<9i", bytes(sd)[:36])
                return m[0] / 65536, m[1] / 65536, m[3] / 65536, m[4] / 65536
    except Exception:   # noqa: BLE001 - a best-effort read: without it the angle alone is used
        pass
    return None


def orientation(frame) -> tuple[int, str | None]:
    """The display matrix as FFmpeg's command line applies it (autorotate, on in every command
    here): the right angle the picture is turned by (90 and 270 swap width and height) and a
    note for what is not a plain right-angle rotation. FFmpeg rounds the angle to a degree: a
    right angle is transposed or flipped, any other angle is turned by its ``rotate`` filter
    inside the stored frame (corners cut, black fill; nothing swaps); a mirroring matrix (a
    negative determinant: a front camera, an editor's flip) is flipped."""
    m = _display_matrix(frame)
    angle = float(getattr(frame, "rotation", 0) or 0)   # PyAV's: whole degrees, truncated
    if m is not None and math.hypot(m[0], m[2]) and math.hypot(m[1], m[3]):
        # av_display_rotation_get, which FFmpeg rounds (PyAV truncates: 89.7 would be 89, not 90)
        angle = -math.degrees(math.atan2(m[1] / math.hypot(m[1], m[3]), m[0] / math.hypot(m[0], m[2])))
    if not math.isfinite(angle):
        return 0, None
    theta = int(round(angle)) % 360
    mirrored = m is not None and m[0] * m[3] - m[1] * m[2] < 0
    if theta % 90:
        return 0, (f"display matrix turns the picture {theta} degrees, not a right angle: FFmpeg turns "
                   "it inside the stored frame (corners cut, black fill), and it is analysed and "
                   "encoded that way; players may show it otherwise")
    if mirrored:
        # FFmpeg flips (180: the flip alone) or transposes with a flip (90, 270)
        return (0 if theta == 180 else theta), "mirrored by its display matrix: analysed as displayed"
    return theta, None


def hdr_transfer(frame, stream) -> str | None:
    """The HDR transfer of the first frame (else the stream's header), in zscale's name; None for SDR."""
    for obj in (frame, getattr(stream, "codec_context", None)):
        try:
            trc = int(getattr(obj, "color_trc", 0) or 0)
        except (TypeError, ValueError):
            continue
        if trc in HDR_TRANSFERS:
            return HDR_TRANSFERS[trc]
    return None


def _first_video(container, path: str):
    videos = real_videos(container)
    if not videos:
        kinds = sorted({s.type for s in container.streams})
        what = "audio only" if "audio" in kinds else ("no streams" if not kinds else ", ".join(kinds))
        raise NoVideoStream(f"no video stream ({what})", path)
    return videos[0]


def _other_videos(container, vs) -> list[str]:
    """The real video streams besides ``vs``, as "#index WxH"."""
    return [f"#{s.index} {s.codec_context.width or '?'}x{s.codec_context.height or '?'}"
            for s in real_videos(container) if s.index != vs.index]


def _checked_dimensions(vs, path: str) -> tuple[int, int]:
    cc = vs.codec_context
    width, height = int(cc.width or 0), int(cc.height or 0)
    if width <= 0 or height <= 0:
        raise NotAVideo(f"video stream has no dimensions (a corrupt header, or {vs.codec_context.name} "
                        "this FFmpeg cannot decode, e.g. animated WebP)", path)
    if (min(width, height) < MIN_DIMENSION or max(width, height) > MAX_DIMENSION
            or width * height > MAX_PIXELS):
        raise UnsupportedInput(
            f"dimensions {width}x{height} are outside what a bitrate ladder is made for "
            f"({MIN_DIMENSION}..{MAX_DIMENSION} px a side, at most {MAX_PIXELS} pixels)", path)
    return width, height


REJECTS_BEFORE_A_FRAME = 50   # packets the decoder may reject before the first frame: then it is no video


def decode_frames(container, vs, *, rejects_before_a_frame: int | None = None):
    """The frames of ``vs`` as FFmpeg's command line decodes them (the reference, the encodes):
    a packet the decoder rejects as damaged is skipped, not the end of the stream (PyAV's
    ``container.decode`` raises there). ``rejects_before_a_frame``: give up, raising the
    decoder's error, after that many rejected packets with no frame yet."""
    import av

    frames = rejects = 0
    for packet in container.demux(vs):
        try:
            out = packet.decode()
        except av.error.InvalidDataError:
            rejects += 1
            if not frames and rejects_before_a_frame is not None and rejects >= rejects_before_a_frame:
                raise
            continue
        for frame in out:
            frames += 1
            yield frame


def _first_frames(container, vs, path: str, n: int = 3) -> list:
    import av

    first = []
    try:
        for frame in decode_frames(container, vs, rejects_before_a_frame=REJECTS_BEFORE_A_FRAME):
            first.append(frame)
            if len(first) >= n:
                break
    except av.error.FFmpegError as exc:
        if not first:
            raise NotAVideo(f"video stream does not decode: {exc.strerror or exc}", path) from None
    if not first:
        raise NotAVideo("no decodable video frames", path)
    return first


def _sample_aspect(vs) -> Fraction:
    sar = vs.sample_aspect_ratio or vs.codec_context.sample_aspect_ratio or Fraction(1)
    return Fraction(sar) if sar > 0 else Fraction(1)


@dataclass
class _Timing:
    codec: str
    packets: int
    total_bytes: int
    duration: float
    fps: Fraction
    nominal: Fraction
    vfr: bool
    warnings: list[str]
    key_interval: float = 0.0
    video_start: float = 0.0


def _timing(container, vs, path: str) -> _Timing:
    """Frame rate, duration and regularity from the packets' timestamps."""
    import av
    import numpy as np

    tb = vs.time_base or Fraction(1, 90000)
    pts: list[int] = []
    keys: list[int] = []
    total_bytes = n_packets = 0
    others_end = None       # where the file's other streams (audio...) end, in seconds
    # A format whose timestamps may jump (MPEG-TS: joined recordings restart them) is read as
    # FFmpeg's command line reads it: a jump back, or far ahead, continues from the last frame.
    discont = bool(getattr(container.format, "flags", 0) & TS_DISCONT)
    step = int(round(1 / float(tb) / float(vs.guessed_rate or vs.average_rate or 25)))
    offset = 0                # added to this stream's timestamps after a jump
    last_dts = None
    resets: list[int] = []    # where the timestamps jumped: the index of the next frame's in ``pts``
    try:
        for pkt in container.demux():
            if pkt.stream.index != vs.index:
                if pkt.pts is not None and pkt.size and pkt.stream.time_base:
                    end = float((pkt.pts + (pkt.duration or 0)) * pkt.stream.time_base)
                    others_end = end if others_end is None else max(others_end, end)
                continue
            if pkt.size == 0 or pkt.is_discard:
                continue    # (discarded: before an MP4 edit list's start, decoded but never shown)
            n_packets += 1
            total_bytes += pkt.size
            if discont and pkt.dts is not None:
                dts = pkt.dts + offset
                if last_dts is not None and (dts < last_dts - TS_JUMP_BACK_S / float(tb)
                                             or dts > last_dts + TS_JUMP_AHEAD_S / float(tb)):
                    offset += last_dts + step - dts
                    resets.append(len(pts))   # the first frame read after the jump
                    dts = last_dts + step
                last_dts = dts
            ts = pkt.pts if pkt.pts is not None else pkt.dts
            if ts is not None:
                ts += offset
                pts.append(ts)
                if pkt.is_keyframe:
                    keys.append(ts)
    except av.error.FFmpegError:
        pass  # a damaged tail: judged below from what was read
    if n_packets < MIN_FRAMES:
        raise NotAVideo("a still image (one frame): nothing to analyse" if n_packets == 1 else
                        f"only {n_packets} video packets: nothing to analyse", path)
    warnings: list[str] = []
    if resets:
        first = min(pts)
        # (the earliest shown of the frames after the jump: reordered frames come a little later)
        at = ", ".join(f"{float(min(pts[i:i + 16]) - first) * float(tb):.2f}" for i in resets[:4] if i < len(pts))
        times = "once" if len(resets) == 1 else f"{len(resets)} times"
        warnings.append(f"the timestamps restart {times} (at {at} s"
                        f"{', ...' if len(resets) > 4 else ''}: joined recordings): read on in order, as FFmpeg "
                        "does; a title analysed whole is right, an excerpt past a restart may not begin "
                        "where asked (remux it first: ffmpeg -i IN -c copy OUT.mkv)")
    pts_arr = np.unique(np.asarray(pts, dtype=np.int64))
    declared = container.duration / 1e6 if container.duration else None
    guessed = vs.guessed_rate or vs.average_rate or vs.base_rate
    if len(pts_arr) >= 2:
        d = np.diff(pts_arr).astype(float) * float(tb)
        median = float(np.median(d))
        span = float(pts_arr[-1] - pts_arr[0]) * float(tb) + median
        tol = max(1.5 * float(tb), 0.02 * median)
        regular = np.abs(d - median) <= tol
        irregular = float(np.mean(~regular))
        # The mean over regular frames undoes coarse time bases (24 fps in 1 ms ticks).
        measured = 1.0 / float(np.mean(d[regular])) if regular.any() else 1.0 / median
        if guessed and abs(1.0 / float(guessed) - 1.0 / measured) <= float(tb) + 1e-4 / measured:
            nominal = Fraction(guessed)
        else:
            nominal = _nice_rate(measured)
        mean_rate = n_packets / span if span > 0 else float(nominal)
    else:
        span = n_packets / float(guessed or 25)
        irregular = 0.0
        nominal = Fraction(guessed or 25)
        mean_rate = float(nominal)
    vfr = irregular > 0.01
    if vfr:
        # Mostly regular with gaps (dropped frames): keep the nominal rate, fill the gaps
        # with repeats as a player would. Truly variable (screen capture): the mean rate.
        fps = nominal if mean_rate >= 0.85 * float(nominal) else _nice_rate(mean_rate)
        warnings.append(f"variable frame rate ({irregular:.0%} of frame durations irregular): "
                        f"made constant at {float(fps):.3f} fps")
    else:
        fps = nominal
    if not (1 <= float(fps) <= 240):
        raise UnsupportedInput(f"frame rate {float(fps):.3f} fps is outside 1..240", path)
    file_start = container.start_time / 1e6 if container.start_time is not None else 0.0
    video_start = float(pts_arr[0]) * float(tb) - file_start if len(pts_arr) else 0.0
    if others_end is not None:
        others_end -= file_start
    if video_start >= VIDEO_START_LATE:
        warnings.append(f"the video starts {video_start:.2f} s into the file: times (--start, excerpts) "
                        "count from its first frame")
    else:
        video_start = 0.0
    if declared and declared > 1.0 and span < 0.9 * declared and declared - span > 0.5:
        if others_end is not None and others_end >= 0.9 * declared:
            # not a file cut short: its other streams reach the end, the video is shorter
            warnings.append(f"the video lasts {span:.2f} s of the file's {declared:.2f} s (its other streams "
                            "go on): the video's part is analysed")
        else:
            raise TruncatedInput(f"truncated: the header says {declared:.2f} s but only "
                                 f"{span:.2f} s of video is present", path)
    if not math.isfinite(span) or span * float(fps) < MIN_FRAMES:
        raise UnsupportedInput("too short to analyse", path)
    return _Timing(vs.codec_context.name, n_packets, total_bytes, span, fps, nominal, vfr, warnings,
                   _key_interval(pts_arr, keys, float(tb), span), round(video_start, 6))


def _key_interval(pts, keys: list[int], tb: float, span: float) -> float:
    """The longest stretch of the stream without a keyframe, in seconds: from one keyframe to the
    next, from the start to the first and from the last to the end (the whole span if none is
    marked). How far back a seek must start to be sure of a keyframe before a given time."""
    if not len(pts):
        return round(span, 3)
    k = sorted(set(keys))
    if not k:
        return round(span, 3)
    edges = [int(pts[0])] + k + [int(pts[-1])]
    gaps = [(b - a) * tb for a, b in zip(edges, edges[1:])]
    return round(min(span, max(gaps)) if span > 0 else max(gaps), 3)


def _normalisation_notes(width: int, height: int, rotation: int, sar: Fraction, interlaced: bool,
                         full_range: bool, bit_depth: int, hdr: str | None = None,
                         rgb: bool = False) -> list[str]:
    """What the reference preparation will change, said once to the user."""
    notes = []
    w_up, h_up = (height, width) if rotation in (90, 270) else (width, height)
    if w_up % 2 or h_up % 2:
        notes.append(f"odd dimensions {w_up}x{h_up}: cropped to {w_up - w_up % 2}x"
                     f"{h_up - h_up % 2} (4:2:0 needs even sizes)")
    if rotation:
        notes.append(f"rotated {rotation} degrees: analysed upright ({w_up}x{h_up})")
    if sar != 1 and abs(float(sar) - 1) > 0.01:
        notes.append(f"non-square pixels (SAR {sar.numerator}:{sar.denominator}): rungs "
                     f"use square pixels at the display aspect ratio")
    if interlaced:
        notes.append("interlaced: deinterlaced (bwdif, one frame per frame) before analysis")
    if hdr:
        notes.append(f"HDR source ({HDR_NAMES[hdr]}): tone-mapped to SDR BT.709 (hable) for the analysis "
                     f"and every rendition: an SDR ladder (VMAF is an SDR metric); the content "
                     f"features see the HDR signal")
    if rgb:
        notes.append("RGB source: converted to YUV 4:2:0 with the BT.709 matrix (the renditions are "
                     "tagged BT.709)")
    if full_range and not hdr and not rgb:
        notes.append("full-range (JPEG) levels: converted to limited range for encoding")
    if bit_depth > 8:
        notes.append(f"{bit_depth}-bit source: analysed as 8-bit 4:2:0 (the ladder's format)")
    return notes


_COMMON_RATES = [Fraction(24000, 1001), Fraction(30000, 1001), Fraction(60000, 1001),
                 Fraction(120000, 1001)]


def _nice_rate(rate: float) -> Fraction:
    """A rational frame rate near ``rate``: NTSC rates and integers when close, else 3 decimals."""
    if rate <= 0 or not math.isfinite(rate):
        return Fraction(25)
    for r in _COMMON_RATES:
        if abs(rate - float(r)) < 0.0004 * float(r):
            return r
    if abs(rate - round(rate)) < 0.0004 * rate:
        return Fraction(int(round(rate)))
    return Fraction(round(rate * 1000), 1000)
