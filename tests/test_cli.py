"""The installed `pertitle` command as a user runs it: outputs, one-line errors, exit codes."""
import csv
import json

import pytest

from pertitle.core import errors as E

from .conftest import QUICK, run


def test_analyze_writes_ladder_and_rd_csv_and_prints_summary(make_clip, tmp_path):
    src = make_clip("cli.mp4", size="480x270", seconds=1, source="mandelbrot")
    out = tmp_path / "out" / "cli.ladder.json"
    p = run("analyze", src, "-o", out, "--cache", tmp_path / "c", *QUICK)
    assert p.returncode == 0, p.stderr
    doc = json.loads(out.read_text())
    assert doc["schema_version"] == 1 and doc["rungs"]
    rd = tmp_path / "out" / "cli.rd.csv"
    rows = list(csv.DictReader(rd.open()))
    assert len(rows) == 4 and {"width", "height", "crf", "kbps", "vmaf_mean", "psnr_y"} <= set(rows[0])
    assert "rung" in p.stdout and "vs apple-hls-h264" in p.stdout and "wrote" in p.stdout
    assert "Traceback" not in p.stderr


def test_an_excerpt_past_the_end_is_said(make_clip, tmp_path):
    """--duration past the end analyses to the end, and the document and the summary say so;
    one inside the title says nothing."""
    src = make_clip("cli.mp4", size="480x270", seconds=1, source="mandelbrot")
    p = run("analyze", src, "-o", tmp_path / "l.json", "--start", "0.5", "--duration", "4",
            "--cache", tmp_path / "c", *QUICK)
    assert p.returncode == 0, p.stderr
    note = "--duration 4 s from 0.5 s runs past the end of the title (1.00 s): 0.50 s analysed, to the end"
    assert note in json.loads((tmp_path / "l.json").read_text())["notes"]
    assert f"note: {note}" in p.stdout
    p = run("predict", src, "-o", tmp_path / "p.json", "--duration", "0.5", "--cache", tmp_path / "c")
    assert p.returncode == 0, p.stderr
    assert not any("past the end" in n for n in json.loads((tmp_path / "p.json").read_text())["notes"])
    p = run("predict", src, "-o", tmp_path / "p.json", "--duration", "2", "--cache", tmp_path / "c")
    assert any(n.startswith("--duration 2 s runs past the end")
               for n in json.loads((tmp_path / "p.json").read_text())["notes"])


def test_analyze_json_goes_to_stdout_only(make_clip, tmp_path):
    src = make_clip("cli.mp4", size="480x270", seconds=1, source="mandelbrot")
    p = run("analyze", src, "-o", tmp_path / "l.json", "--json", "-q", "--cache", tmp_path / "c", *QUICK)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)  # nothing but the JSON on stdout
    assert doc["rungs"] == json.loads((tmp_path / "l.json").read_text())["rungs"]


def test_policy_options_change_the_ladder_not_the_measurements(make_clip, tmp_path):
    src = make_clip("cli.mp4", size="480x270", seconds=1, source="mandelbrot")
    c = tmp_path / "c"
    a = run("analyze", src, "-o", tmp_path / "a.json", "--json", "-q", "--cache", c, *QUICK)
    b = run("analyze", src, "-o", tmp_path / "b.json", "--json", "-q", "--cache", c, *QUICK,
            "--max-rungs", "1", "--top-vmaf", "80")
    assert a.returncode == b.returncode == 0
    da, db = json.loads(a.stdout), json.loads(b.stdout)
    assert len(db["rungs"]) == 1 and db["sweep"]["cached"] == 4
    assert db["rungs"][0]["vmaf"] <= 80.5
    assert da["curves"] == db["curves"] and len(da["rungs"]) > 1  # same measurements, other ladder


@pytest.mark.parametrize("make_bad,code,needle", [
    (lambda d, mk: str(d / "missing.mp4"), E.InputNotFound.exit_code, "no such file"),
    (lambda d, mk: str(d), E.InputNotFound.exit_code, "directory"),
    (lambda d, mk: _write(d / "zero.mp4", b""), E.InputEmpty.exit_code, "empty"),
    (lambda d, mk: _write(d / "text.mp4", b"hello " * 100), E.NotAVideo.exit_code, "not a recognised"),
    (lambda d, mk: mk("tone.m4a", video=False, audio=True), E.NoVideoStream.exit_code, "audio only"),
    (lambda d, mk: _truncate(mk("whole.mp4", seconds=2), d / "cut.mp4"), E.TruncatedInput.exit_code, "truncated"),
    (lambda d, mk: mk("tiny.mp4", size="16x16", seconds=0.5), E.UnsupportedInput.exit_code, "dimensions"),
])
def test_bad_input_one_line_error_and_distinct_exit_code(make_clip, tmp_path, make_bad, code, needle):
    path = make_bad(tmp_path, make_clip)
    out = tmp_path / "never.ladder.json"
    p = run("analyze", path, "-o", out, "--cache", tmp_path / "c")
    assert p.returncode == code, (p.returncode, p.stderr)
    lines = [l for l in p.stderr.strip().splitlines() if l]
    assert len(lines) == 1 and lines[0].startswith("pertitle: error:") and needle in lines[0]
    assert "Traceback" not in p.stderr
    assert not out.exists()


def test_bad_options_are_usage_errors(make_clip, tmp_path):
    src = make_clip("cli.mp4", size="480x270", seconds=1, source="mandelbrot")
    assert run("analyze", src, "--crf", "99").returncode == 2
    assert run("analyze", src, "--metrics", "vmaf2").returncode == 2
    assert run("analyze", src, "--codec", "mpeg2").returncode == 2
    assert run("analyze", src, "--min-kbps", "9000").returncode == 2


def test_missing_libvmaf_or_encoder_is_a_clear_message(tmp_path, make_clip):
    # A fake "ffmpeg" that has neither libvmaf nor libx264.
    fake = tmp_path / "ffmpeg"
    fake.write_text("#!/bin/sh\n"
                    "case \"$*\" in *-version*) echo 'ffmpeg version 0.0-fake Copyright';; "
                    "*-filters*) echo ' .. scale V->V Scale';; *-encoders*) echo ' V..... mpeg4 MPEG-4';; esac\n")
    fake.chmod(0o755)
    src = make_clip("cli.mp4", size="480x270", seconds=1, source="mandelbrot")
    p = run("analyze", src, "--ffmpeg", fake, "-o", tmp_path / "x.json")
    assert p.returncode == E.FFmpegCapabilityError.exit_code
    assert "libx264" in p.stderr or "libvmaf" in p.stderr
    p = run("analyze", src, "--ffmpeg", tmp_path / "nope", "-o", tmp_path / "x.json")
    assert p.returncode == E.FFmpegNotFound.exit_code and "not found" in p.stderr
    p = run("info", env_extra={"PERTITLE_FFMPEG": str(fake)})
    assert p.returncode == 0 and json.loads(p.stdout)["libvmaf"] is False


def test_probe_and_exit_codes_commands(make_clip):
    p = run("probe", make_clip("cli.mp4", size="480x270", seconds=1, source="mandelbrot"))
    assert p.returncode == 0 and json.loads(p.stdout)["width"] == 480
    p = run("exit-codes")
    assert p.returncode == 0 and "40" in p.stdout


def _write(path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def _truncate(src: str, dst) -> str:
    data = open(src, "rb").read()
    dst.write_bytes(data[: len(data) // 2])
    return str(dst)
