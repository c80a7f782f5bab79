"""The one place that runs subprocesses.

Always an argument list (never a shell string), stdin closed, stderr kept as a bounded tail
for error messages, progress parsed from ``-progress pipe:1`` when the caller asks for it.
"""
from __future__ import annotations

import collections
import os
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .errors import FFmpegError, FFmpegNotFound

STDERR_TAIL_LINES = 40


@dataclass(frozen=True)
class RunResult:
    cmd: list[str]
    returncode: int
    stdout: str
    stderr_tail: str
    seconds: float


ProgressCallback = Callable[[dict[str, str]], None]


def run(cmd: Sequence[str], *, what: str = "ffmpeg", path: str | None = None,
        progress: ProgressCallback | None = None, capture_stdout: bool = False,
        timeout: float | None = None, env: dict[str, str] | None = None,
        cwd: str | None = None) -> RunResult:
    """Run ``cmd``; raise :class:`FFmpegError` with the command and stderr tail on failure.

    ``progress`` receives each ``-progress`` block (key=value dict) as FFmpeg writes it; the
    command must then contain ``-progress pipe:1``. ``capture_stdout`` keeps stdout text.
    """
    cmd = [str(c) for c in cmd]
    if not cmd:
        raise ValueError("empty command")
    t0 = time.monotonic()
    try:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, errors="replace", env=env, cwd=cwd,
        )
    except FileNotFoundError as exc:
        raise FFmpegNotFound(f"cannot execute {cmd[0]!r}: {exc.strerror}") from None
    except PermissionError:
        raise FFmpegNotFound(f"{cmd[0]!r} is not executable") from None

    tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)

    def _drain_stderr() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            tail.append(line.rstrip("\n"))

    t = threading.Thread(target=_drain_stderr, daemon=True)
    t.start()
    out_chunks: list[str] = []
    block: dict[str, str] = {}
    assert proc.stdout is not None
    try:
        deadline = None if timeout is None else t0 + timeout
        for line in proc.stdout:
            if capture_stdout:
                out_chunks.append(line)
            if progress is not None:
                key, sep, value = line.strip().partition("=")
                if sep:
                    block[key] = value
                    if key == "progress":
                        progress(block)
                        block = {}
            if deadline is not None and time.monotonic() > deadline:
                proc.kill()
                break
        try:
            rc = proc.wait(timeout=None if deadline is None else max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
    except BaseException:
        # KeyboardInterrupt or a callback error: never leave an orphaned ffmpeg behind.
        proc.kill()
        proc.wait()
        raise
    finally:
        t.join(timeout=5)
    elapsed = time.monotonic() - t0
    stderr_tail = "\n".join(tail)
    if deadline is not None and elapsed > timeout:  # type: ignore[operator]
        raise FFmpegError(f"{what} timed out after {timeout:.0f} s", cmd, rc, stderr_tail, path)
    if rc != 0:
        raise FFmpegError(f"{what} failed", cmd, rc, stderr_tail, path)
    return RunResult(cmd, rc, "".join(out_chunks), stderr_tail, elapsed)


def default_threads() -> int:
    return max(1, os.cpu_count() or 1)
