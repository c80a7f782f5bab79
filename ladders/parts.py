"""Per-part view of one analysis (pure): where each excerpt's or shot's own hull would put the
rungs, and how the title's ladder does on it — which scenes drive the ladder.

Every trial encode of a title made of parts (the excerpts joined in the reference, or the shots
of a title analysed whole) also records each part's own bitrate and pooled VMAF (``row["parts"]``,
:func:`pertitle.encoder.measure.pool_parts`). A part's rows make its own curves; the same policy
that placed the title's rungs places the part's. This is the first step toward per-shot encoding
(Netflix's dynamic optimizer), not the whole of it: the parts are measured inside the title's
encodes (the rate control saw the whole reference), not encoded alone.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..core.errors import LadderError
from .curves import Curve
from .document import curves_from_rows
from .policy import LadderPolicy, choose_ladder


def part_rows(rows: Sequence[Mapping], bounds: Sequence[Sequence[int]], index: int) -> list[dict]:
    """Rows of part ``index``: each trial encode's size with that part's bitrate and VMAF.
    Rows measured with other part boundaries (an older cache entry) are left out."""
    want = [list(b) for b in bounds]
    out = []
    for r in rows:
        parts = r.get("parts")
        if not parts or [list(b) for b in r.get("parts_frames") or ()] != want:
            continue
        out.append({"width": r["width"], "height": r["height"], "crf": r.get("crf"), **parts[index]})
    return out


def _best_at(curves: Sequence[Curve], width: int, height: int, kbps: float) -> float | None:
    for c in curves:
        if (c.width, c.height) == (width, height):
            q = c.quality_at(kbps)
            return None if q != q else round(float(q), 2)
    return None


def part_view(rows: Sequence[Mapping], bounds: Sequence[Sequence[int]], fps: float,
              spans: Sequence[Mapping], ladder: Sequence[Mapping], policy: LadderPolicy,
              kind: str) -> dict | None:
    """The document's ``parts`` section, or None when no row carries per-part measurements.

    ``spans``: per part, where it lies in the title (``start_s``, ``duration_s``, optional ``why``);
    ``ladder``: the title's rungs (``width``, ``height``, ``bitrate_kbps``)."""
    if not bounds:
        return None
    items = []
    for i, (first, end) in enumerate(bounds):
        prs = part_rows(rows, bounds, i)   # the same trial encodes for every part
        if not prs:
            return None
        item = {**{k: spans[i][k] for k in ("start_s", "duration_s", "why", "weight") if k in spans[i]},
                "frames": int(end - first)}
        try:
            curves = curves_from_rows(prs, policy.quality_column)
            choice = choose_ladder(curves, policy)
        except LadderError as exc:
            item["error"] = str(exc)
            items.append(item)
            continue
        item["rungs"] = [{"width": r.width, "height": r.height, "bitrate_kbps": int(round(r.kbps)),
                          "vmaf": round(r.quality, 2)} for r in choice.rungs]
        top = choice.rungs[-1]
        item["top_kbps"] = int(round(top.kbps))
        item["top_size"] = f"{top.width}x{top.height}"
        # The title's rungs measured on this part: where the shared ladder is short of (or
        # generous to) this scene.
        item["title_rungs_vmaf"] = [_best_at(curves, int(r["width"]), int(r["height"]),
                                             float(r["bitrate_kbps"])) for r in ladder]
        items.append(item)
    placed = [i for i, it in enumerate(items) if "top_kbps" in it]
    if not placed:
        return None
    drives = max(placed, key=lambda i: items[i]["top_kbps"])
    easiest = min(placed, key=lambda i: items[i]["top_kbps"])
    return {"kind": kind, "fps": fps, "points": len(prs), "items": items, "drives_top": drives, "easiest": easiest,
            "top_kbps_range": [items[easiest]["top_kbps"], items[drives]["top_kbps"]]}
