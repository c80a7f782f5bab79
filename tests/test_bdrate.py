import pytest
from hypothesis import given
from hypothesis import strategies as st

from pertitle.ladders.bdrate import BDRateError, NoOverlap, bd_rate

# JCTVC-E137 cases (as used by Netflix vmaf's BD-rate tests): two 4-point PSNR curves.
JCTVC_1 = ([(108048.8736, 43.6471), (61279.976, 40.3953), (33905.6656, 37.247), (18883.6928, 34.2911)],
           [(108061.2784, 43.6768), (61299.9936, 40.4232), (33928.7472, 37.2761), (18910.912, 34.3147)],
           -0.465)
JCTVC_2 = ([(40433.8848, 37.5761), (7622.7456, 35.3756), (2394.488, 33.8977), (1017.6184, 32.0603)],
           [(40370.12, 37.5982), (7587.0024, 35.4025), (2390.0944, 33.9194), (1017.0984, 32.0822)],
           -1.878)


@pytest.mark.parametrize("anchor,test,expected", [JCTVC_1, JCTVC_2])
def test_known_answers(anchor, test, expected):
    assert bd_rate(anchor, test) == pytest.approx(expected, abs=0.01)


def test_identical_curves_give_zero():
    a = [(200, 40), (500, 60), (1200, 80), (3000, 92)]
    assert bd_rate(a, a) == pytest.approx(0.0, abs=1e-9)


@given(st.floats(0.3, 3.0))
def test_scaling_rates_gives_that_ratio(k):
    a = [(200, 40), (500, 60), (1200, 80), (3000, 92)]
    b = [(r * k, q) for r, q in a]
    assert bd_rate(a, b) == pytest.approx((k - 1) * 100, rel=1e-6, abs=1e-6)


def test_order_and_dominated_points_do_not_matter():
    a = [(200, 40), (500, 60), (1200, 80), (3000, 92)]
    shuffled = [a[2], a[0], a[3], a[1], (4000, 91)]  # + a dominated point
    assert bd_rate(a, shuffled) == pytest.approx(0.0, abs=1e-9)


def test_no_overlap_raises():
    with pytest.raises(NoOverlap):
        bd_rate([(100, 10), (200, 20)], [(300, 30), (400, 40)])
    with pytest.raises(NoOverlap):
        bd_rate([(100, 10), (200, 20)], [(150, 19.5), (400, 40)], min_overlap=1.0)


def test_too_few_points_raises():
    with pytest.raises(BDRateError):
        bd_rate([(100, 10)], [(100, 10), (200, 20)])


def test_antisymmetry():
    a = [(200, 40), (500, 60), (1200, 80), (3000, 92)]
    b = [(180, 41), (520, 62), (1000, 79), (2600, 93)]
    ab, ba = bd_rate(a, b), bd_rate(b, a)
    # (1 + ab)(1 + ba) == 1 only approximately (different integration ranges are the same here)
    assert (1 + ab / 100) * (1 + ba / 100) == pytest.approx(1.0, abs=0.02)
    assert ab < 0 < ba
