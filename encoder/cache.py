"""Content-addressed cache of measured RD points.

A key hashes everything that can change a result: the pipeline version, the source's content
(SHA-256, not its path), how the reference was made, the encode settings, the measurement
settings and the FFmpeg version. A rerun, a resumed batch or a dataset build that shares
encodes with an earlier analysis costs nothing; a version bump invalidates everything.

An entry is ``{"format", "key", "sha256", "value"}``: it names the key it answers and carries
the SHA-256 of its value, and the caller may check the value's plausibility too. An entry that
does not parse, answers another key, fails its checksum or its check is a miss (measured again,
one warning), never trusted and never fatal. A cache folder that cannot be created or written
means one warning and an uncached run. The checksum catches damage and mix-ups, not a forger
with write access to the folder: the default folder is created private (0700).
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
import warnings
from collections.abc import Callable
from typing import Any

from ..core.errors import CacheWarning
from ..core.fsutil import atomic_write_json

PIPELINE_VERSION = 2   # 2: entries carry their key and a checksum
ENTRY_FORMAT = 1
ENV_VAR = "PERTITLE_CACHE"
MAX_ENTRY_BYTES = 1 << 20

_fp_lock = threading.Lock()
_fp_memo: dict[tuple[str, int, int], str] = {}


def default_root() -> str:
    env = os.environ.get(ENV_VAR)
    if env:
        return env
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "pertitle")


def fingerprint(path: str) -> str:
    """SHA-256 of the file's bytes (memoised on path, size and mtime)."""
    st = os.stat(path)
    memo_key = (os.path.abspath(path), st.st_size, st.st_mtime_ns)
    with _fp_lock:
        if memo_key in _fp_memo:
            return _fp_memo[memo_key]
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    digest = h.hexdigest()
    with _fp_lock:
        _fp_memo[memo_key] = digest
    return digest


def make_key(**parts: Any) -> str:
    blob = json.dumps({"pipeline": PIPELINE_VERSION, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def value_sha256(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, allow_nan=False).encode()).hexdigest()


class Cache:
    """One JSON file per key under ``root/points/ab/abcdef....json``. ``root=None``: disabled."""

    def __init__(self, root: str | None):
        self.root = root
        self._warned: set[str] = set()
        self._lock = threading.Lock()

    @classmethod
    def open(cls, root: str | None) -> Cache:
        """A cache at ``root``, created private if missing; disabled (one warning) if that fails."""
        cache = cls(root)
        if root is None:
            return cache
        try:
            os.makedirs(os.path.join(root, "points"), mode=0o700, exist_ok=True)
            if not os.access(os.path.join(root, "points"), os.W_OK | os.X_OK):
                raise PermissionError(13, "Permission denied")
        except OSError as exc:
            cache._warn("unwritable", f"cache folder {root} cannot be used ({exc.strerror}): "
                                      "running without a cache")
            cache.root = None
        return cache

    @property
    def enabled(self) -> bool:
        return self.root is not None

    def _path(self, key: str) -> str:
        assert self.root is not None
        return os.path.join(self.root, "points", key[:2], key + ".json")

    def _warn(self, kind: str, message: str) -> None:
        with self._lock:
            if kind in self._warned:
                return
            self._warned.add(kind)
        warnings.warn(message, CacheWarning, stacklevel=3)

    def get(self, key: str, check: Callable[[dict], bool | str] | None = None) -> dict | None:
        """The value stored under ``key``, or None (absent, unreadable, mismatching, implausible).
        ``check(value)`` is False for a damaged value, or a string saying why an intact value does
        not answer this question any more (a stale entry); True or "" keeps it."""
        root = self.root
        if not root:
            return None
        path = self._path(key)
        try:
            if os.path.getsize(path) > MAX_ENTRY_BYTES:
                raise ValueError("too large")
            with open(path, encoding="utf-8") as fh:
                entry = json.load(fh, parse_constant=_reject_constant)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, UnicodeDecodeError, RecursionError) as exc:
            self._bad(path, f"unreadable ({type(exc).__name__})")
            return None
        if (not isinstance(entry, dict) or entry.get("format") != ENTRY_FORMAT
                or not isinstance(entry.get("value"), dict)):
            self._bad(path, "malformed")
            return None
        if entry.get("key") != key:
            self._bad(path, "answers another key")
            return None
        value = entry["value"]
        try:
            ok = entry.get("sha256") == value_sha256(value)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            self._bad(path, "checksum mismatch")
            return None
        verdict = check(value) if check is not None else True
        if isinstance(verdict, str) and verdict:
            self._warn("stale-entry", f"ignoring a stale cache entry ({verdict}: {path}); measuring again")
            return None
        if verdict is False:
            self._bad(path, "implausible values")
            return None
        return value

    def _bad(self, path: str, why: str) -> None:
        self._warn("bad-entry", f"ignoring a damaged cache entry ({why}: {path}); measuring again")

    def put(self, key: str, value: dict) -> None:
        root = self.root
        if not root:
            return
        try:
            atomic_write_json(self._path(key), {"format": ENTRY_FORMAT, "key": key,
                                                "sha256": value_sha256(value), "value": value})
        except OSError as exc:
            self._warn("unwritable", f"cannot write to the cache folder {root} ({exc.strerror}): "
                                     "continuing without a cache")
            self.root = None
        except (TypeError, ValueError):
            pass  # a value JSON cannot hold (NaN): simply not cached


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")
