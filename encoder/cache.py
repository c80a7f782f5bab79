"""Content-addressed cache of measured RD points.

A key hashes everything that can change a result: the pipeline version, the source's content
(SHA-256, not its path), how the reference was made, the encode settings, the measurement
settings and the FFmpeg version. A rerun, a resumed batch or a dataset build that shares
encodes with an earlier analysis costs nothing; a version bump invalidates everything.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
from typing import Any

from ..core.fsutil import atomic_write_json

PIPELINE_VERSION = 1
ENV_VAR = "PERTITLE_CACHE"

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


class Cache:
    """One JSON file per key under ``root/points/ab/abcdef....json``. ``root=None``: disabled."""

    def __init__(self, root: str | None):
        self.root = root

    @property
    def enabled(self) -> bool:
        return self.root is not None

    def _path(self, key: str) -> str:
        assert self.root is not None
        return os.path.join(self.root, "points", key[:2], key + ".json")

    def get(self, key: str) -> dict | None:
        if not self.root:
            return None
        try:
            with open(self._path(key), encoding="utf-8") as fh:
                return json.load(fh)
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def put(self, key: str, value: dict) -> None:
        if self.root:
            atomic_write_json(self._path(key), value)
