"""``pertitle encode``: renditions of the whole title, CMAF segments, HLS and DASH manifests with
measured rates, checked by parsers, by FFmpeg decoding through the manifests, and by hls.js and
dash.js playing the package in headless Chromium from a local HTTP server."""
from __future__ import annotations

import functools
import http.server
import json
import math
import os
import re
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from pertitle.ladders.packaging import Rendition, Segment, average_bps, dash_mpd, hls_multivariant, peak_bps

from .conftest import REPO, ladder_for, pertitle_cmd, run, small_tmpfs

ENCODE_ANALYSIS = ["--crf", "22,30,38", "--gop", "1", "-j", "2", "--heights", "180,270,360"]


@pytest.fixture(scope="module")
def package(make_clip, tmp_path_factory):
    root = tmp_path_factory.mktemp("encode")
    clip = make_clip("enc.mp4", size="640x360", seconds=5.0, audio=True)
    lad = root / "c.ladder.json"
    p = run("analyze", clip, "-o", lad, "--cache", root / "cache", *ENCODE_ANALYSIS)
    assert p.returncode == 0, p.stderr
    doc = json.loads(lad.read_text())
    assert len(doc["rungs"]) >= 2, "the test needs at least two renditions to switch between"
    out = root / "pkg"
    e = run("encode", clip, lad, "-o", out, "--segment-seconds", "2")
    assert e.returncode == 0, e.stderr
    return {"root": root, "clip": clip, "ladder": lad, "doc": doc, "out": out, "stdout": e.stdout}


def frames_of(ff, url: str, stream: str = "v:0") -> int:
    """Frames FFmpeg decodes from ``url`` (a playlist/manifest: it follows the segments)."""
    p = subprocess.run([ff.path, "-nostdin", "-hide_banner", "-loglevel", "error", "-protocol_whitelist", "file",
                        "-i", url, "-map", f"0:{stream}", "-f", "null", "-", "-progress", "pipe:1"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    return int(re.findall(r"^frame=(\d+)", p.stdout, re.M)[-1])


def test_manifests_parse_and_carry_measured_rates(package):
    import m3u8
    from mpegdash.parser import MPEGDASHParser

    out, doc = package["out"], package["doc"]
    master = m3u8.load(str(out / "master.m3u8"))
    assert len(master.playlists) == len(doc["rungs"])
    summary = json.loads((out / "package.json").read_text())
    audio_files = sorted((out / "a0").glob("seg_*.m4s"))
    audio_media = m3u8.load(str(out / "a0" / "media.m3u8"))
    a_segs = [Segment(s.uri, s.duration, (out / "a0" / s.uri).stat().st_size) for s in audio_media.segments]
    assert len(a_segs) == len(audio_files) > 0
    for pl in master.playlists:
        info = pl.stream_info
        media = m3u8.load(str(out / pl.uri))
        folder = out / Path(pl.uri).parent
        segs = [Segment(s.uri, s.duration, (folder / s.uri).stat().st_size) for s in media.segments]
        # Apple: measured peak segment bitrate within 10 % of BANDWIDTH, average within 10 % of
        # AVERAGE-BANDWIDTH (here recomputed from the files, video + its audio group)
        peak = max(s.bytes * 8 / s.duration_s for s in segs) + max(s.bytes * 8 / s.duration_s for s in a_segs)
        avg = (sum(s.bytes for s in segs) * 8 / sum(s.duration_s for s in segs)
               + sum(s.bytes for s in a_segs) * 8 / sum(s.duration_s for s in a_segs))
        assert abs(info.bandwidth / peak - 1) <= 0.10
        assert abs(info.average_bandwidth / avg - 1) <= 0.10
        w, h = info.resolution
        assert any(r["width"] == w and r["height"] == h for r in doc["rungs"])
        assert re.fullmatch(r"avc1\.[0-9A-F]{6},mp4a\.40\.2", info.codecs)
        assert math.isclose(info.frame_rate, 24.0, abs_tol=0.01)
        assert media.segment_map and media.segment_map[0].uri == "init.mp4"
    mpd = MPEGDASHParser.parse(str(out / "manifest.mpd"))
    sets = mpd.periods[0].adaptation_sets
    assert len(sets[0].representations) == len(doc["rungs"]) and len(sets[1].representations) == 1
    by_id = {r["folder"]: r for r in summary["renditions"]}
    for rep in sets[0].representations:
        assert rep.bandwidth == round(by_id[rep.id]["peak_kbps"] * 1000) or \
            abs(rep.bandwidth - by_id[rep.id]["peak_kbps"] * 1000) <= 100
        assert rep.codecs == by_id[rep.id]["codecs"]


def test_every_rendition_decodes_through_the_manifests_with_the_source_frames(package, ff):
    out, doc = package["out"], package["doc"]
    want = doc["analysed"]["frames"] if doc["analysed"].get("duration_s") is None else None
    want = want or 120  # 5 s at 24 fps
    for i in range(len(doc["rungs"])):
        assert frames_of(ff, str(out / "master.m3u8"), f"v:{i}") == want
        assert frames_of(ff, str(out / "manifest.mpd"), f"v:{i}") == want


def test_segment_boundaries_are_identical_and_whole_gops(package):
    out, doc = package["out"], package["doc"]
    import m3u8

    durations = [[round(s.duration, 3) for s in m3u8.load(str(out / f"v{i}" / "media.m3u8")).segments]
                 for i in range(len(doc["rungs"]))]
    assert all(d == durations[0] for d in durations)
    gop_s = doc["rungs"][0]["encoder"]["gop_frames"] / 24.0
    for d in durations[0][:-1]:
        assert abs(d / gop_s - round(d / gop_s)) < 1e-3 and round(d / gop_s) >= 1
    assert math.isclose(sum(durations[0]), 5.0, abs_tol=0.05)


def test_rates_follow_the_ladder(package):
    summary = json.loads((package["out"] / "package.json").read_text())
    for r in summary["renditions"]:
        # 2-pass ABR: the average lands near the rung's bitrate (short clip: loose tolerance)
        assert abs(r["average_vs_target_pct"]) < 25, r
        assert r["peak_kbps"] >= r["average_kbps"]


def test_rerun_resumes_and_bad_requests_are_refused(package, make_clip, tmp_path):
    out, lad, clip = package["out"], package["ladder"], package["clip"]
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.m4s")}
    again = run("encode", clip, lad, "-o", out, "--segment-seconds", "2")
    assert again.returncode == 0, again.stderr
    assert "done earlier" in again.stderr
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.m4s")} == before
    # a ladder made for another source
    other = make_clip("other.mp4", size="640x360", seconds=1.0)
    p = run("encode", other, lad, "-o", tmp_path / "x")
    assert p.returncode == 31 and "another source" in p.stderr and p.stderr.count("\n") == 1
    # the same package folder with other options: refused, then replaced with --overwrite
    p = run("encode", clip, lad, "-o", out, "--segment-seconds", "3", "--no-audio")
    assert p.returncode == 34 and "--overwrite" in p.stderr
    # a folder that is not a package is never touched
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    p = run("encode", clip, lad, "-o", foreign)
    assert p.returncode == 34 and (foreign / "keep.txt").read_text() == "mine"
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    p = run("encode", clip, lad, "-o", copy, "--no-audio", "--overwrite", "--segment-seconds", "2")
    assert p.returncode == 0, p.stderr
    assert not (copy / "a0").exists() and "AUDIO=" not in (copy / "master.m3u8").read_text()


def test_a_symbolic_link_in_the_package_folder_is_never_written_through(package, tmp_path):
    """A resumed package writes its playlists into the rendition folders it finds: a file in one,
    or a folder, replaced by a symbolic link to a place outside is refused with one line, and
    nothing outside changes; --overwrite makes the package anew in real folders."""
    out, lad, clip = package["out"], package["ladder"], package["clip"]
    copy = tmp_path / "pkg"
    shutil.copytree(out, copy)

    def refused(link):
        p = run("encode", clip, lad, "-o", copy, "--segment-seconds", "2")
        assert p.returncode == 34 and p.stderr.count("\n") == 1 and "Traceback" not in p.stderr, p.stderr
        assert f"symbolic link ({link})" in p.stderr

    # a playlist the resume rewrites, linked to a file outside
    victim = tmp_path / "victim.m3u8"
    victim.write_text("mine")
    (copy / "v0" / "media.m3u8").unlink()
    (copy / "v0" / "media.m3u8").symlink_to(victim)
    refused("v0/media.m3u8")
    assert victim.read_text() == "mine"
    (copy / "v0" / "media.m3u8").unlink()
    shutil.copy(out / "v0" / "media.m3u8", copy / "v0" / "media.m3u8")
    # a finished rendition moved outside and linked back, its playlist to be written again
    outside = tmp_path / "outside"
    shutil.move(copy / "v1", outside)
    (outside / "media.m3u8").unlink()
    (copy / "v1").symlink_to(outside, target_is_directory=True)
    before = {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in outside.iterdir()}
    refused("v1")
    assert {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in outside.iterdir()} == before
    p = run("encode", clip, lad, "-o", copy, "--segment-seconds", "2", "--overwrite")
    assert p.returncode == 0, p.stderr
    assert (copy / "v1").is_dir() and not (copy / "v1").is_symlink() and (copy / "v1" / "media.m3u8").is_file()
    assert {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in outside.iterdir()} == before
    assert victim.read_text() == "mine"


def test_manifest_writers_are_consistent():
    v = [Rendition("v0", "video", "avc1.64001E", (Segment("seg_00000.m4s", 2.0, 50_000), Segment("seg_00001.m4s", 1.0, 10_000)),
                   width=640, height=360, fps="24/1"),
         Rendition("v1", "video", "avc1.64001F", (Segment("seg_00000.m4s", 2.0, 100_000), Segment("seg_00001.m4s", 1.0, 60_000)),
                   width=1280, height=720, fps="24/1")]
    assert peak_bps(v[1].segments) == 480_000 and average_bps(v[1].segments) == math.ceil(160_000 * 8 / 3)
    text = hls_multivariant(list(reversed(v)), None)
    assert text.index("v0/media.m3u8") < text.index("v1/media.m3u8")  # ascending bandwidth
    assert "BANDWIDTH=480000," in text
    mpd = dash_mpd(v, None)
    assert mpd.count("<Representation") == 2 and '<S t="0" d="2000"/><S d="1000"/>' in mpd


# ------------------------------------------------------------------------------------------
# Real players
# ------------------------------------------------------------------------------------------

JS_DIR = Path(os.environ.get("PERTITLE_JS_DIR", REPO / ".ci" / "node" / "node_modules"))
HLS_JS = JS_DIR / "hls.js" / "dist" / "hls.min.js"
DASH_JS = JS_DIR / "dashjs" / "dist" / "dash.all.min.js"

HLS_PAGE = """<!DOCTYPE html><html><body><video id="v" muted playsinline></video>
<script src="hls.min.js"></script><script>
window.log = {errors: [], switched: [], ended: false, levels: 0};
var v = document.getElementById('v');
// a short buffer, so that a switch requested while playing is fetched and shown before the end
var hls = new Hls({capLevelToPlayerSize: false, maxBufferLength: 2, maxMaxBufferLength: 3});
hls.on(Hls.Events.ERROR, function(e, d) { if (d.fatal) log.errors.push(d.type + ':' + d.details); });
hls.on(Hls.Events.LEVEL_SWITCHED, function(e, d) { log.switched.push(d.level); });
var asked = false;
hls.on(Hls.Events.FRAG_CHANGED, function(e, d) {  // the first segment is on screen: go to the top
  if (!asked) { asked = true; hls.currentLevel = log.levels - 1; }
});
hls.on(Hls.Events.MANIFEST_PARSED, function(e, d) {
  log.levels = d.levels.length; hls.currentLevel = 0; v.play();
});
v.addEventListener('ended', function() { log.ended = true; });
v.addEventListener('error', function() { log.errors.push('video:' + (v.error && v.error.message)); });
hls.loadSource('master.m3u8'); hls.attachMedia(v);
</script></body></html>"""

DASH_PAGE = """<!DOCTYPE html><html><body><video id="v" muted playsinline></video>
<script src="dash.all.min.js"></script><script>
window.log = {errors: [], switched: [], ended: false, levels: 0};
var v = document.getElementById('v'), p = dashjs.MediaPlayer().create();
p.updateSettings({debug: {logLevel: 0}, streaming: {abr: {autoSwitchBitrate: {video: false}},
                  buffer: {stableBufferTime: 2, bufferTimeAtTopQuality: 2, bufferTimeAtTopQualityLongForm: 2}}});
p.on('error', function(e) { log.errors.push(JSON.stringify(e.error || e)); });
p.on('qualityChangeRendered', function(e) { if (e.mediaType === 'video') log.switched.push(e.newQuality); });
var asked = false;
p.on('playbackTimeUpdated', function(e) {  // playing at the lowest rendition: go to the top
  if (!asked && e.time > 0.2) { asked = true; p.setQualityFor('video', log.levels - 1); }
});
p.on('streamInitialized', function() {
  log.levels = p.getBitrateInfoListFor('video').length; p.setQualityFor('video', 0);
});
p.on('playbackEnded', function() { log.ended = true; });
p.initialize(v, 'manifest.mpd', true);
</script></body></html>"""


@pytest.fixture(scope="module")
def served(package):
    """The package on a local HTTP server (127.0.0.1 only) with the two player pages."""
    yield from serve(package["out"], package["root"] / "site")


@functools.cache
def fetch_players() -> None:
    """The players come from npm: fetched into .ci/node (git-ignored), as .ci/run does. Tried once
    a session: where the registry cannot be reached, npm waits out its timeout, and four packages
    are served (H.264, HEVC, AV1, VP9)."""
    if shutil.which("npm") and "PERTITLE_JS_DIR" not in os.environ:
        try:
            subprocess.run(["npm", "install", "--silent", "--no-save", "--no-audit", "--no-fund", "--prefix",
                            str(JS_DIR.parent), "hls.js@1", "dashjs@4"], capture_output=True, timeout=300)
        except subprocess.TimeoutExpired:
            pass


def serve(package_dir: Path, site: Path):
    """Serve a copy of ``package_dir`` in ``site`` with the two player pages (a generator: the
    server stops when it is closed)."""
    if not (HLS_JS.is_file() and DASH_JS.is_file()):
        fetch_players()
    if not (HLS_JS.is_file() and DASH_JS.is_file()):
        if os.environ.get("PERTITLE_REQUIRE_BROWSER"):
            pytest.fail(f"hls.js and dash.js are required here (npm install into {JS_DIR})")
        pytest.skip(f"hls.js / dash.js not installed under {JS_DIR}")
    shutil.copytree(package_dir, site)
    shutil.copy(HLS_JS, site / "hls.min.js")
    shutil.copy(DASH_JS, site / "dash.all.min.js")
    (site / "hls.html").write_text(HLS_PAGE)
    (site / "dash.html").write_text(DASH_PAGE)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


def play(browser, url: str, shot: str) -> dict:
    ctx = browser.new_context()
    page = ctx.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(url)
    page.wait_for_function("window.log && (window.log.ended || window.log.errors.length > 0)", timeout=60_000)
    log = page.evaluate("window.log")
    log["page_errors"] = problems
    log["position"] = page.evaluate("document.getElementById('v').currentTime")
    art = Path(os.environ.get("PERTITLE_ARTIFACTS", REPO / ".artifacts"))
    art.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(art / shot))
    ctx.close()
    return log


def test_hls_js_plays_to_the_end_and_switches(browser, served, package):
    log = play(browser, served + "/hls.html", "hls.png")
    assert log["errors"] == [] and log["page_errors"] == [], log
    assert log["ended"] and log["position"] >= 4.9
    assert log["levels"] == len(package["doc"]["rungs"])
    assert 0 in log["switched"] and log["levels"] - 1 in log["switched"], log


def test_dash_js_plays_to_the_end_and_switches(browser, served, package):
    log = play(browser, served + "/dash.html", "dash.png")
    assert log["errors"] == [] and log["page_errors"] == [], log
    assert log["ended"] and log["position"] >= 4.9
    assert log["levels"] == len(package["doc"]["rungs"])
    assert log["levels"] - 1 in log["switched"], log


def test_analyze_encode_in_one_go_and_verified_renditions(package, tmp_path):
    root, clip = package["root"], package["clip"]
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "x.txt").write_text("x")
    p = run("analyze", clip, "-o", tmp_path / "a.ladder.json", "--cache", root / "cache", *ENCODE_ANALYSIS,
            "--encode", foreign)
    assert p.returncode == 34 and not (tmp_path / "a.ladder.json").exists()  # refused before any work
    p = run("analyze", clip, "-o", tmp_path / "a.ladder.json", "--cache", root / "cache", *ENCODE_ANALYSIS,
            "--encode", tmp_path / "one")
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "one" / "master.m3u8").is_file() and (tmp_path / "one" / "manifest.mpd").is_file()
    v = run("encode", clip, package["ladder"], "-o", tmp_path / "ver", "--verify", "--no-audio")
    assert v.returncode == 0, v.stderr
    assert "VMAF meas" in v.stdout
    for r in json.loads((tmp_path / "ver" / "package.json").read_text())["renditions"]:
        # the whole 5-s clip was analysed: a 2-pass rendition lands within 3 VMAF of the rung's
        # CRF-curve expectation (short clip, loose rate control)
        assert abs(r["vmaf_error"]) < 3.0, r
        assert r["measured"]["frames"] == 120


def test_batch_encode_packages_every_good_title(package, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(package["clip"], folder / "good.mp4")
    (folder / "bad.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)
    # a title whose package folder is a link planted in the output folder: refused, nothing written there
    shutil.copy(package["clip"], folder / "linked.mp4")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "linked.mp4.package").symlink_to(elsewhere, target_is_directory=True)
    p = run("batch", folder, "-o", tmp_path / "out", "--cache", package["root"] / "cache", *ENCODE_ANALYSIS,
            "--encode")
    assert p.returncode != 0  # one title failed
    titles = {os.path.basename(t["path"]): t for t in json.loads((tmp_path / "out" / "summary.json").read_text())["titles"]}
    assert titles["good.mp4"]["status"] == "ok" and titles["bad.mp4"]["status"] == "failed"
    assert titles["linked.mp4"]["status"] == "failed" and "package folder is a symbolic link" in titles["linked.mp4"]["error"]
    assert not list(elsewhere.iterdir())
    pkg = Path(titles["good.mp4"]["package"])
    assert pkg == tmp_path / "out" / "good.mp4.package" and (pkg / "master.m3u8").is_file()


def test_a_full_disk_keeps_finished_renditions_and_a_rerun_resumes(package, tmp_path):
    """A small tmpfs as the package folder (needs root to mount; skipped where mounting is not
    allowed): the encode fails with a one-line disk-full error, keeps what it finished, and
    completes after the disk is grown, re-encoding only what was missing."""
    with small_tmpfs(tmp_path, "400k") as mnt:
        p = run("encode", package["clip"], package["ladder"], "-o", mnt / "pkg", "-j", "1", "-q")
        assert p.returncode == 34, p.stderr
        assert "disk is full" in p.stderr and "rerun to resume" in p.stderr and "Traceback" not in p.stderr
        kept = sorted(d.name for d in (mnt / "pkg").iterdir() if (d / "rendition.json").is_file())
        left = list((mnt / "pkg").glob(".tmp-*")) + list((mnt / "pkg").glob(".pertitle-tmp-*"))
        assert not left                                            # nothing half-made left behind
        assert subprocess.run(["mount", "-o", "remount,size=50m", str(mnt)]).returncode == 0
        p = run("encode", package["clip"], package["ladder"], "-o", mnt / "pkg", "-j", "1")
        assert p.returncode == 0, p.stderr
        assert p.stderr.count("done earlier, kept") == len(kept)
        assert (mnt / "pkg" / "master.m3u8").is_file()


def test_a_killed_encodes_half_made_rendition_is_removed_when_it_resumes(package, tmp_path):
    """SIGKILL mid-rendition (the OOM killer, a batch scheduler) leaves the rendition's locked
    temporary folder in the package folder; the resumed encode removes it and finishes."""
    import signal
    import time

    from pertitle.core.workdirs import LOCK

    out = tmp_path / "pkg"
    proc = subprocess.Popen([*pertitle_cmd(), "encode", package["clip"], package["ladder"], "-o", out, "-j", "1",
                             "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list(out.glob(f".tmp-*/{LOCK}")):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    left = [p.parent for p in out.glob(f".tmp-*/{LOCK}")]
    assert left, "the kill came after the encode"
    old = time.time() - 3600                                   # as if killed an hour ago
    for d in left:
        os.utime(d / LOCK, (old, old))
    p = run("encode", package["clip"], package["ladder"], "-o", out, "-j", "1")
    assert p.returncode == 0, p.stderr
    assert not list(out.glob(".tmp-*")) + list(out.glob(".pertitle-tmp-*"))
    assert (out / "master.m3u8").is_file()


def test_hls_ts_option_packages_mpeg_ts_segments_too(package, ff, tmp_path):
    import m3u8

    out = tmp_path / "ts"
    p = run("encode", package["clip"], package["ladder"], "-o", out, "--segment-seconds", "2", "--hls-ts", "-q")
    assert p.returncode == 0, p.stderr
    master = m3u8.load(str(out / "master_ts.m3u8"))
    assert len(master.playlists) == len(package["doc"]["rungs"])
    a_segs = list((out / "a0" / "ts").glob("seg_*.ts"))
    a_media = m3u8.load(str(out / "a0" / "ts" / "media.m3u8"))
    a_peak = max((out / "a0" / "ts" / s.uri).stat().st_size * 8 / s.duration for s in a_media.segments)
    assert len(a_segs) == len(a_media.segments)
    for i, pl in enumerate(master.playlists):
        media = m3u8.load(str(out / pl.uri))
        assert media.segment_map == [] or not media.segment_map  # TS: no initialization segment
        folder = out / Path(pl.uri).parent
        peak = max((folder / s.uri).stat().st_size * 8 / s.duration for s in media.segments) + a_peak
        assert abs(pl.stream_info.bandwidth / peak - 1) <= 0.10
        assert frames_of(ff, str(out / "master_ts.m3u8"), f"v:{i}") == 120
    # the fMP4 package beside it is unchanged
    assert (out / "master.m3u8").is_file() and (out / "manifest.mpd").is_file()


def test_a_ladder_this_packager_cannot_do_is_refused_before_any_encode(package, tmp_path):
    lad = tmp_path / "av1.ladder.json"
    lad.write_text(json.dumps(ladder_for(package["doc"], "libsvtav1")))
    # MPEG-TS segments carry H.264 here: an AV1 ladder's HLS is its fMP4 segments
    p = run("encode", package["clip"], lad, "-o", tmp_path / "out", "--hls-ts")
    assert p.returncode == 30 and "--hls-ts" in p.stderr and p.stderr.count("\n") == 1, p.stderr
    assert not (tmp_path / "out" / "v0").exists()
    doc = json.loads(package["ladder"].read_text())
    doc["codec"] = "libfoo"
    lad.write_text(json.dumps(doc))
    p = run("encode", package["clip"], lad, "-o", tmp_path / "out")
    assert p.returncode in (30, 31) and p.stderr.count("\n") == 1, p.stderr
    assert not (tmp_path / "out" / "v0").exists()
    doc = json.loads(package["ladder"].read_text())
    doc["rungs"][0]["encoder"]["gop_frames"] = 12   # keyframes that would not align
    lad.write_text(json.dumps(doc))
    p = run("encode", package["clip"], lad, "-o", tmp_path / "out2")
    assert p.returncode == 31 and "GOP" in p.stderr, p.stderr


@pytest.mark.parametrize("case", ["starts late", "ends early"])
def test_the_audio_spans_the_video(ff, tmp_path, case):
    """Audio 0-6 s with video 2-6 s: the renditions begin at the video's first frame, so the
    audio track must too (it began 2 s early: the package played out of sync by 2 s). Audio
    0-6 s with video 0-3 s: the package's audio went on 3 s after the last picture (players hold
    the last frame); it ends with the video."""
    import m3u8

    src = tmp_path / "src.mp4"
    offset, seconds, said = (["-itsoffset", "2"], 4, "starts 2.00 s into the file") if case == "starts late" \
        else ([], 3, "the video lasts 3.00 s of the file's")
    subprocess.run([ff.path, "-v", "error", "-f", "lavfi", "-i", "sine=d=6", *offset, "-f", "lavfi",
                    "-i", f"testsrc2=s=320x180:r=25:d={seconds}", "-map", "0", "-map", "1", "-c:v", "libx264",
                    "-preset", "veryfast", "-c:a", "aac", str(src)], check=True)
    lad = tmp_path / "src.ladder.json"
    p = run("analyze", src, "-o", lad, "--crf", "24,34", "--heights", "180", "--gop", "1", "--no-cache")
    assert p.returncode == 0, p.stderr
    assert said in p.stderr + p.stdout
    out = tmp_path / "pkg"
    e = run("encode", src, lad, "-o", out, "--segment-seconds", "1", "--no-dash")
    assert e.returncode == 0, e.stderr
    audio = sum(s.duration for s in m3u8.load(str(out / "a0" / "media.m3u8")).segments)
    video = sum(s.duration for s in m3u8.load(str(out / "v0" / "media.m3u8")).segments)
    assert video == pytest.approx(seconds, abs=0.05) and audio == pytest.approx(seconds, abs=0.1), (video, audio)


# ------------------------------------------------------------------------------------------
# HEVC, AV1 and VP9 ladders: the same package, CMAF fMP4 segments
# ------------------------------------------------------------------------------------------

OTHER_CODECS = {
    # codec: the codecs string the package must carry (RFC 6381 / the codecs' ISOBMFF bindings)
    "libx265": r"hvc1\.[1-9]\.[0-9A-F]+\.[LH]\d+(\.[0-9A-F]{2})*",
    "libsvtav1": r"av01\.[0-2]\.\d\dM\.08",
    "libvpx-vp9": r"vp09\.0[0-3]\.\d\d\.08",
}


@pytest.fixture(scope="module", params=sorted(OTHER_CODECS))
def other_package(request, package):
    codec = request.param
    root = package["root"] / codec
    root.mkdir()
    lad = root / "l.ladder.json"
    lad.write_text(json.dumps(ladder_for(package["doc"], codec)))
    out = root / "pkg"
    p = run("encode", package["clip"], lad, "-o", out, "--segment-seconds", "2", "-j", "2", "-q")
    assert p.returncode == 0, p.stderr
    return {"codec": codec, "root": root, "out": out, "doc": json.loads(lad.read_text())}


def decoded_and_packets(ff, path: str) -> tuple[int, int]:
    """(frames decoded, video packets) of a file read alone."""
    counts = []
    for copy in (False, True):
        p = subprocess.run([ff.path, "-nostdin", "-hide_banner", "-loglevel", "error", "-i", path, "-map", "0:v:0",
                            *(["-c", "copy"] if copy else []), "-f", "null", "-", "-progress", "pipe:1"],
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr[-2000:]
        counts.append(int(re.findall(r"^frame=(\d+)", p.stdout, re.M)[-1]))
    return counts[0], counts[1]


def test_other_codecs_are_packaged_with_the_codecs_strings_of_their_streams(other_package, ff, tmp_path):
    import m3u8
    from mpegdash.parser import MPEGDASHParser

    out, doc, codec = other_package["out"], other_package["doc"], other_package["codec"]
    master = m3u8.load(str(out / "master.m3u8"))
    assert len(master.playlists) == len(doc["rungs"])
    strings = set()
    for pl in master.playlists:
        video, audio = pl.stream_info.codecs.split(",")
        assert re.fullmatch(OTHER_CODECS[codec], video) and audio == "mp4a.40.2", pl.stream_info.codecs
        strings.add(video)
        init = (out / Path(pl.uri).parent / "init.mp4").read_bytes()
        # the sample entry is the one the string names (HEVC: hvc1, which Apple's players require)
        assert init.count(video.split(".")[0].encode()) >= 1
        if codec == "libx265":
            assert b"hev1" not in init
    reps = MPEGDASHParser.parse(str(out / "manifest.mpd")).periods[0].adaptation_sets[0].representations
    assert {r.codecs for r in reps} == strings
    # what FFmpeg reads in the stream agrees with the string: HEVC Main, AV1 / VP9 profile 0
    first = tmp_path / "first.mp4"
    first.write_bytes((out / "v0" / "init.mp4").read_bytes() + (out / "v0" / "seg_00000.m4s").read_bytes())
    head = subprocess.run([ff.path, "-hide_banner", "-i", str(first)], capture_output=True, text=True).stderr
    family = {"libx265": "hevc (Main)", "libsvtav1": "av1", "libvpx-vp9": "vp9 (Profile 0)"}[codec]
    assert f"Video: {family}" in head, head
    assert {"libx265": "hvc1.1.", "libsvtav1": "av01.0.", "libvpx-vp9": "vp09.00."}[codec] in next(iter(strings))


def test_other_codecs_segments_decode_alone_and_whole(other_package, ff, tmp_path):
    """Every segment of every rendition, read alone after its initialization segment, decodes to
    every one of its frames, and the renditions cut at the same times on whole GOPs: a player can
    start or switch at any segment (x265's default open GOPs fail this: their leading pictures
    reference the GOP before)."""
    import m3u8

    out, doc = other_package["out"], other_package["doc"]
    gop = doc["rungs"][0]["encoder"]["gop_frames"]
    cuts = []
    for i in range(len(doc["rungs"])):
        folder = out / f"v{i}"
        media = m3u8.load(str(folder / "media.m3u8"))
        frames = []
        for k, seg in enumerate(media.segments):
            alone = tmp_path / f"v{i}_{k}.mp4"
            alone.write_bytes((folder / "init.mp4").read_bytes() + (folder / seg.uri).read_bytes())
            decoded, packets = decoded_and_packets(ff, str(alone))
            assert decoded == packets == round(seg.duration * 24), (i, k, decoded, packets, seg.duration)
            frames.append(decoded)
        assert all(n % gop == 0 for n in frames[:-1]) and sum(frames) == 120, frames
        cuts.append(frames)
    assert all(c == cuts[0] for c in cuts)
    for i in range(len(doc["rungs"])):
        assert frames_of(ff, str(out / "master.m3u8"), f"v:{i}") == 120
        assert frames_of(ff, str(out / "manifest.mpd"), f"v:{i}") == 120


@pytest.fixture(scope="module")
def served_other(other_package):
    yield from serve(other_package["out"], other_package["root"] / "site")


def test_hls_js_and_dash_js_play_other_codecs_packages(browser, served_other, other_package):
    codecs = json.loads((other_package["out"] / "package.json").read_text())["renditions"][0]["codecs"]
    page = browser.new_page()
    page.goto(served_other + "/hls.html")
    supported = page.evaluate("c => MediaSource.isTypeSupported('video/mp4; codecs=\"' + c + '\"')", codecs)
    page.close()
    if not supported:
        # Debian's Chromium has software AV1 and VP9 decoders; HEVC only through a platform decoder
        pytest.skip(f"this Chromium's media source cannot play {codecs} (checked by FFmpeg and the parsers above)")
    n = len(other_package["doc"]["rungs"])
    for page, shot in (("hls.html", "hls"), ("dash.html", "dash")):
        log = play(browser, f"{served_other}/{page}", f"{shot}_{other_package['codec']}.png")
        assert log["errors"] == [] and log["page_errors"] == [], log
        assert log["ended"] and log["position"] >= 4.9 and log["levels"] == n, log
        assert n - 1 in log["switched"], log


def _box(kind: bytes, payload: bytes) -> bytes:
    return (8 + len(payload)).to_bytes(4, "big") + kind + payload


def _init_with(entry: bytes, config: bytes, payload: bytes) -> bytes:
    sample = _box(entry, bytes(78) + _box(config, payload))
    stsd = _box(b"stsd", bytes(4) + (1).to_bytes(4, "big") + sample)
    return _box(b"ftyp", b"iso6") + _box(b"moov", _box(b"trak", _box(b"mdia", _box(b"minf", _box(b"stbl", stsd)))))


@pytest.mark.parametrize("entry,config,payload,want", [
    # ISO/IEC 14496-15 annex E's examples: Main profile, level 3.1, progressive + frame-only
    (b"hvc1", b"hvcC", bytes([1, 0x01, 0x60, 0, 0, 0, 0xB0, 0, 0, 0, 0, 0, 93]), "hvc1.1.6.L93.B0"),
    # Main 10 (compatible with profile 2 only), high tier level 4, profile space 1, two constraint bytes
    (b"hev1", b"hvcC", bytes([1, 0x40 | 0x20 | 0x02, 0x20, 0, 0, 0, 0x90, 0x01, 0, 0, 0, 0, 120]), "hev1.A2.4.H120.90.01"),
    # AV1: main profile, level 4 (3.0), main tier, 8 bits; high tier 10 bits; professional 12 bits
    (b"av01", b"av1C", bytes([0x81, 0x04, 0x0C, 0]), "av01.0.04M.08"),
    (b"av01", b"av1C", bytes([0x81, 0x0D, 0x80 | 0x40 | 0x0C, 0]), "av01.0.13H.10"),
    (b"av01", b"av1C", bytes([0x81, 0x40 | 0x05, 0x40 | 0x20, 0]), "av01.2.05M.12"),
    # VP9: a full box (version 1), profile, level, bit depth in the high nibble
    (b"vp09", b"vpcC", bytes([1, 0, 0, 0, 0, 10, 0x82, 2, 2, 2, 0, 0]), "vp09.00.10.08"),
    (b"vp09", b"vpcC", bytes([1, 0, 0, 0, 2, 41, 0xA2, 9, 16, 9, 0, 0]), "vp09.02.41.10"),
    (b"avc1", b"avcC", bytes([1, 0x64, 0x00, 0x1F, 0xFF]), "avc1.64001F"),
])
def test_codecs_strings_are_read_from_the_sample_entry(tmp_path, entry, config, payload, want):
    from pertitle.encoder.mp4 import codecs_string

    path = tmp_path / "init.mp4"
    path.write_bytes(_init_with(entry, config, payload))
    assert codecs_string(str(path)) == want


def test_a_short_or_unknown_sample_entry_is_a_measurement_error(tmp_path):
    from pertitle.core.errors import MeasurementError
    from pertitle.encoder.mp4 import codecs_string

    for entry, config, payload in ((b"hvc1", b"hvcC", bytes([1, 1])), (b"av01", b"av1C", bytes([0x01, 4, 12])),
                                   (b"mp4v", b"esds", bytes(8))):
        path = tmp_path / "init.mp4"
        path.write_bytes(_init_with(entry, config, payload))
        with pytest.raises(MeasurementError):
            codecs_string(str(path))
