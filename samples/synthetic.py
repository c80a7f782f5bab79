"""The synthetic half of the training set: deterministic clips with controlled content.

- real photographs shipped by the ``scikit-image`` wheel (``pip install '.[train]'``), panned,
  zoomed, blurred, under grain, scrolled (text and printed pages: credits-like);
- FFmpeg lavfi sources (``samples.generate.KINDS``): flat motion graphics, gradients, fractal
  zooms, cellular automata, grain, hard scene cuts;
- rolling credits drawn with drawtext when a system font is available.

Every clip carries a CV *group* (the photo, or the lavfi kind) so that variants of one picture
never sit on both sides of a cross-validation split.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass

from ..encoder.commands import BASE, file_url
from ..encoder.runner import run
from .generate import KINDS
from .generate import command as lavfi_command

SECONDS = 3.0
RATE = 24


@dataclass(frozen=True)
class Clip:
    name: str
    group: str
    build: Callable[[str, str], list[str]]   # (ffmpeg, out) -> argv


def _image_dir() -> str | None:
    try:
        import skimage
    except ImportError:
        return None
    d = os.path.join(os.path.dirname(skimage.__file__), "data")
    return d if os.path.isdir(d) else None


def _photo(image: str, vf: str, w: int, h: int) -> Callable[[str, str], list[str]]:
    def build(ffmpeg: str, out: str) -> list[str]:
        src = os.path.join(_image_dir() or "", image)
        g = vf.format(w=w, h=h, W=w * 2, H=h * 2, r=RATE, d=SECONDS, n=int(SECONDS * RATE))
        return [ffmpeg, *BASE, "-loop", "1", "-framerate", str(RATE), "-i", file_url(src),
                "-vf", g + ",format=yuv420p", "-t", str(SECONDS), "-r", str(RATE),
                "-c:v", "libx264", "-preset", "medium", "-crf", "10", "-threads", "1",
                "-fflags", "+bitexact", "-flags:v", "+bitexact", file_url(out)]
    return build


# Motions over a photo scaled to twice the clip size ({W}x{H}); t in seconds.
PAN_SLOW = "scale={W}:{H}:force_original_aspect_ratio=increase,crop={w}:{h}:x='(iw-ow)*t/{d}':y='(ih-oh)/2'"
PAN_FAST = "scale={W}:{H}:force_original_aspect_ratio=increase,crop={w}:{h}:x='(iw-ow)*(0.5+0.5*sin(t*5))':y='(ih-oh)*t/{d}'"
ZOOM = ("scale={W}:{H}:force_original_aspect_ratio=increase,"
        "zoompan=z='1+0.3*on/{n}':x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)':d=1:s={w}x{h}:fps={r}")
GRAIN = PAN_SLOW + ",noise=alls=18:allf=t+u"
SOFT = PAN_SLOW + ",gblur=sigma=3"
SCROLL = "scale={w}:-2,tile=1x4,crop={w}:{h}:x=0:y='(ih-oh)*t/{d}'"
STATIC = "scale={w}:{h}:force_original_aspect_ratio=increase,crop={w}:{h}"

PHOTOS = {
    "astronaut.png": (PAN_SLOW, ZOOM, GRAIN),
    "coffee.png": (PAN_SLOW, SOFT, PAN_FAST),
    "chelsea.png": (ZOOM, GRAIN),
    "rocket.jpg": (PAN_SLOW, PAN_FAST),
    "motorcycle_left.png": (PAN_SLOW, ZOOM, GRAIN),
    "hubble_deep_field.jpg": (PAN_SLOW, ZOOM),
    "retina.jpg": (ZOOM, SOFT),
    "grass.png": (PAN_SLOW, PAN_FAST),
    "gravel.png": (PAN_SLOW, GRAIN),
    "brick.png": (ZOOM, STATIC),
    "camera.png": (PAN_SLOW, GRAIN),
    "ihc.png": (PAN_FAST, SOFT),
    "coins.png": (STATIC, ZOOM),
    "page.png": (SCROLL, STATIC),
    "text.png": (SCROLL,),
}

MOTION_NAMES = {PAN_SLOW: "pan", PAN_FAST: "fastpan", ZOOM: "zoom", GRAIN: "grain", SOFT: "soft",
                SCROLL: "scroll", STATIC: "still"}


def _lavfi(kind: str, w: int, h: int) -> Callable[[str, str], list[str]]:
    def build(ffmpeg: str, out: str) -> list[str]:
        return lavfi_command(ffmpeg, out, kind=kind, width=w, height=h, rate=RATE, seconds=SECONDS, crf=10)
    return build


def _font() -> str | None:
    for p in ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
              "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf"):
        if os.path.exists(p):
            return p
    return None


def _credits(w: int, h: int) -> Callable[[str, str], list[str]]:
    def build(ffmpeg: str, out: str) -> list[str]:
        text = os.path.join(os.path.dirname(os.path.abspath(out)), "credits.txt")
        with open(text, "w", encoding="utf-8") as fh:
            fh.write("\n".join(f"Role {i:02d}      Person Name {i * 7 % 97:02d}" for i in range(40)))
        font = _font()
        g = (f"color=c=black:size={w}x{h}:rate={RATE}:duration={SECONDS},"
             f"drawtext=fontfile={font}:textfile={text}:fontcolor=white:fontsize={h // 18}:"
             f"x=(w-tw)/2:y=h-t*{h // 2}:line_spacing={h // 40},format=yuv420p")
        return [ffmpeg, *BASE, "-f", "lavfi", "-i", g, "-t", str(SECONDS), "-c:v", "libx264",
                "-preset", "medium", "-crf", "10", "-threads", "1", "-fflags", "+bitexact",
                "-flags:v", "+bitexact", file_url(out)]
    return build


def clips(width: int = 960, height: int = 540) -> list[Clip]:
    out: list[Clip] = []
    if _image_dir():
        for image, motions in PHOTOS.items():
            stem = os.path.splitext(image)[0]
            for m in motions:
                out.append(Clip(f"photo_{stem}_{MOTION_NAMES[m]}", f"photo_{stem}", _photo(image, m, width, height)))
    for kind in KINDS:
        out.append(Clip(f"lavfi_{kind}_{height}p", f"lavfi_{kind}", _lavfi(kind, width, height)))
        out.append(Clip(f"lavfi_{kind}_720p", f"lavfi_{kind}", _lavfi(kind, 1280, 720)))
    if _font():
        out.append(Clip("credits_scroll", "credits", _credits(width, height)))
    return out


def generate_all(ffmpeg: str, outdir: str, log=lambda _: None) -> list[tuple[str, str]]:
    """Write every training clip into ``outdir`` (existing ones are kept). Returns (path, group)."""
    os.makedirs(outdir, exist_ok=True)
    made = []
    for c in clips():
        path = os.path.join(outdir, c.name + ".mp4")
        if not os.path.exists(path):
            tmp = path + ".part.mp4"
            run(c.build(ffmpeg, tmp), what=f"training clip {c.name}")
            shutil.move(tmp, path)
            log(f"made {c.name}")
        made.append((path, c.group))
    return made


GROUP_REGEX = (r"^(?:(photo_.+)_(?:pan|fastpan|zoom|grain|soft|scroll|still)$|(lavfi_[a-z]+)_\d+p$"
               r"|(credits)|(sam2|sadtalker|cotracker)_)")
"""Groups for the training set: a photo's variants, a lavfi kind, and the corpus titles that
share a source (sam2, sadtalker, cotracker clips come from one production each)."""
