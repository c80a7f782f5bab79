"""Typed errors. Each carries a distinct process exit code so scripts can tell failures apart.

The CLI catches :class:`PertitleError` and prints ``str(err)`` as one line; nothing here is
meant to surface as a traceback.
"""
from __future__ import annotations

import unicodedata
from collections.abc import Sequence

# Invisible characters that reorder what a terminal or a page shows (bidirectional controls)
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def shown(text: str) -> str:
    """``text`` (a file name, a message holding one) safe to print on one line: control characters
    (a newline, an escape sequence a terminal would run), line separators and bidirectional
    controls become backslash escapes, and the bytes of a name that is not UTF-8 (which Python
    carries as surrogates) become ``\\xNN``. Printable text is returned as it is."""
    if text.isprintable() and not _BIDI.intersection(text):
        return text
    out = []
    for ch in text:
        o = ord(ch)
        if 0xDC80 <= o <= 0xDCFF:
            out.append(f"\\x{o - 0xDC00:02x}")
        elif ch in _BIDI or unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp"):
            out.append(ch.encode("unicode_escape").decode("ascii"))
        else:
            out.append(ch)
    return "".join(out)


class PertitleError(Exception):
    """Base class. ``exit_code`` is what the CLI exits with."""

    exit_code = 1
    kind = "error"

    def __init__(self, message: str, path: str | None = None):
        self.message = message
        self.path = path
        super().__init__(message)

    def __str__(self) -> str:
        return shown(f"{self.path}: {self.message}" if self.path else self.message)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "exit_code": self.exit_code, "message": str(self)}


class InvalidOptions(PertitleError):
    """Options that cannot work together or with this source (same code as a usage error)."""

    exit_code = 2
    kind = "invalid_options"


# --- input problems (10-19) -------------------------------------------------------------
class InputNotFound(PertitleError):
    exit_code = 10
    kind = "input_not_found"


class InputEmpty(PertitleError):
    exit_code = 11
    kind = "input_empty"


class NotAVideo(PertitleError):
    exit_code = 12
    kind = "not_a_video"


class TruncatedInput(PertitleError):
    exit_code = 13
    kind = "truncated"


class NoVideoStream(PertitleError):
    exit_code = 14
    kind = "no_video_stream"


class UnsupportedInput(PertitleError):
    """Readable, but outside what we handle (absurd dimensions, too few frames, ...)."""

    exit_code = 15
    kind = "unsupported"


# --- FFmpeg problems (20-29) ------------------------------------------------------------
class FFmpegNotFound(PertitleError):
    exit_code = 20
    kind = "ffmpeg_not_found"


class FFmpegCapabilityError(PertitleError):
    """The FFmpeg build lacks a filter or encoder we need (e.g. no libvmaf)."""

    exit_code = 21
    kind = "ffmpeg_capability"


class FFmpegError(PertitleError):
    """An FFmpeg process failed. Carries the exit code, the exact command and the stderr tail."""

    exit_code = 22
    kind = "ffmpeg_failed"

    def __init__(self, message: str, cmd: Sequence[str] = (), returncode: int | None = None,
                 stderr_tail: str = "", path: str | None = None):
        self.cmd = list(cmd)
        self.returncode = returncode
        self.stderr_tail = stderr_tail
        super().__init__(message, path)

    def __str__(self) -> str:
        base = super().__str__()
        last = _last_meaningful_line(self.stderr_tail)
        rc = f" (exit {self.returncode})" if self.returncode is not None else ""
        return f"{base}{rc}: {last}" if last else f"{base}{rc}"

    def details(self) -> str:
        """Multi-line detail for --verbose / logs: command and stderr tail."""
        import shlex

        return f"command: {shlex.join(self.cmd)}\nstderr tail:\n{self.stderr_tail}"


class MeasurementError(PertitleError):
    """FFmpeg ran but no score could be parsed, or the scores are unusable."""

    exit_code = 23
    kind = "measurement_failed"


# --- ladder / model / files (30-39) -------------------------------------------------------
class LadderError(PertitleError):
    """Not enough usable RD points to build a hull or a ladder."""

    exit_code = 30
    kind = "ladder"


class InvalidLadderFile(PertitleError):
    exit_code = 31
    kind = "invalid_ladder"


class ModelError(PertitleError):
    exit_code = 32
    kind = "model"


class DatasetError(PertitleError):
    exit_code = 33
    kind = "dataset"


class OutputError(PertitleError):
    """An output path that cannot (or must not) be written: checked before any work."""

    exit_code = 34
    kind = "output"


class CacheWarning(UserWarning):
    """A cache entry that was unreadable, malformed or forged (a miss), or an unwritable cache."""


# --- stopping ---------------------------------------------------------------------------------
class Stopped(PertitleError):
    """A process was not started, or was killed, because the program is being stopped."""

    exit_code = 1
    kind = "stopped"


class Terminated(BaseException):
    """Raised in the main thread by the SIGTERM/SIGHUP handler (like KeyboardInterrupt for
    SIGINT): unwinds every ``finally`` so work folders and temporary files are removed."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(signum)


# --- batch ------------------------------------------------------------------------------------
BATCH_PARTIAL_FAILURE = 40
"""Exit code of ``pertitle batch`` when at least one title failed and the others completed."""
VERIFY_FAILURE = 41
"""Exit code of ``pertitle verify`` when at least one rung could not be encoded or measured."""


def _last_meaningful_line(text: str) -> str:
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line and not line.startswith(("frame=", "size=", "Press [q]")):
            return line[:300]
    return ""


EXIT_CODES = {
    0: "success",
    1: "unexpected internal error",
    2: "usage error (bad option or argument)",
    10: "input not found / not a regular file",
    11: "input is empty (zero bytes)",
    12: "input is not a readable video",
    13: "input is truncated",
    14: "input has no video stream (e.g. audio only)",
    15: "input unsupported (absurd dimensions, too short, a playlist or list that opens other files)",
    20: "FFmpeg binary not found",
    21: "FFmpeg build lacks a required filter/encoder (e.g. libvmaf)",
    22: "an FFmpeg process failed",
    23: "quality measurement produced no usable score",
    30: "not enough RD points to build a ladder",
    31: "invalid ladder file",
    32: "model file missing, invalid or incompatible",
    33: "dataset invalid",
    34: "output cannot be written (a folder, not writable, too long, or the input itself): nothing was computed",
    BATCH_PARTIAL_FAILURE: "batch finished, but some titles failed (see the summary)",
    VERIFY_FAILURE: "verify finished, but some rungs could not be encoded or measured (see the table)",
}
