"""``batch``: every video under a folder -> one ladder + RD table per title, and a summary.

Resumable at two levels: a title whose ladder file already records the same source content
and the same options is skipped; inside a title, each measured point is in the cache. One bad
title is recorded with its error and never costs the others their results.
"""
from __future__ import annotations

import csv
import math
import numbers
import os
import time
from dataclasses import dataclass, field

from ..core.errors import PertitleError, shown
from ..core.fsutil import Output, atomic_write, atomic_write_json, check_output, csv_safe, no_link_below, to_json
from ..core.fsutil import write_outputs as write_many
from ..encoder.cache import Cache, fingerprint
from ..encoder.events import EventSink, no_events
from ..encoder.ffmpeg import FFmpeg
from ..encoder.sweep import RD_COLUMNS
from ..ladders.document import load
from .analyze import analyze
from .common import Analysis, AnalysisOptions

LADDER_SUFFIX = ".ladder.json"
RD_SUFFIX = ".rd.csv"
REPORT_SUFFIX = ".report.html"
PACKAGE_SUFFIX = ".package"
INDEX_NAME = "index.html"


def output_paths(folder: str, path: str, outdir: str) -> tuple[str, str]:
    rel = os.path.relpath(path, folder)
    base = os.path.join(outdir, rel)
    return base + LADDER_SUFFIX, base + RD_SUFFIX


def report_path(ladder_path: str) -> str:
    return ladder_path[:-len(LADDER_SUFFIX)] + REPORT_SUFFIX


def done_document(ladder_path: str, sha: str, config_key: str) -> dict | None:
    """The title's existing ladder, if it is a valid document for the same content and options."""
    if not os.path.isfile(ladder_path):
        return None
    try:
        doc = load(ladder_path)
    except PertitleError:
        return None  # damaged or foreign: redo the title
    sweep = doc.get("sweep") if isinstance(doc.get("sweep"), dict) else {}
    if doc["source"].get("sha256") == sha and sweep.get("config_key") == config_key:
        return doc
    return None


@dataclass
class TitleResult:
    path: str
    status: str                      # ok / skipped / failed
    ladder: str | None = None
    rd_csv: str | None = None
    report: str | None = None
    package: str | None = None
    error: str | None = None
    error_kind: str | None = None
    exit_code: int = 0
    rungs: str = ""                  # "WxH@kbps ..." for the summary
    bd_rate_vs_fixed_pct: float | None = None
    top_saving_vs_fixed_pct: float | None = None   # bits saved at the fixed top rung's quality
    encodes: int = 0
    cached: int = 0
    wall_s: float = 0.0

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class BatchResult:
    titles: list[TitleResult] = field(default_factory=list)

    @property
    def failed(self) -> list[TitleResult]:
        return [t for t in self.titles if t.status == "failed"]


def csv_cell(value) -> str:
    """One RD-table cell as CSV text: empty for a missing value (None or NaN), integers without a
    decimal point, floats as ``repr`` (round-trips exactly), text a spreadsheet would run as a
    formula neutralised."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (bool, str)):
        return str(csv_safe(value))
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return repr(float(value))
    return str(csv_safe(str(value)))


def rd_csv_writer(rows: list[dict]):
    """A writer of the RD table ``rows`` (``Analysis.rd_table()``) as CSV, one column per ``RD_COLUMNS``."""
    cols = list(RD_COLUMNS)

    def write(fh) -> None:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(cols)
        w.writerows([csv_cell(r.get(c)) for c in cols] for r in rows)
    return write


def title_report_html(a: Analysis, title: str) -> str:
    """The title's HTML report (its measured points from the RD table)."""
    from .report import render

    return render(a.document, a.rd_table(), title=title)


def write_outputs(a: Analysis, ladder: Output, rd: Output | None, report: Output | None = None,
                  title: str = "title") -> None:
    """RD table, report and ladder written together (none is replaced unless all can be); the
    ladder's presence marks a batch title as done."""
    items = [(rd, rd_csv_writer(a.rd_table()))] if rd is not None else []
    if report is not None:
        text = title_report_html(a, title)
        items.append((report, lambda fh: fh.write(text)))
    items.append((ladder, lambda fh: fh.write(to_json(a.document))))
    write_many(items)


def ladder_fields(doc: dict) -> dict:
    """A title's summary fields taken from its ladder document: its rungs and how it compares with
    the fixed ladder (the BD-rate needs two rungs on each side; the saving at the fixed top
    rung's quality does not)."""
    comp = doc.get("comparison") or {}
    return {"rungs": " ".join(f"{r['width']}x{r['height']}@{r['bitrate_kbps']}" for r in doc["rungs"]),
            "bd_rate_vs_fixed_pct": comp.get("bd_rate_pct"),
            "top_saving_vs_fixed_pct": (comp.get("top_rung") or {}).get("saving_pct")}


def summarize(path: str, a: Analysis, ladder_path: str, rd_path: str, wall: float,
              report: str | None = None) -> TitleResult:
    doc = a.document
    return TitleResult(path=path, status="ok", ladder=ladder_path, rd_csv=rd_path, report=report,
                       **ladder_fields(doc), encodes=doc["sweep"]["encodes"], cached=doc["sweep"]["cached"],
                       wall_s=round(wall, 2))


def process_title(path: str, folder: str, outdir: str, opts: AnalysisOptions, ff: FFmpeg,
                  cache: Cache, on_event: EventSink = no_events, workdir: str | None = None,
                  encode: bool = False) -> TitleResult:
    """One title, isolated: every failure becomes a ``failed`` result, never an exception.
    ``encode``: then its package (renditions + HLS/DASH) in ``<title>.package/`` beside its ladder."""
    res = _analyse_title(path, folder, outdir, opts, ff, cache, on_event, workdir)
    if not encode or res.status == "failed":
        return res
    from .encode import EncodeOptions, encode_package

    pkg = res.ladder[:-len(LADDER_SUFFIX)] + PACKAGE_SUFFIX
    try:
        no_link_below(outdir, pkg, what="package folder")
        encode_package(path, load(res.ladder), pkg, EncodeOptions(jobs=max(1, opts.jobs or 1),
                                                                  allow_references=opts.allow_references),
                       ff, on_event=on_event)
        res.package = pkg
    except PertitleError as exc:
        res.status, res.error, res.error_kind, res.exit_code = "failed", f"encode: {exc}", exc.kind, exc.exit_code
    except OSError as exc:
        res.status, res.error, res.error_kind, res.exit_code = "failed", shown(f"encode: {exc}"), "os_error", 1
    except Exception as exc:  # noqa: BLE001 - as in _analyse_title
        res.status, res.error, res.error_kind, res.exit_code = "failed", f"encode: {internal(path, exc)}", "internal", 1
    return res


def _analyse_title(path: str, folder: str, outdir: str, opts: AnalysisOptions, ff: FFmpeg, cache: Cache,
                   on_event: EventSink, workdir: str | None) -> TitleResult:
    t0 = time.monotonic()
    ladder_path, rd_path = output_paths(folder, path, outdir)
    try:
        rep_path = report_path(ladder_path)
        for out, what in ((ladder_path, "ladder"), (rd_path, "RD table"), (rep_path, "report")):
            no_link_below(outdir, out, what=what)   # before the done ladder is read through it
        sha = fingerprint(path)
        doc = done_document(ladder_path, sha, opts.config_key())
        if doc is not None:
            if not os.path.isfile(rep_path):
                _report_of_done(ladder_path, rep_path, path)
            return TitleResult(path=path, status="skipped", ladder=ladder_path, rd_csv=rd_path,
                               report=rep_path if os.path.isfile(rep_path) else None,
                               **ladder_fields(doc), encodes=int(doc["sweep"].get("encodes") or 0),
                               cached=int(doc["sweep"].get("encodes") or 0))
        ladder, rd, rep = (check_output(ladder_path, inputs=[path], what="ladder"),
                           check_output(rd_path, inputs=[path], what="RD table"),
                           check_output(rep_path, inputs=[path], what="report"))
        a = analyze(path, opts, ff, cache, on_event=on_event, workdir=workdir)
        write_outputs(a, ladder, rd, rep, title=shown(os.path.relpath(path, folder)))
        return summarize(path, a, ladder_path, rd_path, time.monotonic() - t0, rep_path)
    except PertitleError as exc:
        return TitleResult(path=path, status="failed", error=str(exc), error_kind=exc.kind,
                           exit_code=exc.exit_code, wall_s=round(time.monotonic() - t0, 2))
    except OSError as exc:
        return TitleResult(path=path, status="failed", error=shown(f"{path}: {exc}"), error_kind="os_error",
                           exit_code=1, wall_s=round(time.monotonic() - t0, 2))
    except Exception as exc:  # noqa: BLE001 - a bug met on one title must not lose the others' results
        return TitleResult(path=path, status="failed", error=internal(path, exc), error_kind="internal",
                           exit_code=1, wall_s=round(time.monotonic() - t0, 2))


def internal(path: str, exc: BaseException) -> str:
    """One line for an unexpected error on one title (the batch goes on; PERTITLE_DEBUG=1 shows
    where it came from, as for a single title)."""
    if os.environ.get("PERTITLE_DEBUG"):
        import traceback

        traceback.print_exception(exc)
    return shown(f"{path}: internal error: {type(exc).__name__}: {exc}")


def _report_of_done(ladder_path: str, rep_path: str, path: str) -> None:
    """A title done by an earlier run without a report gets one (a damaged table: no report)."""
    from .report import report_from_files, write_report

    try:
        text = report_from_files(ladder_path)   # the RD table beside it, when there is one
        write_report(check_output(rep_path, inputs=[path], what="report"), text)
    except PertitleError:
        pass


SUMMARY_FIELDS = ["path", "status", "rungs", "bd_rate_vs_fixed_pct", "top_saving_vs_fixed_pct", "encodes", "cached",
                  "wall_s", "ladder", "rd_csv", "report", "package", "error_kind", "exit_code", "error"]


def write_index(result: BatchResult, folder: str, outdir: str) -> str:
    """``index.html``: one row per title linking to its report, failed titles with their error."""
    from .report import index_entries, render_index

    path = os.path.join(outdir, INDEX_NAME)
    text = render_index(index_entries(result.titles, folder, outdir), title=f"pertitle batch: {folder}")
    atomic_write(path, lambda fh: fh.write(text))
    return path


def write_summary(result: BatchResult, outdir: str) -> tuple[str, str]:
    rows = [t.to_dict() for t in result.titles]
    csv_path = os.path.join(outdir, "summary.csv")
    json_path = os.path.join(outdir, "summary.json")

    def _csv(fh):
        w = csv.DictWriter(fh, fieldnames=SUMMARY_FIELDS, extrasaction="ignore")
        w.writeheader()
        w.writerows({k: csv_safe(v) for k, v in r.items()} for r in rows)

    atomic_write(csv_path, _csv)
    atomic_write_json(json_path, {"titles": rows, "ok": sum(t.status == "ok" for t in result.titles),
                                  "skipped": sum(t.status == "skipped" for t in result.titles),
                                  "failed": len(result.failed)})
    return csv_path, json_path

