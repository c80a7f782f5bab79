"""``batch`` on a Dask distributed cluster (Dask is a regular dependency).

One task per title. A task is the same isolated ``process_title`` the local batch runs: it
checks whether the title is already done, runs the (cached) sweep and writes the title's
ladder and RD table atomically. So the cluster run has the same outputs, the same resume
behaviour and the same per-title error isolation as the local run. If a worker dies, the
scheduler reruns its task elsewhere; the points it had finished are in the cache, so the rerun
starts where the dead worker stopped. Workers must see the same folder, output directory and
cache directory (a shared filesystem when they are on other machines).
"""
from __future__ import annotations

import os
from collections.abc import Callable

from ..core.errors import PertitleError, shown
from ..encoder.cache import Cache
from ..encoder.ffmpeg import FFmpeg, locate
from .batch import BatchResult, TitleResult, process_title
from .common import AnalysisOptions

TASK_RETRIES = 3


class DaskUnavailable(PertitleError):
    exit_code = 2
    kind = "dask_unavailable"


def _title_task(path: str, folder: str, outdir: str, opts: AnalysisOptions, ffmpeg_path: str | None,
                cache_root: str | None, workdir: str | None, encode: bool = False) -> TitleResult:
    """Runs on a worker: find FFmpeg there, analyse one title."""
    try:
        ff = locate(ffmpeg_path)
    except PertitleError as exc:
        return TitleResult(path=path, status="failed", error=str(exc), error_kind=exc.kind, exit_code=exc.exit_code)
    return process_title(path, folder, outdir, opts, ff, Cache.open(cache_root), workdir=workdir, encode=encode)


def connect(scheduler: str | None, local: bool, workers: int | None):
    """A Client on the given scheduler, or on a new LocalCluster (returned so it can be closed).

    ``tls://`` uses Dask's own security settings (``distributed.comm.tls.*`` in the Dask config,
    e.g. DASK_DISTRIBUTED__COMM__TLS__CA_FILE / __CLIENT__CERT / __CLIENT__KEY); without them the
    connection is refused here rather than attempted in the clear."""
    try:
        import dask
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise DaskUnavailable("Dask is not importable: reinstall pertitle (pip install .)") from None
    if scheduler:
        proto = scheduler.split("://", 1)[0] if "://" in scheduler else "tcp"
        if proto not in ("tcp", "tls"):
            raise DaskUnavailable(f"unsupported scheduler address {scheduler!r}: use tcp://HOST:PORT or "
                                  "tls://HOST:PORT")
        if proto == "tls" and not (dask.config.get("distributed.comm.tls.ca-file", None)
                                   and dask.config.get("distributed.comm.tls.client.cert", None)):
            raise DaskUnavailable("tls:// needs Dask's TLS settings: set DASK_DISTRIBUTED__COMM__TLS__CA_FILE, "
                                  "DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT and __CLIENT__KEY (see README)")
        try:
            return Client(scheduler, timeout="20s"), None
        except Exception as exc:  # noqa: BLE001 - anything that is not a Dask scheduler lands here
            raise DaskUnavailable(f"cannot reach a Dask scheduler at {scheduler}: "
                                  f"{type(exc).__name__}: {str(exc)[:160]}") from None
    n = workers or max(1, (os.cpu_count() or 1))
    try:
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=None)
    except Exception as exc:  # noqa: BLE001
        raise DaskUnavailable(f"cannot start a local Dask cluster: {type(exc).__name__}: {exc}") from None
    return Client(cluster), cluster


def run_batch_dask(paths: list[str], folder: str, outdir: str, opts: AnalysisOptions, ff: FFmpeg,
                   cache: Cache, *, scheduler: str | None = None, local: bool = False,
                   workers: int | None = None, workdir: str | None = None,
                   log: Callable[[str], None] | None = None, client=None, encode: bool = False) -> BatchResult:
    from dask.distributed import as_completed

    own = client is None
    cluster = None
    if own:
        client, cluster = connect(scheduler, local, workers)
    # The local FFmpeg path is only meaningful to workers on this machine.
    ff_path = ff.path if (local or cluster is not None or scheduler is None) else None
    ff_path = os.environ.get("PERTITLE_FFMPEG", ff_path)
    folder, outdir = os.path.abspath(folder), os.path.abspath(outdir)
    try:
        futures = {client.submit(_title_task, os.path.abspath(p), folder, outdir, opts, ff_path, cache.root,
                                 workdir, encode, key=f"pertitle-title-{i}-{os.path.basename(p)}",
                                 pure=False, retries=TASK_RETRIES): os.path.abspath(p)
                   for i, p in enumerate(paths)}
        results: dict[str, TitleResult] = {}
        for fut in as_completed(futures):
            path = futures[fut]
            try:
                res = fut.result()
            except Exception as exc:  # a task that kept failing (e.g. killed worker, every retry)
                res = TitleResult(path=path, status="failed", error=shown(f"{path}: task failed on the cluster: "
                                  f"{type(exc).__name__}: {exc}"), error_kind="cluster", exit_code=1)
            results[path] = res
            if log:
                log(f"[{len(results)}/{len(paths)}] {shown(os.path.relpath(path, folder))}: {res.status}"
                    + (f": {res.error}" if res.error else f"  {res.rungs}"))
        return BatchResult([results[os.path.abspath(p)] for p in paths])
    finally:
        if own:
            client.close()
            if cluster is not None:
                cluster.close()
