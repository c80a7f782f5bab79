"""``report``: read a ladder document, the RD table beside it and optionally a verification, and
write the HTML report; the batch index over a batch's results.

Inputs are data: the ladder is loaded with the strict document loader, the RD table is read as
bounded CSV (numbers only where numbers are expected), a verification file as bounded JSON. Every
text that reaches the page is HTML-escaped by :mod:`ladders.report`.
"""
from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Mapping, Sequence

from ..core.errors import InvalidLadderFile, shown
from ..core.fsutil import Output, write_outputs
from ..ladders.document import load
from ..ladders.report import batch_index, mode_of, title_report

MAX_TABLE_BYTES = 64 << 20
MAX_TABLE_ROWS = 100_000
MAX_VERIFY_BYTES = 16 << 20
RD_COLUMNS = ("codec", "width", "height", "crf", "kbps", "vmaf_mean", "vmaf_hmean", "vmaf_p5", "psnr_y",
              "subsample")


def rd_path_for(ladder_path: str) -> str:
    """``X.ladder.json`` -> ``X.rd.csv`` (the RD table ``analyze`` writes beside a ladder)."""
    base = (ladder_path[:-len(".ladder.json")] if ladder_path.endswith(".ladder.json")
            else os.path.splitext(ladder_path)[0])
    return base + ".rd.csv"


def read_rd_table(path: str) -> list[dict]:
    """The RD rows the report needs, as numbers; a damaged table is an error, not a half page."""
    try:
        if not os.path.isfile(path):
            raise InvalidLadderFile("the RD table is not a regular file", path)
        if os.path.getsize(path) > MAX_TABLE_BYTES:
            raise InvalidLadderFile(f"the RD table is larger than {MAX_TABLE_BYTES >> 20} MiB", path)
        with open(path, encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            missing = {"width", "height", "kbps"} - set(reader.fieldnames or ())
            if missing:
                raise InvalidLadderFile(f"not an RD table (no {', '.join(sorted(missing))} column)", path)
            rows = []
            for i, r in enumerate(reader):
                if i >= MAX_TABLE_ROWS:
                    raise InvalidLadderFile(f"the RD table has more than {MAX_TABLE_ROWS} rows", path)
                rows.append(_rd_row(r, path, i + 2))
            return rows
    except OSError as exc:
        raise InvalidLadderFile(f"cannot read the RD table: {exc.strerror}", path) from None
    except (UnicodeDecodeError, csv.Error):
        raise InvalidLadderFile("the RD table is not UTF-8 CSV", path) from None


def _rd_row(r: Mapping, path: str, line: int) -> dict:
    out: dict = {"codec": (r.get("codec") or "")[:32]}
    for k in RD_COLUMNS[1:]:
        v = r.get(k)
        if v in (None, ""):
            out[k] = None
            continue
        try:
            f = float(v)
        except ValueError:
            raise InvalidLadderFile(f"RD table line {line}: {k} is not a number", path) from None
        if math.isinf(f) or abs(f) > 1e9:
            raise InvalidLadderFile(f"RD table line {line}: {k} is out of range", path)
        out[k] = None if math.isnan(f) else f
    if out["width"] is None or out["height"] is None or not (1 <= out["width"] <= 16384 and 1 <= out["height"] <= 16384):
        raise InvalidLadderFile(f"RD table line {line}: bad size", path)
    return out


def _reject_constant(name: str):
    raise ValueError(f"non-finite number {name}")


def read_verification(path: str) -> dict:
    """A ``pertitle verify --json`` result: rungs with expected and measured rate and quality."""
    try:
        if not os.path.isfile(path):
            raise InvalidLadderFile("the verification is not a regular file", path)
        if os.path.getsize(path) > MAX_VERIFY_BYTES:
            raise InvalidLadderFile("the verification file is too large", path)
        with open(path, encoding="utf-8") as fh:
            doc = json.loads(fh.read(), parse_constant=_reject_constant)
    except OSError as exc:
        raise InvalidLadderFile(f"cannot read the verification: {exc.strerror}", path) from None
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidLadderFile(f"not a verification (pertitle verify --json): {str(exc)[:120]}", path) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("rungs"), list) or len(doc["rungs"]) > 100:
        raise InvalidLadderFile("not a verification (pertitle verify --json): no rungs", path)
    rungs = []
    for r in doc["rungs"]:
        if not isinstance(r, dict):
            raise InvalidLadderFile("not a verification: a rung is not an object", path)
        try:
            v = {"index": int(r["index"]), "width": int(r["width"]), "height": int(r["height"]),
                 "status": str(r.get("status", ""))[:16], "target_kbps": float(r["target_kbps"])}
            if v["status"] == "ok":
                for k in ("measured_kbps", "expected_vmaf", "measured_vmaf"):
                    v[k] = float(r[k])
                    if not math.isfinite(v[k]):
                        raise ValueError(k)
                frames = r.get("vmaf_frames")
                if isinstance(frames, list) and len(frames) <= 1_000_000:
                    v["vmaf_frames"] = [float(x) for x in frames]
            else:
                v["error"] = str(r.get("error", ""))[:300]
        except (KeyError, TypeError, ValueError):
            raise InvalidLadderFile("not a verification: a rung lacks its sizes, rates or VMAF", path) from None
        rungs.append(v)
    out: dict = {"rungs": rungs}
    for k in ("bd_rate_vs_hull_pct", "vmaf_mae"):
        if isinstance(doc.get(k), (int, float)) and math.isfinite(doc[k]):
            out[k] = float(doc[k])
    if isinstance(doc.get("bd_rate_note"), str):
        out["bd_rate_note"] = doc["bd_rate_note"][:300]
    return out


def render(doc: Mapping, rd_rows: Sequence[Mapping] | None = None, verification: Mapping | None = None,
           title: str | None = None) -> str:
    return title_report(doc, rd_rows, verification or doc.get("verification"), title=title)


def report_from_files(ladder_path: str, *, rd_path: str | None = None, verification_path: str | None = None) -> str:
    """The report of a ladder file; the RD table beside it is used when it exists (or ``rd_path``)."""
    doc = load(ladder_path)
    rd = rd_path or beside_rd(ladder_path)
    rows = read_rd_table(rd) if rd else None
    ver = read_verification(verification_path) if verification_path else None
    return render(doc, rows, ver, title=title_of(ladder_path))


def beside_rd(ladder_path: str) -> str | None:
    """The RD table beside a ladder file, when there is one to read: a symbolic link there is not
    followed (a name pertitle derives, not one the user gave: ``--rd-csv`` names one to read)."""
    rd = rd_path_for(ladder_path)
    if os.path.islink(rd):
        import warnings

        warnings.warn(f"{shown(rd)} is a symbolic link: not read (--rd-csv names the RD table to read)",
                      stacklevel=2)
        return None
    return rd if os.path.isfile(rd) else None


def title_of(ladder_path: str) -> str:
    name = os.path.basename(ladder_path)
    for suffix in (".ladder.json", ".json"):
        if name.endswith(suffix):
            return name[:-len(suffix)]
    return name


def write_report(out: Output, text: str) -> None:
    write_outputs([(out, lambda fh: fh.write(text))])


def index_entries(results: Sequence, folder: str, outdir: str) -> list[dict]:
    """Rows of the batch index from batch results (``TitleResult``), links relative to ``outdir``."""
    entries = []
    for r in results:
        doc: dict | None = None
        if r.status in ("ok", "skipped") and r.ladder and os.path.isfile(r.ladder):
            try:
                doc = load(r.ladder)
            except Exception:  # noqa: BLE001 - the index shows what it can
                doc = None
        rungs = (doc or {}).get("rungs") or []
        top = rungs[-1] if rungs else None
        report = getattr(r, "report", None)
        entries.append({
            "title": shown(os.path.relpath(r.path, folder)),
            "report": os.path.relpath(report, outdir).replace(os.sep, "/") if report else None,
            "status": r.status, "error": r.error if r.status == "failed" else None,
            "kind": (doc or {}).get("kind"),
            "rungs": len(rungs) if doc else None,
            "top": f"{top['width']}x{top['height']} {top['bitrate_kbps']:,} kbps" if top else None,
            "top_kbps": top["bitrate_kbps"] if top else None,
            "bd_rate_pct": ((doc or {}).get("comparison") or {}).get("bd_rate_pct"),
            "top_saving_pct": (((doc or {}).get("comparison") or {}).get("top_rung") or {}).get("saving_pct"),
            "mode": mode_of(doc) if doc else None,
        })
    return entries


def render_index(entries: Sequence[Mapping], title: str) -> str:
    return batch_index(entries, title=title)

