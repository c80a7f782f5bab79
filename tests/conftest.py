"""Shared fixtures: the real FFmpeg, and tiny clips generated with lavfi inside the tests."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import shutil

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CORPUS = Path(os.environ.get("PERTITLE_CORPUS", SHARED / "corpus"))
REFERENCE = SHARED / "reference"


def pytest_collection_modifyitems(config, items):
    """Every test that needs the real FFmpeg (directly or through a generated clip) is ``slow``:
    ``python -m pytest -m "not slow"`` is the quick loop over the pure logic (seconds)."""
    for item in items:
        if {"ff", "make_clip"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def ff():
    from pertitle.encoder.ffmpeg import locate

    f = locate()
    if not f.has_filter("libvmaf"):
        pytest.skip("this FFmpeg has no libvmaf")
    return f


def _run(cmd: list[str]) -> None:
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"clip generation failed: {' '.join(cmd)}\n{p.stderr[-2000:]}")


@pytest.fixture(scope="session")
def make_clip(ff, tmp_path_factory):
    """make_clip(name, size="320x180", rate=24, seconds=1.0, source="testsrc2", ...) -> path.

    Clips are cached per session by their arguments, so several tests can share one.
    """
    root = tmp_path_factory.mktemp("clips")
    made: dict[tuple, str] = {}

    def make(name: str = "clip.mp4", size: str = "320x180", rate: float | str = 24,
             seconds: float = 1.0, source: str = "testsrc2", vf: str | None = None,
             codec: list[str] | None = None, pix_fmt: str = "yuv420p", extra_out: list[str] | None = None,
             extra_in: list[str] | None = None, audio: bool = False, video: bool = True) -> str:
        key = (name, size, rate, seconds, source, vf, tuple(codec or ()), pix_fmt,
               tuple(extra_out or ()), tuple(extra_in or ()), audio, video)
        if key in made:
            return made[key]
        out = root / f"{len(made):03d}-{name}"
        cmd = [ff.path, "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
        if video:
            src = f"{source}=size={size}:rate={rate}" if source in ("testsrc2", "testsrc", "smptebars", "rgbtestsrc", "mandelbrot", "cellauto") else source
            if source == "cellauto":   # its random fill is seeded from the clock unless told: every run the same clip
                src += ":random_seed=5"
            cmd += [*(extra_in or []), "-f", "lavfi", "-i", src]
        if audio:
            cmd += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]
        cmd += ["-t", str(seconds)]
        if video:
            if vf:
                cmd += ["-vf", vf]
            cmd += codec or ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "18"]
            cmd += ["-pix_fmt", pix_fmt]
        if audio:
            cmd += ["-c:a", "aac", "-b:a", "64k"]
        cmd += [*(extra_out or []), str(out)]
        _run(cmd)
        made[key] = str(out)
        return str(out)

    return make


@pytest.fixture
def cache(tmp_path):
    from pertitle.encoder.cache import Cache

    return Cache(str(tmp_path / "cache"))


def corpus_clip(name: str) -> str:
    p = CORPUS / name
    if not p.exists():
        pytest.skip(f"corpus clip {name} not available ({CORPUS})")
    return str(p)


# ------------------------------------------------------------------------------------------
# The installed command, as a user runs it
# ------------------------------------------------------------------------------------------


def pertitle_cmd() -> list[str]:
    exe = os.path.join(os.path.dirname(sys.executable), "pertitle")
    return [exe] if os.path.exists(exe) else [sys.executable, "-m", "pertitle.cli"]


def run(*args, cwd=None, env_extra=None):
    env = dict(os.environ)
    env.update(env_extra or {})
    return subprocess.run([*pertitle_cmd(), *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=600)


QUICK = ["--crf", "22,34", "--gop", "1", "-j", "2"]


# ------------------------------------------------------------------------------------------
# A real browser (headless Chromium driven by playwright), for the report and the players
# ------------------------------------------------------------------------------------------


def chromium_path() -> str | None:
    for name in (os.environ.get("PERTITLE_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


@pytest.fixture(scope="module")
def browser():
    exe = chromium_path()
    if exe is None or not _has_playwright():
        if os.environ.get("PERTITLE_REQUIRE_BROWSER"):
            pytest.fail("headless Chromium (and the playwright package) are required here")
        pytest.skip("no Chromium or no playwright: the browser checks need both")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        yield b
        b.close()


def _has_playwright() -> bool:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return True


def damaged_copy(src: str, dst, seed: int) -> None:
    """A copy of ``src`` with twenty 64-byte stretches of its middle third overwritten
    (deterministic: the bytes come from SHA-256 of the seed)."""
    import hashlib
    import shutil

    shutil.copy(src, dst)
    n = os.path.getsize(dst)
    with open(dst, "r+b") as fh:
        for i in range(20):
            h = hashlib.sha256(f"{seed}-{i}".encode()).digest()
            fh.seek(n // 3 + int.from_bytes(h[:4], "big") % (n // 3))
            fh.write((h * 2)[:64])


@contextmanager
def small_tmpfs(tmp_path: Path, size: str):
    """A tmpfs of ``size`` mounted at ``tmp_path/small`` for the test (a disk that fills up); the
    test is skipped where mounting is not allowed (needs root)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)],
                                           capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


def ladder_for(doc: dict, codec: str) -> dict:
    """An H.264 ladder (its rungs, GOP and source) delivered with another codec, each rung's
    encoder settings as the analysis writes them for that codec."""
    from pertitle.ladders.document import rung_encoder_settings

    out = json.loads(json.dumps(doc))
    out["codec"] = codec
    preset = {"libvpx-vp9": "4"}.get(codec)   # VP9's default (cpu-used 2) is slow for a test
    for r in out["rungs"]:
        enc = r["encoder"]
        r["encoder"] = rung_encoder_settings(codec, preset, r["width"], r["height"], enc["bitrate_kbps"],
                                             enc["gop_frames"], enc.get("crf_equivalent"))
    return out
