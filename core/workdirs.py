"""Scratch directories that do not outlive a killed process.

A sweep decodes its reference (raw frames: gigabytes for a long title) and writes its encodes into a
scratch directory under the temp folder (or ``--workdir``), removed when the sweep ends, fails or is
stopped by a signal. A process killed outright (SIGKILL, the kernel's OOM killer, a Dask nanny
killing a worker that kept running) cannot remove it.

So each scratch directory holds a lock file, locked (``flock``) by the process that made it for as
long as it uses it; the kernel drops the lock when that process dies, however it dies. Before a
process makes its first scratch directory in a folder, it removes the ``pertitle-*`` directories
there that are its user's, whose lock it can take (their owner is gone) and whose lock file is
older than :data:`STALE_AFTER_S` (a directory is made, then locked a moment later). Directories
without a lock file (made by an older version, or by something else) and anything that is not a
plain directory of ours are left alone.

The same holds for the renditions ``pertitle encode`` is making (``.tmp-v0-*`` in the package
folder: a 2-pass encode killed after minutes leaves its media there), which the next encode into
that folder (a resume) removes. :mod:`pertitle.core.fsutil` locks the temporary file beside an
output the same way while it writes it.
"""
from __future__ import annotations

import fcntl
import os
import shutil
import stat
import tempfile
import threading
import time

PREFIX = "pertitle-"
KINDS = (PREFIX, ".tmp-")   # scratch directories; a package's renditions being made
LOCK = ".pertitle-lock"
STALE_AFTER_S = 60.0

_held: dict[str, int] = {}        # scratch directory -> the locked file descriptor
_swept: set[tuple[str, str]] = set()   # (what, folder) already swept by this process
_mutex = threading.Lock()


def first_sweep(what: str, folder: str) -> bool:
    """True the first time this process asks to sweep ``folder`` for ``what`` (leftovers are
    looked for once per process and folder: a listing, not one per file made)."""
    key = (what, os.path.abspath(folder))
    with _mutex:
        first = key not in _swept
        _swept.add(key)
    return first


def make_workdir(prefix: str = PREFIX, parent: str | None = None) -> str:
    """A new scratch directory (``prefix`` must start with one of :data:`KINDS`), locked while in
    use; the first call for a parent folder first removes the stale ones there (:func:`remove_stale`)."""
    if not prefix.startswith(KINDS):
        raise ValueError(f"scratch directories are named {'* or '.join(KINDS)}*")
    root = os.path.abspath(parent or tempfile.gettempdir())
    if first_sweep("scratch", root):
        remove_stale(root)
    path = tempfile.mkdtemp(prefix=prefix, dir=parent)
    fd = None
    try:
        fd = os.open(os.path.join(path, LOCK), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError:
        if fd is not None:
            os.close(fd)
        shutil.rmtree(path, ignore_errors=True)
        raise
    with _mutex:
        _held[path] = fd
    return path


def remove_workdir(path: str | None) -> None:
    """Delete a scratch directory made by :func:`make_workdir` and release its lock."""
    if not path:
        return
    shutil.rmtree(path, ignore_errors=True)
    with _mutex:
        fd = _held.pop(path, None)
    if fd is not None:
        os.close(fd)


def abandoned(lock: str, now: float) -> int | None:
    """A descriptor holding the lock of the file ``lock`` if it is a regular file of this user,
    older than :data:`STALE_AFTER_S`, whose lock nobody holds (its owner died); else None."""
    try:
        st = os.lstat(lock)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid() or now - st.st_mtime < STALE_AFTER_S:
            return None
        fd = os.open(lock, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)        # its owner is alive (this process included: a second lock is refused)
        return None
    return fd


def remove_stale(root: str, now: float | None = None) -> list[str]:
    """Remove the scratch directories in ``root`` left by processes that died; returns them."""
    now = time.time() if now is None else now
    removed = []
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return removed
    for name in names:
        if not name.startswith(KINDS):
            continue
        path = os.path.join(root, name)
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
            continue
        fd = abandoned(os.path.join(path, LOCK), now)
        if fd is None:
            continue
        try:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
        finally:
            os.close(fd)
    return removed
