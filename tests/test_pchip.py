"""The NumPy PCHIP (ladders/pchip.py) and the matrix DCT of the features, against SciPy's
(the library they replace on the command line's path) and against their defining properties."""
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy.fft import dctn
from scipy.interpolate import PchipInterpolator

from pertitle.encoder.features import block_energy, dct_matrix
from pertitle.ladders.pchip import Pchip

finite = st.floats(-50, 50, allow_nan=False, allow_infinity=False)


@st.composite
def knots(draw, min_size=2, max_size=9, monotone=False):
    gaps = draw(st.lists(st.floats(0.01, 5), min_size=min_size, max_size=max_size))
    x = np.cumsum(gaps) + draw(finite)
    y = np.array(draw(st.lists(finite, min_size=len(x), max_size=len(x))))
    if monotone:
        y = np.sort(y)
    return x, y


@settings(max_examples=400, deadline=None)
@given(knots(), st.lists(st.floats(0, 1), min_size=1, max_size=20), st.floats(0, 1), st.floats(0, 1))
# x[0] + 1.0 * span rounds past x[-1]: both give NaN there (outside the knots), as they must agree
@example((np.array([-6.338778151089829, -3.1693100203674063, -1.2609929136336095, 2.3682238373668234,
                   5.641015232598111]), np.zeros(5)), [1.0], 0.0, 1.0)
def test_values_and_integrals_equal_scipys(xy, where, a, b):
    """Equal values, NaN in the same places (a point that rounds outside the knots)."""
    x, y = xy
    ours, ref = Pchip(x, y), PchipInterpolator(x, y, extrapolate=False)
    span = x[-1] - x[0]
    v = np.concatenate([x, x[0] + np.array(where) * span])
    assert np.allclose(ours(v), ref(v), rtol=1e-11, atol=1e-11 * (1 + np.abs(y).max()), equal_nan=True)
    lo, hi = x[0] + a * span, x[0] + b * span
    assert ours.integrate(lo, hi) == pytest.approx(float(ref.integrate(lo, hi)), rel=1e-10,
                                                   abs=1e-10 * (1 + np.abs(y).max()) * span, nan_ok=True)


@settings(max_examples=300, deadline=None)
@given(knots(monotone=True), st.lists(st.floats(0, 1), min_size=2, max_size=30))
# x[0] + 1.0 * span rounds past x[-1] (-5.338 + 5.386 > 0.048: NaN there, outside the knots);
# the points are kept inside
@example((np.array([-5.338, -2.0, 0.048]), np.zeros(3)), [0.0, 1.0])
def test_monotone_data_give_a_monotone_curve_inside_the_data(xy, where):
    x, y = xy
    f = Pchip(x, y)
    v = np.clip(np.sort(x[0] + np.array(where) * (x[-1] - x[0])), x[0], x[-1])
    out = f(v)
    tol = 1e-9 * (1 + np.abs(y).max())
    assert np.all(np.diff(out) >= -tol)
    assert np.all(out >= y[0] - tol) and np.all(out <= y[-1] + tol)


@settings(max_examples=200, deadline=None)
@given(knots(min_size=3), st.floats(-3, 3), st.floats(-10, 10), st.floats(0, 1), st.floats(0, 1), st.floats(0, 1))
@example((np.array([-5.338, -2.0, 0.048]), np.zeros(3)), 1.0, 0.0, 0.0, 0.0, 1.0)   # rounds outside
def test_straight_lines_and_integrals(xy, slope, icept, a, b, c):
    x, _ = xy
    f = Pchip(x, slope * x + icept)
    span = x[-1] - x[0]
    v = np.clip(x[0] + np.array([a, b, c]) * span, x[0], x[-1])
    assert np.allclose(f(v), slope * v + icept, atol=1e-9 * (1 + abs(slope) * np.abs(x).max() + abs(icept)))
    exact = slope / 2 * (v[1] ** 2 - v[0] ** 2) + icept * (v[1] - v[0])
    assert f.integrate(v[0], v[1]) == pytest.approx(exact, abs=1e-8 * (1 + abs(slope) * np.abs(x).max() ** 2
                                                                         + abs(icept) * span))
    # additive over adjacent ranges; reversed limits change the sign
    assert f.integrate(v[0], v[1]) + f.integrate(v[1], v[2]) == pytest.approx(f.integrate(v[0], v[2]), abs=1e-9 * (1 + abs(exact)))
    assert f.integrate(v[1], v[0]) == pytest.approx(-f.integrate(v[0], v[1]), abs=1e-12 * (1 + abs(exact)))


def test_knots_are_hit_outside_is_nan_and_bad_input_refused():
    f = Pchip([0.0, 1.0, 3.0], [2.0, 5.0, 4.0])
    assert f(0.0) == 2.0 and f(1.0) == 5.0 and f(3.0) == 4.0
    assert np.isnan(f(-0.001)) and np.isnan(f(3.001)) and np.isnan(f(float("nan")))
    assert np.isnan(f.integrate(-1.0, 1.0)) and np.isnan(f.integrate(0.0, 4.0))
    assert f(1.0) >= f(0.5) and f(1.0) >= f(2.0)   # a local maximum stays the maximum (slope 0 there)
    assert Pchip([0, 1], [0, 2])(0.25) == pytest.approx(0.5)   # two knots: the chord
    for x, y in [([0, 0], [1, 2]), ([1, 0], [1, 2]), ([0], [1]), ([0, 1], [1, float("nan")]),
                 ([0, 1, 2], [1, 2])]:
        with pytest.raises(ValueError):
            Pchip(x, y)


def test_dct_matrix_is_scipys_orthonormal_dct():
    m = dct_matrix(16)
    assert np.allclose(m @ m.T, np.eye(16), atol=1e-12)
    blocks = np.random.default_rng(3).normal(0, 60, (4, 5, 16, 16))
    assert np.allclose(m @ blocks @ m.T, dctn(blocks, axes=(2, 3), norm="ortho"), atol=1e-9)


def test_block_energy_equals_the_fft_dct_within_float32_rounding():
    """The texture feature computed as before (SciPy's DCT of the float32 planes)."""
    from pertitle.encoder.features import _dct_weights

    y = (np.random.default_rng(5).random((72, 100)) * 255).astype(np.float32)
    y = np.cumsum(y, axis=1) % 255
    blocks = y[:64, :96].reshape(4, 16, 6, 16).transpose(0, 2, 1, 3)
    before = (np.abs(dctn(blocks, axes=(2, 3), norm="ortho")) * _dct_weights()).sum(axis=(2, 3)) / 256
    assert block_energy(y).shape == (4, 6)
    assert np.allclose(block_energy(y), before, rtol=1e-6)


def test_the_command_paths_do_not_import_scipy():
    """predict, --fast and the exhaustive analysis are used from a fresh process each time: half a
    second of scipy.interpolate's import was a tenth of a fast run (bench/modes.py --process)."""
    code = ("import sys; import pertitle.cli, pertitle.pipeline.analyze, pertitle.pipeline.fast, "
            "pertitle.pipeline.predict, pertitle.pipeline.verify, pertitle.encoder.features, "
            "pertitle.ladders.bdrate, pertitle.ladders.report; "
            "from pertitle.pipeline.models import load_default_model; load_default_model(name='fast'); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('scipy', 'sklearn')))")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "[]"


@settings(max_examples=300, deadline=None)
@given(knots(), st.lists(st.floats(-0.2, 1.2), min_size=1, max_size=20))
@example((np.array([-5.338, -2.0, 0.048]), np.zeros(3)), [0.0, 1.0])   # the last knot, and past it
def test_the_scalar_path_gives_the_same_floats(xy, where):
    """``at`` (one number, plain Python) is bit-identical to the NumPy call, NaN outside the knots
    and for NaN; the knots themselves included."""
    x, y = xy
    f = Pchip(x, y)
    for v in [*x, *(x[0] + np.array(where) * (x[-1] - x[0])), float("nan")]:
        got, want = f.at(v), float(f(v))
        assert (np.isnan(got) and np.isnan(want)) or got == want, (v, got, want)
