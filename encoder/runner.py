"""The one place that runs subprocesses.

Always an argument list (never a shell string), stdin closed, stderr kept as a bounded tail for
error messages. Every live child is registered, so that a termination signal can stop them all
(:func:`stop_all`): after it, no new process starts.
"""
from __future__ import annotations

import collections
import subprocess
import threading
from collections.abc import Callable, Sequence

from ..core.errors import FFmpegError, FFmpegNotFound, Stopped

STDERR_TAIL_LINES = 40

_lock = threading.Lock()
_live: set[subprocess.Popen] = set()
_stopping = False


def stop_all() -> None:
    """Kill every running child and refuse to start new ones (a signal is ending the process)."""
    global _stopping
    with _lock:
        _stopping = True
        procs = list(_live)
    for p in procs:
        try:
            p.kill()
        except OSError:
            pass


def _start(cmd: list[str], cwd: str | None) -> subprocess.Popen:
    with _lock:
        if _stopping:
            raise Stopped("stopping: no new process")
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, text=True, errors="replace", cwd=cwd)
        except FileNotFoundError as exc:
            raise FFmpegNotFound(f"cannot execute {cmd[0]!r}: {exc.strerror}") from None
        except PermissionError:
            raise FFmpegNotFound(f"{cmd[0]!r} is not executable") from None
        _live.add(proc)
        return proc


def run(cmd: Sequence[str], *, what: str = "ffmpeg", path: str | None = None,
        cwd: str | None = None, on_line: Callable[[str], None] | None = None) -> None:
    """Run ``cmd`` to completion; raise :class:`FFmpegError` with the command and the stderr
    tail when it fails (or :class:`Stopped` when it was killed by :func:`stop_all`).
    ``on_line`` sees every line of its stderr (the tail kept for errors is only the last ones)."""
    cmd = [str(c) for c in cmd]
    if not cmd:
        raise ValueError("empty command")
    proc = _start(cmd, cwd)
    tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            line = line.rstrip("\n")
            tail.append(line)
            if on_line is not None:
                on_line(line)
        rc = proc.wait()
    except BaseException:
        # KeyboardInterrupt or any error here: never leave an orphaned ffmpeg behind.
        proc.kill()
        proc.wait()
        raise
    finally:
        with _lock:
            _live.discard(proc)
    if rc != 0:
        if _stopping:
            raise Stopped(f"{what} stopped")
        raise FFmpegError(f"{what} failed", cmd, rc, "\n".join(tail), path)
