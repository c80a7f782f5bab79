"""verify: the rungs re-encoded 2-pass land near what the ladder promised."""
import json

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
