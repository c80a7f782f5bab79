"""Scratch directories of killed processes are removed by the next run; nothing else is touched."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pertitle.core import workdirs as W

HOLDER = """
import os, signal, sys
from pertitle.core.workdirs import make_workdir
d = make_workdir("pertitle-", sys.argv[1])
open(os.path.join(d, "ref.y4m"), "w").write("frames")
print(d, flush=True)
if sys.argv[2] == "die":
    os.kill(os.getpid(), signal.SIGKILL)
sys.stdin.read()        # alive until told
"""


def holder(parent: Path, how: str) -> tuple[subprocess.Popen, Path]:
    p = subprocess.Popen([sys.executable, "-c", HOLDER, str(parent), how], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    return p, Path(p.stdout.readline().strip())


def later() -> float:
    return time.time() + W.STALE_AFTER_S + 5


def test_a_killed_processs_scratch_directory_is_removed_once_its_lock_is_old(tmp_path):
    p, d = holder(tmp_path, "die")
    p.wait(timeout=30)
    assert p.returncode == -signal.SIGKILL
    assert (d / "ref.y4m").exists()                      # what SIGKILL leaves behind
    assert W.remove_stale(str(tmp_path)) == []           # just made: it may still be being locked
    assert W.remove_stale(str(tmp_path), now=later()) == [str(d)]
    assert not d.exists()


def test_a_live_processs_scratch_directory_is_kept_until_it_dies(tmp_path):
    p, d = holder(tmp_path, "live")
    try:
        assert W.remove_stale(str(tmp_path), now=later()) == []
        assert (d / "ref.y4m").exists()
    finally:
        p.stdin.close()
        p.wait(timeout=30)
    # it exited without removing its directory (as a killed one would): now it is stale
    assert W.remove_stale(str(tmp_path), now=later()) == [str(d)]


def test_this_processs_own_directories_are_kept_and_removed_when_done(tmp_path):
    d = W.make_workdir("pertitle-ref-", str(tmp_path))
    assert os.path.basename(d).startswith("pertitle-ref-") and os.path.dirname(d) == str(tmp_path)
    assert W.remove_stale(str(tmp_path), now=later()) == []   # a second lock by this process is refused
    assert os.path.isdir(d)
    W.remove_workdir(d)
    assert not os.path.exists(d) and list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError):
        W.make_workdir("scratch-", str(tmp_path))


def test_the_first_scratch_directory_in_a_folder_sweeps_it_once(tmp_path, monkeypatch):
    p, d = holder(tmp_path, "die")
    p.wait(timeout=30)
    old = time.time() - W.STALE_AFTER_S - 5
    os.utime(d / W.LOCK, (old, old))
    monkeypatch.setattr(W, "_swept", set())
    mine = W.make_workdir("pertitle-", str(tmp_path))
    try:
        assert not d.exists() and os.path.isdir(mine)
    finally:
        W.remove_workdir(mine)


def test_anything_that_is_not_a_stale_scratch_directory_of_ours_is_left_alone(tmp_path):
    old = time.time() - 3600
    keep = []
    no_lock = tmp_path / "pertitle-nolock"                # an older version's, or someone else's
    no_lock.mkdir()
    keep.append(no_lock)
    other = tmp_path / "other-dir"                        # not our prefix, though stale and unlocked
    other.mkdir()
    (other / W.LOCK).write_text("")
    keep.append(other)
    target = tmp_path / "target"                          # a symlink named like ours, to a stale one
    target.mkdir()
    (target / W.LOCK).write_text("")
    link = tmp_path / "pertitle-link"
    link.symlink_to(target)
    keep += [target, link]
    plain = tmp_path / "pertitle-file"                    # a file named like ours
    plain.write_text("x")
    keep.append(plain)
    lock_link = tmp_path / "pertitle-locklink"            # its lock is a symlink
    lock_link.mkdir()
    (lock_link / W.LOCK).symlink_to(target / W.LOCK)
    keep.append(lock_link)
    for f in [other / W.LOCK, target / W.LOCK]:
        os.utime(f, (old, old))
    stale = tmp_path / "pertitle-stale"
    stale.mkdir()
    (stale / W.LOCK).write_text("")
    os.utime(stale / W.LOCK, (old, old))
    assert W.remove_stale(str(tmp_path)) == [str(stale)]
    assert all(os.path.lexists(k) for k in keep)
    assert W.remove_stale(str(tmp_path / "missing")) == []


def test_a_killed_encodes_half_made_rendition_is_removed_like_a_scratch_directory(tmp_path):
    """``pertitle encode`` makes each rendition in a locked ``.tmp-<folder>-*`` directory of the
    package folder: a 2-pass encode killed outright leaves its media there."""
    p = subprocess.Popen([sys.executable, "-c", HOLDER.replace('"pertitle-"', '".tmp-v0-"'), str(tmp_path), "die"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    d = Path(p.stdout.readline().strip())
    p.wait(timeout=30)
    assert d.name.startswith(".tmp-v0-") and (d / "ref.y4m").exists()
    stranger = tmp_path / ".tmp-notes"                    # named alike, no lock file: not ours
    stranger.mkdir()
    assert W.remove_stale(str(tmp_path), now=later()) == [str(d)]
    assert stranger.is_dir()
