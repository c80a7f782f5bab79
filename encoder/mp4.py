"""RFC 6381 ``codecs`` strings read from an fMP4 init segment (what the stream really is).

H.264: ``avc1.PPCCLL`` from the avcC box (profile, constraint flags, level); AAC:
``mp4a.40.N`` from the esds box (N = the audio object type). Only box headers and those few
bytes are read; the init segment is small (a few hundred bytes).
"""
from __future__ import annotations

import struct

from ..core.errors import MeasurementError

CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd", b"avc1", b"avc3", b"mp4a", b"esds"}
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
        skip = {b"stsd": 8, b"avc1": 78, b"avc3": 78, b"mp4a": 28, b"esds": 4}.get(kind, 0)
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
    for entry in (b"avc1", b"avc3"):
        avcc = _find(data, [entry, b"avcC"], stsd[0] + 8, stsd[1])
        if avcc:
            s = avcc[0]
            profile, compat, level = data[s + 1], data[s + 2], data[s + 3]
            return f"{entry.decode()}.{profile:02X}{compat:02X}{level:02X}"
    esds = _find(data, [b"mp4a", b"esds"], stsd[0] + 8, stsd[1])
    if esds:
        aot = _aac_object_type(data[esds[0] + 4:esds[1]])
        return f"mp4a.40.{aot}"
    raise MeasurementError(f"cannot tell the codec of {init_path} (only H.264 and AAC are packaged)")


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
