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


# ------------------------------------------------------------------------------------------
# A writer killed outright leaves its temporary file; the next process's first write removes it
# ------------------------------------------------------------------------------------------

WRITER = """
import os, signal, sys
from pertitle.core.fsutil import atomic_write
def writer(fh):
    fh.write("half")
    fh.flush()
    print("writing", flush=True)
    if sys.argv[2] == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    sys.stdin.read()            # alive, still writing, until told
atomic_write(sys.argv[1], writer)
"""


def _writer(target, how):
    import subprocess
    import sys

    p = subprocess.Popen([sys.executable, "-c", WRITER, str(target), how], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "writing"
    return p


def _age(path, seconds=3600):
    import time

    old = time.time() - seconds
    os.utime(path, (old, old), follow_symlinks=False)


def test_a_killed_writers_temporary_file_is_removed_by_the_next_write_there(tmp_path, monkeypatch):
    import signal

    p = _writer(tmp_path / "ladder.json", "die")
    p.wait(timeout=30)
    assert p.returncode == -signal.SIGKILL
    left = list(tmp_path.glob(fsutil.TEMP_PREFIX + "*"))
    assert len(left) == 1 and left[0].read_text() == "half" and not (tmp_path / "ladder.json").exists()
    assert fsutil.remove_stale_temps(str(tmp_path)) == []         # a minute old at least
    _age(left[0])
    from pertitle.core import workdirs

    monkeypatch.setattr(workdirs, "_swept", set())                 # a new process
    fsutil.atomic_write_text(str(tmp_path / "other.json"), "{}")
    assert sorted(f.name for f in tmp_path.iterdir()) == ["other.json"]


def test_a_live_writers_temporary_file_and_anything_not_ours_is_left_alone(tmp_path):
    p = _writer(tmp_path / "ladder.json", "live")
    try:
        live = list(tmp_path.glob(fsutil.TEMP_PREFIX + "*"))
        _age(live[0])                                              # old, but locked by its writer
        keep = [tmp_path / ".tmp-abcdefgh-notes.json", tmp_path / "pertitle-tmp-x"]   # other names
        for k in keep:
            k.write_text("user's")
        sub = tmp_path / (fsutil.TEMP_PREFIX + "dir")              # a directory named like ours
        sub.mkdir()
        link = tmp_path / (fsutil.TEMP_PREFIX + "link")            # a symlink named like ours
        link.symlink_to(keep[0])
        keep += live + [sub, link]
        for k in keep:
            _age(k)
        assert fsutil.remove_stale_temps(str(tmp_path)) == []
        assert all(os.path.lexists(k) for k in keep)
    finally:
        p.stdin.close()
        p.wait(timeout=30)
    assert (tmp_path / "ladder.json").read_text() == "half"        # it finished its write
    assert fsutil.remove_stale_temps(str(tmp_path / "missing")) == []


# ------------------------------------------------------------------------------------------
# Output checks try the write (root passes os.access everywhere)
# ------------------------------------------------------------------------------------------


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc")
def test_a_folder_that_refuses_new_files_is_refused_by_the_check():
    # /proc says yes to os.access for root but creates no file: the check must try
    with pytest.raises(fsutil.OutputError, match="/proc"):
        fsutil.check_output("/proc/pertitle-check.json", what="ladder")
    with pytest.raises(fsutil.OutputError, match="/proc"):
        fsutil.check_folder("/proc", what="output folder")


def test_the_checks_leave_the_folder_as_they_found_it(tmp_path):
    (tmp_path / "keep.txt").write_text("x")
    out = fsutil.check_output(str(tmp_path / "sub" / "a.json"), what="ladder")
    assert out.kind == "file" and sorted(os.listdir(tmp_path)) == ["keep.txt"]
    assert fsutil.check_folder(str(tmp_path / "out")) == str(tmp_path / "out")
    assert sorted(os.listdir(tmp_path)) == ["keep.txt", "out"] and os.listdir(tmp_path / "out") == []


def test_no_link_below_the_named_folder(tmp_path):
    from pertitle.core.errors import OutputError

    out = tmp_path / "out"
    (out / "real").mkdir(parents=True)
    (tmp_path / "else").mkdir()
    (out / "via").symlink_to(tmp_path / "else", target_is_directory=True)
    (out / "f.json").symlink_to(tmp_path / "x.json")
    named = tmp_path / "named"
    named.symlink_to(out, target_is_directory=True)      # the folder itself was named: it may be a link
    for folder, path in ((out, out / "real" / "a.json"), (out, out / "new" / "b.json"), (out, out),
                         (named, named / "real" / "a.json")):
        fsutil.no_link_below(str(folder), str(path))
    for folder, path, says in ((out, out / "f.json", "the ladder is a symbolic link"),
                               (out, out / "via" / "a.json", "through a symbolic link (via)"),
                               (named, named / "via" / "deeper" / "a.json", "through a symbolic link (via)")):
        with pytest.raises(OutputError) as e:
            fsutil.no_link_below(str(folder), str(path), what="ladder")
        assert says in str(e.value) and e.value.exit_code == 34
