"""HDR and RGB sources: their conversion to SDR BT.709 YUV, as data shared by the FFmpeg commands
(encoder side) and the exported packaging line (ladder side)."""
from __future__ import annotations

# ISO/IEC 23091-2 transfer characteristics (FFmpeg's AVColorTransferCharacteristic) of HDR video,
# by zscale's name for them
HDR_TRANSFERS = {16: "smpte2084", 18: "arib-std-b67"}
HDR_NAMES = {"smpte2084": "PQ", "arib-std-b67": "HLG"}
TONE_MAP_PEAK_NITS = 100   # SDR reference white: linear 1.0 at 100 nit, highlights above it compressed
SDR_TAGS = ("-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709")
# RGB pixels to limited-range YUV with the BT.709 matrix (swscale's default is BT.601's, and an
# untagged HD stream is shown as BT.709: a red would be decoded darker and shifted)
RGB_TO_YUV = [("scale", {"out_color_matrix": "bt709", "out_range": "limited"}),
              # the frames say so (the encoder takes its tags from them, not from -color_primaries)
              ("setparams", {"color_primaries": "bt709", "color_trc": "bt709", "colorspace": "bt709"})]


def tone_map_steps(transfer: str, full_range: bool = False) -> list[tuple[str, dict[str, object]]]:
    """HDR (BT.2020, PQ or HLG) to SDR BT.709, limited range, as (filter, options) steps: linear
    light in floating point, BT.709 primaries, Hable's curve for the highlights (no
    desaturation), then the BT.709 transfer and matrix. The input's colour properties are
    stated, not read from tags a file may lack."""
    if transfer not in HDR_NAMES:
        raise ValueError(f"not an HDR transfer: {transfer!r}")
    return [
        ("zscale", {"tin": transfer, "min": "bt2020nc", "pin": "bt2020",
                    "rin": "full" if full_range else "limited", "t": "linear", "npl": TONE_MAP_PEAK_NITS}),
        ("format", {"pix_fmts": "gbrpf32le"}),
        ("zscale", {"p": "bt709"}),
        ("tonemap", {"tonemap": "hable", "desat": 0}),
        ("zscale", {"t": "bt709", "m": "bt709", "r": "limited"}),
    ]


def chain(steps: list[tuple[str, dict[str, object]]]) -> str:
    """Steps as a filter chain string (option values here never need escaping)."""
    return ",".join(name + ("=" + ":".join(f"{k}={v}" for k, v in opts.items()) if opts else "")
                    for name, opts in steps)
