import hashlib

import pytest

from pertitle.encoder.probe import probe
from pertitle.samples.generate import KINDS, command, generate


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_generates_a_valid_clip(ff, tmp_path, kind):
    out = generate(ff.path, str(tmp_path / f"{kind}.mp4"), kind=kind, width=320, height=180, rate=12, seconds=1)
    s = probe(out)
    assert (s.width, s.height) == (320, 180) and s.frames == 12


def test_generation_is_deterministic(ff, tmp_path):
    digests = set()
    for i in range(2):
        out = generate(ff.path, str(tmp_path / f"d{i}.mp4"), kind="demo", width=320, height=180, seconds=1)
        digests.add(hashlib.sha256(open(out, "rb").read()).hexdigest())
    assert len(digests) == 1


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown sample kind"):
        command("ffmpeg", "x.mp4", kind="nope")
    with pytest.raises(ValueError, match="even"):
        command("ffmpeg", "x.mp4", width=321)
