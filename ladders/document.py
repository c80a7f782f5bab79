"""Turn RD points into the ladder JSON document, and validate documents (pure).

Both ``analyze`` (measured points) and ``predict`` (predicted points) end here, so a policy
change needs no re-measurement and no retraining.
"""
from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from importlib import resources

from ..core import codecs as C
from ..core.errors import InvalidLadderFile, LadderError
from ..core.version import __version__
from .curves import Curve
from .fixed import FIXED_LADDERS, compare
from .hull import RDPoint, upper_hull
from .policy import LadderPolicy, choose_ladder

SCHEMA_VERSION = 1
DOCUMENT_VERSION = 4
"""Bumped whenever curves/hull/policy/comparison logic changes what a document says: a batch
then rebuilds its ladders (from cached measurements) instead of skipping them as done."""

# Delivery VBV: peak at most 1.5x the average, buffer of two peak-seconds. Apple asks for a
# measured peak under 200 % of the average.
PEAK_FACTOR = 1.5
BUFSIZE_FACTOR = 2.0

CARRIED_COLUMNS = ("crf", "vmaf_mean", "vmaf_hmean", "vmaf_p5", "vmaf_min", "psnr_y", "ssim",
                   "xpsnr_y")


def curves_from_rows(rows: Iterable[Mapping], quality_column: str) -> list[Curve]:
    """One curve per (width, height) from RD rows (dicts or DataFrame records)."""
    groups: dict[tuple[int, int], list[Mapping]] = {}
    for r in rows:
        k, q = r.get("kbps"), r.get(quality_column)
        if k is None or q is None or _nan(k) or _nan(q):
            continue
        groups.setdefault((int(r["width"]), int(r["height"])), []).append(r)
    if not groups:
        raise LadderError("no usable RD points")
    curves = []
    for (w, h), rs in sorted(groups.items(), key=lambda kv: kv[0][1]):
        cols = {c: [_num(r.get(c)) for r in rs] for c in CARRIED_COLUMNS if any(
            not _nan(_num(r.get(c))) for r in rs)}
        curves.append(Curve.from_points(w, h, [float(r["kbps"]) for r in rs],
                                        [float(r[quality_column]) for r in rs], cols))
    return curves


def _num(v) -> float:
    try:
        return float(v) if v is not None else float("nan")
    except (TypeError, ValueError):
        return float("nan")


def _nan(v) -> bool:
    try:
        return v is None or math.isnan(float(v))
    except (TypeError, ValueError):
        return True


def rung_encoder_settings(codec: str, preset: str, width: int, height: int, kbps: float,
                          gop: int, crf_equivalent: float | None) -> dict:
    c = C.codec(codec)
    maxrate = kbps * PEAK_FACTOR
    bufsize = maxrate * BUFSIZE_FACTOR
    spec = C.EncodeSpec(codec=codec, width=width, height=height, bitrate_kbps=round(kbps),
                        maxrate_kbps=round(maxrate), bufsize_kbits=round(bufsize),
                        preset=preset, gop=gop, passes=2 if c.two_pass else 1)
    return {
        "codec": codec,
        "preset": spec.effective_preset,
        "rate_control": "2pass" if c.two_pass else "vbr",
        "bitrate_kbps": int(round(kbps)),
        "maxrate_kbps": int(round(maxrate)),
        "bufsize_kbits": int(round(bufsize)),
        "gop_frames": gop,
        "crf_equivalent": round(crf_equivalent, 2) if crf_equivalent is not None else None,
        "scale": f"scale={width}:{height}:flags=lanczos,setsar=1",
        "ffmpeg_args": ["-vf", C.scale_filter(width, height, "lanczos"), *spec.codec_args()],
    }


def build_document(*, kind: str, source: Mapping, analysed: Mapping, rows: list[Mapping],
                   codec: str, preset: str, gop: int, vmaf_model: str, policy: LadderPolicy,
                   ffmpeg_version: str, fixed_ladder: str | None = "apple-hls-h264",
                   extra: Mapping | None = None,
                   evidence: Callable[[float], set[tuple[int, int]]] | None = None) -> dict:
    """The ladder document for one title and one codec. ``evidence``: see :func:`choose_ladder`
    (a model-guided analysis places rungs only at sizes measured near their bitrates)."""
    qcol = policy.quality_column
    rows = [r for r in rows if r.get("codec", codec) == codec]
    curves = curves_from_rows(rows, qcol)
    choice = choose_ladder(curves, policy, evidence)
    rungs = []
    for i, r in enumerate(choice.rungs):
        crf_eq = r.values.get("crf")
        rung = {
            "index": i, "width": r.width, "height": r.height,
            "bitrate_kbps": int(round(r.kbps)),
            "vmaf": round(r.quality, 3),
        }
        for col in ("vmaf_mean", "vmaf_hmean", "vmaf_p5", "psnr_y", "ssim", "xpsnr_y"):
            v = r.values.get(col)
            if v is not None and not _nan(v):
                rung[col] = round(v, 4 if col == "ssim" else 3)
        rung["encoder"] = rung_encoder_settings(codec, preset, r.width, r.height, r.kbps, gop, crf_eq)
        rungs.append(rung)

    hull = upper_hull(RDPoint(float(r["kbps"]), float(r[qcol]), i) for i, r in enumerate(rows)
                      if not _nan(r.get("kbps")) and not _nan(r.get(qcol)))
    hull_rows = [{"width": int(rows[p.label]["width"]), "height": int(rows[p.label]["height"]),
                  "crf": _opt(rows[p.label].get("crf")), "kbps": round(p.kbps, 3),
                  "vmaf": round(p.quality, 4)} for p in hull]

    doc: dict = {
        "schema_version": SCHEMA_VERSION,
        "kind": kind,
        "tool": {"name": "pertitle", "version": __version__},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "ffmpeg_version": ffmpeg_version,
        "source": dict(source),
        "analysed": dict(analysed),
        "codec": codec,
        "metric": "vmaf",
        "vmaf_model": vmaf_model,
        "pooling": policy.pooling,
        "policy": policy.to_dict(),
        "rungs": rungs,
        "hull": hull_rows,
        "curves": [_curve_entry(c) for c in curves],
        "notes": list(choice.notes),
    }
    if fixed_ladder:
        doc["comparison"] = compare(curves, [(r["bitrate_kbps"], r["vmaf"]) for r in rungs],
                                    FIXED_LADDERS[fixed_ladder],
                                    (int(source["display_width"]), int(source["display_height"])),
                                    name=fixed_ladder)
    if extra:
        doc.update(extra)
    return doc


def _curve_entry(c: Curve) -> dict:
    entry = {"width": c.width, "height": c.height,
             "points": [[round(float(k), 3), round(float(q), 4)] for k, q in zip(c.kbps, c.quality)]}
    crf = c.columns.get("crf")
    if crf is not None and len(crf) == len(c.kbps) and all(not _nan(v) for v in crf):
        entry["crf"] = [round(float(v), 3) for v in crf]
    return entry


def _opt(v):
    return None if _nan(v) else float(v)


# ------------------------------------------------------------------------------------------
# Schema
# ------------------------------------------------------------------------------------------


def schema() -> dict:
    with resources.files(__package__).joinpath("schema/ladder.schema.json").open("r", encoding="utf-8") as fh:
        return json.load(fh)


MAX_DOCUMENT_BYTES = 16 << 20
MAX_DEPTH = 16


def _depth(obj, limit: int) -> int:
    """Nesting depth of a parsed document, iteratively (a deep document must not recurse)."""
    deepest, stack = 0, [(obj, 1)]
    while stack:
        o, d = stack.pop()
        deepest = max(deepest, d)
        if deepest > limit:
            return deepest
        if isinstance(o, dict):
            stack.extend((v, d + 1) for v in o.values())
        elif isinstance(o, list):
            stack.extend((v, d + 1) for v in o)
    return deepest


def validate(doc: Mapping, path: str | None = None) -> None:
    """Schema (with bounds on every size, rate and count) plus what a schema cannot say: rungs
    ascend, every preset exists for the codec, every number is finite."""
    import jsonschema

    if _depth(doc, MAX_DEPTH) > MAX_DEPTH:
        raise InvalidLadderFile(f"not a ladder document (nested deeper than {MAX_DEPTH} levels)", path)
    try:
        jsonschema.validate(doc, schema())
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(top)"
        raise InvalidLadderFile(f"not a valid ladder document at {where}: {exc.message[:200]}", path) from None
    except RecursionError:
        raise InvalidLadderFile("not a ladder document (too deeply nested)", path) from None
    rates = [r["bitrate_kbps"] for r in doc["rungs"]]
    if any(b <= a for a, b in zip(rates, rates[1:])):
        raise InvalidLadderFile("rungs do not ascend by bitrate", path)
    for r in doc["rungs"]:
        enc = r["encoder"]
        try:
            c = C.codec(enc["codec"])
        except ValueError as exc:
            raise InvalidLadderFile(str(exc), path) from None
        if enc["codec"] != doc["codec"]:
            raise InvalidLadderFile(f"rung {r.get('index', '?')} uses {enc['codec']}, the ladder is {doc['codec']}", path)
        if enc["preset"] not in c.presets:
            raise InvalidLadderFile(f"unknown {c.name} preset {enc['preset']!r} in rung {r.get('index', '?')}", path)
    bad = _non_finite(doc)
    if bad:
        raise InvalidLadderFile(f"not a finite number at {bad}", path)


def _non_finite(obj, where: str = "") -> str | None:
    if isinstance(obj, float):
        return None if math.isfinite(obj) else (where or "(top)")
    if isinstance(obj, dict):
        items = obj.items()
    elif isinstance(obj, list):
        items = enumerate(obj)
    else:
        return None
    for k, v in items:
        hit = _non_finite(v, f"{where}/{k}")
        if hit:
            return hit
    return None


def _strict_float(text: str) -> float:
    v = float(text)
    if not math.isfinite(v):
        raise ValueError(f"number out of range: {text[:20]}")
    return v


def _no_constants(name: str):
    raise ValueError(f"{name} is not a JSON number")


def parse(text: str | bytes, path: str | None = None) -> dict:
    """Strict JSON: no NaN/Infinity, no number that overflows a double, bounded depth."""
    try:
        doc = json.loads(text, parse_constant=_no_constants, parse_float=_strict_float)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidLadderFile(f"not JSON: {str(exc)[:200]}", path) from None
    except ValueError as exc:
        raise InvalidLadderFile(f"not a valid ladder document: {exc}", path) from None
    except RecursionError:
        raise InvalidLadderFile("not a ladder document (too deeply nested)", path) from None
    if not isinstance(doc, dict):
        raise InvalidLadderFile("not a ladder document (top level is not an object)", path)
    validate(doc, path)
    return doc


def load(path: str) -> dict:
    import stat

    try:
        st = os.stat(path)
    except OSError:
        raise InvalidLadderFile("no such file", path) from None
    if not stat.S_ISREG(st.st_mode):
        raise InvalidLadderFile("not a regular file", path)
    if st.st_size > MAX_DOCUMENT_BYTES:
        raise InvalidLadderFile(f"too large for a ladder document ({st.st_size} bytes)", path)
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_DOCUMENT_BYTES + 1)
    except OSError as exc:
        raise InvalidLadderFile(f"cannot read: {exc.strerror}", path) from None
    return parse(data, path)
