"""verify: the rungs re-encoded 2-pass land near what the ladder promised."""
import json
import shutil

from pertitle.core import errors as E

from .conftest import run


def test_verify_reencodes_rungs_and_compares_with_hull(make_clip, tmp_path):
    src = make_clip("ver.mp4", size="480x270", seconds=2, source="mandelbrot")
    ladder = tmp_path / "v.ladder.json"
    p = run("analyze", src, "-o", ladder, "--cache", tmp_path / "c", "--crf", "18,24,30,36,42", "--gop", "1", "-q")
    assert p.returncode == 0, p.stderr
    p = run("verify", ladder, "--cache", tmp_path / "c", "--json", "-q")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    doc = json.loads(ladder.read_text())
    assert len(out["rungs"]) == len(doc["rungs"]) and out["encodes"] == len(doc["rungs"])
    for r in out["rungs"]:
        # 2-pass lands near its target rate and near the expected quality
        assert abs(r["rate_error_pct"]) < 15
        assert abs(r["vmaf_error"]) < 4
    if len(out["rungs"]) >= 2:
        assert out["bd_rate_vs_hull_pct"] is None or abs(out["bd_rate_vs_hull_pct"]) < 15
    # second time: every rung encode is cached
    again = json.loads(run("verify", ladder, "--cache", tmp_path / "c", "--json", "-q").stdout)
    assert again["cached"] == again["encodes"]

    # the source moved: the error says which file the ladder named and how to give the new place
    moved = tmp_path / "elsewhere.mp4"
    shutil.copy(src, moved)
    gone = tmp_path / "gone.mp4"
    shutil.copy(src, gone)
    doc["source"]["path"] = str(gone)
    ladder.write_text(json.dumps(doc))
    gone.unlink()
    p = run("verify", ladder, "--cache", tmp_path / "c", "-q")
    assert p.returncode == E.InputNotFound.exit_code, p.stderr
    assert p.stderr.strip() == f"pertitle: error: {gone}: no such file (the source this ladder was made from: " \
        "--source names where it is now)", p.stderr
    p = run("verify", ladder, "--source", moved, "--cache", tmp_path / "c", "--json", "-q")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["cached"] == again["encodes"]
    # a named source that is missing is just missing
    p = run("verify", ladder, "--source", gone, "--cache", tmp_path / "c", "-q")
    assert p.returncode == E.InputNotFound.exit_code and "--source" not in p.stderr, p.stderr


def test_verify_an_av1_ladder(make_clip, tmp_path):
    """An SVT-AV1 ladder's rungs re-encode (the encoder does not open with a maximum bitrate
    outside CRF mode: every rung failed before) and land near their targets."""
    src = make_clip("ver_av1.mp4", size="320x180", seconds=2, source="mandelbrot")
    ladder = tmp_path / "a.ladder.json"
    p = run("analyze", src, "-o", ladder, "--codec", "libsvtav1", "--crf", "25,35,45,55", "--gop", "1",
            "--cache", tmp_path / "c", "-q")
    assert p.returncode == 0, p.stderr
    p = run("verify", ladder, "--cache", tmp_path / "c", "--json", "-q")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["encodes"] == len(json.loads(ladder.read_text())["rungs"]) >= 1
    for r in out["rungs"]:
        # 2-pass VBR, but on 2 s of a zoom that grows busier at 320x180 the lowest rung undershoots
        # (-23 %, VMAF 3.6 under the hull's promise, measured); looser than x264's on this clip
        assert abs(r["rate_error_pct"]) < 35 and abs(r["vmaf_error"]) < 5, r
