"""RFC 6381 ``codecs`` strings read from an fMP4 init segment (what the stream really is).

H.264: ``avc1.PPCCLL`` from the avcC box (profile, constraint flags, level); HEVC:
``hvc1.1.6.L93.B0`` from the hvcC box (ISO/IEC 14496-15 annex E: profile space and profile,
compatibility flags bit-reversed, tier and level, constraint bytes without the trailing zero
ones); AV1: ``av01.0.04M.08`` from the av1C box (profile, level and tier, bit depth: the AV1
ISOBMFF binding's codecs parameter); VP9: ``vp09.00.10.08`` from the vpcC box (profile, level,
bit depth: the VP codec ISOBMFF binding); AAC: ``mp4a.40.N`` from the esds box (N = the audio
object type). Only box headers and those few bytes are read; the init segment is small (a few
hundred bytes).
"""
from __future__ import annotations

import struct

from ..core.errors import MeasurementError

MAX_INIT_BYTES = 1 << 20


def _boxes(data: bytes, start: int, end: int):
    i = start
    while i + 8 <= end:
        size, kind = struct.unpack(">I4s", data[i:i + 8])
        header = 8
        if size == 1 and i + 16 <= end:
            size = struct.unpack(">Q", data[i + 8:i + 16])[0]
            header = 16
        elif size == 0:
            size = end - i
        if size < header or i + size > end:
            return
        yield kind, i + header, i + size
        i += size


def _find(data: bytes, path: list[bytes], start: int = 0, end: int | None = None) -> tuple[int, int] | None:
    end = len(data) if end is None else end
    for kind, s, e in _boxes(data, start, end):
        if kind != path[0]:
            continue
        if len(path) == 1:
            return s, e
        # sample entries carry fixed fields before their child boxes
        skip = _FIELDS_BEFORE_BOXES.get(kind, 0)
        found = _find(data, path[1:], s + skip, e)
        if found:
            return found
    return None


def codecs_string(init_path: str) -> str:
    with open(init_path, "rb") as fh:
        data = fh.read(MAX_INIT_BYTES)
    stsd = _find(data, [b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd"])
    if stsd is None:
        raise MeasurementError(f"no sample description in {init_path}")
    for entry, (config, spell) in VISUAL_ENTRIES.items():
        box = _find(data, [entry, config], stsd[0] + 8, stsd[1])
        if box:
            try:
                return spell(entry.decode(), data[box[0]:box[1]])
            except IndexError:
                raise MeasurementError(f"a short {config.decode()} box in {init_path}") from None
            except ValueError as exc:
                raise MeasurementError(f"{exc} in {init_path}") from None
    esds = _find(data, [b"mp4a", b"esds"], stsd[0] + 8, stsd[1])
    if esds:
        aot = _aac_object_type(data[esds[0] + 4:esds[1]])
        return f"mp4a.40.{aot}"
    raise MeasurementError(f"cannot tell the codec of {init_path} (H.264, HEVC, AV1, VP9 and AAC are packaged)")


def _avc(entry: str, c: bytes) -> str:
    return f"{entry}.{c[1]:02X}{c[2]:02X}{c[3]:02X}"      # profile, constraint flags, level


def _hevc(entry: str, c: bytes) -> str:
    space, tier, profile = c[1] >> 6, (c[1] >> 5) & 1, c[1] & 0x1F
    compat = int.from_bytes(c[2:6], "big")
    reversed_compat = int(f"{compat:032b}"[::-1], 2)
    constraints = list(c[6:12])
    while constraints and constraints[-1] == 0:
        constraints.pop()
    level = c[12]
    return ".".join([entry, f"{'' if space == 0 else 'ABC'[space - 1]}{profile}", f"{reversed_compat:X}",
                     f"{'LH'[tier]}{level}", *(f"{b:02X}" for b in constraints)])


def _av1(entry: str, c: bytes) -> str:
    if c[0] & 0x80 == 0:
        raise ValueError("an av1C box without its marker bit")
    profile, level = c[1] >> 5, c[1] & 0x1F
    tier, high, twelve = c[2] >> 7, (c[2] >> 6) & 1, (c[2] >> 5) & 1
    depth = 12 if high and twelve else 10 if high else 8
    return f"{entry}.{profile}.{level:02d}{'MH'[tier]}.{depth:02d}"


def _vp9(entry: str, c: bytes) -> str:
    # a full box: version and flags (4 bytes), then profile, level, bit depth (4 bits) ...
    profile, level, depth = c[4], c[5], c[6] >> 4
    return f"{entry}.{profile:02d}.{level:02d}.{depth:02d}"


# the video sample entries read, each with its configuration box and how it spells the codecs
# string; all carry 78 bytes of fields before their boxes
VISUAL_ENTRIES = {b"avc1": (b"avcC", _avc), b"avc3": (b"avcC", _avc), b"hvc1": (b"hvcC", _hevc),
                  b"hev1": (b"hvcC", _hevc), b"av01": (b"av1C", _av1), b"vp09": (b"vpcC", _vp9)}
_FIELDS_BEFORE_BOXES = {b"stsd": 8, b"mp4a": 28, b"esds": 4, **dict.fromkeys(VISUAL_ENTRIES, 78)}


def _aac_object_type(esds: bytes) -> int:
    """The audio object type in the DecoderSpecificInfo (tag 5) of an ES descriptor."""
    i = 0
    while i < len(esds):
        tag = esds[i]
        i += 1
        length = 0
        for _ in range(4):
            b = esds[i]
            i += 1
            length = (length << 7) | (b & 0x7F)
            if not b & 0x80:
                break
        if tag == 0x03:      # ES_Descriptor: id(2) flags(1), then sub-descriptors
            flags = esds[i + 2]
            i += 3 + (2 if flags & 0x80 else 0) + (2 if flags & 0x20 else 0)
            if flags & 0x40:
                i += 1 + esds[i]
            continue
        if tag == 0x04:      # DecoderConfigDescriptor: 13 fixed bytes, then DecoderSpecificInfo
            i += 13
            continue
        if tag == 0x05:
            return esds[i] >> 3
        i += length
    return 2  # AAC-LC
