"""pertitle command line: parse arguments, call the core, render results.

Progress and messages go to stderr; machine output (``--json``) to stdout. Every known failure
is one line on stderr and a distinct exit code (``pertitle exit-codes`` lists them).
"""
from __future__ import annotations

import functools
import json
import os
import signal
import sys
from collections.abc import Callable

import click

from .core import errors as E
from .core.version import __version__

# ------------------------------------------------------------------------------------------
# Rendering helpers
# ------------------------------------------------------------------------------------------


def _lines(msg: str) -> str:
    """Text for the terminal: each line's control characters, bidirectional controls and
    undecodable name bytes escaped (:func:`pertitle.core.errors.shown`)."""
    return "\n".join(E.shown(line) for line in str(msg).split("\n"))


def _err(msg: str) -> None:
    click.echo(_lines(msg), err=True)


def _out(msg: str) -> None:
    click.echo(_lines(msg))


class Progress:
    """Renders sweep events: a tqdm bar on a terminal, a few plain lines otherwise."""

    def __init__(self, quiet: bool = False, label: str = ""):
        self.quiet = quiet
        self.label = E.shown(label)
        self.bar = None
        self.tty = sys.stderr.isatty()

    def __call__(self, ev) -> None:
        from .encoder.events import PointDone, PointFailed, Stage, SweepStarted

        if self.quiet:
            return
        if isinstance(ev, SweepStarted):
            if self.tty:
                from tqdm import tqdm

                self.bar = tqdm(total=ev.total, initial=0, desc=self.label or "encodes",
                                unit="enc", file=sys.stderr, leave=False, dynamic_ncols=True)
            elif ev.cached:
                _err(f"{self.label}: {ev.cached} of {ev.total} points cached")
        elif isinstance(ev, Stage):
            if self.bar is not None:
                self.bar.set_postfix_str(ev.name)
            else:
                _err(f"{self.label}: {ev.name}: {ev.detail}" if self.label else f"{ev.name}: {ev.detail}")
        elif isinstance(ev, PointDone):
            if self.bar is not None:
                self.bar.update(1)
        elif isinstance(ev, PointFailed):
            msg = f"trial {ev.spec.width}x{ev.spec.height} failed: {ev.error}"
            if self.bar is not None:
                self.bar.write(msg, file=sys.stderr)
            else:
                _err(msg)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def handle_errors(fn: Callable) -> Callable:
    """Known errors: one line + their exit code. Anything else: one line + exit 1."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except E.PertitleError as exc:
            _err(f"pertitle: error: {exc}")
            if os.environ.get("PERTITLE_DEBUG") and isinstance(exc, E.FFmpegError):
                _err(exc.details())
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            _err("pertitle: interrupted (finished points are cached; rerun to resume)")
            sys.exit(128 + signal.SIGINT)
        except E.Terminated as t:
            _err(f"pertitle: stopped by {signal.Signals(t.signum).name} (finished points are cached; "
                 "rerun to resume)")
            sys.exit(128 + t.signum)
        except click.exceptions.Exit:
            raise
        except click.ClickException:
            raise
        except Exception as exc:  # noqa: BLE001 - the last line of defence against tracebacks
            if os.environ.get("PERTITLE_DEBUG"):
                raise
            _err(E.shown(f"pertitle: internal error: {type(exc).__name__}: {exc} "
                         "(set PERTITLE_DEBUG=1 for a traceback)"))
            sys.exit(1)

    return wrapper


def _float_list(value: str | None) -> tuple[float, ...] | None:
    if not value:
        return None
    try:
        return tuple(float(v) for v in value.replace(" ", "").split(",") if v)
    except ValueError:
        raise click.BadParameter(f"expected comma-separated numbers, got {value!r}") from None


def _int_list(value: str | None) -> tuple[int, ...] | None:
    vals = _float_list(value)
    return tuple(int(v) for v in vals) if vals else None


# ------------------------------------------------------------------------------------------
# Shared options
# ------------------------------------------------------------------------------------------


def ffmpeg_option(f):
    return click.option("--ffmpeg", "ffmpeg_path", envvar="PERTITLE_FFMPEG", default=None,
                        metavar="PATH",
                        help="FFmpeg binary (default: the one imageio-ffmpeg ships; env PERTITLE_FFMPEG).")(f)


def input_options(f):
    return click.option("--allow-playlists", "allow_references", is_flag=True,
                        help="Read an input that opens other files (HLS/DASH playlist, concat list). "
                             "Refused by default: a title is one local media file.")(f)


def model_options(f):
    f = click.option("--trust-model", is_flag=True,
                     help="Accept a pickle/joblib model file. Loading a pickle runs any code inside it: "
                          "only for files you made yourself.")(f)
    return f


def cache_options(f):
    f = click.option("--cache", "cache_dir", envvar="PERTITLE_CACHE", default=None, metavar="DIR",
                     help="Cache of measured points (default ~/.cache/pertitle; env PERTITLE_CACHE).")(f)
    f = click.option("--no-cache", is_flag=True, help="Measure everything again, store nothing.")(f)
    f = click.option("--workdir", default=None, metavar="DIR",
                     help="Where temporary references and encodes go (default: system temp).")(f)
    return f


# Ladder policy options: (option, LadderPolicy field, help). Defaults come from LadderPolicy itself.
POLICY_OPTIONS = [
    ("--top-vmaf", "top_quality", "Quality target of the top rung."),
    ("--step", "step_quality", "VMAF spacing between rungs (about one JND)."),
    ("--max-rungs", "max_rungs", "Most rungs in the ladder."),
    ("--min-kbps", "min_kbps", "Lowest rung bitrate."),
    ("--max-kbps", "max_kbps", "Highest rung bitrate."),
    ("--min-step-ratio", "min_step_ratio", "Minimum bitrate ratio between neighbouring rungs."),
    ("--max-step-ratio", "max_step_ratio", "Maximum bitrate ratio between neighbouring rungs."),
]


POLICY_RANGES = {
    "top_quality": click.FloatRange(1, 100), "step_quality": click.FloatRange(0.5, 50),
    "max_rungs": click.IntRange(1, 32), "min_kbps": click.FloatRange(1, 1e6), "max_kbps": click.FloatRange(1, 1e6),
    "min_step_ratio": click.FloatRange(1.01, 10), "max_step_ratio": click.FloatRange(1.01, 10),
}


def policy_options(f):
    from .ladders.policy import POOLINGS, LadderPolicy

    opts = [click.option(flag, field, default=getattr(LadderPolicy, field), show_default=True, help=text,
                         type=POLICY_RANGES[field])
            for flag, field, text in POLICY_OPTIONS]
    opts += [
        click.option("--ladder-heights", default=None, metavar="H,H,...", help="Heights allowed in the ladder (default: all measured)."),
        click.option("--pooling", type=click.Choice(list(POOLINGS)), default=LadderPolicy.pooling, show_default=True,
                     help="VMAF pooling that drives the choice."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def sweep_options(f):
    from .core.codecs import CODECS
    from .encoder.commands import VMAF_MODELS

    opts = [
        click.option("--codec", type=click.Choice(sorted(CODECS)), default="libx264", show_default=True),
        click.option("--crf", "crfs", default=None, metavar="Q,Q,...", help="Constant-quality grid (default: the codec's)."),
        click.option("--heights", default=None, metavar="H,H,...",
                     help="Candidate heights (default 2160,1440,1080,720,540,432,360,270,234 up to the source, plus its own)."),
        click.option("--preset", default=None, help="Encoder preset (default: the codec's, e.g. medium)."),
        click.option("--gop", "gop_seconds", default=2.0, show_default=True, type=click.FloatRange(0, 60), help="Keyframe interval in seconds (0: encoder default)."),
        click.option("--start", "start_s", default=0.0, show_default=True, type=click.FloatRange(0, 1e6), help="Analyse from this time (s)."),
        click.option("--duration", "duration_s", default=None, type=click.FloatRange(0.1, 1e6), help="Analyse this many seconds (default: to the end)."),
        click.option("--segments", default=0, show_default=True, type=click.IntRange(0, 100),
                     help="Analyse N excerpts spread over the title, joined (0: the title, or --start/--duration; "
                          "--fast on a long title uses 6)."),
        click.option("--segment-seconds", "segment_s", default=2.0, show_default=True, type=click.FloatRange(0.5, 600),
                     help="Length of each excerpt (s), rounded to whole GOPs (an excerpt that cuts a GOP costs "
                          "an extra intra frame the title does not pay)."),
        click.option("--sampling", type=click.Choice(["even", "content"]), default="content", show_default=True,
                     help="Where the --segments excerpts go: chosen from the title's shots and complexity (one "
                          "cheap pass over the whole title; the most demanding part always, the rest stratified "
                          "by complexity, each weighted by the share of the title it stands for), or spread "
                          "evenly (reads the title only there)."),
        click.option("--per-shot", is_flag=True,
                     help="With the whole title analysed: also each shot's own ladder (one cheap pass finds the "
                          "shots; every trial encode is scored per shot too). Sampled analyses show each "
                          "excerpt's own ladder anyway."),
        click.option("--vmaf-model", type=click.Choice(["auto", *VMAF_MODELS]), default="auto", show_default=True,
                     help="auto: vmaf_v0.6.1, the 4K model above 1080p."),
        click.option("--metrics", default="psnr", show_default=True, metavar="LIST",
                     help="Extra metrics besides VMAF: any of psnr,ssim,xpsnr (or 'none')."),
        click.option("--subsample", default=1, show_default=True, type=click.IntRange(1, 1000), help="Score every Nth frame (odd N)."),
        click.option("-j", "--jobs", default=None, type=click.IntRange(1, 256), help="Parallel encodes (default: CPU count)."),
        click.option("--fast", is_flag=True,
                     help="Model-guided sweep: the model's prediction is the prior, a search measures each "
                          "rung's size against its rivals until every rung is backed (at most --fast-budget "
                          "of the exhaustive wall time), VMAF on every 3rd frame; a long title is sampled (--segments)."),
        click.option("--fast-budget", default=0.18, show_default=True, type=click.FloatRange(0.01, 1.0),
                     help="With --fast: the most it may spend, as a share of the exhaustive analysis' "
                          "estimated wall time on --fast-lanes lanes (it stops earlier once every rung is "
                          "backed by measurements)."),
        click.option("--fast-lanes", default=2, show_default=True, type=click.IntRange(1, 64),
                     help="With --fast: how many encodes each measurement round is planned to run side by "
                          "side. Part of what the ladder depends on (--jobs is not): set it to the cores "
                          "of the machine, e.g. 8 on an 8-core one, for the same speed-up there."),
        click.option("--model", "model_path", default=None, metavar="MODEL.skops",
                     help="With --fast: the model that guides the sweep (default: the shipped one)."),
    ]
    for o in reversed(opts):
        f = o(f)
    return model_options(input_options(f))


def build_options(kw: dict):
    from .ladders.policy import LadderPolicy
    from .pipeline.common import AnalysisOptions

    metrics = {m.strip() for m in (kw.pop("metrics") or "").split(",") if m.strip() and m.strip() != "none"}
    unknown = metrics - {"psnr", "ssim", "xpsnr"}
    if unknown:
        raise click.BadParameter(f"unknown metric(s): {', '.join(sorted(unknown))}", param_hint="--metrics")
    kw.setdefault("segments", 0)
    kw.setdefault("segment_s", 2.0)
    if kw["segments"] < 0 or kw["segment_s"] <= 0:
        raise click.BadParameter("must be >= 0 excerpts of > 0 s", param_hint="--segments/--segment-seconds")
    if kw["segments"] and (kw["start_s"] or kw["duration_s"] is not None):
        raise click.BadParameter("give either --segments or --start/--duration", param_hint="--segments")
    if kw.get("per_shot") and (kw.get("fast") or kw["segments"] or kw["start_s"] or kw["duration_s"] is not None):
        raise click.BadParameter("needs the whole title analysed exhaustively (not with --fast, --segments, "
                                 "--start or --duration)", param_hint="--per-shot")
    if kw["subsample"] < 1:
        raise click.BadParameter("must be >= 1", param_hint="--subsample")
    if kw["subsample"] > 1 and kw["subsample"] % 2 == 0:
        _err(f"warning: even --subsample {kw['subsample']} can bias libvmaf's pooled score; odd steps are safer")
    try:
        policy = LadderPolicy(**{field: kw.pop(field) for _, field, _ in POLICY_OPTIONS if field in kw},
                              heights=_int_list(kw.pop("ladder_heights", None)),
                              pooling=kw.pop("pooling", LadderPolicy.pooling))
        return AnalysisOptions(
            codec=kw.pop("codec"), crfs=_float_list(kw.pop("crfs")), heights=_int_list(kw.pop("heights")),
            preset=kw.pop("preset"), gop_seconds=kw.pop("gop_seconds"), start_s=kw.pop("start_s"),
            duration_s=kw.pop("duration_s"), segments=kw.pop("segments"), segment_s=kw.pop("segment_s"),
            sampling=kw.pop("sampling", "content"), vmaf_model=kw.pop("vmaf_model"),
            psnr="psnr" in metrics, ssim="ssim" in metrics, xpsnr="xpsnr" in metrics,
            subsample=kw.pop("subsample"), jobs=kw.pop("jobs") or (os.cpu_count() or 1), policy=policy,
            fast=kw.pop("fast", False), fast_budget=kw.pop("fast_budget", 0.18),
            fast_lanes=kw.pop("fast_lanes", 2),
            model_path=kw.pop("model_path", None), trust_model=kw.pop("trust_model", False),
            allow_references=kw.pop("allow_references", False), per_shot=kw.pop("per_shot", False))
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


def checked_workdir(workdir: str | None) -> str | None:
    from .core.fsutil import check_folder

    return check_folder(workdir, what="work folder") if workdir else None


def make_cache(no_cache: bool, cache_dir: str | None):
    from .encoder.cache import Cache, default_root

    return Cache.open(None if no_cache else (cache_dir or default_root()))


def _default_output(input_path: str) -> str:
    return os.path.basename(input_path.rstrip("/")) + ".ladder.json"


def rd_path_for(ladder_path: str) -> str:
    from .pipeline.report import rd_path_for as beside

    return beside(ladder_path)


# ------------------------------------------------------------------------------------------
# Commands
# ------------------------------------------------------------------------------------------


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="pertitle")
def cli():
    """Per-title encoding optimizer: find (or predict) the bitrate ladder a title needs."""


@cli.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(dir_okay=True, path_type=str))
@click.option("-o", "--output", default=None, metavar="LADDER.json",
              help="Ladder JSON (default: ./<input name>.ladder.json). The RD table goes beside it as .rd.csv.")
@click.option("--rd-csv", default=None, metavar="PATH", help="Where to write the table of every RD point.")
@click.option("--report", "report_path", default=None, metavar="REPORT.html",
              help="Also write the HTML report (curves, hull, rungs, fixed ladder; opens offline).")
@click.option("--encode", "encode_dir", default=None, metavar="OUTDIR",
              help="Then encode the renditions and package them (HLS + DASH) in OUTDIR, as `pertitle encode`.")
@click.option("--json", "as_json", is_flag=True, help="Print the ladder JSON on stdout (summary to stderr).")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
@click.option("--chunk-seconds", "chunk_s", default=None, type=click.FloatRange(2, 1e5), metavar="S",
              help="Analyse the whole title in chunks of about S seconds cut on keyframes: memory and temporary "
                   "disk follow the chunk, not the title; with --scheduler/--cluster the chunks fan out over "
                   "the cluster (default there: 60).")
@click.option("--scheduler", default=None, metavar="tcp://HOST:PORT",
              help="Run this title's chunks on this Dask scheduler (workers see the same paths).")
@click.option("--cluster", type=click.Choice(["local"]), default=None,
              help="Run this title's chunks on a local Dask cluster.")
@click.option("--workers", default=None, type=click.IntRange(1, 256), help="With --cluster local: number of workers.")
@sweep_options
@policy_options
@cache_options
@ffmpeg_option
@handle_errors
def analyze(input_path, output, rd_csv, report_path, encode_dir, as_json, quiet, chunk_s, scheduler, cluster, workers,
            ffmpeg_path, no_cache, cache_dir, workdir, **kw):
    """Trial-encode INPUT at several sizes and rates, measure VMAF, and choose its ladder."""
    from dataclasses import replace

    from .encoder.ffmpeg import locate
    from .encoder.probe import probe
    from .pipeline.analyze import analyze as run_analysis
    from .pipeline.batch import write_outputs

    if scheduler and cluster:
        raise click.UsageError("give either --scheduler or --cluster local")
    if workers and not cluster:
        raise click.BadParameter("only with --cluster local", param_hint="--workers")
    opts = build_options(kw)
    if chunk_s is None and (scheduler or cluster):
        chunk_s = 60.0
    if chunk_s:
        if opts.fast or opts.segments or opts.per_shot:
            raise click.BadParameter("chunks are for an exhaustive analysis of the whole title (not with --fast, "
                                     "--segments or --per-shot)", param_hint="--chunk-seconds/--scheduler/--cluster")
        opts = replace(opts, chunk_s=float(chunk_s))
    output = output or _default_output(input_path)
    out, rd = ladder_outputs(input_path, output, rd_csv)
    rep = report_output(report_path, input_path, out, rd)
    if encode_dir:
        from .pipeline.encode import precheck

        precheck(encode_dir)
    workdir = checked_workdir(workdir)
    source = probe(input_path, opts.allow_references)
    ff = locate(ffmpeg_path)
    prog = Progress(quiet, os.path.basename(input_path))
    for w in source.warnings:
        if not quiet:
            _err(f"note: {w}")
    client = cluster_obj = None
    if scheduler or cluster:
        from .pipeline.distributed import connect

        client, cluster_obj = connect(scheduler, cluster == "local", workers)
    try:
        a = run_analysis(input_path, opts, ff, make_cache(no_cache, cache_dir), on_event=prog,
                         workdir=workdir, source=source, client=client)
    finally:
        prog.close()
        if client is not None:
            client.close()
        if cluster_obj is not None:
            cluster_obj.close()
    write_outputs(a, out, rd, rep, title=E.shown(os.path.basename(input_path)))
    _finish(a.document, out, rd, as_json, quiet, rep)
    if encode_dir:
        _encode_after(input_path, a.document, encode_dir, ff, quiet, opts.allow_references)


def _encode_after(input_path: str, doc: dict, outdir: str, ff, quiet: bool, allow_references: bool) -> None:
    """``--encode``: the package of the ladder just made (summary on stderr when stdout is busy)."""
    from .pipeline.encode import EncodeOptions, encode_package

    prog = Progress(quiet, os.path.basename(input_path))
    try:
        out = encode_package(input_path, doc, outdir, EncodeOptions(jobs=min(2, os.cpu_count() or 1),
                                                                    allow_references=allow_references),
                             ff, on_event=prog)
    finally:
        prog.close()
    if not quiet:
        _err(render_package(out))


def report_output(report_path: str | None, input_path: str, *others):
    """Check ``--report`` before any work (not the same file as another output)."""
    if not report_path:
        return None
    from .core.fsutil import check_output

    rep = check_output(report_path, inputs=[input_path], what="report")
    for o in others:
        if o is not None and not o.is_stream and not rep.is_stream and o.target == rep.target:
            raise E.OutputError("the report and another output would be the same file", report_path)
    return rep


def ladder_outputs(input_path: str, output: str, rd_csv: str | None = None, with_rd: bool = True):
    """Check the ladder (and RD table) outputs before any work. A stream output (``-``, FIFO,
    device) gets the ladder only; its RD table is written only when ``--rd-csv`` names one."""
    from .core.fsutil import check_output

    out = check_output(output, inputs=[input_path], what="ladder")
    rd = None
    if with_rd and (rd_csv or not out.is_stream):
        rd_path = rd_csv or rd_path_for(output)
        if not rd_csv and os.path.islink(rd_path):
            # a name derived here, not given: a link there would carry the table to a file nobody named
            raise E.OutputError("the RD table beside the ladder is a symbolic link: --rd-csv names where to "
                                "write it (or remove the link)", rd_path)
        rd = check_output(rd_path, inputs=[input_path], what="RD table")
        if rd.target == out.target and not out.is_stream:
            raise E.OutputError("the ladder and the RD table would be the same file", output)
    return out, rd


def _finish(doc: dict, out, rd, as_json: bool, quiet: bool, report=None) -> None:
    """Summary on stdout, or on stderr when stdout carries the ladder JSON."""
    from .core.fsutil import to_json

    summary = render_summary(doc, None if out.kind == "stdout" else out.path, rd.path if rd else None)
    if report is not None and report.kind == "file":
        summary += f"\nreport: {report.path}"
    if as_json and out.kind != "stdout":
        click.echo(to_json(doc), nl=False)
    if as_json or out.kind == "stdout":
        if not quiet:
            _err(summary)
    else:
        _out(summary)


def _mode_of(doc: dict) -> str:
    from .ladders.report import mode_of

    return mode_of(doc)


def render_summary(doc: dict, ladder_path: str | None = None, rd_path: str | None = None) -> str:
    src = doc["source"]
    lines = [f"{E.shown(os.path.basename(src['path']))}: {src.get('display_width', src['width'])}x"
             f"{src.get('display_height', src['height'])} {src['fps']:.3f} fps, {src['duration_s']:.2f} s"
             f"  [{_mode_of(doc)}, {doc['codec']}, {doc['vmaf_model']} {doc['pooling']}]"]
    iv = any("vmaf_interval" in r for r in doc["rungs"])
    level = (doc.get("prediction") or {}).get("interval_level", 0.8)
    lines.append(f"{'rung':>4}  {'size':>10}  {'kbps':>6}  {'VMAF':>5}  {'CRF~':>5}"
                 + (f"  VMAF {level:.0%} interval" if iv else ""))
    for r in doc["rungs"]:
        crf = r["encoder"].get("crf_equivalent")
        lo_hi = r.get("vmaf_interval")
        lines.append(f"{r['index']:>4}  {r['width']:>4}x{r['height']:<5}  {r['bitrate_kbps']:>6}  "
                     f"{r['vmaf']:>5.1f}  {crf if crf is not None else '':>5}"
                     + (f"  {lo_hi[0]:5.1f} .. {lo_hi[1]:5.1f}" if lo_hi else ""))
    comp = doc.get("comparison")
    if comp:
        bd = comp.get("bd_rate_pct")
        top = comp.get("top_rung", {})
        lines.append(f"vs {comp['name']} ({len(comp['rungs'])} rung{'s' if len(comp['rungs']) != 1 else ''}, {comp['total_kbps']['fixed']:.0f} kbps in all): "
                     + (f"BD-rate {bd:+.1f}%" if bd is not None else f"BD-rate n/a ({comp.get('bd_rate_note', '')})"))
        if top.get("saving_pct") is not None:
            lines.append(f"  top rung: VMAF {top['compared_at_quality']:.1f} for {top['per_title_kbps_same_quality']:.0f} kbps "
                         f"instead of {top['fixed_kbps']:.0f} ({top['saving_pct']:+.1f}% saved)")
    sw = doc.get("sweep")
    if sw:
        of = f" of {sw['grid_points']} grid points (fast mode)" if sw.get("mode") == "fast" else ""
        lines.append(f"{sw['encodes']} trial encodes{of} ({sw['cached']} cached, {sw['failed']} failed) "
                     f"in {sw['wall_s']:.1f} s")
    pred = doc.get("prediction")
    if pred:
        members = pred.get("model_members") or 1
        spent = []   # what predict measured on the title besides its features
        if isinstance(pe := pred.get("probe_encode"), dict):
            spent.append(f"probe encode, {pe['preset']} CRF {pe['crf']}: {pe['seconds']:.1f} s")
        if isinstance(sc := pred.get("scaling_ceiling"), dict):
            spent.append(f"each size scaled, no encode: {sc['seconds']:.1f} s")
        lines.append(f"predicted by {pred.get('model', 'model')}{f' x{members}' if members > 1 else ''} "
                     f"in {pred.get('wall_s', 0):.2f} s"
                     + (f" ({'; '.join(spent)})" if spent else "")
                     + (f", verified with {pred['verify_encodes']} encodes (search: {pred['search']['stop']})"
                        if pred.get("verify_encodes") else "")
                     + ("; each rung's size one of the two its size model names"
                        if pred.get("size_choice") == "size_model" else ""))
        sl = pred.get("one_rung_slope")
        if isinstance(sl, dict):
            lines.append(f"one-rung prior: its rate's slope in CRF from the in-memory probe, {sl['probe']:.3f} "
                         f"instead of the model's {sl['model']:.3f} (log rate per CRF step)")
        if pred.get("confident"):
            # (an uncertain prediction's figures and advice are the document's own note, printed below)
            lo, hi = pred["top_kbps_interval"]
            from .ladders.report import loss_text

            lines.append(f"confidence: top rung {lo}-{hi} kbps, {loss_text(pred)} up to {pred['loss_bound_pct']:.1f}% "
                         f"({pred.get('interval_level', 0.8):.0%} intervals): ship it")
    for n in doc.get("notes", []):
        lines.append(f"note: {n}")
    if ladder_path:
        lines.append(f"wrote {ladder_path}" + (f" and {rd_path}" if rd_path else ""))
    elif rd_path:
        lines.append(f"wrote {rd_path}")
    return "\n".join(lines)


@cli.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=str))
@click.option("-o", "--output", "outdir", required=True, metavar="OUTDIR", help="Where ladders, RD tables and the summary go.")
@click.option("-q", "--quiet", is_flag=True)
@click.option("--scheduler", default=None, metavar="tcp://HOST:PORT", help="Run titles on this Dask scheduler.")
@click.option("--cluster", type=click.Choice(["local"]), default=None, help="Start a local Dask cluster for the batch.")
@click.option("--workers", default=None, type=click.IntRange(1, 256), help="With --cluster local: number of workers.")
@click.option("--encode", "encode", is_flag=True,
              help="Also encode and package every title (HLS + DASH) in OUTDIR/<title>.package/.")
@sweep_options
@policy_options
@cache_options
@ffmpeg_option
@handle_errors
def batch(folder, outdir, quiet, scheduler, cluster, workers, encode, ffmpeg_path, no_cache, cache_dir, workdir, **kw):
    """Analyse every video under FOLDER (recursively). Rerun to resume after an interruption."""
    from .encoder.discover import discover
    from .encoder.ffmpeg import locate
    from .pipeline.batch import BatchResult, process_title, write_index, write_summary

    distributed = bool(scheduler or cluster)
    if distributed and kw.get("jobs") is None:
        kw["jobs"] = 1  # one title per worker process, one encode at a time in it
    from .core.fsutil import check_folder

    opts = build_options(kw)
    outdir = check_folder(outdir)
    workdir = checked_workdir(workdir)
    ff = locate(ffmpeg_path)
    ff.require_filter("libvmaf")
    ff.require_encoder(opts.codec)
    outside: list[str] = []
    paths = discover(folder, exclude=[outdir], skipped=outside)
    if not paths:
        _err(f"pertitle: error: no video files under {folder}")
        sys.exit(E.InputNotFound.exit_code)
    if outside and not quiet:
        _err(f"note: skipped {len(outside)} symlink(s) that lead outside {folder} (nothing outside the "
             f"named folder is read), e.g. {E.shown(os.path.relpath(outside[0], folder))}")
    cache = make_cache(no_cache, cache_dir)
    result = BatchResult()
    if distributed:
        from .pipeline.distributed import run_batch_dask

        result = run_batch_dask(paths, folder, outdir, opts, ff, cache, scheduler=scheduler,
                                local=cluster == "local", workers=workers, workdir=workdir,
                                log=None if quiet else _err, encode=encode)
    else:
        for i, p in enumerate(paths, 1):
            prog = Progress(quiet, f"[{i}/{len(paths)}] {os.path.relpath(p, folder)}")   # shown by Progress
            try:
                t = process_title(p, folder, outdir, opts, ff, cache, on_event=prog, workdir=workdir, encode=encode)
            finally:
                prog.close()
            result.titles.append(t)
            if not quiet:
                _err(f"[{i}/{len(paths)}] {E.shown(os.path.relpath(p, folder))}: {t.status}"
                     + (f": {t.error}" if t.error else f"  {t.rungs}"))
    csv_path, json_path = write_summary(result, outdir)
    index_path = write_index(result, folder, outdir)
    _out(render_batch(result, folder))
    _out(f"wrote {csv_path}, {json_path} and {index_path} (open it in a browser)")
    if result.failed:
        sys.exit(E.BATCH_PARTIAL_FAILURE)


def render_batch(result, folder: str) -> str:
    lines = [f"{'status':8} {'BD vs fixed':>11}  title / rungs or error"]
    for t in result.titles:
        bd = f"{t.bd_rate_vs_fixed_pct:+.1f}%" if t.bd_rate_vs_fixed_pct is not None else ""
        lines.append(f"{t.status:8} {bd:>11}  {E.shown(os.path.relpath(t.path, folder))}: {t.rungs or t.error}")
    ok = sum(t.status in ("ok", "skipped") for t in result.titles)
    lines.append(f"{ok} of {len(result.titles)} titles have a ladder; {len(result.failed)} failed")
    return "\n".join(lines)


@cli.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=str))
@click.argument("ladder", metavar="LADDER.json", type=click.Path(path_type=str))
@click.option("-o", "--output", "outdir", required=True, metavar="OUTDIR",
              help="The package folder (renditions, segments, manifests).")
@click.option("--hls/--no-hls", default=True, show_default=True, help="Write the HLS multivariant playlist.")
@click.option("--dash/--no-dash", default=True, show_default=True, help="Write the DASH MPD.")
@click.option("--hls-ts", is_flag=True, help="Also MPEG-TS segments for HLS (master_ts.m3u8), for older players.")
@click.option("--no-audio", is_flag=True, help="Leave the audio out (default: the first audio track, AAC stereo).")
@click.option("--audio-kbps", default=128, show_default=True, type=click.IntRange(32, 512))
@click.option("--segment-seconds", default=6.0, show_default=True, type=click.FloatRange(1.0, 60.0),
              help="Target segment length (rounded to a whole number of GOPs).")
@click.option("--overwrite", is_flag=True, help="Replace another pertitle package in OUTDIR.")
@click.option("--force", is_flag=True, help="Encode even if the ladder was made for another source.")
@click.option("--verify", is_flag=True, help="Measure every rendition against the source (VMAF as in the analysis).")
@click.option("-j", "--jobs", default=None, type=click.IntRange(1, 64), help="Renditions encoded at once.")
@click.option("-q", "--quiet", is_flag=True)
@input_options
@ffmpeg_option
@handle_errors
def encode(input_path, ladder, outdir, hls, dash, hls_ts, no_audio, audio_kbps, segment_seconds, overwrite, force, verify,
           jobs, quiet, allow_references, ffmpeg_path):
    """Encode INPUT's renditions as LADDER.json says (2-pass, VBV, aligned GOPs) from the whole
    title and package them: CMAF segments shared by HLS and DASH, rates measured. Rerun to resume."""
    from .encoder.ffmpeg import locate
    from .ladders.document import load
    from .pipeline.encode import EncodeOptions, encode_package

    doc = load(ladder)
    ff = locate(ffmpeg_path)
    opts = EncodeOptions(hls=hls, dash=dash, hls_ts=hls_ts, audio=not no_audio, audio_kbps=audio_kbps,
                         segment_target_s=segment_seconds, force=force, overwrite=overwrite,
                         jobs=jobs or min(2, os.cpu_count() or 1), allow_references=allow_references,
                         verify=verify)
    prog = Progress(quiet, os.path.basename(input_path))
    try:
        out = encode_package(input_path, doc, outdir, opts, ff, on_event=prog)
    finally:
        prog.close()
    _out(render_package(out))


def render_package(out: dict) -> str:
    verified = any("measured_vmaf" in r for r in out["renditions"])
    lines = [f"{'rendition':>9}  {'size':>10}  {'target':>6}  {'average':>7}  {'peak':>7}  {'codecs':<12}"
             + ("  VMAF exp  VMAF meas" if verified else "")]
    for r in out["renditions"]:
        lines.append(f"{r['folder']:>9}  {r['width']:>4}x{r['height']:<5}  {r['target_kbps']:>6.0f}  "
                     f"{r['average_kbps']:>7.0f}  {r['peak_kbps']:>7.0f}  {r['codecs']:<12}"
                     + (f"  {r['expected_vmaf']:>8.2f}  {r['measured_vmaf']:>9.2f}" if r.get("measured_vmaf") is not None
                        else ""))
    if out.get("audio"):
        a = out["audio"]
        lines.append(f"{a['folder']:>9}  {'audio':>10}  {'':>6}  {a['average_kbps']:>7.0f}  {a['peak_kbps']:>7.0f}  "
                     f"{a['codecs']}")
    lines.append(f"segments of {out['segment_s']:g} s ({out['gops_per_segment']} GOPs); kbps measured over the segments")
    lines.append("wrote " + ", ".join(os.path.join(out["folder"], m) for m in out["manifests"] + ["package.json"]))
    return "\n".join(lines)


@cli.command()
@click.argument("ladder", metavar="LADDER.json", type=click.Path(path_type=str))
@click.option("-o", "--output", required=True, metavar="REPORT.html", help="Where to write the HTML report.")
@click.option("--rd-csv", default=None, metavar="PATH",
              help="The RD table (default: the .rd.csv beside the ladder, when there is one).")
@click.option("--verification", "verification_path", default=None, metavar="VERIFY.json",
              help="A `pertitle verify --json` result: expected vs measured VMAF per rung.")
@handle_errors
def report(ladder, output, rd_csv, verification_path):
    """Write the HTML report of a ladder: RD points per size, hull, rungs, fixed ladder, table,
    settings (one self-contained file that opens offline)."""
    from .core.fsutil import check_output
    from .pipeline.report import report_from_files, write_report

    inputs = [p for p in (ladder, rd_csv, verification_path) if p]
    out = check_output(output, inputs=inputs, what="report")
    text = report_from_files(ladder, rd_path=rd_csv, verification_path=verification_path)
    write_report(out, text)
    if out.kind == "file":
        _out(f"wrote {out.path} ({len(text.encode('utf-8', 'backslashreplace')) / 1024:.0f} KiB)")


@cli.command()
@click.argument("ladder", type=click.Path(path_type=str))
@click.option("-f", "--format", "fmt", type=click.Choice(["json", "csv", "ffmpeg", "hls", "dash", "mediaconvert"]),
              default="json", show_default=True)
@click.option("-o", "--output", default=None, metavar="PATH", help="Write here (default: stdout).")
@handle_errors
def export(ladder, fmt, output):
    """Re-export a ladder: JSON (validated), CSV (one row per rung), ffmpeg (a packaging
    command), HLS multivariant playlist, DASH MPD skeleton, or mediaconvert (the OutputGroups
    of an AWS Elemental MediaConvert job: one CMAF group, an output per rung)."""
    from .core.fsutil import check_output, write_output
    from .ladders import export as X
    from .ladders.document import load

    out = check_output(output or "-", inputs=[ladder], what="export")
    doc = load(ladder)
    try:
        text = X.render(doc, fmt)
    except X.ExportError as exc:
        raise E.InvalidOptions(str(exc), ladder) from None
    write_output(out, lambda fh: fh.write(text))
    if out.kind != "stdout":
        _err(f"wrote {output}")


@cli.command()
@click.argument("ladder", type=click.Path(path_type=str))
@click.option("--source", "source_path", default=None, metavar="PATH",
              help="The source, if it moved since the ladder was made (its content must match).")
@click.option("--json", "as_json", is_flag=True, help="Print the verification as JSON on stdout.")
@click.option("-q", "--quiet", is_flag=True)
@click.option("--report", "report_path", default=None, metavar="REPORT.html",
              help="Also write the HTML report with expected vs measured VMAF and per-frame VMAF per rung.")
@click.option("-j", "--jobs", default=None, type=click.IntRange(1, 256))
@input_options
@cache_options
@ffmpeg_option
@handle_errors
def verify(ladder, source_path, as_json, report_path, quiet, jobs, allow_references, ffmpeg_path, no_cache, cache_dir,
           workdir):
    """Re-encode every rung as delivered (2-pass at its bitrate) and measure it: expected vs
    measured VMAF, and BD-rate of the re-encoded rungs against the measured hull."""
    from .encoder.ffmpeg import locate
    from .ladders.document import load
    from .pipeline.verify import verify_ladder

    doc = load(ladder)
    rep = report_output(report_path, ladder)
    workdir = checked_workdir(workdir)
    ff = locate(ffmpeg_path)
    prog = Progress(quiet, "verify")
    try:
        out = verify_ladder(doc, ff, make_cache(no_cache, cache_dir), source_path=source_path,
                            jobs=jobs or (os.cpu_count() or 1), on_event=prog, workdir=workdir,
                            allow_references=allow_references)
    finally:
        prog.close()
    if rep is not None:
        from .pipeline.report import beside_rd, read_rd_table, render, title_of, write_report

        rd = beside_rd(ladder)
        write_report(rep, render(doc, read_rd_table(rd) if rd else None, out, title=title_of(ladder)))
    if as_json:
        from .core.fsutil import to_json

        click.echo(to_json(out), nl=False)
        if not out["all_ok"]:
            sys.exit(E.VERIFY_FAILURE)
        return
    lines = [f"{'rung':>4}  {'size':>10}  {'target':>6}  {'actual':>7}  {'VMAF exp':>8}  {'VMAF meas':>9}"]
    for r in out["rungs"]:
        if r["status"] != "ok":
            lines.append(f"{r['index']:>4}  {r['width']:>4}x{r['height']:<5}  {r['target_kbps']:>6}  "
                         f"FAILED: {r['error']}")
            continue
        lines.append(f"{r['index']:>4}  {r['width']:>4}x{r['height']:<5}  {r['target_kbps']:>6}  "
                     f"{r['measured_kbps']:>7.0f}  {r['expected_vmaf']:>8.2f}  {r['measured_vmaf']:>9.2f}")
    bd = out.get("bd_rate_vs_hull_pct")
    lines.append("BD-rate of the re-encoded rungs vs the measured hull: "
                 + (f"{bd:+.2f}%" if bd is not None else f"n/a {out.get('bd_rate_note', '(one rung)')}")
                 + (f"; vs the per-size envelope: {out['bd_rate_vs_envelope_pct']:+.2f}%"
                    if out.get("bd_rate_vs_envelope_pct") is not None else ""))
    lines.append(f"VMAF error of the ladder's expectations: MAE {out['vmaf_mae']}")
    failed = sum(r["status"] != "ok" for r in out["rungs"])
    if failed:
        lines.append(f"{failed} of {len(out['rungs'])} rungs failed")
    _out("\n".join(lines))
    if failed:
        sys.exit(E.VERIFY_FAILURE)


@cli.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=str))
@input_options
@handle_errors
def probe(input_path, allow_references):
    """Print what pertitle sees in INPUT (size, rate, range, warnings) as JSON."""
    from .core.fsutil import to_json
    from .encoder.probe import probe as run_probe

    click.echo(to_json(run_probe(input_path, allow_references).to_dict()), nl=False)


@cli.command("info")
@ffmpeg_option
@handle_errors
def info(ffmpeg_path):
    """Which FFmpeg is used and what it can do."""
    from .core.codecs import CODECS
    from .encoder.ffmpeg import locate

    ff = locate(ffmpeg_path)
    out = {"ffmpeg": ff.path, "version": ff.version,
           "libvmaf": ff.has_filter("libvmaf"), "xpsnr": ff.has_filter("xpsnr"),
           "hdr_tone_map": ff.has_filter("zscale") and ff.has_filter("tonemap"),
           "encoders": {c: ff.has_encoder(c) for c in CODECS}}
    click.echo(json.dumps(out, indent=2))


@cli.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=str))
@input_options
@handle_errors
def features(input_path, allow_references):
    """Print INPUT's cheap content features as JSON (sampled frames only, no trial encode)."""
    from .core.fsutil import to_json
    from .encoder.features import extract

    click.echo(to_json(extract(input_path, allow_references=allow_references)), nl=False)


@cli.group()
def dataset():
    """Build the training table (exhaustive sweeps + features)."""


@dataset.command("build")
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("-o", "--output", required=True, metavar="DATASET.csv")
@click.option("--group-regex", default=None, metavar="REGEX",
              help="CV group of a title: the regex's first matching group on its name (default: the title).")
@click.option("--training-groups", is_flag=True,
              help="Use the groups of the shipped training set (photo variants, lavfi kinds, corpus titles).")
@click.option("-q", "--quiet", is_flag=True)
@sweep_options
@cache_options
@ffmpeg_option
@handle_errors
def dataset_build(sources, output, group_regex, training_groups, quiet, ffmpeg_path, no_cache, cache_dir,
                  workdir, **kw):
    """Sweep every source exhaustively (cached, resumable) and write one row per trial encode."""
    from .core.fsutil import check_output, write_output
    from .encoder.ffmpeg import locate
    from .pipeline import dataset as D
    from .samples.synthetic import GROUP_REGEX

    out = check_output(output, inputs=sources, what="dataset")
    opts = build_options(kw)
    workdir = checked_workdir(workdir)
    ff = locate(ffmpeg_path)
    prog = Progress(quiet)
    try:
        df, failures = D.build(sources, opts, ff, make_cache(no_cache, cache_dir),
                               group_regex=GROUP_REGEX if training_groups else group_regex,
                               on_event=prog, log=(lambda m: None) if quiet else _err)
    finally:
        prog.close()
    write_output(out, lambda fh: df.to_csv(fh, index=False))
    _err(f"wrote {output}: {len(df)} rows, {df['title'].nunique()} titles, "
               f"{df['group'].nunique()} groups; {len(failures)} sources skipped")


@dataset.command("sweep")
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("-o", "--out-dir", required=True, metavar="DIR", help="One JSON per window (existing ones are kept: resumable).")
@click.option("--window", "window_s", default=6.0, show_default=True, type=click.FloatRange(1, 60),
              help="Window length (s): non-overlapping windows from the start while whole ones fit.")
@click.option("--spread", default=8, show_default=True, type=click.IntRange(0, 100),
              help="Titles at least this many windows long get this many windows spread over them instead.")
@click.option("--long-from", default=30.0, show_default=True, help="A title this long (s) or longer is spread.")
@click.option("-q", "--quiet", is_flag=True)
@sweep_options
@cache_options
@ffmpeg_option
@handle_errors
def dataset_sweep(sources, out_dir, window_s, spread, long_from, quiet, ffmpeg_path, no_cache, cache_dir, workdir, **kw):
    """Exhaustive sweeps of windows of every source: the expensive half of the training data."""
    from .core.fsutil import atomic_write_json, check_folder
    from .encoder.ffmpeg import locate
    from .encoder.probe import probe as run_probe
    from .pipeline import dataset as D

    out_dir = check_folder(out_dir)
    opts = build_options(kw)
    ff = locate(ffmpeg_path)
    cache = make_cache(no_cache, cache_dir)
    paths = D.expand_sources(sources)
    todo = []
    for p in paths:
        src = run_probe(p, opts.allow_references)
        wins = D.plan_windows(src.duration_s, window_s, spread if src.duration_s >= long_from else 0)
        todo += [(p, st, du) for st, du in wins]
    done = 0
    for i, (p, st, du) in enumerate(todo, 1):
        target = os.path.join(out_dir, D.window_name(p, st) + ".json")
        if os.path.exists(target):
            continue
        prog = Progress(quiet, f"[{i}/{len(todo)}] {D.window_name(p, st)}")
        try:
            rec = D.sweep_window(p, st, du, opts, ff, cache, on_event=prog)
        except E.PertitleError as exc:
            _err(f"[{i}/{len(todo)}] {D.window_name(p, st)}: skipped: {exc}")
            continue
        finally:
            prog.close()
        atomic_write_json(target, rec)
        done += 1
    _out(f"{len(todo)} windows, {done} swept now, the others already in {out_dir}")


@dataset.command("assemble")
@click.argument("sweeps", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("--sources", "roots", multiple=True, required=True, metavar="DIR",
              help="Where the swept sources are (searched also in DIR/long).")
@click.option("-o", "--output", required=True, metavar="DATASET.csv")
@click.option("--sweeps-out", default=None, metavar="SWEEPS.csv", help="Also write the consolidated sweeps table.")
@click.option("--no-probe", is_flag=True,
              help="Skip the probe encode and the scaling measurement of each window (no FFmpeg needed).")
@click.option("--carry-over", default=None, metavar="DATASET.csv",
              help="Keep this table's rows of windows whose source is not found (e.g. the synthetic clips), "
                   "as they are.")
@click.option("-q", "--quiet", is_flag=True)
@ffmpeg_option
@handle_errors
def dataset_assemble(sweeps, roots, output, sweeps_out, no_probe, carry_over, quiet, ffmpeg_path):
    """The training table from sweeps (JSON files/folders, or a sweeps CSV) and features extracted
    over each window of the sources, with the probe encode's (x264 veryfast CRF 23 of the window
    at its largest size) and each size's scaling ceiling (VMAF of the frames scaled to it and
    back) unless --no-probe."""
    import glob

    import pandas as pd

    from .core.fsutil import check_output, write_output
    from .pipeline import dataset as D

    out = check_output(output, what="dataset")
    sw_out = check_output(sweeps_out, what="sweeps table") if sweeps_out else None
    records, tables = [], []
    for s in sweeps:
        if os.path.isdir(s):
            records += D.sweep_records(sorted(glob.glob(os.path.join(s, "*.json"))))
        elif s.endswith(".csv"):
            tables.append(pd.read_csv(s))
        else:
            records += D.sweep_records([s])
    frames = [D.sweeps_frame(D.consolidate(records))] if records else []
    table = pd.concat(frames + tables, ignore_index=True)
    from .encoder.ffmpeg import locate

    ff = None if no_probe else locate(ffmpeg_path)
    df, skipped = D.assemble(table, roots, log=(lambda m: None) if quiet else _err, ff=ff)
    if carry_over:
        from .ladders.dataset import read_dataset

        old = read_dataset(carry_over)
        kept = old[~old["title"].isin(set(df["title"]))]
        missing = {os.path.basename(str(n)) for n, _ in skipped}
        kept = kept[kept["file"].astype(str).map(os.path.basename).isin(missing)]
        df = pd.concat([df, kept], ignore_index=True)
        _err(f"carried over {kept['title'].nunique()} windows from {carry_over}")
    if sw_out is not None:
        write_output(sw_out, lambda fh: table.to_csv(fh, index=False))
    write_output(out, lambda fh: df.to_csv(fh, index=False))
    _err(f"wrote {output}: {len(df)} rows, {df['title'].nunique()} windows of {df['file'].nunique()} sources, "
         f"{df['group'].nunique()} groups; {len(skipped)} windows skipped")


@cli.command()
@click.argument("dataset_csv", metavar="DATASET.csv", type=click.Path(path_type=str))
@click.option("-o", "--output", required=True, metavar="MODEL.skops",
              help="The model file: skops, or with a .npz name plain trees (hgb only), which load and "
                   "predict without importing scikit-learn (about a second less per run).")
@click.option("--family", type=click.Choice(["median", "probe_shift", "ridge", "ridge_int", "hgb", "extratrees"]),
              default="hgb", show_default=True)
@click.option("--members", default=None, type=click.IntRange(1, 50),
              help="Ensemble members, bagged over CV groups (default: 15 for hgb/extratrees, else 1).")
@click.option("--no-calibration", is_flag=True, help="Skip the grouped-CV calibration of intervals and bias.")
@click.option("--with-synthetic", is_flag=True, help="Also train on the synthetic clips (the shipped model does not).")
@click.option("--no-probe", is_flag=True,
              help="Without the probe encode's features (as the shipped fast-mode model).")
@handle_errors
def train(dataset_csv, output, family, members, no_calibration, with_synthetic, no_probe):
    """Fit a model that predicts a title's RD points from its features."""
    from .core.fsutil import check_output
    from .ladders.dataset import read_dataset
    from .pipeline import models

    out = check_output(output, inputs=[dataset_csv], what="model", allow_stdout=False)
    if out.is_stream:
        raise E.OutputError("a model is written as a file", output)
    if str(out.target).lower().endswith(".npz") and family != "hgb":
        raise E.InvalidOptions(f"only an hgb model is written as plain trees (.npz), not {family}: name it .skops")
    df = read_dataset(dataset_csv)
    if not with_synthetic:
        df = df[~models.is_synthetic(df)]
    if not no_probe:
        df = models.with_probe(df)
    model = models.train(df, family, members, calibrate=not no_calibration, with_synthetic=with_synthetic,
                         probe=not no_probe)
    meta = models.save(model, out.target, df)
    _out(f"wrote {output}: {family} on {meta['n_titles']} titles / {meta['n_rows']} rows "
               f"(data sha256 {meta['training_data_sha256'][:12]})")


@cli.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=str))
@click.option("-o", "--output", default=None, metavar="LADDER.json")
@click.option("--model", "model_path", default=None, metavar="MODEL.skops",
              help="Model file (default: the shipped one).")
@click.option("--verify", default=0, show_default=True, metavar="N", type=click.IntRange(0, 1000),
              help="Spend at most N real encodes (the fast mode's search) to check and correct the prediction.")
@click.option("--json", "as_json", is_flag=True, help="Print the ladder JSON on stdout (summary to stderr).")
@click.option("-q", "--quiet", is_flag=True)
@click.option("--gop", "gop_seconds", default=2.0, show_default=True, type=click.FloatRange(0, 60),
              help="Keyframe interval of the rungs (s).")
@click.option("--start", "start_s", default=0.0, show_default=True, type=click.FloatRange(0, 1e6),
              help="Predict for the excerpt from this time (s).")
@click.option("--duration", "duration_s", default=None, type=click.FloatRange(0.1, 1e6),
              help="... lasting this many seconds (default: to the end).")
@click.option("-j", "--jobs", default=None, type=click.IntRange(1, 256), help="Parallel encodes with --verify.")
@click.option("--report", "report_path", default=None, metavar="REPORT.html",
              help="Also write the HTML report (predicted curves, intervals, rungs).")
@click.option("--encode", "encode_dir", default=None, metavar="OUTDIR",
              help="Then encode the renditions and package them (HLS + DASH) in OUTDIR, as `pertitle encode`.")
@model_options
@input_options
@policy_options
@cache_options
@ffmpeg_option
@handle_errors
def predict(input_path, output, model_path, verify, as_json, quiet, gop_seconds, start_s, duration_s,
            jobs, report_path, encode_dir, ffmpeg_path, no_cache, cache_dir, workdir, **kw):
    """Predict INPUT's ladder from its features: no trial encode of the grid, one probe encode (x264
    veryfast CRF 23 of the analysed frames, VMAF on every 3rd frame), or at most N more with --verify N.

    Without --verify, each rung carries an 80% interval of its VMAF, and the summary gives the top
    rung's bitrate interval and a bound on the BD-rate loss (one rung: its rate excess), and says when the ladder is too
    uncertain to ship without measuring (--fast)."""
    from .encoder.ffmpeg import locate
    from .pipeline.predict import predict_ladder

    if verify < 0:
        raise click.BadParameter("must be >= 0", param_hint="--verify")
    from .core.fsutil import to_json, write_outputs

    opts = build_options({**kw, "codec": "libx264", "crfs": None, "heights": None, "preset": None,
                          "gop_seconds": gop_seconds, "start_s": start_s, "duration_s": duration_s,
                          "vmaf_model": "auto", "metrics": "psnr", "subsample": 1, "jobs": jobs,
                          "model_path": model_path})
    output = output or _default_output(input_path)
    out, _ = ladder_outputs(input_path, output, with_rd=False)
    rep = report_output(report_path, input_path, out)
    if encode_dir:
        from .pipeline.encode import precheck

        precheck(encode_dir)
    workdir = checked_workdir(workdir)
    ff = locate(ffmpeg_path)   # the shipped model's features include a probe encode
    doc = predict_ladder(input_path, opts, verify=verify, ff=ff, cache=make_cache(no_cache, cache_dir),
                         workdir=workdir)
    items = [(out, lambda fh: fh.write(to_json(doc)))]
    if rep is not None:
        from .pipeline.report import render

        text = render(doc, title=E.shown(os.path.basename(input_path)))
        items.insert(0, (rep, lambda fh: fh.write(text)))
    write_outputs(items)
    _finish(doc, out, None, as_json, quiet, rep)
    if encode_dir:
        _encode_after(input_path, doc, encode_dir, ff, quiet, False)


@cli.command()
@click.argument("dataset_csv", metavar="DATASET.csv", type=click.Path(path_type=str))
@click.option("--family", type=click.Choice(["median", "probe_shift", "ridge", "ridge_int", "hgb", "extratrees"]),
              default="hgb", show_default=True)
@click.option("--members", default=None, type=click.IntRange(1, 50), help="Ensemble members (default: as train).")
@click.option("--no-calibration", is_flag=True, help="Judge the model without its calibration (no intervals, no bias fix).")
@click.option("--verify", "verify_levels", default="0,6", show_default=True, metavar="N,N",
              help="Modes: 0 = predict, N = predict --verify N.")
@click.option("--fast/--no-fast", default=True, show_default=True, help="Also the fast mode's search (simulated).")
@click.option("--folds", default=10, show_default=True, type=click.IntRange(0, 1000),
              help="Group k-fold (0: leave one group out).")
@click.option("--holdout", default=None, metavar="REGEX",
              help="Only hold out groups matching REGEX; the others always train.")
@click.option("--judge", type=click.Choice(["real", "all"]), default="real", show_default=True,
              help="Which held-out titles are judged (real: not the synthetic clips).")
@click.option("--with-synthetic", is_flag=True, help="Train with the synthetic clips too (the shipped model does not).")
@click.option("--real-groups", default=None, type=click.IntRange(1, 10000),
              help="Train on this many real groups only (a learning curve point; chosen by --seed).")
@click.option("--seed", default=0, show_default=True)
@click.option("--fold-seed", type=int, default=None,
              help="Assign the groups to the folds at random from this seed (default: GroupKFold's "
                   "size-balanced assignment); a second split tells a gain from fold noise.")
@click.option("--no-probe", is_flag=True,
              help="Predict and verify without the probe encode's features (the fast mode never uses them).")
@click.option("-o", "--output", default=None, metavar="RESULTS.csv", help="Per-title results.")
@click.option("--json", "as_json", is_flag=True, help="Print the aggregate table as JSON.")
@policy_options
@handle_errors
def evaluate(dataset_csv, family, members, no_calibration, verify_levels, fast, folds, holdout, judge,
             with_synthetic, real_groups, seed, fold_seed, no_probe, output, as_json, **kw):
    """Grouped cross-validation: the ladders of held-out titles by prediction, --verify N and the
    fast search, against their exhaustive ladders (BD-rate, top rung, VMAF bias, interval coverage).
    Measurements come from each held-out title's own exhaustive table."""
    import numpy as np

    from .core.fsutil import check_output, write_output
    from .ladders.dataset import read_dataset
    from .ladders.evaluate import cross_validate, modes_of, summarize
    from .pipeline import models

    out = check_output(output, inputs=[dataset_csv], what="results") if output else None
    opts = build_options({**kw, "codec": "libx264", "crfs": None, "heights": None, "preset": None,
                          "gop_seconds": 2.0, "start_s": 0.0, "duration_s": None, "vmaf_model": "auto",
                          "metrics": "psnr", "subsample": 1, "jobs": 1})
    df = models.evaluation_table(read_dataset(dataset_csv), with_synthetic)
    synthetic = models.is_synthetic(df)
    rng = np.random.default_rng(seed)
    real_names = sorted(set(df.loc[~synthetic, "group"].astype(str)))
    keep_real = set(rng.permutation(real_names)[:real_groups]) if real_groups else set(real_names)

    if not no_probe:
        df = models.with_probe(df)   # titles without the probe encode's features are not judged

    def fit(train, probe=not no_probe):
        syn = models.is_synthetic(train)
        train = train[(syn & with_synthetic) | (~syn & train["group"].astype(str).isin(keep_real))]
        return models.train(train, family, members, calibrate=not no_calibration, policy=opts.policy,
                            with_synthetic=with_synthetic, probe=probe)

    levels = [int(v) for v in verify_levels.split(",") if v.strip()]
    only = None if judge == "all" else (lambda dt: not bool(synthetic.loc[dt.index].any()))
    results = cross_validate(df, fit, opts.policy, modes_of(levels, fast), splits=folds or None,
                             holdout=holdout, log=_err, only=only, fold_seed=fold_seed,
                             fit_fast=None if no_probe else (lambda train: fit(train, probe=False)))
    per_title, agg = summarize(results)
    if out is not None:
        write_output(out, lambda fh: per_title.to_csv(fh, index=False))
    if as_json:
        click.echo(agg.to_json(orient="records", indent=2))
        return
    _out(render_evaluation(per_title, agg))


def render_evaluation(per_title, agg) -> str:
    lines = []
    for mode, g in per_title.groupby("mode", sort=False):
        lines.append(f"[{mode}] per held-out title (BD-rate vs the exhaustive ladder, or 'env': a one-rung "
                     "ladder's rate excess at its quality; top rung ratio):")
        for _, r in g.sort_values("bd_or_envelope_pct", ascending=False).iterrows():
            kind = "env" if r.bd_rate_pct is None or r.bd_rate_pct != r.bd_rate_pct else "BD "   # None or NaN
            lines.append(f"  {r.title[:48]:48} {kind} {r.bd_or_envelope_pct:+7.2f}%  top x{r.top_ratio:4.2f}  "
                         f"{r.encodes:2d} enc  {r.rungs_predicted}")
    lines.append("")
    lines.append(f"{'mode':10} {'titles':>6} {'BD med':>7} {'BD p90':>7} {'BD max':>7} {'hull med':>8} "
                 f"{'top±25%':>7} {'bias':>6} {'MAE':>5} {'enc':>5} {'cost':>5} {'cover':>11} {'confident':>9}")
    for _, r in agg.iterrows():
        cover = (f"{r.rung_cover:.0%}/{r.top_cover:.0%}/{r.loss_cover:.0%}"
                 if r.rung_cover == r.rung_cover else "")
        conf = f"{r.confident:.0%}" if r.confident == r.confident else ""
        lines.append(f"{r['mode']:10} {r.titles:>6} {r.bd_median:>+6.2f}% {r.bd_p90:>+6.2f}% {r.bd_max:>+6.2f}% "
                     f"{r.hull_loss_median:>+7.2f}% {r.top_within_25pct:>7.0%} {r.vmaf_bias:>+6.2f} {r.vmaf_mae:>5.2f} "
                     f"{r.encodes:>5.1f} {r.cost_ratio_max:>5.2f} {cover:>11} {conf:>9}")
    lines.append("cover: share of held-out truths inside the predicted intervals (rung VMAF / top rung bitrate / "
                 "loss bound; 80% intervals); cost: the fast search's largest share of the exhaustive wall time")
    return "\n".join(lines)


@cli.command()
@click.argument("output", type=str)
@click.option("--kind", default="demo", show_default=True,
              help="What the clip shows: demo, flat, gradient, detail, zoom, life, grain, cuts.")
@click.option("--size", default="960x540", show_default=True, metavar="WxH")
@click.option("--rate", default=24, show_default=True, help="Frames per second.")
@click.option("--seconds", default=4.0, show_default=True)
@ffmpeg_option
@handle_errors
def sample(output, kind, size, rate, seconds, ffmpeg_path):
    """Generate a synthetic test clip with FFmpeg (deterministic, no download)."""
    import shutil
    import tempfile

    from .core.fsutil import check_output, write_output
    from .encoder.ffmpeg import locate
    from .samples.generate import KINDS, generate

    if kind not in KINDS:
        raise click.BadParameter(f"choose one of {', '.join(KINDS)}", param_hint="--kind")
    try:
        w, h = (int(v) for v in size.lower().split("x"))
    except ValueError:
        raise click.BadParameter("expected WxH, e.g. 960x540", param_hint="--size") from None
    if not (16 <= w <= 4096 and 16 <= h <= 4096) or w % 2 or h % 2:
        raise click.BadParameter("width and height must be even, 16..4096", param_hint="--size")
    if not 1 <= rate <= 120:
        raise click.BadParameter("must be 1..120", param_hint="--rate")
    if not 0.1 <= seconds <= 600:
        raise click.BadParameter("must be 0.1..600", param_hint="--seconds")
    out = check_output(output, what="sample clip")
    ff = locate(ffmpeg_path)
    ext = os.path.splitext(output)[1] if out.kind == "file" and os.path.splitext(output)[1] else ".mp4"
    with tempfile.TemporaryDirectory(prefix="pertitle-sample-") as tmp:
        clip = os.path.join(tmp, "sample" + ext)
        generate(ff.path, clip, kind=kind, width=w, height=h, rate=rate, seconds=seconds)
        with open(clip, "rb") as src:
            write_output(out, lambda fh: shutil.copyfileobj(src, fh), mode="wb")
    _err(f"wrote {output} ({kind}, {size}, {rate} fps, {seconds:g} s)")


@cli.command("exit-codes")
def exit_codes():
    """List the exit codes."""
    for code, what in sorted(E.EXIT_CODES.items()):
        _out(f"{code:>3}  {what}")


def _on_signal(signum, frame):
    """SIGTERM / SIGHUP / SIGINT: stop every FFmpeg child, refuse new ones, and unwind the main
    thread (work folders and temporary files are removed on the way out; finished points stay
    in the cache)."""
    from .encoder.runner import stop_all

    stop_all()
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise E.Terminated(signum)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    _err(f"pertitle: warning: {message}")


def main() -> None:
    import warnings

    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, _on_signal)
    warnings.showwarning = _show_warning
    for stream in (sys.stdout, sys.stderr):     # a name that is not UTF-8 never stops a run
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    cli(prog_name="pertitle")


if __name__ == "__main__":
    main()
