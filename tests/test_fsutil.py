"""Atomic writes: all or nothing, and ordinary permissions."""
import os
import stat

import pytest

from pertitle.core import fsutil


def test_atomic_write_replaces_whole_file_with_umask_permissions(tmp_path):
    p = tmp_path / "out.json"
    fsutil.atomic_write_json(str(p), {"a": 1})
    assert p.read_text() == '{\n  "a": 1\n}\n'
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o666 & ~fsutil._UMASK


def test_failed_write_leaves_old_file_and_no_temporaries(tmp_path):
    p = tmp_path / "out.txt"
    fsutil.atomic_write_text(str(p), "old")

    def boom(fh):
        fh.write("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        fsutil.atomic_write(str(p), boom)
    assert p.read_text() == "old" and os.listdir(tmp_path) == ["out.txt"]
