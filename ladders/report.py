"""The HTML report of one ladder, and the index of a batch (pure: documents in, HTML text out).

One self-contained file: the charts are SVG written here (no plotting library, no script or
style fetched from anywhere), a few lines of inline script add a hover box and table sorting,
and everything still reads with scripts off (every marker carries an SVG ``<title>``).
Colours are the Okabe-Ito palette (distinguishable with the common colour-vision deficiencies),
and every series also differs by marker shape or line style, so no colour is the only cue.
"""
from __future__ import annotations

import html
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import quote

from ..core.errors import shown

# Okabe & Ito (2008), without yellow on white (too pale for thin lines); black is the hull.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#999933", "#882255",
           "#44AA99", "#332288")
DASHES = ("", "6 3", "2 3", "8 3 2 3")
HULL_COLOUR = "#000000"
FIXED_COLOUR = "#7f7f7f"
RUNG_COLOUR = "#000000"
MEASURED_RUNG_COLOUR = "#D55E00"

KIND_TEXT = {"analyzed": "exhaustive analysis (every point measured)",
             "fast": "fast analysis (model prior + measured search)",
             "predicted": "prediction from content features"}


def esc(v) -> str:
    """Text for the page: HTML-escaped, control characters and a name's undecodable bytes as
    backslash escapes (:func:`pertitle.core.errors.shown`)."""
    return html.escape("" if v is None else shown(str(v)), quote=True)


def fmt(v, digits: int = 1) -> str:
    if v is None:
        return "–"
    try:
        f = float(v)
    except (TypeError, ValueError):
        return esc(v)
    if math.isnan(f):
        return "–"
    return f"{f:,.{digits}f}" if digits else f"{f:,.0f}"


# ------------------------------------------------------------------------------------------
# Chart
# ------------------------------------------------------------------------------------------


class Chart:
    """An SVG plot with a log-rate x axis (or linear) and a linear y axis."""

    def __init__(self, x_range: tuple[float, float], y_range: tuple[float, float], *, log_x: bool = True,
                 width: int = 900, height: int = 520, x_label: str = "", y_label: str = "",
                 css_class: str = "chart", label: str = "chart"):
        self.log_x = log_x
        x0, x1 = x_range
        if log_x:
            x0, x1 = max(x0, 1e-3), max(x1, 1e-3)
            x0, x1 = x0 / 1.15, x1 * 1.15
        else:
            pad = (x1 - x0) * 0.02 or 1.0
            x0, x1 = x0 - pad, x1 + pad
        if x1 <= x0:
            x1 = x0 * 2 if log_x else x0 + 1
        y0, y1 = y_range
        if y1 <= y0:
            y1 = y0 + 1
        self.x0, self.x1, self.y0, self.y1 = x0, x1, y0, y1
        self.w, self.h = width, height
        self.ml, self.mr, self.mt, self.mb = 64, 20, 16, 52
        self.parts: list[str] = []
        self.boxes: list[tuple[float, float, float, float]] = []
        self.x_label, self.y_label = x_label, y_label
        self.css_class, self.aria = css_class, label

    def X(self, x: float) -> float:
        if self.log_x:
            t = (math.log(max(x, 1e-9)) - math.log(self.x0)) / (math.log(self.x1) - math.log(self.x0))
        else:
            t = (x - self.x0) / (self.x1 - self.x0)
        return self.ml + t * (self.w - self.ml - self.mr)

    def Y(self, y: float) -> float:
        t = (y - self.y0) / (self.y1 - self.y0)
        return self.mt + (1 - t) * (self.h - self.mt - self.mb)

    def inside(self, x: float, y: float) -> bool:
        return self.x0 <= x <= self.x1 and self.y0 - 1e-9 <= y <= self.y1 + 1e-9

    def _ticks_x(self) -> list[float]:
        if not self.log_x:
            return _nice_ticks(self.x0, self.x1)
        out = []
        e = math.floor(math.log10(self.x0))
        while 10 ** e <= self.x1:
            for m in (1, 2, 5):
                v = m * 10 ** e
                if self.x0 <= v <= self.x1:
                    out.append(v)
            e += 1
        return out

    def axes(self) -> None:
        p = self.parts
        left, right = self.ml, self.w - self.mr
        top, bottom = self.mt, self.h - self.mb
        for v in _nice_ticks(self.y0, self.y1):
            y = self.Y(v)
            p.append(f'<line class="grid" x1="{left}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}"/>'
                     f'<text class="tick" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{v:g}</text>')
        for v in self._ticks_x():
            x = self.X(v)
            label = f"{v / 1000:g}k" if v >= 10000 and self.log_x else f"{v:,.0f}" if self.log_x else f"{v:g}"
            p.append(f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{bottom}"/>'
                     f'<text class="tick" x="{x:.1f}" y="{bottom + 16}" text-anchor="middle">{label}</text>')
        p.append(f'<rect class="frame" x="{left}" y="{top}" width="{right - left}" height="{bottom - top}"/>')
        p.append(f'<text class="axis" x="{(left + right) / 2:.0f}" y="{self.h - 10}" text-anchor="middle">'
                 f'{esc(self.x_label)}</text>')
        p.append(f'<text class="axis" transform="translate(16 {(top + bottom) / 2:.0f}) rotate(-90)" '
                 f'text-anchor="middle">{esc(self.y_label)}</text>')

    def line(self, pts: Sequence[tuple[float, float]], *, colour: str, width: float = 1.5, dash: str = "",
             cls: str = "series", opacity: float = 1.0) -> None:
        pts = [(x, y) for x, y in pts if self.inside(x, y)]
        if len(pts) < 2:
            return
        d = " ".join(f"{self.X(x):.1f},{self.Y(y):.1f}" for x, y in pts)
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        self.parts.append(f'<polyline class="{cls}" points="{d}" fill="none" stroke="{colour}" '
                          f'stroke-width="{width}"{dash_attr} stroke-opacity="{opacity}"/>')

    def marker(self, x: float, y: float, *, shape: str, colour: str, tip: str, cls: str, size: float = 4.5,
               filled: bool = True) -> None:
        if not self.inside(x, y):
            return
        cx, cy = self.X(x), self.Y(y)
        fill = colour if filled else "#ffffff"
        common = f'fill="{fill}" stroke="{colour}" stroke-width="1.6"'
        s = size
        if shape == "circle":
            el = f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{s:.1f}" {common}/>'
        elif shape == "square":
            el = f'<rect x="{cx - s:.1f}" y="{cy - s:.1f}" width="{2 * s:.1f}" height="{2 * s:.1f}" {common}/>'
        elif shape == "diamond":
            el = (f'<polygon points="{cx:.1f},{cy - s * 1.5:.1f} {cx + s * 1.5:.1f},{cy:.1f} '
                  f'{cx:.1f},{cy + s * 1.5:.1f} {cx - s * 1.5:.1f},{cy:.1f}" {common}/>')
        else:  # triangle
            el = (f'<polygon points="{cx:.1f},{cy - s * 1.4:.1f} {cx + s * 1.3:.1f},{cy + s:.1f} '
                  f'{cx - s * 1.3:.1f},{cy + s:.1f}" {common}/>')
        self.parts.append(f'<g class="pt {cls}" data-tip="{esc(tip)}"><title>{esc(tip)}</title>{el}</g>')

    def interval(self, x: float, lo: float, hi: float, *, colour: str, tip: str) -> None:
        lo, hi = max(lo, self.y0), min(hi, self.y1)
        if not (self.x0 <= x <= self.x1) or hi <= lo:
            return
        cx = self.X(x)
        self.parts.append(f'<g class="pt interval" data-tip="{esc(tip)}"><title>{esc(tip)}</title>'
                          f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{self.Y(lo):.1f}" y2="{self.Y(hi):.1f}" '
                          f'stroke="{colour}" stroke-width="7" stroke-opacity="0.25"/></g>')

    def label(self, x: float, y: float, s: str, *, cls: str = "label") -> None:
        """A label beside a marker, placed where it overlaps no earlier label and stays inside the
        plot (tried around the point at growing distances)."""
        if not self.inside(x, y):
            return
        cx, cy = self.X(x), self.Y(y)
        w, h = 6.6 * len(s) + 4, 14.0
        left, right, top, bottom = self.ml, self.w - self.mr, self.mt, self.h - self.mb
        tries = []
        for dist in (12, 26, 42, 60):
            tries += [(-w - 6, -dist), (8, dist - h + 4), (8, -dist), (-w - 6, dist - h + 4)]
        for dx, dy in tries:
            box = (cx + dx, cy + dy - h + 3, cx + dx + w, cy + dy + 3)
            if box[0] < left or box[2] > right or box[1] < top or box[3] > bottom:
                continue
            if any(not (box[2] < b[0] or box[0] > b[2] or box[3] < b[1] or box[1] > b[3]) for b in self.boxes):
                continue
            break
        else:
            dx, dy = 8, -12
            box = (cx + dx, cy + dy - h + 3, cx + dx + w, cy + dy + 3)
        self.boxes.append(box)
        self.parts.append(f'<line class="leader" x1="{cx:.1f}" y1="{cy:.1f}" '
                          f'x2="{(box[0] if dx > 0 else box[2]):.1f}" y2="{(box[1] + box[3]) / 2:.1f}"/>'
                          f'<text class="{cls}" x="{box[0] + 2:.1f}" y="{box[3] - 3:.1f}">{esc(s)}</text>')

    def svg(self) -> str:
        return (f'<svg class="{self.css_class}" viewBox="0 0 {self.w} {self.h}" role="img" '
                f'aria-label="{esc(self.aria)}" xmlns="http://www.w3.org/2000/svg">'
                + "".join(self.parts) + "</svg>")


def _nice_ticks(lo: float, hi: float, n: int = 6) -> list[float]:
    span = hi - lo
    if span <= 0:
        return [lo]
    raw = span / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.ceil(lo / step) * step
    out, v = [], start
    while v <= hi + 1e-9:
        out.append(round(v, 10))
        v += step
    return out


# ------------------------------------------------------------------------------------------
# One title
# ------------------------------------------------------------------------------------------


def _size(w, h) -> str:
    return f"{int(w)}x{int(h)}"


def _num(v) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) or math.isinf(f) else f


def is_model_guided(doc: Mapping) -> bool:
    """Fast and predicted ladders: their curves are model predictions corrected by what was measured."""
    return doc.get("kind") == "predicted" or (doc.get("sweep") or {}).get("mode") == "fast"


def mode_of(doc: Mapping) -> str:
    if doc.get("kind") == "predicted":
        return "predicted"
    return "fast" if (doc.get("sweep") or {}).get("mode") == "fast" else "analyzed"


def loss_text(prediction: Mapping) -> str:
    """What a prediction's loss bound bounds (``loss_bound_kind``): a BD-rate, or for a one-rung
    ladder (no BD-rate) its rate excess."""
    return "rate-excess loss" if prediction.get("loss_bound_kind") == "rate_excess" else "BD-rate loss"


def collect_points(doc: Mapping, rd_rows: Iterable[Mapping] | None) -> tuple[list[dict], list[dict]]:
    """(measured, predicted) points of the document's codec: measured = the RD table's rows (and a
    prediction's verification encodes); predicted = the document's curve points measured nowhere."""
    qcol = {"mean": "vmaf_mean", "hmean": "vmaf_hmean", "p5": "vmaf_p5"}.get(doc.get("pooling", "mean"),
                                                                               "vmaf_mean")
    codec = doc.get("codec")
    measured: list[dict] = []
    for r in rd_rows or []:
        if r.get("codec") not in (None, "", codec):
            continue
        k, q = _num(r.get("kbps")), _num(r.get(qcol))
        if k is None or q is None or k <= 0:
            continue
        measured.append({"width": int(float(r["width"])), "height": int(float(r["height"])), "kbps": k,
                         "vmaf": q, "crf": _num(r.get("crf")), "psnr": _num(r.get("psnr_y")),
                         "subsample": _num(r.get("subsample"))})
    for r in (doc.get("prediction") or {}).get("verify_points") or []:
        k, q = _num(r.get("kbps")), _num(r.get("vmaf_mean"))
        if k is not None and q is not None and k > 0:
            measured.append({"width": int(r["width"]), "height": int(r["height"]), "kbps": k, "vmaf": q,
                             "crf": _num(r.get("crf")), "psnr": None, "subsample": None})
    seen = {(m["width"], m["height"], round(m["kbps"], 1)) for m in measured}
    predicted: list[dict] = []
    if is_model_guided(doc):
        for c in doc.get("curves") or []:
            crfs = c.get("crf") or []
            for i, (k, q) in enumerate(c.get("points") or []):
                if (c["width"], c["height"], round(float(k), 1)) in seen:
                    continue
                predicted.append({"width": int(c["width"]), "height": int(c["height"]), "kbps": float(k),
                                  "vmaf": float(q), "crf": _num(crfs[i]) if i < len(crfs) else None,
                                  "psnr": None})
    return measured, predicted


def _tip(kind: str, p: Mapping) -> str:
    parts = [kind, _size(p["width"], p["height"])]
    if p.get("crf") is not None:
        parts.append(f"CRF {p['crf']:g}")
    parts.append(f"{p['kbps']:,.0f} kbps")
    parts.append(f"VMAF {p['vmaf']:.2f}")
    if p.get("psnr") is not None:
        parts.append(f"PSNR {p['psnr']:.2f} dB")
    return " · ".join(parts)


def rd_chart(doc: Mapping, measured: list[dict], predicted: list[dict], verification: Mapping | None) -> tuple[str, str]:
    """The rate-quality chart and its HTML legend."""
    rungs = doc.get("rungs") or []
    fixed = (doc.get("comparison") or {}).get("rungs") or []
    hull = doc.get("hull") or []
    curves = doc.get("curves") or []
    vr = [r for r in (verification or {}).get("rungs", []) if r.get("status") == "ok"]
    cpts = [(float(k), float(q)) for c in curves for k, q in c.get("points") or []]
    xs = ([p["kbps"] for p in measured + predicted] + [k for k, _ in cpts] + [float(r["bitrate_kbps"]) for r in rungs]
          + [float(f["bitrate_kbps"]) for f in fixed if _num(f.get("quality")) is not None]
          + [float(r["measured_kbps"]) for r in vr])
    ys = ([p["vmaf"] for p in measured + predicted] + [q for _, q in cpts] + [float(r["vmaf"]) for r in rungs]
          + [float(r["measured_vmaf"]) for r in vr])
    for r in rungs:
        if r.get("vmaf_interval"):
            ys.extend(float(v) for v in r["vmaf_interval"])
    if not xs:
        return "", ""
    y_lo = max(0.0, math.floor(min(ys) / 10) * 10) if ys else 0.0
    ch = Chart((min(xs), max(xs)), (y_lo, 100.0), x_label="bitrate (kbps, log scale)",
               y_label=f"VMAF ({doc.get('vmaf_model', '')}, {doc.get('pooling', 'mean')})",
               css_class="chart rd", label="rate-quality curves, convex hull and ladder")
    ch.axes()
    sizes = sorted({(int(c["width"]), int(c["height"])) for c in curves}
                   | {(p["width"], p["height"]) for p in measured + predicted}, key=lambda s: (s[1], s[0]))
    style = {s: (PALETTE[i % len(PALETTE)], DASHES[(i // len(PALETTE)) % len(DASHES)]) for i, s in enumerate(sizes)}
    legend = []
    for c in curves:
        colour, dash = style[(int(c["width"]), int(c["height"]))]
        ch.line([(float(k), float(q)) for k, q in c.get("points") or []], colour=colour, dash=dash,
                cls="series curve", width=1.6)
    for p in predicted:
        colour, _ = style[(p["width"], p["height"])]
        ch.marker(p["kbps"], p["vmaf"], shape="circle", colour=colour, tip=_tip("predicted", p),
                  cls="predicted", size=3.2, filled=False)
    for p in measured:
        colour, _ = style[(p["width"], p["height"])]
        ch.marker(p["kbps"], p["vmaf"], shape="circle", colour=colour, tip=_tip("measured", p),
                  cls="measured", size=3.6)
    if fixed:
        fpts = [(float(f["bitrate_kbps"]), float(f["quality"])) for f in fixed if _num(f.get("quality")) is not None]
        ch.line(fpts, colour=FIXED_COLOUR, dash="4 4", cls="series fixed", width=1.4)
        for f in fixed:
            q = _num(f.get("quality"))
            if q is None:
                continue
            tip = (f"fixed ladder ({(doc.get('comparison') or {}).get('name', '')}) · {_size(f['width'], f['height'])} · "
                   f"{float(f['bitrate_kbps']):,.0f} kbps · VMAF {q:.2f} on this title"
                   + (" (extrapolated)" if f.get("extrapolated") else ""))
            ch.marker(float(f["bitrate_kbps"]), q, shape="square", colour=FIXED_COLOUR, tip=tip, cls="fixed", size=3.8)
    if hull:
        ch.line([(float(h["kbps"]), float(h["vmaf"])) for h in hull], colour=HULL_COLOUR, width=4.5,
                cls="series hull", opacity=0.3)
    for r in rungs:
        iv = r.get("vmaf_interval")
        if iv:
            ch.interval(float(r["bitrate_kbps"]), float(iv[0]), float(iv[1]), colour=RUNG_COLOUR,
                        tip=f"rung {r['index']}: 80% interval of VMAF {float(iv[0]):.1f}–{float(iv[1]):.1f}")
    for r in rungs:
        tip = (f"rung {r['index']} · {_size(r['width'], r['height'])} · {int(r['bitrate_kbps']):,} kbps · "
               f"VMAF {float(r['vmaf']):.2f}"
               + (f" · PSNR {float(r['psnr_y']):.2f} dB" if _num(r.get("psnr_y")) is not None else "")
               + (f" · CRF≈{float(r['encoder']['crf_equivalent']):.1f}"
                  if _num((r.get("encoder") or {}).get("crf_equivalent")) is not None else ""))
        ch.marker(float(r["bitrate_kbps"]), float(r["vmaf"]), shape="diamond", colour=RUNG_COLOUR, tip=tip,
                  cls="rung", size=5.5)
    for r in reversed(rungs):  # the top rung's label first: it matters most
        ch.label(float(r["bitrate_kbps"]), float(r["vmaf"]),
                 f"{_size(r['width'], r['height'])} {int(r['bitrate_kbps']):,} kbps, {float(r['vmaf']):.1f}")
    for r in vr:
        tip = (f"rung {r['index']} re-encoded (2-pass): {float(r['measured_kbps']):,.0f} kbps, "
               f"VMAF {float(r['measured_vmaf']):.2f} (expected {float(r['expected_vmaf']):.2f})")
        ch.line([(float(r["target_kbps"]), float(r["expected_vmaf"])),
                 (float(r["measured_kbps"]), float(r["measured_vmaf"]))], colour=MEASURED_RUNG_COLOUR,
                width=1.2, cls="series verify-link")
        ch.marker(float(r["measured_kbps"]), float(r["measured_vmaf"]), shape="triangle",
                  colour=MEASURED_RUNG_COLOUR, tip=tip, cls="verified", size=5.0)

    for s in sizes:
        colour, dash = style[s]
        legend.append(_legend_line(colour, dash, _size(*s)))
    legend.append(_legend_line(HULL_COLOUR, "", "convex hull", width=4.5, opacity=0.3))
    legend.append(_legend_marker("diamond", RUNG_COLOUR, "chosen rung"))
    if measured:
        legend.append(_legend_marker("circle", "#444444", "measured point"))
    if predicted:
        legend.append(_legend_marker("circle", "#444444", "predicted point", filled=False))
    if any(r.get("vmaf_interval") for r in rungs):
        legend.append(_legend_line(RUNG_COLOUR, "", "80% interval of a rung's VMAF", width=7, opacity=0.25))
    if fixed:
        legend.append(_legend_marker("square", FIXED_COLOUR, f"fixed ladder ({(doc.get('comparison') or {}).get('name', '')})"))
    if vr:
        legend.append(_legend_marker("triangle", MEASURED_RUNG_COLOUR, "rung re-encoded and measured"))
    return ch.svg(), '<ul class="legend">' + "".join(legend) + "</ul>"


def _legend_line(colour: str, dash: str, label: str, width: float = 2, opacity: float = 1.0) -> str:
    d = f' stroke-dasharray="{dash}"' if dash else ""
    return (f'<li><svg width="28" height="12" aria-hidden="true"><line x1="1" x2="27" y1="6" y2="6" '
            f'stroke="{colour}" stroke-width="{width}" stroke-opacity="{opacity}"{d}/></svg>{esc(label)}</li>')


def _legend_marker(shape: str, colour: str, label: str, filled: bool = True) -> str:
    fill = colour if filled else "#ffffff"
    el = {"circle": f'<circle cx="7" cy="7" r="4" fill="{fill}" stroke="{colour}" stroke-width="1.6"/>',
          "square": f'<rect x="3" y="3" width="8" height="8" fill="{fill}" stroke="{colour}" stroke-width="1.6"/>',
          "diamond": f'<polygon points="7,1 13,7 7,13 1,7" fill="{fill}" stroke="{colour}" stroke-width="1.6"/>',
          "triangle": f'<polygon points="7,1 13,12 1,12" fill="{fill}" stroke="{colour}" stroke-width="1.6"/>'}[shape]
    return f'<li><svg width="14" height="14" aria-hidden="true">{el}</svg>{esc(label)}</li>'


def frames_chart(verification: Mapping | None, fps: float | None) -> str:
    """Per-frame VMAF of every verified rung over time (where quality dips)."""
    rows = [r for r in (verification or {}).get("rungs", []) if r.get("status") == "ok" and r.get("vmaf_frames")]
    if not rows:
        return ""
    rate = fps if fps and fps > 0 else 1.0
    n = max(len(r["vmaf_frames"]) for r in rows)
    lo = min(min(float(v) for v in r["vmaf_frames"]) for r in rows)
    ch = Chart((0.0, (n - 1) / rate if n > 1 else 1.0), (max(0.0, math.floor(lo / 10) * 10), 100.0), log_x=False,
               height=300, x_label="time in the analysed excerpt (s)" if fps else "frame",
               y_label="VMAF per frame", css_class="chart frames", label="per-frame VMAF of each rung")
    ch.axes()
    legend = []
    for i, r in enumerate(rows):
        colour, dash = PALETTE[i % len(PALETTE)], DASHES[(i // len(PALETTE)) % len(DASHES)]
        ch.line([(j / rate, float(v)) for j, v in enumerate(r["vmaf_frames"])], colour=colour, dash=dash,
                width=1.3, cls="series frameline")
        worst = min(range(len(r["vmaf_frames"])), key=lambda j: float(r["vmaf_frames"][j]))
        ch.marker(worst / rate, float(r["vmaf_frames"][worst]), shape="circle", colour=colour, cls="dip",
                  tip=f"rung {r['index']} ({_size(r['width'], r['height'])}): lowest frame {worst}, "
                      f"VMAF {float(r['vmaf_frames'][worst]):.1f}", size=3.5)
        legend.append(_legend_line(colour, dash, f"rung {r['index']} {_size(r['width'], r['height'])}"))
    return ch.svg() + '<ul class="legend">' + "".join(legend) + "</ul>"


def parts_section(doc: Mapping) -> str:
    """Per shot (or per excerpt): the bitrate its own top rung needs over the title's time line,
    and a table of each part's own ladder and of the title's rungs measured on it."""
    pv = doc.get("parts") or {}
    items = [it for it in pv.get("items") or [] if _num(it.get("start_s")) is not None]
    placed = [it for it in items if _num(it.get("top_kbps"))]
    if not placed:
        return ""
    kind = "shot" if pv.get("kind") == "shots" else "excerpt"
    title_top = _num((doc.get("rungs") or [{}])[-1].get("bitrate_kbps")) if doc.get("rungs") else None
    t0 = 0.0
    t1 = max([float(it["start_s"]) + float(it.get("duration_s") or 0) for it in items]
             + [_num((doc.get("source") or {}).get("duration_s")) or 0.0])
    hi = max([float(it["top_kbps"]) for it in placed] + ([title_top] if title_top else []))
    ch = Chart((t0, t1), (0.0, hi * 1.15), log_x=False, height=300, x_label="time in the title (s)",
               y_label="own top rung (kbit/s)", css_class="chart parts", label=f"top rung bitrate per {kind}")
    ch.axes()
    if title_top:
        ch.line([(t0, title_top), (t1, title_top)], colour="#555555", dash="6 4", width=1.5, cls="series titletop")
    drives, easiest = pv.get("drives_top"), pv.get("easiest")
    for i, it in enumerate(items):
        if not _num(it.get("top_kbps")):
            continue
        a, d, k = float(it["start_s"]), float(it.get("duration_s") or 0), float(it["top_kbps"])
        colour = PALETTE[1] if i == drives else PALETTE[0]
        ch.line([(a, k), (a + d, k)], colour=colour, width=5, cls="series partbar")
        scores = " / ".join(fmt(v, 1) for v in it.get("title_rungs_vmaf") or [])
        ch.marker(a + d / 2, k, shape="diamond" if i == drives else "circle", colour=colour, cls="part",
                  tip=f"{kind} {i + 1} at {a:.1f}-{a + d:.1f} s: own top rung {it.get('top_size')} "
                      f"{k:.0f} kbit/s; the title's rungs score VMAF {scores} here")
    legend = ('<ul class="legend">' + _legend_marker("circle", PALETTE[0], f"{kind}: bitrate its own top rung needs")
              + _legend_marker("diamond", PALETTE[1], f"the {kind} that needs the most")
              + (_legend_line("#555555", "6 4", "the title's top rung") if title_top else "") + "</ul>")
    rows = []
    for i, it in enumerate(items):
        own = ", ".join(f"{_size(r.get('width'), r.get('height'))}@{fmt(r.get('bitrate_kbps'), 0)}"
                        for r in it.get("rungs") or []) or esc(it.get("error", "–"))
        role = "drives the top rung" if i == drives else "needs the least" if i == easiest else ""
        rows.append([str(i + 1), fmt(it.get("start_s"), 2), fmt(it.get("duration_s"), 2), esc(own),
                     fmt(it.get("top_kbps"), 0), esc(" / ".join(fmt(v, 1) for v in it.get("title_rungs_vmaf") or [])),
                     esc(role), esc(it.get("why", "") + (f"; stands for {100 * w:.0f} % of the title"
                                                         if (w := _num(it.get("weight"))) is not None else ""))])
    lo_hi = pv.get("top_kbps_range") or []
    head = (f"<p>Each {kind}'s own hull, with the title's policy, would put its top rung between "
            f"{fmt(lo_hi[0] if lo_hi else None, 0)} and {fmt(lo_hi[1] if len(lo_hi) > 1 else None, 0)} kbit/s "
            f"(title: {fmt(title_top, 0)}). The {kind}s are measured inside the title's trial encodes "
            f"({esc(pv.get('points'))} per {kind}), not encoded alone.</p>")
    return (f"<section><h2>Per {kind}: which scenes drive the ladder</h2>{head}{legend}"
            f"<div class='plot'>{ch.svg()}</div>"
            + "<div class='tablewrap'>"
            + _rows_table([kind, "from s", "length s", "its own ladder (size@kbit/s)", "own top kbit/s",
                           "VMAF of the title's rungs here", "", "why analysed"], rows, "parts") + "</div></section>")


def _rows_table(headers: Sequence[str], rows: Sequence[Sequence[str]], cls: str = "") -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _kv(items: Iterable[tuple[str, str]]) -> str:
    return '<dl class="kv">' + "".join(f"<dt>{esc(k)}</dt><dd>{v}</dd>" for k, v in items) + "</dl>"


def encodes_spent(doc: Mapping) -> str:
    sw = doc.get("sweep") or {}
    pred = doc.get("prediction") or {}
    if doc.get("kind") == "predicted":
        n = int(pred.get("verify_encodes") or 0)
        pe = pred.get("probe_encode")
        probe = (f" + 1 probe encode ({pe.get('preset')} CRF {pe.get('crf')}, not a grid point)"
                 if isinstance(pe, Mapping) else "")
        return f"{n}{probe} (prediction{' + verification search' if n else ''})"
    if sw.get("mode") == "fast":
        return f"{sw.get('encodes', 0)} of {sw.get('grid_points', '?')} grid points"
    if sw:
        return f"{sw.get('encodes', 0)} (every grid point)"
    return "–"


def title_report(doc: Mapping, rd_rows: Iterable[Mapping] | None = None, verification: Mapping | None = None,
                 *, title: str | None = None) -> str:
    """The self-contained HTML report of one ladder document."""
    measured, predicted = collect_points(doc, rd_rows)
    rd_svg, rd_legend = rd_chart(doc, measured, predicted, verification)
    src = doc.get("source") or {}
    name = title or src.get("path", "").rsplit("/", 1)[-1] or "title"
    comp = doc.get("comparison") or {}
    pred = doc.get("prediction") or {}
    sw = doc.get("sweep") or {}
    rungs = doc.get("rungs") or []
    vrungs = {r.get("index"): r for r in (verification or {}).get("rungs", [])}

    cards = [("mode", esc(KIND_TEXT[mode_of(doc)])),
             ("rungs", str(len(rungs))),
             ("top rung", f"{_size(rungs[-1]['width'], rungs[-1]['height'])} · {int(rungs[-1]['bitrate_kbps']):,} kbps · "
                          f"VMAF {float(rungs[-1]['vmaf']):.1f}" if rungs else "–"),
             ("trial encodes", esc(encodes_spent(doc)))]
    if comp.get("bd_rate_pct") is not None:
        cards.append((f"BD-rate vs {comp.get('name')}", f"{float(comp['bd_rate_pct']):+.1f}%"))
    top = comp.get("top_rung") or {}
    if top.get("saving_pct") is not None:
        cards.append(("bits saved at the fixed top rung's quality",
                      f"{float(top['saving_pct']):+.1f}% ({fmt(top.get('per_title_kbps_same_quality'), 0)} vs "
                      f"{fmt(top.get('fixed_kbps'), 0)} kbps at VMAF {fmt(top.get('compared_at_quality'))})"))
    if pred.get("loss_bound_pct") is not None:
        cards.append(("confidence", ("shippable" if pred.get("confident") else "too uncertain to ship unmeasured")
                      + f" ({loss_text(pred)} ≤ {float(pred['loss_bound_pct']):.1f}%, top rung "
                      + "–".join(f"{int(v):,}" for v in pred.get("top_kbps_interval") or []) + " kbps, 80%)"))
    if pred.get("size_choice") == "size_model":
        cards.append(("rung sizes", "each one of the two sizes the model's size model names at its bitrate"))
    if verification:
        bd = verification.get("bd_rate_vs_hull_pct")
        cards.append(("verification", f"{sum(r.get('status') == 'ok' for r in verification.get('rungs', []))} of "
                      f"{len(verification.get('rungs', []))} rungs re-encoded; VMAF error "
                      f"{fmt(verification.get('vmaf_mae'), 2)} (mean abs)"
                      + (f"; BD-rate vs hull {float(bd):+.2f}%" if bd is not None else "")))

    has_iv = any(r.get("vmaf_interval") for r in rungs)
    headers = ["#", "size", "kbps", "VMAF"] + (["80% interval"] if has_iv else []) + \
              ["PSNR-Y", "CRF≈", "maxrate", "bufsize", "GOP"]
    if vrungs:
        headers += ["measured kbps", "measured VMAF", "measured − expected"]
    trs = []
    for r in rungs:
        enc = r.get("encoder") or {}
        row = [str(r["index"]), _size(r["width"], r["height"]), f"{int(r['bitrate_kbps']):,}", fmt(r["vmaf"], 2)]
        if has_iv:
            iv = r.get("vmaf_interval")
            row.append(f"{float(iv[0]):.1f}–{float(iv[1]):.1f}" if iv else "–")
        row += [fmt(r.get("psnr_y"), 2), fmt(enc.get("crf_equivalent"), 1), fmt(enc.get("maxrate_kbps"), 0),
                fmt(enc.get("bufsize_kbits"), 0), esc(enc.get("gop_frames", "–"))]
        if vrungs:
            v = vrungs.get(r["index"]) or {}
            if v.get("status") == "ok":
                row += [fmt(v.get("measured_kbps"), 0), fmt(v.get("measured_vmaf"), 2),
                        f"{float(v['measured_vmaf']) - float(v['expected_vmaf']):+.2f}"]
            else:
                row += ["failed", esc(v.get("error", "–")), ""]
        trs.append(row)
    ladder_table = _rows_table(headers, trs, "ladder")

    fixed_table = ""
    if comp.get("rungs"):
        fixed_table = _rows_table(["size", "kbps", "VMAF on this title"],
                                  [[_size(f["width"], f["height"]), fmt(f["bitrate_kbps"], 0),
                                    fmt(f.get("quality"), 2) + (" (extrapolated)" if f.get("extrapolated") else "")]
                                   for f in comp["rungs"]], "fixed")
        tk = comp.get("total_kbps") or {}
        fixed_table += (f"<p>Sum of the rungs' bitrates: per-title {fmt(tk.get('per_title'), 0)} kbps, "
                        f"fixed {fmt(tk.get('fixed'), 0)} kbps.</p>")

    enc0 = (rungs[0].get("encoder") or {}) if rungs else {}
    policy = doc.get("policy") or {}
    settings = [("codec", esc(doc.get("codec"))), ("preset", esc(enc0.get("preset", "–"))),
                ("rate control of the rungs", esc(enc0.get("rate_control", "–"))),
                ("GOP", f"{esc(enc0.get('gop_frames', '–'))} frames (fixed, aligned)"),
                ("VMAF model", esc(doc.get("vmaf_model"))), ("pooling", esc(doc.get("pooling"))),
                ("policy", esc(", ".join(f"{k}={v}" for k, v in policy.items() if v is not None))),
                ("FFmpeg", esc(doc.get("ffmpeg_version"))),
                ("tool", esc(f"{(doc.get('tool') or {}).get('name', '')} {(doc.get('tool') or {}).get('version', '')}")),
                ("created", esc(doc.get("created")))]
    if sw:
        settings.append(("sweep", esc(f"sizes {', '.join(_size(*s) for s in sw.get('sizes', []))}; CRF "
                                      f"{', '.join(f'{c:g}' for c in sw.get('crfs', []))}; "
                                      f"{sw.get('failed', 0)} failed; {fmt(sw.get('wall_s'), 1)} s")))
        search = sw.get("search") or {}
        if search:
            settings.append(("search", esc(f"{search.get('encodes')} encodes in {len(search.get('rounds', []))} rounds, "
                                           f"stopped: {search.get('stop')}; unbacked rungs: "
                                           f"{search.get('unbacked_rungs') or 'none'}")))
    if pred:
        settings.append(("model", esc(f"{pred.get('model')} x{pred.get('model_members', 1)}, trained on "
                                      f"{pred.get('model_titles', '?')} titles")))
        if pred.get("winners_curse_correction_vmaf") is not None:
            settings.append(("winner's-curse correction", f"{float(pred['winners_curse_correction_vmaf']):.2f} VMAF"))
    an = doc.get("analysed") or {}
    source = [("file", esc(src.get("path"))),
              ("video", esc(f"{src.get('codec', '')} {src.get('width')}x{src.get('height')} "
                            f"({src.get('display_width')}x{src.get('display_height')} displayed), "
                            f"{fmt(src.get('fps'), 3)} fps, {fmt(src.get('duration_s'), 2)} s, "
                            f"{src.get('pix_fmt', '')}, {fmt(src.get('video_kbps'), 0)} kbps")),
              ("analysed", esc(f"from {fmt(an.get('start_s'), 2)} s, "
                               + (f"{fmt(an.get('duration_s'), 2)} s" if an.get("duration_s") else "to the end")
                               + f", {an.get('frames', '?')} frames at "
                               f"{an.get('reference_width')}x{an.get('reference_height')}"
                               + (f", segments {an.get('segments')}" if an.get("segments") else "")))]
    warn = list(src.get("warnings") or [])
    notes = list(doc.get("notes") or []) + ([verification["bd_rate_note"]] if (verification or {}).get("bd_rate_note") else [])
    notes = [n for n in notes if n not in warn]    # the document's notes begin with the source's warnings

    frames = frames_chart(verification, _num(an.get("fps")) or _num(src.get("fps")))
    body = [f"<header><h1>{esc(name)}</h1><p class='sub'>{esc(KIND_TEXT[mode_of(doc)])} · "
            f"{esc(doc.get('codec'))}</p></header>",
            '<section class="cards">' + "".join(f'<div class="card"><div class="k">{esc(k)}</div>'
                                                 f'<div class="v">{v}</div></div>' for k, v in cards) + "</section>"]
    if warn or notes:
        body.append('<section class="notes"><h2>Notes and warnings</h2><ul>'
                    + "".join(f'<li class="warning">{esc(w)}</li>' for w in warn)
                    + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul></section>")
    body.append(f'<section><h2>Rate–quality</h2>{rd_legend}<div class="plot">{rd_svg}</div>'
                f'<p class="hint">Hover a point for its size, CRF, bitrate, VMAF and PSNR. '
                f'{len(measured)} measured point(s)'
                + (f", {len(predicted)} predicted" if predicted else "") + ".</p></section>")
    body.append(f"<section><h2>Ladder</h2>{ladder_table}</section>")
    if frames:
        body.append(f"<section><h2>Per-frame VMAF of the re-encoded rungs</h2><div class='plot'>{frames}</div></section>")
    if fixed_table:
        body.append(f"<section><h2>Fixed ladder on this title ({esc(comp.get('name'))})</h2>{fixed_table}</section>")
    samp = an.get("sampling") or {}
    if samp.get("excerpts"):
        rows_ex = [[fmt(e.get("start_s"), 2), fmt(e.get("duration_s"), 2), fmt(e.get("probe_kbps"), 0),
                    fmt(100 * w, 0) if (w := _num(e.get("weight"))) is not None else "", esc(e.get("why"))]
                   for e in samp["excerpts"]]
        body.append("<section><h2>Analysed excerpts</h2>"
                    f"<p>Chosen from the title's structure ({esc(samp.get('shots'))} shot(s), "
                    f"{esc(samp.get('pieces'))} pieces; probe bitrate over the title: mean "
                    f"{fmt(samp.get('title_mean_kbps'), 0)} kbit/s, quartiles "
                    f"{esc(' / '.join(fmt(v, 0) for v in samp.get('title_quartiles_kbps') or []))}; sample mean "
                    f"{fmt(samp.get('sample_mean_kbps'), 0)})."
                    + (" The title's points are the excerpts' bitrates and VMAF weighted by the share of the title "
                       "each stands for (its weight, %)." if samp.get("pooling") else "") + "</p>"
                    + ("" if doc.get("parts") else
                       _rows_table(["start s", "length s", "probe kbit/s", "weight %", "why"], rows_ex, "excerpts"))
                    + "</section>")
    parts = parts_section(doc)
    if parts:
        body.append(parts)
    body.append(f"<section class='two'><div><h2>Settings</h2>{_kv(settings)}</div>"
                f"<div><h2>Source</h2>{_kv(source)}</div></section>")
    return _page(f"{name} — ladder report", "".join(body))


# ------------------------------------------------------------------------------------------
# Batch index
# ------------------------------------------------------------------------------------------


def batch_index(entries: Sequence[Mapping], *, title: str = "batch") -> str:
    """One row per title (name, kind, rungs, top rung, BD-rate vs the fixed ladder, mode, status or
    error, a link to its report) and a chart of per-title savings. ``entries``: dicts with keys
    title, report (relative link or None), status, error, kind, rungs, top (str), top_kbps,
    bd_rate_pct, top_saving_pct (bits saved at the fixed top rung's quality), mode."""
    rows = []
    for e in entries:
        # a file name is a path, not a URL: '#', '?', '%' or a 'javascript:' prefix must not act as one
        link = (f'<a href="{esc(quote(os.fsencode(e["report"]), safe="/"))}">{esc(e["title"])}</a>' if e.get("report")
                else esc(e["title"]))
        bd = _num(e.get("bd_rate_pct"))
        sv = _num(e.get("top_saving_pct"))
        status = esc(e.get("status", ""))
        if e.get("error"):
            status += f': <span class="error">{esc(e["error"])}</span>'
        rows.append((f'<td data-v="{esc(e["title"])}">{link}</td>',
                     f'<td data-v="{e.get("rungs") or 0}">{esc(e.get("rungs", "–"))}</td>',
                     f'<td data-v="{_num(e.get("top_kbps")) or 0}">{esc(e.get("top") or "–")}</td>',
                     f'<td data-v="{bd if bd is not None else ""}">{f"{bd:+.1f}%" if bd is not None else "–"}</td>',
                     f'<td data-v="{sv if sv is not None else ""}">{f"{sv:.1f}%" if sv is not None else "–"}</td>',
                     f'<td class="txt">{esc(e.get("mode") or "–")}</td>',
                     f'<td class="txt {"bad" if e.get("error") else "ok"}">{status}</td>'))
    cols = ["title", "rungs", "top rung", "BD-rate vs fixed", "bits saved at the fixed top rung", "mode", "status"]
    head = "".join(f'<th data-col="{i}" tabindex="0" class="{"txt" if h in ("title", "mode", "status") else ""}">'
                   f'{h}</th>' for i, h in enumerate(cols))
    table = (f'<table class="index sortable"><thead><tr>{head}</tr></thead><tbody>'
             + "".join("<tr>" + "".join(r) + "</tr>" for r in rows) + "</tbody></table>")
    chart = _savings_chart(entries)
    ok = sum(1 for e in entries if not e.get("error"))
    body = (f"<header><h1>{esc(title)}</h1><p class='sub'>{ok} of {len(entries)} titles analysed"
            f"{'' if ok == len(entries) else f', {len(entries) - ok} failed'}</p></header>"
            f"<section><h2>Savings against the fixed ladder (BD-rate; below 0: fewer bits for the same quality)</h2>"
            f"<div class='plot'>{chart}</div></section>"
            f"<section><h2>Titles</h2><p class='hint'>Click a column to sort. Bits saved at the fixed top rung: "
            f"how much less the title's own hull needs for the quality of the fixed ladder's top rung "
            f"(defined for one-rung ladders too, unlike the BD-rate).</p>{table}</section>")
    return _page(f"{title} — ladders", body)


def _savings_chart(entries: Sequence[Mapping]) -> str:
    vals = [(e["title"], _num(e.get("bd_rate_pct"))) for e in entries]
    vals = [(t, v) for t, v in vals if v is not None]
    if not vals:
        return "<p>No title has a comparison.</p>"
    labels = [t if len(t) <= 48 else t[:45] + "…" for t, _ in vals]
    bar_h, gap, right = 18, 6, 80
    left = int(min(400, max(120, 7.2 * max(len(t) for t in labels) + 16)))
    width = 900
    height = 30 + len(vals) * (bar_h + gap)
    lo, hi = min(0.0, min(v for _, v in vals)), max(0.0, max(v for _, v in vals))
    span = (hi - lo) or 1.0
    def X(v):  # noqa: E306
        return left + (v - lo) / span * (width - left - right)
    parts = [f'<line class="zero" x1="{X(0):.1f}" x2="{X(0):.1f}" y1="10" y2="{height - 10}"/>']
    for i, (t, v) in enumerate(vals):
        y = 20 + i * (bar_h + gap)
        x0, x1 = sorted((X(0), X(v)))
        colour = PALETTE[0] if v <= 0 else PALETTE[3]
        tip = f"{t}: BD-rate {v:+.1f}% vs the fixed ladder"
        label = labels[i]
        parts.append(f'<text class="tick" x="{left - 8}" y="{y + 13}" text-anchor="end">{esc(label)}</text>'
                     f'<g class="pt bar" data-tip="{esc(tip)}"><title>{esc(tip)}</title>'
                     f'<rect x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 1):.1f}" height="{bar_h}" fill="{colour}"/></g>'
                     f'<text class="tick" x="{x1 + 6:.1f}" y="{y + 13}">{v:+.1f}%</text>')
    return (f'<svg class="chart savings" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="per-title BD-rate against the fixed ladder" xmlns="http://www.w3.org/2000/svg">'
            + "".join(parts) + "</svg>")


# ------------------------------------------------------------------------------------------
# Page
# ------------------------------------------------------------------------------------------

CSS = """
:root{--fg:#1a1a1a;--muted:#555;--line:#d0d0d0;--bg:#fff;--card:#f5f5f5}
*{box-sizing:border-box}body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);
background:var(--bg);margin:0 auto;max-width:1180px;padding:16px 20px 40px}
h1{font-size:24px;margin:8px 0 2px;word-break:break-all}h2{font-size:18px;margin:22px 0 8px}
.sub,.hint{color:var(--muted);margin:0 0 8px}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:12px 0}.card{background:var(--card);border-radius:6px;
padding:8px 12px;min-width:170px;max-width:100%}.card .k{color:var(--muted);font-size:13px}.card .v{font-size:16px;font-weight:600}
.plot{width:100%;overflow-x:auto}svg.chart{width:100%;height:auto;max-width:1100px;display:block}
svg .grid{stroke:#e6e6e6;stroke-width:1}svg .frame{fill:none;stroke:#888}svg .tick{font-size:12px;fill:#333}
svg .axis{font-size:13px;fill:#222}svg .label{font-size:11.5px;fill:#111;paint-order:stroke;stroke:#fff;stroke-width:3px}
svg .zero{stroke:#333;stroke-width:1}svg .leader{stroke:#666;stroke-width:0.8}svg g.pt{cursor:pointer}svg g.pt:hover *{stroke-width:3}
ul.legend{list-style:none;display:flex;flex-wrap:wrap;gap:4px 16px;padding:0;margin:4px 0 8px;font-size:13px}
ul.legend li{display:flex;align-items:center;gap:5px}
table{border-collapse:collapse;margin:6px 0;font-size:14px}th,td{border-bottom:1px solid var(--line);
padding:4px 10px;text-align:right;white-space:nowrap}th{background:var(--card);font-weight:600}
td:first-child,th:first-child,th.txt,td.txt{text-align:left}td.txt{white-space:normal}
table.parts td:nth-child(4),table.parts td:nth-child(8){text-align:left;white-space:normal;min-width:14em}
table.parts td:nth-child(7){text-align:left}.tablewrap{overflow-x:auto}
table.sortable th{cursor:pointer;user-select:none}table.sortable th[aria-sort]::after{content:" ▲"}
table.sortable th[aria-sort=descending]::after{content:" ▼"}
.error,.warning{color:#a33a00}td.bad{color:#a33a00}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:3px 14px;margin:0;font-size:14px}
dl.kv dt{color:var(--muted)}dl.kv dd{margin:0;word-break:break-word}
.two{display:grid;grid-template-columns:1fr 1fr;gap:24px}@media (max-width:900px){.two{grid-template-columns:1fr}}
#tip{position:fixed;pointer-events:none;background:#222;color:#fff;padding:4px 8px;border-radius:4px;font-size:13px;
display:none;max-width:420px;z-index:9}
"""

JS = """
(function(){
  var tip=document.getElementById('tip');
  document.querySelectorAll('g.pt').forEach(function(g){
    g.addEventListener('mousemove',function(e){tip.textContent=g.getAttribute('data-tip');
      tip.style.display='block';tip.style.left=(e.clientX+14)+'px';tip.style.top=(e.clientY+14)+'px';});
    g.addEventListener('mouseleave',function(){tip.style.display='none';});
  });
  document.querySelectorAll('table.sortable').forEach(function(t){
    t.querySelectorAll('th').forEach(function(th,i){
      function sort(){
        var asc=th.getAttribute('aria-sort')!=='ascending';
        t.querySelectorAll('th').forEach(function(h){h.removeAttribute('aria-sort');});
        th.setAttribute('aria-sort',asc?'ascending':'descending');
        var body=t.tBodies[0],rows=Array.prototype.slice.call(body.rows);
        rows.sort(function(a,b){
          var x=a.cells[i].getAttribute('data-v'),y=b.cells[i].getAttribute('data-v');
          if(x===null){x=a.cells[i].textContent;y=b.cells[i].textContent;}
          var nx=parseFloat(x),ny=parseFloat(y),c;
          if(!isNaN(nx)&&!isNaN(ny)&&x!==''&&y!==''){c=nx-ny;}else{c=String(x).localeCompare(String(y));}
          return asc?c:-c;});
        rows.forEach(function(r){body.appendChild(r);});
      }
      th.addEventListener('click',sort);
      th.addEventListener('keydown',function(e){if(e.key==='Enter'||e.key===' '){e.preventDefault();sort();}});
    });
  });
  document.body.setAttribute('data-ready','1');
})();
"""


def _page(title: str, body: str) -> str:
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
            "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">"
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body>{body}"
            f"<div id='tip' role='tooltip'></div><script>{JS}</script></body></html>")
