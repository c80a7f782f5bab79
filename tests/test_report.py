"""The HTML report and the batch index: pure rendering (no FFmpeg), the CLI on a tiny real analysis,
and a real browser (headless Chromium, network off) that must draw them without an error."""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pertitle.ladders.document import build_document, load
from pertitle.ladders.policy import LadderPolicy
from pertitle.ladders.report import Chart, batch_index, collect_points, title_report

from .conftest import QUICK, REPO, run

SOURCE = {"path": "/videos/a <b>&\"c\".mp4", "width": 640, "height": 360, "display_width": 640,
          "display_height": 360, "fps": 24.0, "duration_s": 2.0, "codec": "h264", "pix_fmt": "yuv420p",
          "warnings": ["<script>alert(1)</script> odd size"], "sha256": "0" * 64}
ANALYSED = {"start_s": 0.0, "duration_s": None, "frames": 48, "reference_width": 640, "reference_height": 360,
            "fps": 24.0}


def synthetic_rows() -> list[dict]:
    """RD rows of a plausible title: three sizes, a CRF grid, quality rising with rate."""
    rows = []
    for (w, h), scale in (((320, 180), 0.45), ((480, 270), 0.7), ((640, 360), 1.0)):
        for crf in (20, 26, 32, 38):
            kbps = 3000 * scale * 2 ** (-(crf - 20) / 6)
            q = min(99.0, 100 * scale ** 0.15 - 1.6 * (crf - 20))
            rows.append({"codec": "libx264", "width": w, "height": h, "crf": crf, "kbps": kbps,
                         "vmaf_mean": q, "psnr_y": 30 + q / 5})
    return rows


def make_doc(kind: str = "analyzed", extra: dict | None = None) -> dict:
    return build_document(kind=kind, source=SOURCE, analysed=ANALYSED, rows=synthetic_rows(), codec="libx264",
                          preset="medium", gop=48, vmaf_model="vmaf_v0.6.1", policy=LadderPolicy(),
                          ffmpeg_version="test", extra=extra or {"sweep": {"encodes": 12, "mode": "exhaustive"}})


def count(html: str, cls: str) -> int:
    return len(re.findall(rf'<g class="pt {cls}"', html))


def test_report_draws_every_point_rung_and_fixed_rung():
    doc = make_doc()
    html = title_report(doc, synthetic_rows())
    assert count(html, "rung") == len(doc["rungs"]) >= 2
    assert count(html, "measured") == len(synthetic_rows())
    assert count(html, "predicted") == 0
    fixed_drawn = sum(1 for f in doc["comparison"]["rungs"] if f.get("quality") is not None)
    assert count(html, "fixed") == fixed_drawn
    assert 'class="series hull"' in html
    # every rung's label: size, kbps and VMAF
    for r in doc["rungs"]:
        assert f"{r['width']}x{r['height']} {r['bitrate_kbps']:,} kbps, {r['vmaf']:.1f}" in html


def test_report_is_self_contained_and_escapes_every_text():
    html = title_report(make_doc(), synthetic_rows())
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "a &lt;b&gt;&amp;&quot;c&quot;.mp4" in html
    # nothing fetched: no src/href to any URL, and a policy that forbids fetching
    assert not re.search(r'\s(src|href)="(?!#)', html)
    assert "default-src 'none'" in html
    assert len(html.encode()) < 5 << 20


def test_a_source_warning_is_listed_once():
    # the analyses put the source's warnings first among the document's notes as well
    doc = make_doc()
    doc["notes"] = list(SOURCE["warnings"]) + doc["notes"] + ["another note"]
    html = title_report(doc, synthetic_rows())
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt; odd size") == 1
    assert html.count('<li class="warning">') == 1 and "<li>another note</li>" in html


def test_predicted_report_tells_predicted_from_measured_and_draws_intervals():
    doc = make_doc("predicted", {"prediction": {"model": "hgb", "verify_encodes": 1, "verify_points": [
        {"width": 640, "height": 360, "crf": 26, "kbps": 1500.0, "vmaf_mean": 90.0}],
        "top_kbps_interval": [1000, 3000], "loss_bound_pct": 4.0, "confident": False}})
    for r in doc["rungs"]:
        r["vmaf_interval"] = [r["vmaf"] - 3, min(100, r["vmaf"] + 3)]
    measured, predicted = collect_points(doc, None)
    assert len(measured) == 1
    assert predicted and all((p["width"], p["height"], round(p["kbps"], 1)) != (640, 360, 1500.0) for p in predicted)
    html = title_report(doc)
    assert count(html, "measured") == 1
    assert count(html, "predicted") == len(predicted)
    assert count(html, "interval") == len(doc["rungs"])
    assert "too uncertain to ship unmeasured" in html
    # predicted points carry their CRF in the hover text
    assert re.search(r'predicted · \d+x\d+ · CRF \d+', html)
    assert "probe encode" not in html
    # the probe encode is counted apart from the grid encodes, and a hostile value is escaped
    doc["prediction"]["probe_encode"] = {"preset": "veryfast<b>", "crf": 23, "vmaf_subsample": 3, "seconds": 1.2}
    html = title_report(doc)
    assert "1 + 1 probe encode (veryfast&lt;b&gt; CRF 23, not a grid point)" in html
    doc["prediction"]["probe_encode"] = "junk"
    assert "probe encode" not in title_report(doc)
    # the rungs' sizes from the size model: said once; any other value says nothing
    assert "size model" not in title_report(doc)
    doc["prediction"]["size_choice"] = "size_model"
    assert title_report(doc).count("the model's size model names") == 1
    doc["prediction"]["size_choice"] = "<b>size_model</b>"
    assert "size model" not in title_report(doc) and "<b>size_model" not in title_report(doc)


def test_verification_adds_measured_rungs_and_a_per_frame_timeline():
    doc = make_doc()
    ver = {"rungs": [{"index": r["index"], "width": r["width"], "height": r["height"], "status": "ok",
                      "target_kbps": r["bitrate_kbps"], "measured_kbps": r["bitrate_kbps"] * 1.03,
                      "expected_vmaf": r["vmaf"], "measured_vmaf": r["vmaf"] - 0.5,
                      "vmaf_frames": [r["vmaf"] - (i % 5) for i in range(48)]} for r in doc["rungs"]],
           "bd_rate_vs_hull_pct": 0.8, "vmaf_mae": 0.5}
    ver["rungs"][-1] = {**ver["rungs"][-1], "status": "failed", "error": "encoder <crash>"}
    html = title_report(doc, synthetic_rows(), ver)
    assert count(html, "verified") == len(doc["rungs"]) - 1
    assert html.count('class="series frameline"') == len(doc["rungs"]) - 1
    assert "encoder &lt;crash&gt;" in html


def test_index_lists_every_title_with_link_or_error():
    entries = [{"title": "a.mp4", "report": "a.mp4.report.html", "status": "ok", "rungs": 5, "top": "1280x720 3,000 kbps",
                "top_kbps": 3000, "bd_rate_pct": -20.5, "top_saving_pct": 31.25, "mode": "analyzed"},
               {"title": "one.mp4", "report": "one.mp4.report.html", "status": "ok", "rungs": 1, "top": "400x394 145 kbps",
                "top_kbps": 145, "bd_rate_pct": None, "top_saving_pct": 95.6, "mode": "fast"},
               {"title": "b<x>.mp4", "report": None, "status": "failed", "error": "not a video: <junk>"},
               {"title": "c.mp4", "report": "sub/c.mp4.report.html", "status": "skipped", "rungs": 3,
                "top": "640x360 900 kbps", "top_kbps": 900, "bd_rate_pct": 12.0, "mode": "fast"}]
    html = batch_index(entries, title="batch")
    assert html.count("<tr>") == 1 + 4
    # a one-rung ladder has no BD-rate but a saving at the fixed top rung's quality
    assert '<td data-v="31.25">31.2%</td>' in html and '<td data-v="95.6">95.6%</td>' in html
    assert 'href="a.mp4.report.html"' in html and 'href="sub/c.mp4.report.html"' in html
    assert "not a video: &lt;junk&gt;" in html and "b&lt;x&gt;.mp4" in html
    assert count(html, "bar") == 2
    assert "3 of 4 titles analysed, 1 failed" in html
    # a title's name is a file name, not a URL: no scheme, fragment or query comes out of it
    odd = [{"title": t, "report": f"sub/{t}.report.html", "status": "ok"}
           for t in ("javascript:alert(1).mp4", "a#1 50%?.mp4", "x&amp;\"y.mp4")]
    page = batch_index(odd, title="batch")
    hrefs = re.findall(r'href="([^"]*)"', page)
    assert hrefs == ["sub/javascript%3Aalert%281%29.mp4.report.html", "sub/a%231%2050%25%3F.mp4.report.html",
                     "sub/x%26amp%3B%22y.mp4.report.html"]
    assert [unquote(h) for h in hrefs] == [e["report"] for e in odd]


@given(st.floats(1, 1e5), st.floats(1, 1e5), st.floats(0, 100), st.floats(0, 100))
def test_chart_maps_monotonically_inside_the_frame(a, b, qa, qb):
    ch = Chart((min(a, b), max(a, b) * 1.01), (0, 100))
    assert (ch.X(a) <= ch.X(b)) == (a <= b) or a == b
    if b > a * (1 + 1e-6):
        assert ch.X(a) < ch.X(b)
    assert ch.Y(min(qa, qb)) >= ch.Y(max(qa, qb))  # screen y grows downwards
    if qb - qa > 1e-6:
        assert ch.Y(qa) > ch.Y(qb)
    for x, y in ((a, qa), (b, qb)):
        assert ch.ml <= ch.X(x) <= ch.w - ch.mr and ch.mt <= ch.Y(y) <= ch.h - ch.mb


# ------------------------------------------------------------------------------------------
# CLI on a tiny real analysis
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def analysed(make_clip, tmp_path_factory):
    """A tiny real analysis with its report, plus a batch (one good title, one broken file)."""
    root = tmp_path_factory.mktemp("report")
    clip = make_clip("rep.mp4", size="320x180", seconds=1.0)
    cache = str(root / "cache")
    lad, html = root / "t.ladder.json", root / "t.html"
    p = run("analyze", clip, "-o", lad, "--report", html, "--cache", cache, *QUICK)
    assert p.returncode == 0, p.stderr
    assert f"report: {html}" in p.stdout
    folder = root / "in"
    folder.mkdir()
    shutil.copy(clip, folder / "good.mp4")
    (folder / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)
    b = run("batch", folder, "-o", root / "out", "--cache", cache, *QUICK)
    assert b.returncode != 0  # one title failed
    return {"root": root, "clip": clip, "ladder": lad, "html": html, "cache": cache, "batch": root / "out",
            "batch_stdout": b.stdout}


def test_analyze_report_matches_the_ladder(analysed):
    doc = load(str(analysed["ladder"]))
    html = analysed["html"].read_text()
    assert count(html, "rung") == len(doc["rungs"])
    rd_rows = sum(1 for _ in open(str(analysed["ladder"]).replace(".ladder.json", ".rd.csv"))) - 1
    assert count(html, "measured") == rd_rows


def test_report_command_rebuilds_it_and_refuses_bad_input(analysed, tmp_path):
    out = tmp_path / "r.html"
    p = run("report", analysed["ladder"], "-o", out)
    assert p.returncode == 0, p.stderr
    assert count(out.read_text(), "rung") == count(analysed["html"].read_text(), "rung")
    bad = tmp_path / "bad.ladder.json"
    bad.write_text('{"rungs": [1e999]}')
    p = run("report", bad, "-o", tmp_path / "x.html")
    assert p.returncode == 31 and p.stderr.count("\n") == 1 and "Traceback" not in p.stderr
    assert not (tmp_path / "x.html").exists()
    # a damaged RD table beside a good ladder: one-line error, nothing written
    lad = tmp_path / "c.ladder.json"
    shutil.copy(analysed["ladder"], lad)
    (tmp_path / "c.rd.csv").write_text("width,height,kbps,vmaf_mean\n320,180,=cmd|x,90\n")
    p = run("report", lad, "-o", tmp_path / "y.html")
    assert p.returncode == 31 and "not a number" in p.stderr and not (tmp_path / "y.html").exists()
    # the report path checked before any work: a directory is refused
    p = run("report", analysed["ladder"], "-o", tmp_path)
    assert p.returncode == 34


def test_batch_writes_reports_and_an_index_with_the_failure(analysed):
    out = analysed["batch"]
    index = (out / "index.html").read_text()
    assert (out / "good.mp4.report.html").is_file()
    assert 'href="good.mp4.report.html"' in index
    assert "broken.mp4" in index and 'class="txt bad"' in index
    assert "index.html" in analysed["batch_stdout"]
    summary = json.loads((out / "summary.json").read_text())
    assert {t["status"] for t in summary["titles"]} == {"ok", "failed"}


# ------------------------------------------------------------------------------------------
# A real browser
# ------------------------------------------------------------------------------------------


ARTIFACTS = Path(os.environ.get("PERTITLE_ARTIFACTS", REPO / ".artifacts"))


def open_offline(browser, path: Path, shot: str):
    """Open ``path`` from a file:// URL with the network off; -> (page, console problems, png)."""
    ctx = browser.new_context(offline=True, viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-ready='1']", timeout=10_000)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    png = ARTIFACTS / shot
    page.screenshot(path=str(png), full_page=True)
    assert requests == [path.as_uri()], f"the page fetched more than itself: {requests}"
    return page, problems, png


def not_blank(png: Path) -> bool:
    from PIL import Image

    im = Image.open(png).convert("RGB")
    colours = im.getcolors(maxcolors=1 << 20) or []
    non_white = sum(n for n, c in colours if c != (255, 255, 255))
    return len(colours) > 20 and non_white > 0.02 * im.width * im.height


def test_report_in_a_real_browser(browser, analysed):
    doc = load(str(analysed["ladder"]))
    page, problems, png = open_offline(browser, analysed["html"], "report.png")
    assert problems == []
    assert page.locator("svg.rd g.pt.rung").count() == len(doc["rungs"])
    assert page.locator("svg.rd g.pt.measured").count() > 0
    box = page.locator("svg.rd").bounding_box()
    assert box and box["width"] > 600 and box["height"] > 300  # legible on a laptop screen
    # hover shows the point's details
    page.locator("svg.rd g.pt.rung").first.hover()
    tip = page.locator("#tip")
    assert tip.is_visible() and "kbps" in tip.inner_text() and "VMAF" in tip.inner_text()
    assert not_blank(png)


def test_batch_index_in_a_real_browser(browser, analysed):
    index = analysed["batch"] / "index.html"
    page, problems, png = open_offline(browser, index, "index.png")
    assert problems == []
    assert page.locator("table.index tbody tr").count() == 2
    summary = json.loads((analysed["batch"] / "summary.json").read_text())
    with_bd = sum(t["bd_rate_vs_fixed_pct"] is not None for t in summary["titles"])
    good = next(t for t in summary["titles"] if t["path"].endswith("good.mp4"))
    doc = json.loads(Path(good["ladder"]).read_text())
    assert good["top_saving_vs_fixed_pct"] == doc["comparison"]["top_rung"]["saving_pct"] is not None
    assert page.locator("svg.savings g.pt.bar").count() == with_bd
    # sorting by title puts broken.mp4 first, then descending puts good.mp4 first
    page.locator("table.index th").first.click()
    assert page.locator("table.index tbody tr").first.inner_text().startswith("broken.mp4")
    page.locator("table.index th").first.click()
    assert page.locator("table.index tbody tr").first.inner_text().startswith("good.mp4")
    # the link opens the title's report, which draws its rungs
    page.locator("a[href='good.mp4.report.html']").click()
    page.wait_for_selector("body[data-ready='1']")
    assert page.locator("svg.rd g.pt.rung").count() >= 1
    assert not_blank(png)


def test_report_lists_the_analysed_excerpts_and_why():
    doc = make_doc()
    doc["analysed"]["sampling"] = {"method": "content", "shots": 3, "pieces": 9, "title_mean_kbps": 120.0,
                                   "title_quartiles_kbps": [80.0, 110.0, 150.0], "sample_mean_kbps": 130.0,
                                   "excerpts": [{"start_s": 12.0, "duration_s": 3.0, "probe_kbps": 300.0,
                                                 "why": "the most demanding part <x>"}]}
    html = title_report(doc, synthetic_rows())
    assert "Analysed excerpts" in html and "the most demanding part &lt;x&gt;" in html
