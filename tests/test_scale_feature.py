"""The model's size feature: how far a rung is scaled down from the source's detail, in octaves."""
import math

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pertitle.ladders import model as M


def test_square_pixels_count_the_height_ratio():
    assert M.log2_scale(1280, 720, 1280, 720) == 0.0
    assert M.log2_scale(640, 360, 1280, 720) == -1.0
    assert math.isclose(M.log2_scale(960, 540, 1920, 1080), -1.0)
    # vertical video: the same on both axes
    assert math.isclose(M.log2_scale(540, 960, 720, 1280), math.log2(0.75))


def test_an_anamorphic_stretch_adds_no_detail():
    # 704x576 shown at 1024x576 (SAR 16:11): the 1024x576 rung holds all the detail there is, and
    # 768x432 is wider than what the source stores, so it loses its height only
    assert M.log2_scale(1024, 576, 704, 576) == 0.0
    assert math.isclose(M.log2_scale(768, 432, 704, 576), 0.5 * math.log2(432 / 576))
    # 640x360: both axes shrink (640 < 704 stored columns; 360 < 576 lines)
    assert math.isclose(M.log2_scale(640, 360, 704, 576),
                        0.5 * (math.log2(640 / 704) + math.log2(360 / 576)))


def test_a_squeeze_counts_the_displayed_width():
    # 512x480 shown at 480x480 (SAR 15:16): the square 480x480 rung is the native size
    assert M.log2_scale(480, 480, 512, 480) == 0.0
    assert math.isclose(M.log2_scale(360, 360, 512, 480), math.log2(0.75))


def test_dataset_rows_and_predicted_rows_agree():
    """Training (the dataset's columns) and prediction (one rung) compute the same value."""
    import pandas as pd

    df = pd.DataFrame({"width": [1024, 768, 416], "height": [576, 432, 234], "ref_width": [704] * 3,
                       "ref_height": [576] * 3, "crf": [22.0] * 3, "f_log_pixels": [12.9] * 3})
    X = M.design(df, ["log_pixels"])
    for i, (w, h) in enumerate(zip(df.width, df.height)):
        assert X["log2_scale"].iloc[i] == M.row_features(w, h, 22.0, 704, 576)["log2_scale"]


@settings(max_examples=300, deadline=None)
@given(rw=st.integers(64, 4096), rh=st.integers(64, 2160), sar=st.floats(0.5, 2.0),
       frac=st.floats(0.1, 1.0), frac2=st.floats(0.1, 1.0))
# found by CI on 2026-12-01: a nearly square frame whose stretch makes the width the short side
@example(rw=64, rh=65, sar=1.0078125, frac=1.0, frac2=1.0)
def test_never_above_native_and_monotone_in_size(rw, rh, sar, frac, frac2):
    # rungs at the display aspect (the stored width times the SAR, over the height)
    aspect = rw * sar / rh
    small, large = sorted([frac, frac2])
    h1, h2 = rh * small, rh * large
    s1 = float(M.log2_scale(aspect * h1, h1, rw, rh))
    s2 = float(M.log2_scale(aspect * h2, h2, rw, rh))
    assert s1 <= s2 + 1e-12 <= 1e-12
    # the native-height rung at the display aspect is the native size (within 1 % of square
    # pixels, the rounding of rung sizes, the short sides' ratio is kept and may be 1 % off)
    tol = 1e-9 if abs(aspect * rh - rw) > 0.0101 * rw else math.log2(1.0102)
    assert abs(float(M.log2_scale(aspect * rh, rh, rw, rh))) <= tol
    # with square pixels it is the height ratio
    if abs(sar - 1) < 1e-9:
        assert np.isclose(s2, math.log2(large))
