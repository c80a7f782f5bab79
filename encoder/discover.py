"""Find the video files under a folder, by content (a batch's inputs, a dataset's sources)."""
from __future__ import annotations

import os
from collections.abc import Iterable

VIDEO_EXTENSIONS = {
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".ts", ".m2ts", ".mts", ".mpg", ".mpeg",
    ".mxf", ".flv", ".wmv", ".ogv", ".3gp", ".y4m", ".nut", ".ivf", ".264", ".h264", ".265",
    ".hevc", ".vob", ".dv", ".f4v", ".asf", ".rm", ".divx",
}
NEVER_VIDEO = {".json", ".csv", ".txt", ".md", ".tsv", ".py", ".log", ".html", ".xml", ".yaml",
               ".yml", ".srt", ".vtt", ".m3u8", ".m3u", ".mpd", ".ffconcat", ".concat", ".joblib",
               ".pkl", ".skops", ".zip", ".gz"}


def looks_like_video(path: str) -> bool:
    """By content, not only by extension. A playlist or list (HLS, concat, ...) is never a title,
    whatever its name. A file with a video extension is a candidate even if it does not open
    (the batch then reports it as broken); any other file only if it opens as media with a video
    stream."""
    from ..core.errors import PertitleError
    from .probe import open_media, real_videos

    ext = os.path.splitext(path)[1].lower()
    if ext in NEVER_VIDEO:
        return False
    try:
        if os.path.getsize(path) == 0:
            return ext in VIDEO_EXTENSIONS
        with open_media(path) as c:
            return ext in VIDEO_EXTENSIONS or bool(real_videos(c))
    except PertitleError as exc:
        if "refers to other files" in exc.message:
            return False
        return ext in VIDEO_EXTENSIONS
    except Exception:  # noqa: BLE001 - anything that does not open as media is simply not a video
        return ext in VIDEO_EXTENSIONS


def discover(folder: str, exclude: Iterable[str] = (), skipped: list[str] | None = None) -> list[str]:
    """Video files under ``folder`` (recursive, sorted; hidden files, ``exclude`` dirs, symlinked
    folders and symlinks that lead out of ``folder`` skipped: nothing outside it is read). The
    symlinks skipped that way are appended to ``skipped`` (the batch says so)."""
    excluded = {os.path.abspath(e) for e in exclude}
    top = os.path.realpath(folder)
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                         and os.path.abspath(os.path.join(root, d)) not in excluded)
        for f in sorted(files):
            if f.startswith("."):
                continue
            p = os.path.join(root, f)
            real = os.path.realpath(p)
            if os.path.commonpath([top, real]) != top:
                if skipped is not None:
                    skipped.append(p)
                continue  # a symlink to somewhere else
            if os.path.isfile(p) and looks_like_video(p):
                found.append(p)
    return found
