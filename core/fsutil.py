"""Writing outputs safely: checked before any work, replaced atomically, streams left in place.

- :func:`check_output` is called on every output path before the work starts: a directory, a
  path that is too long, an unwritable place, a block device or socket, or the input itself is a
  one-line :class:`OutputError` and nothing is computed.
- A regular file (or the target of a symlink, which is followed) is replaced atomically: written
  beside it and renamed over it, keeping its permission bits (a new file gets 0666 minus the
  umask). A reader, or a killed run, never sees half a file.
- ``-`` (stdout), a FIFO or a character device (``/dev/null``) is written as a stream: opened and
  written, never replaced by a regular file.
- The temporary file (``.pertitle-tmp-*``) is locked (``flock``) while it is written. A process
  killed outright in that moment cannot remove it; the first write of a later process into that
  folder removes such files that are its user's, unlocked and older than a minute
  (:func:`remove_stale_temps`; the rule of :mod:`pertitle.core.workdirs`).
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import OutputError
from .workdirs import abandoned, first_sweep

NAME_MAX = 255
# Text outputs are UTF-8; a file name that is not (its bytes carried as surrogates, as Python reads
# such names) is written with the bytes it could not encode as backslash escapes, never a crash.
TEXT = {"encoding": "utf-8", "newline": "", "errors": "backslashreplace"}
PATH_MAX = 4096


def _read_umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


_UMASK = _read_umask()  # read once: os.umask is process-wide and the sweep writes from threads


@dataclass(frozen=True)
class Output:
    path: str        # as given
    kind: str        # "file" (replaced atomically), "stream" (FIFO / character device), "stdout"
    target: str      # where the bytes go: the path with symlinks resolved ("-" for stdout)

    @property
    def is_stream(self) -> bool:
        return self.kind != "file"


def _nearest_existing(path: str) -> str:
    p = path
    while not os.path.lexists(p):
        parent = os.path.dirname(p)
        if parent == p:
            break
        p = parent
    return p


def check_output(path: str, *, inputs: Iterable[str] = (), what: str = "output",
                 allow_stdout: bool = True) -> Output:
    """Where ``path`` would be written, or a one-line :class:`OutputError` explaining why not."""
    if path == "-":
        if not allow_stdout:
            raise OutputError(f"the {what} cannot be stdout here")
        return Output(path, "stdout", "-")
    if not path:
        raise OutputError(f"empty {what} path")
    if "\0" in path:
        raise OutputError(f"the {what} path contains a NUL byte")
    absolute = os.path.abspath(path)
    if (len(os.fsencode(absolute)) >= PATH_MAX
            or any(len(os.fsencode(part)) > NAME_MAX for part in absolute.split(os.sep))):
        raise OutputError(f"the {what} path is too long", path)
    if path.endswith(os.sep) or (os.altsep and path.endswith(os.altsep)):
        raise OutputError(f"the {what} must be a file, not a folder", path)
    target = os.path.realpath(absolute)
    for i in inputs:
        try:
            if os.path.exists(i) and os.path.samefile(i, target):
                raise OutputError(f"the {what} would overwrite the input", path)
        except OSError:
            pass
    try:
        st = os.stat(target)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise OutputError(f"cannot use it as the {what}: {exc.strerror}", path) from None
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise OutputError(f"is a directory (give a file name for the {what})", path)
        if stat.S_ISFIFO(st.st_mode) or stat.S_ISCHR(st.st_mode):
            if not os.access(target, os.W_OK):
                raise OutputError(f"cannot write the {what} (permission denied)", path)
            return Output(path, "stream", target)
        if not stat.S_ISREG(st.st_mode):
            raise OutputError(f"not a regular file, FIFO or character device: will not write the {what} there",
                              path)
        if not os.access(target, os.W_OK):
            raise OutputError(f"exists and is not writable: will not replace the {what}", path)
    parent = os.path.dirname(target)
    anchor = _nearest_existing(parent)
    if not os.path.isdir(anchor):
        raise OutputError(f"cannot create the {what}: {anchor} is not a folder", path)
    if not os.access(anchor, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write the {what}: folder {anchor} is not writable", path)
    _try_writing(anchor, what, path)
    return Output(path, "file", target)


def _try_writing(folder: str, what: str, path: str) -> None:
    """Create and remove at once a temporary file in ``folder``, as the writer will: for root,
    :func:`os.access` says yes to every folder, while a pseudo file system (``/proc``), a
    root-squashed NFS share or an immutable folder refuse the write only when it is tried, which
    would otherwise happen after the whole analysis."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix="-check", dir=folder)
    except OSError as exc:
        raise OutputError(f"cannot write the {what}: no file can be created in {folder} ({exc.strerror})",
                          path) from None
    os.close(fd)
    _unlink(tmp)


def no_link_below(folder: str, path: str, *, what: str = "output") -> None:
    """A one-line :class:`OutputError` if ``path``, or a folder between ``folder`` and it, is a
    symbolic link: for outputs whose names a command derives inside a folder it was given (a
    batch's per-title files and packages), where a link planted there would carry the write to a
    file nobody named. ``folder`` itself may be a link (it was named)."""
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(folder))
    if rel == os.curdir or rel.startswith(os.pardir + os.sep) or rel == os.pardir:
        return
    here = os.path.abspath(folder)
    for part in rel.split(os.sep):
        here = os.path.join(here, part)
        if os.path.islink(here):
            where = ("is a symbolic link" if here == os.path.abspath(path) else
                     f"would be written through a symbolic link ({os.path.relpath(here, folder)})")
            raise OutputError(f"the {what} {where}: only real files and folders are written inside the "
                              "output folder; remove the link", path)


def check_folder(path: str, *, what: str = "output folder") -> str:
    """A folder we may create files in (made if missing); a one-line error otherwise."""
    if not path or "\0" in path:
        raise OutputError(f"invalid {what} path")
    absolute = os.path.abspath(path)
    if len(os.fsencode(absolute)) >= PATH_MAX - NAME_MAX:
        raise OutputError(f"the {what} path is too long", path)
    if os.path.exists(absolute) and not os.path.isdir(absolute):
        raise OutputError(f"the {what} exists and is not a folder", path)
    anchor = _nearest_existing(absolute)
    if not os.path.isdir(anchor) or not os.access(anchor, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write in the {what} ({anchor} is not a writable folder)", path)
    try:
        os.makedirs(absolute, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the {what}: {exc.strerror}", path) from None
    _try_writing(absolute, what, path)
    return absolute


def _mode_for(path: str) -> int:
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return 0o666 & ~_UMASK


TEMP_PREFIX = ".pertitle-tmp-"


def remove_stale_temps(directory: str, now: float | None = None) -> list[str]:
    """Remove the temporary files beside outputs in ``directory`` that a killed writer left: named
    ``TEMP_PREFIX*``, regular files of this user, older than :data:`pertitle.core.workdirs.STALE_AFTER_S`,
    and unlocked (a writer holds its lock until it has written; :func:`pertitle.core.workdirs.abandoned`).
    Returns them."""
    now = time.time() if now is None else now
    removed = []
    try:
        names = sorted(n for n in os.listdir(directory) if n.startswith(TEMP_PREFIX))
    except OSError:
        return removed
    for name in names:
        path = os.path.join(directory, name)
        fd = abandoned(path, now)
        if fd is None:
            continue
        try:
            os.unlink(path)
            removed.append(path)
        except OSError:
            pass
        finally:
            os.close(fd)
    return removed


def _temp_beside(path: str, mode: str, writer: Callable[[Any], None]) -> str:
    directory = os.path.dirname(os.path.abspath(path)) or "."
    os.makedirs(directory, exist_ok=True)
    if first_sweep("temps", directory):
        remove_stale_temps(directory)
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix="-" + os.path.basename(path)[:40], dir=directory)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)      # until written: not stale to a sweeping process
            os.fchmod(fd, _mode_for(path))
            fh = os.fdopen(fd, mode, **({} if "b" in mode else TEXT))
        except BaseException:
            os.close(fd)
            raise
        with fh:                                # closing it drops the lock
            writer(fh)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        _unlink(tmp)
        raise
    return tmp


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def atomic_write(path: str, writer: Callable[[Any], None], mode: str = "w") -> None:
    """Call ``writer(fh)`` on a temporary file beside ``path``, then rename it into place. The
    file keeps the permission bits of the file it replaces (a new one: 0666 minus the umask)."""
    tmp = _temp_beside(path, mode, writer)
    try:
        os.replace(tmp, path)
    except BaseException:
        _unlink(tmp)
        raise


def atomic_write_text(path: str, text: str) -> None:
    atomic_write(path, lambda fh: fh.write(text))


def atomic_write_json(path: str, obj: Any) -> None:
    atomic_write_text(path, to_json(obj))


def to_json(obj: Any) -> str:
    """Strict JSON: a non-finite number (which JSON cannot hold) is written as null."""
    return json.dumps(finite(obj), indent=2, sort_keys=False, default=_default, allow_nan=False) + "\n"


def finite(obj: Any) -> Any:
    """``obj`` with every NaN/infinite float (numpy included) replaced by None."""
    import math

    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if type(obj).__module__ == "numpy" and hasattr(obj, "item") and getattr(obj, "ndim", 1) == 0:
        return finite(obj.item())
    return obj


def write_outputs(items: Sequence[tuple[Output, Callable[[Any], None]]], mode: str = "w") -> None:
    """Write several outputs as one: every file is first written beside its target, then all are
    renamed into place; if any write fails, none of the files is touched. Streams come last."""
    temps: list[tuple[str, str]] = []
    try:
        for out, writer in items:
            if out.kind == "file":
                try:
                    temps.append((_temp_beside(out.target, mode, writer), out.target))
                except OSError as exc:
                    raise OutputError(f"cannot write: {exc.strerror}", out.path) from None
        for tmp, target in temps:
            os.replace(tmp, target)
        temps = []
    finally:
        for tmp, _ in temps:
            _unlink(tmp)
    for out, writer in items:
        if out.kind == "stdout":
            writer(sys.stdout.buffer if "b" in mode else sys.stdout)
            (sys.stdout.buffer if "b" in mode else sys.stdout).flush()
        elif out.kind == "stream":
            try:
                with open(out.target, mode, **({} if "b" in mode else TEXT)) as fh:
                    writer(fh)
            except OSError as exc:
                raise OutputError(f"cannot write: {exc.strerror}", out.path) from None


def write_output(out: Output, writer: Callable[[Any], None], mode: str = "w") -> None:
    write_outputs([(out, writer)], mode)


def _default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula (``=...``, ``+...``, ``-...``, ``@...``)
    gets a leading apostrophe; numbers and other text pass unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_LEADS):
        return "'" + value
    return value


def file_sha256(path: str) -> str:
    """The SHA-256 of a file's bytes, read in 1-MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
