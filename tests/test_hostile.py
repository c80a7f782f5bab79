"""Hostile and careless input, as the installed command meets it.

Every case ends in one line on stderr and its own exit code (never a traceback, never "internal
error"); nothing outside the named input is read, nothing but the named output is written, no
data file is executed, and a damaged cache or an odd output path costs nothing but a warning or a
clean refusal. `test_hostile_walk` runs the whole list; the tests after it check the properties a
return code cannot show (what was written, read, executed or left behind).
"""
from __future__ import annotations

import http.server
import json
import os
import pickle
import shutil
import signal
import socket
import stat
import subprocess
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pertitle.core import errors as E

from .conftest import pertitle_cmd, run, small_tmpfs

TINY = ["--crf", "30", "--gop", "1", "-j", "2", "--metrics", "none"]


def assert_clean_error(p: subprocess.CompletedProcess, code: int, needle: str = "") -> None:
    lines = [ln for ln in p.stderr.strip().splitlines() if ln.strip()]
    assert p.returncode == code, (p.returncode, p.stderr[-2000:])
    assert "Traceback" not in p.stderr and "internal error" not in p.stderr, p.stderr[-2000:]
    errors = [ln for ln in lines if ln.startswith("pertitle: error:")]
    assert len(errors) == 1, p.stderr
    assert needle in errors[0], (needle, errors[0])


# ------------------------------------------------------------------------------------------
# The material: a valid clip, a valid ladder, and hostile variants of both
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kit(ff, make_clip, tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile")
    clip = d / "clip.mp4"
    shutil.copy(make_clip("h.mp4", size="320x180", seconds=1, source="mandelbrot"), clip)
    ladder = d / "clip.ladder.json"
    p = run("analyze", clip, "-o", ladder, "--cache", d / "cache", "-q", *TINY)
    assert p.returncode == 0, p.stderr
    nan_csv = d / "nan.csv"
    nan_csv.write_text("title,group,width,height,ref_width,ref_height,ref_fps,crf,kbps,vmaf_mean,log_bpp,codec,"
                       "preset,vmaf_model,analysis_encode_s,f_x\n"
                       "a,a,320,180,320,180,24,22,nan,80,1,libx264,medium,vmaf_v0.6.1,1,1\n"
                       "b,b,320,180,320,180,24,22,100,80,1,libx264,medium,vmaf_v0.6.1,1,1\n")
    return {"dir": d, "clip": clip, "ladder": ladder, "doc": json.loads(ladder.read_text()), "nan_csv": nan_csv}


def _ladder_variant(kit, name: str, mutate) -> Path:
    doc = json.loads(json.dumps(kit["doc"]))
    text = mutate(doc)
    path = kit["dir"] / name
    path.write_text(text if isinstance(text, str) else json.dumps(doc))
    return path


def _cases(kit, tmp: Path):
    """(label, argv, expected exit code, needle in the error line)."""
    d, clip, ladder = kit["dir"], kit["clip"], kit["ladder"]
    (tmp / "adir").mkdir()
    (tmp / "afile").write_text("x")
    fifo = tmp / "in.fifo"
    os.mkfifo(fifo)
    hls = tmp / "list.m3u8"
    hls.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:1,\n{clip}\n#EXT-X-ENDLIST\n")
    disguised = tmp / "playlist.mp4"
    shutil.copy(hls, disguised)
    ffconcat = tmp / "list.ffconcat"
    ffconcat.write_text(f"ffconcat version 1.0\nfile '{clip}'\n")
    mpd = tmp / "x.mpd"
    mpd.write_text('<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011"></MPD>')
    evil = tmp / "evil.pkl"
    evil.write_bytes(pickle.dumps({"meta": {}, "model": _Payload(str(tmp / "PWNED"))}))
    notzip = tmp / "m.skops"
    notzip.write_bytes(b"PK\x03\x04 not really a zip")
    bigladder = tmp / "big.json"
    with open(bigladder, "wb") as fh:
        fh.truncate(17 << 20)

    def nested(doc):
        return '{"a":' * 100000 + "1" + "}" * 100000

    bad = {
        "nan": lambda doc: json.dumps(doc).replace(f'"bitrate_kbps": {doc["rungs"][0]["bitrate_kbps"]}', '"bitrate_kbps": NaN', 1),
        "inf": lambda doc: json.dumps(doc).replace(f'"fps": {doc["source"]["fps"]}', '"fps": Infinity', 1),
        "e308": lambda doc: doc["rungs"][0].update(width=1e308),
        "w1e20": lambda doc: doc["rungs"][0].update(width=10 ** 20),
        "b10e400": lambda doc: json.dumps(doc).replace(f'"bitrate_kbps": {doc["rungs"][0]["bitrate_kbps"]}', '"bitrate_kbps": 1' + "0" * 400, 1),
        "preset": lambda doc: doc["rungs"][0]["encoder"].update(preset="warp9"),
        "missing": lambda doc: doc["rungs"][0].pop("encoder"),
        "xml": lambda doc: doc["source"].update(fps_rational='25/1"><x a="'),
        # fields the exported packaging line turns into filters
        "hdr": lambda doc: doc["source"].update(hdr_transfer="smpte2084:x=1"),
        "deint": lambda doc: doc["analysed"].update(deinterlaced="yes"),
        "nested": nested,
        "notobj": lambda doc: "[1, 2, 3]",
        "binary": lambda doc: "\udcff",
    }
    ladders = {}
    for name, fn in bad.items():
        if name == "binary":
            p = tmp / "binary.json"
            p.write_bytes(b"\xff\xfe\x00garbage")
            ladders[name] = p
        else:
            ladders[name] = _ladder_variant(kit, f"bad-{name}.json", fn)

    badsweep = tmp / "sweep.json"
    badsweep.write_text(json.dumps({"source": "../../etc/passwd", "source_sha256": "0" * 64,
                                    "reference": {"width": 2, "height": 2, "fps": "25"}, "points": []}))
    notsweep = tmp / "sweep2.json"
    notsweep.write_text("[1, 2]")

    C = [
        # --- training data ------------------------------------------------------------------------
        ("sweep record escaping its folder", ["dataset", "assemble", badsweep, "--sources", tmp, "-o", tmp / "d.csv"],
         E.DatasetError.exit_code, "not a sweep record"),
        ("not a sweep record", ["dataset", "assemble", notsweep, "--sources", tmp, "-o", tmp / "d.csv"],
         E.DatasetError.exit_code, "not a sweep record"),
        ("dataset with NaN", ["train", kit["nan_csv"], "-o", tmp / "m.skops"], E.DatasetError.exit_code, "finite"),
        # --- outputs, checked before any work --------------------------------------------------
        ("-o is a folder", ["analyze", clip, "-o", str(tmp / "adir") + "/", *TINY], E.OutputError.exit_code, "folder"),
        ("-o is an existing folder", ["analyze", clip, "-o", tmp / "adir", *TINY], E.OutputError.exit_code, "directory"),
        ("-o under a file", ["analyze", clip, "-o", tmp / "afile" / "x.json", *TINY], E.OutputError.exit_code, "Not a directory"),
        ("-o too long", ["analyze", clip, "-o", tmp / ("n" * 300 + ".json"), *TINY], E.OutputError.exit_code, "too long"),
        # a folder where files cannot be created though os.access says yes to root: refused before the sweep
        ("-o in /proc", ["analyze", clip, "-o", "/proc/pertitle-x.json", *TINY], E.OutputError.exit_code, "/proc"),
        ("batch -o /proc", ["batch", d, "-o", "/proc", *TINY], E.OutputError.exit_code, "/proc"),
        ("-o is the input", ["analyze", clip, "-o", clip, *TINY], E.OutputError.exit_code, "overwrite the input"),
        ("--rd-csv is the input", ["analyze", clip, "-o", tmp / "ok.json", "--rd-csv", clip, *TINY], E.OutputError.exit_code, "input"),
        ("export -o folder", ["export", ladder, "-o", tmp / "adir"], E.OutputError.exit_code, "directory"),
        ("export over its ladder", ["export", ladder, "-o", ladder], E.OutputError.exit_code, "input"),
        ("--workdir is a file", ["analyze", clip, "-o", tmp / "w.json", "--workdir", tmp / "afile", *TINY], E.OutputError.exit_code, "not a folder"),
        ("batch -o is a file", ["batch", d, "-o", tmp / "afile", *TINY], E.OutputError.exit_code, "not a folder"),
        ("train -o stdout", ["train", tmp / "missing.csv", "-o", "-"], E.OutputError.exit_code, "stdout"),
        # --- models are data ---------------------------------------------------------------------
        ("pickle model", ["predict", clip, "--model", evil, "-o", tmp / "p.json"], E.ModelError.exit_code, "pickle"),
        ("fake skops", ["predict", clip, "--model", notzip, "-o", tmp / "p.json"], E.ModelError.exit_code, "model"),
        ("no model", ["predict", clip, "--model", tmp / "none.skops", "-o", tmp / "p.json"], E.ModelError.exit_code, "no such model"),
        ("pickle model, fast", ["analyze", clip, "--fast", "--model", evil, "-o", tmp / "f.json"], E.ModelError.exit_code, "pickle"),
        ("fake skops, verify", ["predict", clip, "--verify", "2", "--model", notzip, "-o", tmp / "p.json"], E.ModelError.exit_code, "model"),
        # --- inputs are the local files named -----------------------------------------------------
        ("HLS playlist", ["analyze", hls, "-o", tmp / "h.json", *TINY], E.UnsupportedInput.exit_code, "refers to other files"),
        ("HLS named .mp4", ["probe", disguised], E.UnsupportedInput.exit_code, "refers to other files"),
        ("ffconcat list", ["features", ffconcat], E.UnsupportedInput.exit_code, "refers to other files"),
        ("DASH manifest", ["predict", mpd, "-o", tmp / "m.json"], E.UnsupportedInput.exit_code, "refers to other files"),
        ("FIFO input", ["probe", fifo], E.InputNotFound.exit_code, "not a regular file"),
        ("device input", ["probe", "/dev/zero"], E.InputNotFound.exit_code, "not a regular file"),
        # --- ladder files ---------------------------------------------------------------------------
        *[(f"ladder {k}", ["export", p, "-f", "dash"], E.InvalidLadderFile.exit_code, "") for k, p in ladders.items()],
        ("ladder too big", ["export", bigladder], E.InvalidLadderFile.exit_code, "too large"),
        ("ladder is a folder", ["verify", tmp / "adir"], E.InvalidLadderFile.exit_code, "not a regular file"),
        # --- options ----------------------------------------------------------------------------------
        ("crf nan", ["analyze", clip, "-o", tmp / "c.json", "--crf", "nan"], E.InvalidOptions.exit_code, ""),
        ("preset", ["analyze", clip, "-o", tmp / "c.json", "--preset", "warp"], E.InvalidOptions.exit_code, "preset"),
        ("jobs 0", ["analyze", clip, "-o", tmp / "c.json", "-j", "0"], 2, ""),
        ("sample huge", ["sample", tmp / "s.mp4", "--size", "100000x100000"], 2, "16..4096"),
        # --- scale-out ----------------------------------------------------------------------------------
        ("tls without settings", ["batch", d, "-o", tmp / "bo", "--scheduler", "tls://127.0.0.1:1", *TINY], 2, "TLS"),
        ("not a scheduler URL", ["batch", d, "-o", tmp / "bo", "--scheduler", "http://127.0.0.1:1", *TINY], 2, "tcp://"),
    ]
    return C


class Foreign:
    """A type no model file may name."""

    def __init__(self):
        self.x = 1


class _Payload:
    """Unpickling this would create a file: the proof that a pickle ran."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def test_hostile_walk(kit, tmp_path):
    failures = []
    for label, argv, code, needle in _cases(kit, tmp_path):
        # a usage error from click ("Error: ...") is also one line and exit 2
        p = run(*argv, "--cache", tmp_path / "cache") if argv[0] in ("analyze", "predict") else run(*argv)
        try:
            if code == 2 and "pertitle: error:" not in p.stderr:
                assert p.returncode == 2 and "Traceback" not in p.stderr and "Error:" in p.stderr, p.stderr
                assert needle in p.stderr
            else:
                assert_clean_error(p, code, needle)
        except AssertionError as exc:
            failures.append(f"{label}: {exc}")
    assert not (tmp_path / "PWNED").exists(), "a pickle payload ran"
    assert failures == []
    # nothing was computed for the refused outputs: no trial encode reached the cache
    assert not (tmp_path / "cache" / "points").exists() or not any((tmp_path / "cache" / "points").rglob("*.json"))


# ------------------------------------------------------------------------------------------
# Outputs: streams stay streams, symlinks are followed, modes are kept, nothing partial
# ------------------------------------------------------------------------------------------


def test_output_to_a_fifo_is_a_stream_not_a_replacement(kit, tmp_path):
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    p = run("export", kit["ladder"], "-f", "csv", "-o", fifo)
    reader.join(timeout=60)
    assert p.returncode == 0, p.stderr
    assert got and got[0].startswith("index,width,height")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_output_to_dev_null_leaves_the_device(kit):
    before = os.stat("/dev/null")
    p = run("export", kit["ladder"], "-o", "/dev/null")
    assert p.returncode == 0, p.stderr
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev


def test_symlink_is_followed_and_mode_is_kept(kit, tmp_path):
    target = tmp_path / "real.csv"
    target.write_text("old")
    os.chmod(target, 0o600)
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    p = run("export", kit["ladder"], "-f", "csv", "-o", link)
    assert p.returncode == 0, p.stderr
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text().startswith("index,")
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600


def test_the_rd_table_beside_a_ladder_is_not_a_link_followed(kit, tmp_path):
    """A named output is followed when it is a link (above); the RD table's name is derived from
    the ladder's, so a link planted there is neither written through (one line, exit 34, nothing
    written) nor read by the report (a warning; the report is made without it)."""
    victim = tmp_path / "victim.csv"
    victim.write_text("not an RD table at all\n")
    (tmp_path / "l.rd.csv").symlink_to(victim)
    p = run("analyze", kit["clip"], "-o", tmp_path / "l.json", "-q", "--cache", kit["dir"] / "cache", *TINY)
    assert_clean_error(p, E.OutputError.exit_code, "--rd-csv")
    assert victim.read_text() == "not an RD table at all\n" and not (tmp_path / "l.json").exists()
    p = run("analyze", kit["clip"], "-o", tmp_path / "l.json", "--rd-csv", tmp_path / "own.csv", "-q",
            "--cache", kit["dir"] / "cache", *TINY)
    assert p.returncode == 0 and (tmp_path / "own.csv").is_file(), p.stderr
    r = run("report", tmp_path / "l.json", "-o", tmp_path / "r.html")
    assert r.returncode == 0, r.stderr
    assert "is a symbolic link: not read" in r.stderr and "Traceback" not in r.stderr
    r = run("report", tmp_path / "l.json", "--rd-csv", tmp_path / "own.csv", "-o", tmp_path / "r2.html")
    assert r.returncode == 0 and "symbolic link" not in r.stderr, r.stderr


def test_stdout_output_and_rd_table_only_on_request(kit, tmp_path):
    p = run("analyze", kit["clip"], "-o", "-", "-q", "--cache", kit["dir"] / "cache", *TINY, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["rungs"]
    assert os.listdir(tmp_path) == []  # no .rd.csv guessed from "-"


def test_failed_analysis_leaves_no_partial_output(make_clip, tmp_path):
    """Every trial encode fails (a grid of sizes the source cannot have): no ladder, no RD table."""
    clip = make_clip("np.mp4", size="320x180", seconds=1)
    out = tmp_path / "o.ladder.json"
    p = run("analyze", clip, "-o", out, "--cache", tmp_path / "c", "--heights", "99999", *TINY)
    assert p.returncode != 0 and "Traceback" not in p.stderr
    assert sorted(os.listdir(tmp_path)) == ["c"] or sorted(os.listdir(tmp_path)) == []


# ------------------------------------------------------------------------------------------
# Inputs: names are never protocols
# ------------------------------------------------------------------------------------------


def test_protocol_looking_names_are_local_files(make_clip, tmp_path):
    a = make_clip("pa.mp4", size="160x90", seconds=2)     # 48 frames each
    shutil.copy(a, tmp_path / "a.mp4")
    shutil.copy(a, tmp_path / "b.mp4")
    one = make_clip("pone.mp4", size="160x90", seconds=1)  # 24 frames
    for name in ("concat:a.mp4|b.mp4", "subfile,,start,0,end,100000,,:b.mp4"):
        shutil.copy(one, tmp_path / name)
        p = run("probe", name, cwd=tmp_path)
        assert p.returncode == 0, p.stderr
        assert json.loads(p.stdout)["frames"] == 24


def test_a_folder_named_http_never_makes_a_request(make_clip, tmp_path):
    hits = []

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), H)
    port = srv.server_address[1]
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        local = tmp_path / "http:" / f"127.0.0.1:{port}"
        local.mkdir(parents=True)
        shutil.copy(make_clip("ph.mp4", size="160x90", seconds=1), local / "x")
        name = f"http://127.0.0.1:{port}/x"
        for cmd in ("probe", "features"):
            p = run(cmd, name, cwd=tmp_path)
            assert p.returncode == 0, p.stderr
    finally:
        srv.shutdown()
    assert hits == []


def test_batch_skips_playlists_and_links_out_of_the_folder(kit, tmp_path):
    folder = tmp_path / "titles"
    folder.mkdir()
    (folder / "list.m3u8").write_text(f"#EXTM3U\n#EXTINF:1,\n{kit['clip']}\n")
    (folder / "list.ffconcat").write_text(f"ffconcat version 1.0\nfile '{kit['clip']}'\n")
    (folder / "disguised.mp4").write_text(f"#EXTM3U\n#EXTINF:1,\n{kit['clip']}\n")
    (folder / "outside.mp4").symlink_to(kit["clip"])
    from pertitle.encoder.discover import discover

    skipped: list[str] = []
    assert discover(str(folder), skipped=skipped) == []
    assert skipped == [str(folder / "outside.mp4")]  # reported, not read
    p = run("batch", folder, "-o", tmp_path / "out", *TINY)
    assert_clean_error(p, E.InputNotFound.exit_code, "no video files")


def test_rd_table_neutralises_spreadsheet_formulas(make_clip, tmp_path):
    clip = tmp_path / "=HYPERLINK(1).mp4"
    shutil.copy(make_clip("f.mp4", size="160x90", seconds=1), clip)
    p = run("analyze", clip, "-o", tmp_path / "f.ladder.json", "--cache", tmp_path / "c", "-q", *TINY)
    assert p.returncode == 0, p.stderr
    rows = (tmp_path / "f.rd.csv").read_text().splitlines()
    assert all(not cell.startswith("=") for row in rows[1:] for cell in row.split(","))
    assert "'=HYPERLINK(1)" in rows[1]


def test_exported_packaging_line_reads_the_source_as_a_file(kit, tmp_path):
    doc = json.loads(json.dumps(kit["doc"]))
    doc["source"]["path"] = "-evil.mp4"
    path = tmp_path / "l.json"
    path.write_text(json.dumps(doc))
    p = run("export", path, "-f", "ffmpeg")
    assert p.returncode == 0, p.stderr
    import shlex

    argv = shlex.split(p.stdout)
    assert argv[argv.index("-i") + 1].startswith("file:/")


def test_names_that_are_not_plain_text(kit, tmp_path):
    """A file name that is not UTF-8 (Latin-1 bytes), and one holding a newline and a terminal
    escape sequence: the batch does the first and fails the second in one line each, nothing it
    prints holds a control character, its outputs are written, the index links the report, and
    the exported FFmpeg line names the very file in the shell."""
    import re

    folder = tmp_path / "titles"
    folder.mkdir()
    latin = folder / os.fsdecode(b"caf\xe9\xff.mp4")
    shutil.copy(kit["clip"], latin)
    odd = folder / "bad\nline\x1b]0;x\x07.mp4"
    odd.write_text("not a movie at all " * 50)
    out = tmp_path / "out"
    p = run("batch", folder, "-o", out, "--cache", kit["dir"] / "cache", *TINY)
    assert p.returncode == E.BATCH_PARTIAL_FAILURE, p.stderr
    assert "Traceback" not in p.stderr and "internal error" not in p.stderr, p.stderr
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f]", p.stdout + p.stderr)
    table = p.stdout.splitlines()
    assert any(ln.startswith("ok") and "caf\\xe9\\xff.mp4: " in ln for ln in table), p.stdout
    assert any(ln.startswith("failed") and "bad\\nline\\x1b]0;x\\x07.mp4: " in ln and "not a recognised video" in ln
               for ln in table), p.stdout
    status = {t["path"]: t for t in json.loads((out / "summary.json").read_text())["titles"]}
    assert status[str(latin)]["status"] == "ok" and status[str(odd)]["exit_code"] == E.NotAVideo.exit_code
    ladder = out / (latin.name + ".ladder.json")
    assert ladder.is_file() and (out / (latin.name + ".report.html")).is_file()
    assert 'href="caf%E9%FF.mp4.report.html"' in (out / "index.html").read_text()
    assert_clean_error(run("analyze", odd, "-o", tmp_path / "x.json", *TINY), E.NotAVideo.exit_code, "bad\\nline")
    # the exported packaging line, read by bash, names the file's own bytes
    e = run("export", ladder, "-f", "ffmpeg")
    assert e.returncode == 0, e.stderr
    word = e.stdout.split(" -i ", 1)[1].split(" ", 1)[0]
    got = subprocess.run(["bash", "-c", "printf %s " + word], capture_output=True).stdout
    assert got == b"file:" + os.fsencode(str(latin))
    r = run("report", ladder, "-o", tmp_path / "r.html")
    assert r.returncode == 0 and "caf\\xe9\\xff.mp4" in (tmp_path / "r.html").read_text(), r.stderr


def test_a_full_work_folder_is_said_and_left_empty(make_clip, tmp_path):
    """The reference of the analysed part does not fit in the work folder (a 1 MB tmpfs; needs
    root to mount, skipped elsewhere): one line naming the folder and --workdir, the output-side
    exit code, nothing left there."""
    with small_tmpfs(tmp_path, "1m") as mnt:
        clip = make_clip("full.mp4", size="320x180", seconds=2)      # a 4.1 MB Y4M reference
        for mode in (["analyze", *TINY[:4]], ["analyze", "--fast"], ["predict"]):
            p = run(*mode, clip, "-o", tmp_path / "l.json", "--workdir", mnt, "--no-cache")
            assert_clean_error(p, E.OutputError.exit_code, f"{mnt}: the work folder is full")
            assert "--workdir" in p.stderr and not list(mnt.iterdir()), list(mnt.iterdir())


# ------------------------------------------------------------------------------------------
# Verify: a failed rung is a failure
# ------------------------------------------------------------------------------------------


def test_verify_exits_non_zero_and_shows_failed_rungs(kit, ff, tmp_path):
    """An FFmpeg that fails every 2-pass encode (a wrapper around the real one)."""
    wrapper = tmp_path / "ffmpeg"
    wrapper.write_text(f'#!/bin/sh\nfor a in "$@"; do [ "$a" = "-pass" ] && exit 1; done\nexec {ff.path} "$@"\n')
    wrapper.chmod(0o755)
    p = run("verify", kit["ladder"], "--ffmpeg", wrapper, "--no-cache", "-j", "2")
    assert p.returncode == E.VERIFY_FAILURE, p.stderr
    assert "FAILED" in p.stdout and "Traceback" not in p.stderr
    pj = run("verify", kit["ladder"], "--ffmpeg", wrapper, "--no-cache", "--json", "-q")
    assert pj.returncode == E.VERIFY_FAILURE
    out = json.loads(pj.stdout)
    assert not out["all_ok"] and all(r["status"] == "failed" for r in out["rungs"])


# ------------------------------------------------------------------------------------------
# Cache: damaged or forged entries are misses, an unusable folder means no cache
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["empty-list", "not-utf8", "forged", "other-key", "implausible"])
def test_damaged_cache_entries_are_misses(kit, tmp_path, damage):
    cache = tmp_path / "c"
    first = run("analyze", kit["clip"], "-o", tmp_path / "a.json", "--cache", cache, "-q", *TINY)
    assert first.returncode == 0, first.stderr
    entries = sorted(cache.rglob("*.json"))
    assert entries
    good = json.loads(entries[0].read_text())
    if damage == "empty-list":
        entries[0].write_text("[]")
    elif damage == "not-utf8":
        entries[0].write_bytes(b"\xff\xfe{garbage")
    elif damage == "forged":  # a ladder at 1 kbps and VMAF 100, checksum not recomputed
        good["value"].update(kbps=1.0, vmaf_mean=100.0)
        entries[0].write_text(json.dumps(good))
    elif damage == "other-key":
        good["key"] = "0" * 64
        entries[0].write_text(json.dumps(good))
    elif damage == "implausible":  # checksum recomputed, numbers absurd
        from pertitle.encoder.cache import value_sha256

        good["value"].update(kbps=-5.0)
        good["sha256"] = value_sha256(good["value"])
        entries[0].write_text(json.dumps(good))
    for _ in range(2):  # and a rerun recovers
        p = run("analyze", kit["clip"], "-o", tmp_path / "b.json", "--cache", cache, "-q", *TINY)
        assert p.returncode == 0, p.stderr
        assert "Traceback" not in p.stderr
    doc_a = json.loads((tmp_path / "a.json").read_text())
    doc_b = json.loads((tmp_path / "b.json").read_text())
    assert doc_a["rungs"] == doc_b["rungs"]  # the damaged point was measured again, not trusted


def test_unusable_cache_folder_means_an_uncached_run(kit, tmp_path):
    home = tmp_path / "home-is-a-file"
    home.write_text("x")
    env = {"HOME": str(home), "XDG_CACHE_HOME": "", "PERTITLE_CACHE": ""}
    p = run("analyze", kit["clip"], "-o", tmp_path / "a.json", "-q", *TINY, env_extra=env)
    assert p.returncode == 0, p.stderr
    assert "warning" in p.stderr and "without a cache" in p.stderr


# ------------------------------------------------------------------------------------------
# Signals: like Ctrl-C, SIGTERM and SIGHUP stop children and clean up
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_termination_signals_clean_up(make_clip, tmp_path, sig):
    clip = make_clip("sig.mp4", size="640x360", seconds=4, source="mandelbrot")
    work, cache = tmp_path / "w", tmp_path / "c"
    work.mkdir()
    proc = subprocess.Popen([*pertitle_cmd(), "analyze", clip, "-o", tmp_path / "s.json", "--cache", cache,
                             "--workdir", work, "-q", "-j", "2"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not any(work.iterdir()):
        time.sleep(0.1)
    time.sleep(2.0)  # let encodes start
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, err
    assert f"stopped by {signal.Signals(sig).name}" in err and "Traceback" not in err
    assert list(work.iterdir()) == []                                  # work folder removed
    assert not list(cache.rglob(".tmp-*")) + list(cache.rglob(".pertitle-tmp-*"))  # no half-written entry
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(work) not in ps                                         # no FFmpeg child left
    assert not (tmp_path / "s.json").exists()


def test_a_killed_runs_scratch_directory_is_removed_by_the_next_run(make_clip, tmp_path):
    """SIGKILL (the OOM killer, a Dask nanny) leaves no chance to clean up: the decoded reference
    stays in the work folder. The next run there removes it (its owner's lock is gone), and only it."""
    from pertitle.core.workdirs import LOCK

    clip = make_clip("kill.mp4", size="640x360", seconds=4, source="mandelbrot")
    work, cache = tmp_path / "w", tmp_path / "c"
    work.mkdir()
    (work / "pertitle-not-ours").mkdir()                     # no lock file: left alone
    proc = subprocess.Popen([*pertitle_cmd(), "analyze", clip, "-o", tmp_path / "k.json", "--cache", cache,
                             "--workdir", work, "-q", "-j", "2"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list(work.glob(f"pertitle-*/{LOCK}")):
        time.sleep(0.1)
    time.sleep(2.0)  # the reference decoded, encodes running
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    left = sorted(p.parent for p in work.glob(f"pertitle-*/{LOCK}"))
    assert left and sum(f.stat().st_size for d in left for f in d.rglob("*") if f.is_file()) > 0
    old = time.time() - 3600                                  # as if killed an hour ago
    for d in left:
        os.utime(d / LOCK, (old, old))
    p = run("analyze", clip, "-o", tmp_path / "k.json", "--cache", cache, "--workdir", work, "-q", *TINY)
    assert p.returncode == 0, p.stderr
    assert sorted(work.iterdir()) == [work / "pertitle-not-ours"]


# ------------------------------------------------------------------------------------------
# Tiny and extreme-aspect sources work in every mode
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", ["32x32", "8192x34"])
def test_tiny_and_extreme_sources_in_every_mode(make_clip, tmp_path, size):
    clip = make_clip(f"x{size}.mp4", size=size, seconds=1, rate=12)
    for argv in (["predict", clip], ["analyze", clip, "--fast", *TINY], ["analyze", clip, *TINY]):
        p = run(*argv, "-o", tmp_path / "x.json", "--cache", tmp_path / "c", "-q")
        assert p.returncode == 0, (argv, p.stderr)
        doc = json.loads((tmp_path / "x.json").read_text())
        assert doc["rungs"]


# ------------------------------------------------------------------------------------------
# Dask: a service that is not a scheduler is a one-line error
# ------------------------------------------------------------------------------------------


def test_non_dask_service_is_a_clean_error(kit, tmp_path):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(5)
    port = srv.getsockname()[1]
    stop = threading.Event()

    def garbage():
        srv.settimeout(0.5)
        while not stop.is_set():
            try:
                c, _ = srv.accept()
            except OSError:
                continue
            try:
                c.sendall(b"\xff" * 4096 + b"HTTP/1.0 200 OK\r\n\r\nhello")
            except OSError:
                pass
            c.close()

    t = threading.Thread(target=garbage, daemon=True)
    t.start()
    try:
        p = run("batch", kit["dir"], "-o", tmp_path / "o", "--scheduler", f"tcp://127.0.0.1:{port}", *TINY)
    finally:
        stop.set()
        srv.close()
    assert_clean_error(p, 2, "Dask scheduler")


def test_skops_model_with_foreign_types_is_refused(tmp_path):
    import skops.io as sio

    from pertitle.ladders import model as M

    path = tmp_path / "foreign.skops"
    sio.dump({"meta_json": "{}", "model": Foreign()}, str(path))
    with pytest.raises(E.ModelError, match="outside the allowed list"):
        M.load(str(path))


@given(st.text(max_size=30) | st.binary(max_size=30).map(os.fsdecode))
def test_shown_text_is_one_printable_line(text):
    """Whatever a file name or message holds, what is printed of it is one line of printable
    text (strict UTF-8), and printable text without bidirectional controls is left as it is."""
    out = E.shown(text)
    import unicodedata

    out.encode("utf-8")
    assert not [c for c in out if unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp")]   # controls, line breaks
    assert not set(out) & set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
    if text.isprintable() and not set(text) & set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"):
        assert out == text
