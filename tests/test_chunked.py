"""A title analysed whole in chunks cut on keyframes (flat memory and disk; one title fanned out
over a Dask cluster): the chunks cover every frame once, their rows pool into the title's."""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pertitle.encoder.measure import pool
from pertitle.encoder.probe import probe
from pertitle.encoder.sweep import chunk_plans, merge_chunk_rows, plan_sweep

from .conftest import run

QUICK = ["--crf", "24,36", "--gop", "1", "--heights", "180,90", "-j", "2"]


@pytest.fixture(scope="module")
def six_s(make_clip):
    # 6 s at 24 fps, content that changes all the time (every frame costs bits)
    return make_clip("six.mp4", size="320x180", rate=24, seconds=6.0, source="testsrc2",
                     vf="noise=alls=20:allf=t")


def test_chunks_start_on_keyframes_and_cover_every_frame(six_s):
    plan = plan_sweep(probe(six_s), crfs=(30,), heights=(180,), gop_seconds=1.0)
    chunks = chunk_plans(plan, 2.0)
    assert len(chunks) == 3
    starts = [c.reference.start_s for c in chunks]
    assert starts[0] == 0.0
    for s, k in zip(starts[1:], (48, 96)):        # half a frame before frame 48, 96 (keyframes: GOP 24)
        assert s == pytest.approx((k - 0.5) / 24, abs=1e-6)
    assert chunks[-1].reference.duration_s is None   # the last runs to the end
    assert chunk_plans(plan, 4.0) == [plan]          # shorter than two chunks: one piece
    assert len(chunk_plans(plan, 3.4)) == 2          # chunks of 72 frames (whole GOPs)
    with pytest.raises(ValueError):
        chunk_plans(plan_sweep(probe(six_s), crfs=(30,), segments=2, segment_s=1.0), 2.0)


def _row(w, crf, frames, nbytes, vm, **kw):
    return {"width": w, "height": w * 9 // 16, "crf": crf, "target_kbps": None, "frames": frames, "bytes": nbytes,
            "kbps": nbytes * 8 / (frames / 25) / 1000, "vmaf_frames": list(vm), "vmaf_mean": float(np.mean(vm)),
            "vmaf_hmean": 0.0, "vmaf_p5": 0.0, "vmaf_min": float(np.min(vm)), "psnr_y": kw.get("psnr", 40.0),
            "key": f"k{w}{crf}{frames}", "cached": kw.get("cached", False)}


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 60), st.integers(1, 10**6)), min_size=1, max_size=5), st.integers(0, 9999))
def test_pooled_chunks_are_the_title_pooled_once(chunks, seed):
    rng = np.random.default_rng(seed)
    per = []
    allv = []
    for frames, nbytes in chunks:
        vm = rng.uniform(20, 100, frames)
        allv.append(vm)
        per.append([_row(320, 30, frames, nbytes, vm)])
    [m] = merge_chunk_rows(per, 25.0)
    total_frames = sum(f for f, _ in chunks)
    assert m["frames"] == total_frames and m["bytes"] == sum(b for _, b in chunks)
    assert m["kbps"] == pytest.approx(sum(b for _, b in chunks) * 8 / (total_frames / 25) / 1000, rel=1e-4, abs=1e-3)  # kbps kept to 3 decimals
    want = pool(np.concatenate(allv))
    for k in ("vmaf_mean", "vmaf_hmean", "vmaf_p5", "vmaf_min"):
        assert m[k] == pytest.approx(want[k], abs=1e-3)
    assert "vmaf_frames" not in m


def test_a_point_missing_in_one_chunk_is_missing_for_the_title():
    a = [_row(320, 30, 10, 1000, [90] * 10), _row(160, 30, 10, 500, [80] * 10)]
    b = [_row(320, 30, 10, 3000, [70] * 10)]
    merged = merge_chunk_rows([a, b], 25.0)
    assert [(r["width"], r["crf"]) for r in merged] == [(320, 30)]
    assert merged[0]["vmaf_mean"] == pytest.approx(80.0) and merged[0]["vmaf_min"] == pytest.approx(70.0)


def test_chunked_analysis_measures_what_the_whole_title_does(six_s, tmp_path):
    whole, chunked = tmp_path / "w.json", tmp_path / "c.json"
    p = run("analyze", six_s, "-o", whole, *QUICK, "--cache", tmp_path / "c1")
    assert p.returncode == 0, p.stderr
    p = run("analyze", six_s, "-o", chunked, *QUICK, "--chunk-seconds", "2", "--cache", tmp_path / "c2")
    assert p.returncode == 0, p.stderr
    dw, dc = json.loads(whole.read_text()), json.loads(chunked.read_text())
    assert dc["sweep"]["chunks"] == 3 and "chunks" not in dw["sweep"]
    rw = {(r["width"], r["crf"]): r for r in _rd(tmp_path / "w.rd.csv")}
    rc = {(r["width"], r["crf"]): r for r in _rd(tmp_path / "c.rd.csv")}
    assert rw.keys() == rc.keys() and len(rw) == 4
    for k in rw:
        assert int(rc[k]["frames"]) == int(rw[k]["frames"]) == 144     # no frame lost or doubled at the cuts
        # x264 restarts its look-ahead and libvmaf its motion feature at each chunk (here every 48 frames,
        # 60x more often than with the default 60-s chunks): same keyframes, bits within 5 %, VMAF within 1.5
        assert float(rc[k]["kbps"]) == pytest.approx(float(rw[k]["kbps"]), rel=0.05)
        assert float(rc[k]["vmaf_mean"]) == pytest.approx(float(rw[k]["vmaf_mean"]), abs=1.5)
    # resumable: a rerun measures nothing
    p = run("analyze", six_s, "-o", chunked, *QUICK, "--chunk-seconds", "2", "--cache", tmp_path / "c2", "--json")
    assert p.returncode == 0 and json.loads(p.stdout)["sweep"]["measured"] == 0


def _rd(path):
    import csv

    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_chunks_of_one_title_on_a_local_cluster_give_the_local_rows(six_s, tmp_path):
    pytest.importorskip("distributed")
    local, clus = tmp_path / "l.json", tmp_path / "k.json"
    p = run("analyze", six_s, "-o", local, *QUICK, "--chunk-seconds", "2", "--cache", tmp_path / "c1")
    assert p.returncode == 0, p.stderr
    p = run("analyze", six_s, "-o", clus, *QUICK, "--cluster", "local", "--workers", "2", "--chunk-seconds", "2",
            "--cache", tmp_path / "c2")
    assert p.returncode == 0, p.stderr
    dk = json.loads(clus.read_text())
    assert dk["sweep"]["chunks"] == 3 and dk["sweep"]["cluster"] is True and dk["sweep"]["measured"] == 4
    # single-threaded x264 and libvmaf are deterministic: the cluster measured exactly what this machine did
    rl = sorted((r["width"], r["crf"], r["bytes"], r["vmaf_mean"]) for r in _rd(tmp_path / "l.rd.csv"))
    rk = sorted((r["width"], r["crf"], r["bytes"], r["vmaf_mean"]) for r in _rd(tmp_path / "k.rd.csv"))
    assert rl == rk
    assert json.loads(local.read_text())["rungs"] == dk["rungs"]


def test_chunk_options_that_cannot_work_are_refused(six_s, tmp_path):
    for extra in (["--chunk-seconds", "2", "--fast"], ["--chunk-seconds", "2", "--segments", "2"],
                  ["--cluster", "local", "--scheduler", "tcp://127.0.0.1:1"], ["--workers", "2"]):
        p = run("analyze", six_s, "-o", tmp_path / "x.json", *extra)
        assert p.returncode == 2, (extra, p.stderr)
        assert "Traceback" not in p.stderr
    p = run("analyze", six_s, "-o", tmp_path / "x.json", "--scheduler", "tcp://127.0.0.1:1", *QUICK)
    assert p.returncode == 2 and "cannot reach" in p.stderr
