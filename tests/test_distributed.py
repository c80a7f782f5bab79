"""Batch on a real Dask distributed cluster (scheduler and workers over TCP on 127.0.0.1)."""
import json
import os
import shutil
import signal
import threading
import time

import pytest

distributed = pytest.importorskip("distributed")

from pertitle.pipeline.common import AnalysisOptions  # noqa: E402
from pertitle.encoder.discover import discover  # noqa: E402
from pertitle.encoder.cache import Cache  # noqa: E402
from pertitle.pipeline.distributed import run_batch_dask  # noqa: E402

from .conftest import run  # noqa: E402

OPTS = AnalysisOptions(crfs=(22, 30, 38), heights=(180,), gop_seconds=1, jobs=1)


@pytest.fixture
def folder(tmp_path, make_clip):
    d = tmp_path / "titles"
    d.mkdir()
    for i, src in enumerate(["testsrc2", "mandelbrot", "smptebars", "cellauto"]):
        shutil.copy(make_clip(f"d{i}.mp4", size="320x180", seconds=1, source=src), d / f"t{i}.mp4")
    (d / "broken.mp4").write_text("not a video")
    return d


@pytest.fixture
def cluster(tmp_path, monkeypatch):
    from dask.distributed import Client, LocalCluster

    # the workers' scratch folders under the test's own tmp: a worker killed mid-encode
    # (test_killed_worker_loses_nothing) cannot clean up after itself
    scratch = tmp_path / "worker-tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    c = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                     dashboard_address=None)
    client = Client(c)
    assert all(a.startswith("tcp://127.0.0.1:") for a in client.scheduler_info()["workers"])
    yield client
    client.close()
    c.close()


def test_cluster_batch_matches_local_outputs_and_isolates_errors(ff, folder, tmp_path, cluster):
    out = tmp_path / "out"
    cache = Cache(str(tmp_path / "cache"))
    res = run_batch_dask(discover(str(folder)), str(folder), str(out), OPTS, ff, cache, client=cluster)
    status = {os.path.basename(t.path): t.status for t in res.titles}
    assert status == {"t0.mp4": "ok", "t1.mp4": "ok", "t2.mp4": "ok", "t3.mp4": "ok", "broken.mp4": "failed"}
    for i in range(4):
        doc = json.loads((out / f"t{i}.mp4.ladder.json").read_text())
        assert doc["rungs"] and doc["sweep"]["encodes"] == 3
    # Same ladders as a local run (everything cached, so this is cheap).
    local = tmp_path / "local"
    p = run("batch", folder, "-o", local, "--cache", tmp_path / "cache", "--crf", "22,30,38",
            "--heights", "180", "--gop", "1", "-q")
    assert p.returncode == 40
    for i in range(4):
        a = json.loads((out / f"t{i}.mp4.ladder.json").read_text())["rungs"]
        b = json.loads((local / f"t{i}.mp4.ladder.json").read_text())["rungs"]
        assert a == b
    # Resume on the cluster: all done titles are skipped.
    res2 = run_batch_dask(discover(str(folder)), str(folder), str(out), OPTS, ff, cache, client=cluster)
    assert sorted(t.status for t in res2.titles) == ["failed", "skipped", "skipped", "skipped", "skipped"]


def test_killed_worker_loses_nothing(ff, folder, tmp_path, cluster):
    out = tmp_path / "out"
    cache_dir = tmp_path / "cache"
    killed = []

    def killer():
        # Wait until the first encode is cached (work is under way), then SIGKILL a busy worker.
        deadline = time.time() + 120
        while time.time() < deadline:
            if cache_dir.exists() and any(cache_dir.rglob("*.json")):
                break
            time.sleep(0.05)
        busy = [w for w, tasks in cluster.processing().items() if tasks]
        pids = cluster.run(os.getpid)
        victim = (busy or list(pids))[0]
        os.kill(pids[victim], signal.SIGKILL)
        killed.append(victim)

    t = threading.Thread(target=killer)
    t.start()
    res = run_batch_dask(discover(str(folder)), str(folder), str(out), OPTS, ff, Cache(str(cache_dir)),
                         client=cluster)
    t.join()
    assert killed, "a worker was killed mid-batch"
    status = {os.path.basename(r.path): r.status for r in res.titles}
    assert [status[f"t{i}.mp4"] for i in range(4)] == ["ok"] * 4
    assert status["broken.mp4"] == "failed"
    for i in range(4):
        assert json.loads((out / f"t{i}.mp4.ladder.json").read_text())["rungs"]


def test_cli_local_cluster(folder, tmp_path):
    p = run("batch", folder, "-o", tmp_path / "o", "--cluster", "local", "--workers", "2",
            "--cache", tmp_path / "c", "--crf", "22,30,38", "--heights", "180", "--gop", "1")
    assert p.returncode == 40, p.stderr
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["ok"] == 4 and summary["failed"] == 1
    p = run("batch", folder, "-o", tmp_path / "o2", "--scheduler", "tcp://127.0.0.1:1")
    assert p.returncode == 2 and "cannot reach" in p.stderr
