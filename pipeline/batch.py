"""``batch``: every video under a folder -> one ladder + RD table per title, and a summary.

Resumable at two levels: a title whose ladder file already records the same source content
and the same options is skipped; inside a title, each measured point is in the cache. One bad
title is recorded with its error and never costs the others their results.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field

from ..core.errors import PertitleError
from ..core.fsutil import atomic_write, atomic_write_json
from ..encoder.cache import Cache, fingerprint
from ..encoder.events import EventSink, no_events
from ..encoder.ffmpeg import FFmpeg
from .analyze import analyze
from .common import Analysis, AnalysisOptions

LADDER_SUFFIX = ".ladder.json"
RD_SUFFIX = ".rd.csv"


def output_paths(folder: str, path: str, outdir: str) -> tuple[str, str]:
    rel = os.path.relpath(path, folder)
    base = os.path.join(outdir, rel)
    return base + LADDER_SUFFIX, base + RD_SUFFIX


def is_done(ladder_path: str, sha: str, config_key: str) -> bool:
    try:
        with open(ladder_path, encoding="utf-8") as fh:
            doc = json.load(fh)
        return (doc.get("source", {}).get("sha256") == sha
                and doc.get("sweep", {}).get("config_key") == config_key)
    except (OSError, json.JSONDecodeError, AttributeError):
        return False


@dataclass
class TitleResult:
    path: str
    status: str                      # ok / skipped / failed
    ladder: str | None = None
    rd_csv: str | None = None
    error: str | None = None
    error_kind: str | None = None
    exit_code: int = 0
    rungs: str = ""                  # "WxH@kbps ..." for the summary
    bd_rate_vs_fixed_pct: float | None = None
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


def write_outputs(a: Analysis, ladder_path: str, rd_path: str) -> None:
    """RD table first, ladder last: the ladder's presence marks the title as done."""
    df = a.rd_frame()
    atomic_write(rd_path, lambda fh: df.to_csv(fh, index=False))
    atomic_write_json(ladder_path, a.document)


def summarize(path: str, a: Analysis, ladder_path: str, rd_path: str, wall: float) -> TitleResult:
    doc = a.document
    return TitleResult(
        path=path, status="ok", ladder=ladder_path, rd_csv=rd_path,
        rungs=" ".join(f"{r['width']}x{r['height']}@{r['bitrate_kbps']}" for r in doc["rungs"]),
        bd_rate_vs_fixed_pct=(doc.get("comparison") or {}).get("bd_rate_pct"),
        encodes=doc["sweep"]["encodes"], cached=doc["sweep"]["cached"], wall_s=round(wall, 2))


def process_title(path: str, folder: str, outdir: str, opts: AnalysisOptions, ff: FFmpeg,
                  cache: Cache, on_event: EventSink = no_events, workdir: str | None = None) -> TitleResult:
    """One title, isolated: every failure becomes a ``failed`` result, never an exception."""
    t0 = time.monotonic()
    ladder_path, rd_path = output_paths(folder, path, outdir)
    try:
        sha = fingerprint(path)
        if is_done(ladder_path, sha, opts.config_key()):
            with open(ladder_path, encoding="utf-8") as fh:
                doc = json.load(fh)
            return TitleResult(path=path, status="skipped", ladder=ladder_path, rd_csv=rd_path,
                               rungs=" ".join(f"{r['width']}x{r['height']}@{r['bitrate_kbps']}"
                                              for r in doc["rungs"]),
                               bd_rate_vs_fixed_pct=(doc.get("comparison") or {}).get("bd_rate_pct"),
                               encodes=doc["sweep"]["encodes"], cached=doc["sweep"]["encodes"])
        a = analyze(path, opts, ff, cache, on_event=on_event, workdir=workdir)
        write_outputs(a, ladder_path, rd_path)
        return summarize(path, a, ladder_path, rd_path, time.monotonic() - t0)
    except PertitleError as exc:
        return TitleResult(path=path, status="failed", error=str(exc), error_kind=exc.kind,
                           exit_code=exc.exit_code, wall_s=round(time.monotonic() - t0, 2))
    except OSError as exc:
        return TitleResult(path=path, status="failed", error=f"{path}: {exc}", error_kind="os_error",
                           exit_code=1, wall_s=round(time.monotonic() - t0, 2))


SUMMARY_FIELDS = ["path", "status", "rungs", "bd_rate_vs_fixed_pct", "encodes", "cached",
                  "wall_s", "ladder", "rd_csv", "error_kind", "exit_code", "error"]


def write_summary(result: BatchResult, outdir: str) -> tuple[str, str]:
    import csv

    rows = [t.to_dict() for t in result.titles]
    csv_path = os.path.join(outdir, "summary.csv")
    json_path = os.path.join(outdir, "summary.json")

    def _csv(fh):
        w = csv.DictWriter(fh, fieldnames=SUMMARY_FIELDS, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)

    atomic_write(csv_path, _csv)
    atomic_write_json(json_path, {"titles": rows, "ok": sum(t.status == "ok" for t in result.titles),
                                  "skipped": sum(t.status == "skipped" for t in result.titles),
                                  "failed": len(result.failed)})
    return csv_path, json_path

