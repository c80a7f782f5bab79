"""The size model (ladders/sizes.py): its training targets are the sizes that win on measured
curves, it learns where a content feature moves the crossover, it names the two sizes nearest
its prediction, and it is saved as arrays that load back to the same numbers or are refused."""
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pertitle.ladders.document import curves_from_rows
from pertitle.ladders.model import log2_scale
from pertitle.ladders.policy import LadderPolicy, choose_ladder
from pertitle.ladders.sizes import CANDIDATES, GRID_POINTS, SizeModel, best_scales, training_rows

POLICY = LadderPolicy()
SIZES = [(640, 360), (960, 540), (1280, 720)]
STEP = {(640, 360): 0.0, (960, 540): 2.0, (1280, 720): 4.0}   # VMAF a size gains per e-fold of rate ...
FPS = 25.0


def title_rows(name: str, a: float, probe: float = -3.0) -> list[dict]:
    """One synthetic title: VMAF rises with log-rate, every size alike, plus a gain that grows with
    the size above a crossover rate set by the feature ``a`` (high ``a``: the larger sizes win only
    at higher rates), so the best size at a rate is known: 640x360 below ``x0``, 1280x720 well
    above it, 960x540 between."""
    x0 = math.log(300.0) + 1.5 * a
    rows = []
    for (w, h) in SIZES:
        for j, crf in enumerate([42, 38, 34, 31, 28, 25, 22, 19, 16]):
            kbps = 120.0 * 1.6 ** j
            q = 30.0 + 9.0 * math.log(kbps / 100.0) + STEP[(w, h)] * (math.log(kbps) - x0)
            rows.append({"title": name, "group": name, "width": w, "height": h, "crf": float(crf),
                         "kbps": kbps, "vmaf_mean": min(q, 99.0), "ref_width": 1280, "ref_height": 720,
                         "ref_fps": FPS, "f_a": a, "f_fp_log_bpp": probe})
    return rows


def table(values) -> pd.DataFrame:
    return pd.DataFrame([r for i, a in enumerate(values) for r in title_rows(f"t{i}", a)])


def test_the_targets_are_the_sizes_that_win_on_the_measured_curves():
    dt = pd.DataFrame(title_rows("x", 0.5))
    curves = curves_from_rows(dt.to_dict("records"), "vmaf_mean")
    got = best_scales(curves, (1280, 720), POLICY)
    assert len(got) == GRID_POINTS
    rates = [k for k, _ in got]
    assert rates[0] == pytest.approx(POLICY.min_kbps) and rates == sorted(rates)
    top = choose_ladder(curves, POLICY).rungs[-1].kbps
    assert rates[-1] == pytest.approx(1.5 * top)
    x0 = 300.0 * math.exp(0.75)
    for kbps, scale in got:
        # below the crossover every size's gain is negative, the more so the larger: the smallest wins
        want = log2_scale(640, 360, 1280, 720) if kbps < x0 * 0.99 else log2_scale(1280, 720, 1280, 720)
        if abs(math.log(kbps / x0)) > 0.02:
            assert scale == pytest.approx(float(want)), kbps


def test_it_learns_where_a_feature_moves_the_crossover():
    rng = np.random.default_rng(0)
    train = table(rng.uniform(0, 1, 40))
    sm = SizeModel.fit(train, ["a", "fp_log_bpp"], POLICY)
    X, y = training_rows(train, ["a", "fp_log_bpp"], POLICY)
    assert X.shape == (40 * GRID_POINTS, 2 + 3) and set(np.round(y, 6)) <= {-1.0, 0.0, round(math.log2(540 / 720), 6)}
    for a in (0.2, 0.8):
        x0 = 300.0 * math.exp(1.5 * a)
        s = sm.scales({"a": a, "fp_log_bpp": -3.0}, [x0 / 2.5, x0 * 2.5], (1280, 720), FPS)
        assert s[0] == pytest.approx(-1.0, abs=0.25) and s[1] == pytest.approx(0.0, abs=0.25), (a, s)
        ok = sm.eligible({"a": a, "fp_log_bpp": -3.0}, SIZES, (1280, 720), FPS)
        assert (640, 360) in ok(x0 / 2.5) and (1280, 720) not in ok(x0 / 2.5)
        assert (1280, 720) in ok(x0 * 2.5) and (640, 360) not in ok(x0 * 2.5)
    # a feature it never saw is filled in with the training median, not a crash
    assert np.isfinite(sm.scales({}, [500.0], (1280, 720), FPS)).all()
    # a title with no ladder on its measured curves (every encode above the policy's ceiling)
    # teaches nothing and stops nothing
    dear = pd.DataFrame(title_rows("dear", 0.5)).assign(title="dear", kbps=lambda d: d["kbps"] * 10000)
    X2, _ = training_rows(pd.concat([train, dear]), ["a", "fp_log_bpp"], POLICY)
    assert np.array_equal(X2, X)


class Constant:
    def __init__(self, v):
        self.v = v

    def predict(self, X):
        return np.full(len(X), self.v)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(90, 1080), min_size=1, max_size=8, unique=True), st.floats(-4, 0.5))
def test_the_eligible_sizes_are_the_two_nearest_the_predicted_scale(heights, s):
    sizes = [(2 * round(h * 8 / 9), h) for h in heights]       # 16:9-ish, even widths
    ref = max(sizes, key=lambda z: z[1])
    sm = SizeModel([], [0.0, 0.0, 0.0], Constant(s))
    got = sm.eligible({"fp_log_bpp": -3.0}, sizes, ref, FPS)(400.0)
    scale = {z: float(log2_scale(z[0], z[1], *ref)) for z in sizes}
    assert len(got) == min(CANDIDATES, len(sizes))
    worst_in = max(abs(scale[z] - s) for z in got)
    assert all(abs(scale[z] - s) >= worst_in - 1e-12 for z in sizes if z not in got)


def test_saved_as_arrays_it_predicts_the_same_numbers_and_damaged_arrays_are_refused():
    rng = np.random.default_rng(1)
    sm = SizeModel.fit(table(rng.uniform(0, 1, 20)), ["a", "fp_log_bpp"], POLICY)
    arrays = sm.to_arrays()
    assert all(isinstance(v, np.ndarray) and v.dtype != object for v in arrays.values())
    back = SizeModel.from_arrays(arrays)
    kbps = list(np.geomspace(150, 5000, 25))
    for a in (0.0, 0.5, 1.0, math.nan):
        f = {"a": a, "fp_log_bpp": -3.0}
        assert np.array_equal(sm.scales(f, kbps, (1280, 720), FPS), back.scales(f, kbps, (1280, 720), FPS))
    assert SizeModel.from_arrays({}) is None                  # a model file without a size model
    bad = dict(arrays, sizes_feature=np.where(arrays["sizes_leaf"], 0, 99).astype(np.int64))
    with pytest.raises(ValueError):
        SizeModel.from_arrays(bad)
    with pytest.raises(ValueError):
        SizeModel.from_arrays({k: v for k, v in arrays.items() if k != "sizes_roots"})
    with pytest.raises(ValueError):
        SizeModel.from_arrays(dict(arrays, sizes_state_json=np.array('{"format": 99}')))


@pytest.mark.parametrize("damage", ["none", "feature", "missing", "state", "pickle"])
def test_a_model_file_carries_its_size_model_in_both_formats_and_a_damaged_one_is_refused(tmp_path, damage):
    """Saved inside the curve model's file (skops and plain trees) as arrays: loaded back, the same
    numbers; arrays that do not make one (a feature out of range, a missing array, an unknown
    state, an object array) give a ModelError, never a half-loaded model or unpickled code."""
    import json

    from pertitle.core.errors import ModelError
    from pertitle.ladders import model as M

    from .test_anchors import ANCHORS, COLS
    from .test_anchors import table as curve_table
    from .test_model_file import out_of_range_feature

    rng = np.random.default_rng(5)
    train = curve_table(list(zip(rng.uniform(-4, -2, 12), rng.uniform(88, 95, 12))))
    train = train.assign(codec="libx264", preset="medium", vmaf_model="vmaf_v0.6.1")
    model = M.CurveModel(family="hgb", feature_columns=COLS, members=1, anchors=ANCHORS).fit(train)
    model.sizes_ = SizeModel.fit(table(rng.uniform(0, 1, 15)), ["a", "fp_log_bpp"], POLICY)
    f, kbps = {"a": 0.4, "fp_log_bpp": -3.0}, [150.0, 600.0, 3000.0]
    want = model.sizes_.scales(f, kbps, (1280, 720), FPS)
    sk, npz = str(tmp_path / "m.skops"), str(tmp_path / "m.npz")
    meta = M.save(model, sk, train, 1)
    M.save_plain(model, npz, meta)
    assert meta["size_model"]["candidates"] == CANDIDATES
    for path in (sk, npz):
        got, _ = M.load(path, 1)
        assert np.array_equal(got.sizes_.scales(f, kbps, (1280, 720), FPS), want)
    if damage == "none":
        return
    with np.load(npz, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    if damage == "feature":
        out_of_range_feature(arrays, "sizes")
    elif damage == "missing":
        del arrays["sizes_threshold"]
    elif damage == "state":
        arrays["sizes_state_json"] = np.array(json.dumps({"format": 1, "rate_columns": ["x"]}))
    elif damage == "pickle":
        arrays["sizes_value"] = np.array([object()], dtype=object)
    bad = tmp_path / "bad.npz"
    np.savez(bad, **arrays)
    with pytest.raises(ModelError):
        M.load(str(bad), 1)
