"""Cheap features move the right way on generated clips."""
import math

import pytest

from .conftest import damaged_copy
from pertitle.encoder.features import FEATURE_COLUMNS, area_down, block_energy, extract, immerkaer_sigma, sobel_std


@pytest.fixture(scope="module")
def feats(make_clip):
    size = "480x270"
    clips = {
        "flat": make_clip("f_flat.mp4", size=size, seconds=2, source="color=c=0x406080:size=480x270:rate=24"),
        "still": make_clip("f_still.mp4", size=size, seconds=2, vf="trim=end_frame=1,loop=48:1:0,setpts=N/24/TB"),
        "moving": make_clip("f_moving.mp4", size=size, seconds=2),
        "noisy": make_clip("f_noisy.mp4", size=size, seconds=2, vf="noise=alls=30:allf=t"),
    }
    return {k: extract(v) for k, v in clips.items()}


def test_all_model_columns_present_and_finite(feats):
    for f in feats.values():
        for c in FEATURE_COLUMNS:
            assert c in f and math.isfinite(f[c]), c


def test_noise_raises_spatial_energy_and_noise_estimate(feats):
    assert feats["noisy"]["noise_sigma"] > 3 * feats["moving"]["noise_sigma"] + 1
    assert feats["noisy"]["dct_e"] > feats["moving"]["dct_e"]
    assert feats["noisy"]["probe_lo_crf33_log_bpp"] > feats["moving"]["probe_lo_crf33_log_bpp"]
    assert feats["flat"]["si_mean"] < 1 and feats["flat"]["dct_e"] < feats["moving"]["dct_e"]


def test_motion_raises_temporal_information(feats):
    assert feats["still"]["ti_mean"] < 0.5
    assert feats["moving"]["ti_mean"] > 5 * max(feats["still"]["ti_mean"], 0.1)
    assert feats["moving"]["dct_h"] > feats["still"]["dct_h"]


def test_resolution_sensitivity(feats):
    # a flat picture loses nothing when made smaller; the pattern loses detail
    assert feats["flat"]["down2_psnr"] > 60
    assert feats["moving"]["down4_psnr"] < feats["moving"]["down2_psnr"] < 60


def test_feature_cost_is_bounded(feats):
    for f in feats.values():
        assert f["sampled_frames"] <= 24


def test_numpy_measures():
    import numpy as np

    rng = np.random.default_rng(0)
    flat = np.full((64, 64), 100.0, np.float32)
    noisy = flat + rng.normal(0, 10, flat.shape).astype(np.float32)
    assert sobel_std(flat) == 0.0 and sobel_std(noisy) > 10
    assert immerkaer_sigma(noisy) == pytest.approx(10, rel=0.15)
    assert block_energy(flat).max() == pytest.approx(0.0, abs=1e-4)
    assert area_down(np.arange(16, dtype=np.float32).reshape(4, 4), 2).tolist() == [[2.5, 4.5], [10.5, 12.5]]


def _churn():
    """What a process does beside or before the features: numpy work, a PyAV decode, a thread."""
    import threading

    import numpy as np
    x = np.random.default_rng(7).random((600, 600))
    t = threading.Thread(target=lambda: x @ x)
    t.start()
    _ = x @ x.T
    t.join()


def test_the_in_memory_probes_are_a_function_of_the_frames(make_clip):
    """The same excerpt gives the same features whatever the process did before (x264's AVX-512
    mb-tree code in PyAV's build did not: 14197, 14206, 14238 bytes for the same frames; on this
    clip, 4 different values in 6 runs). Where the CPU has no AVX-512 this passes either way."""
    clip = make_clip("f_det.mp4", seconds=2, source="sierpinski=size=854x480:rate=24:seed=1")
    runs = []
    for _ in range(6):
        _churn()
        f = extract(clip)
        runs.append({k: v for k, v in f.items() if k != "feature_s"})
    assert all(r == runs[0] for r in runs[1:])


def test_x264_cap_only_where_avx512_and_the_whole_avx2_set():
    from pertitle.encoder.features import x264_asm_cap
    avx2 = {"sse4_2", "ssse3", "avx", "avx2", "fma", "bmi1", "bmi2", "abm"}
    assert x264_asm_cap(avx2 | {"avx512f", "avx512bw"}) == "SSE2Fast,AVX2"
    assert x264_asm_cap((avx2 - {"abm"}) | {"lzcnt", "avx512f"}) == "SSE2Fast,AVX2"
    assert x264_asm_cap(avx2) is None                        # no AVX-512: x264 detects
    assert x264_asm_cap((avx2 - {"bmi2"}) | {"avx512f"}) is None   # never a flag the CPU lacks
    assert x264_asm_cap((avx2 - {"abm"}) | {"avx512f"}) is None
    assert x264_asm_cap(set()) is None


@pytest.mark.parametrize("gop", [250, 12])
def test_mpeg_ts_features_equal_its_remux(make_clip, ff, tmp_path, gop):
    """MPEG-TS's seek lands on the keyframe *after* the one asked for (past the end after the
    last one): the features decoded the wrong frames, or none at all (a crash on a TS with one
    keyframe) — with B-frames, whose decoding order puts a keyframe before its timestamp. A TS
    and the same packets in Matroska now give the same picture features (the stream starting at
    100 s, as broadcast captures do), for the whole clip and for an excerpt."""
    import subprocess

    ts = make_clip(f"f_ts{gop}.ts", seconds=2, codec=["-c:v", "libx264", "-preset", "veryfast", "-g", str(gop)],
                   extra_out=["-output_ts_offset", "100"])
    mkv = str(tmp_path / "remux.mkv")
    subprocess.run([ff.path, "-v", "error", "-i", ts, "-c", "copy", mkv], check=True)
    a, b = extract(ts), extract(mkv)
    packets = {"source_bpp", "source_log_bpp", "source_inter_intra_ratio", "feature_s"}  # container overheads
    for k in a:
        if k not in packets:
            assert a[k] == pytest.approx(b[k], rel=1e-9, abs=1e-9), k
    a6, b6 = extract(ts, start_s=0.5, duration_s=1.0), extract(mkv, start_s=0.5, duration_s=1.0)
    assert a6["ti_mean"] == pytest.approx(b6["ti_mean"], rel=1e-9) and a6["si_mean"] == pytest.approx(b6["si_mean"], rel=1e-9)


def test_a_damaged_stream_is_decoded_past_the_damage(make_clip, tmp_path):
    """FFmpeg's command line skips a packet its decoder rejects (the reference and the encodes
    see the frames after it); PyAV's ``container.decode`` raises there, which made the features
    of a damaged file (``predict`` past the damage) an internal error. The probe and the
    features decode as the command line does."""
    import av

    from pertitle.encoder.probe import decode_frames, probe

    src = make_clip("damaged.mp4", size="320x180", seconds=3, codec=["-c:v", "libx264", "-g", "24"])
    rejected = None
    for seed in range(40):            # a damage the decoder rejects (most only corrupt pictures)
        dst = tmp_path / f"damaged-{seed}.mp4"
        damaged_copy(src, dst, seed)
        with av.open(str(dst)) as c:
            try:
                for _ in c.decode(video=0):
                    pass
            except av.error.InvalidDataError:
                rejected = dst
                break
    assert rejected is not None, "no damage the decoder rejects: the test proves nothing"
    with av.open(str(rejected)) as c:
        n = sum(1 for _ in decode_frames(c, c.streams.video[0]))
    assert 40 <= n <= 72     # most of the 72 frames decode; the rejected packets' do not
    s = probe(str(rejected))
    f = extract(str(rejected), s, start_s=1.5, duration_s=1.0)
    assert all(math.isfinite(f[k]) for k in FEATURE_COLUMNS)
