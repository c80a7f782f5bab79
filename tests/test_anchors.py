"""Targets anchored on a measured feature (the probe encode): pure logic on a generated table."""
import numpy as np
import pandas as pd
import pytest

from pertitle.ladders import model as M


def table(anchors, seed=0, vmaf_weight=1.0):
    """Titles whose every grid point is the anchor plus a shape shared by all titles (and noise):
    log bpp = a + 0.6 log2-scale - 0.11 (crf - 22);
    logit VMAF = vmaf_weight logit(v) + 0.9 log2-scale - 0.08 (crf - 22)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i, (a, v) in enumerate(anchors):
        other = rng.normal()
        for h in (270, 360, 540):
            for crf in (16, 22, 28, 34, 40):
                s = np.log2(h / 540)
                rows.append({"title": f"t{i}", "group": f"g{i}", "width": h * 16 // 9, "height": h,
                             "ref_width": 960, "ref_height": 540, "crf": crf,
                             "log_bpp": a + 0.6 * s - 0.11 * (crf - 22) + rng.normal(0, 0.01),
                             "vmaf_mean": float(M.logit_to_vmaf(vmaf_weight * M.vmaf_to_logit(v) + 0.9 * s
                                                                   - 0.08 * (crf - 22))),
                             "f_anc_bpp": a, "f_anc_vmaf": v, "f_other": other})
    return pd.DataFrame(rows)


ANCHORS = (("log_bpp", "anc_bpp"), ("vmaf_logit", "anc_vmaf"))
COLS = ("anc_bpp", "anc_vmaf", "other")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(1)
    train = table(list(zip(rng.uniform(-4, -2, 40), rng.uniform(88, 95, 40))))
    # far outside the training range on both anchors: cheaper and better than any training title
    test = table([(-5.5, 98.5)], seed=2)
    return train, test


def errors(model, test):
    X = M.design(test, model.feature_columns)[model.columns_]
    p = model.predict_frame(X)
    bpp = np.abs(p["log_bpp"] - test["log_bpp"].values).max()
    vmaf = np.abs(M.vmaf_to_logit(p["vmaf_mean"]) - M.vmaf_to_logit(test["vmaf_mean"].values)).max()
    return bpp, vmaf


@pytest.mark.parametrize("family,tol", [("hgb", 0.15), ("extratrees", 0.3)])
def test_an_anchored_tree_model_follows_a_title_beyond_its_training_range(data, family, tol):
    train, test = data
    plain = M.CurveModel(family=family, feature_columns=COLS, members=2).fit(train)
    anchored = M.CurveModel(family=family, feature_columns=COLS, members=2, anchors=ANCHORS).fit(train)
    bpp_plain, vmaf_plain = errors(plain, test)
    bpp_anch, vmaf_anch = errors(anchored, test)
    # the plain trees stop at the edge of the training anchors (-4 and 95: off by 1.5 and more);
    # anchored, only the shared shape is learnt (tolerance: the trees' steps over 5 CRFs and 3
    # sizes; extra-trees also split at random on the features the residual does not depend on)
    assert bpp_plain > 1.0 and vmaf_plain > 0.8
    assert bpp_anch < tol and vmaf_anch < tol
    assert anchored.anchors_ == {"log_bpp": ("anc_bpp", 1.0), "vmaf_logit": ("anc_vmaf", 1.0)}


def test_anchors_survive_the_model_file(data, tmp_path):
    train, test = data
    model = M.CurveModel(family="hgb", feature_columns=COLS, members=2, anchors=ANCHORS).fit(train)
    train = train.assign(codec="libx264", preset="medium", vmaf_model="vmaf_v0.6.1")
    path = str(tmp_path / "a.skops")
    meta = M.save(model, path, train, feature_version=1)
    loaded, meta2 = M.load(path, feature_version=1)
    assert meta["anchors"] == meta2["anchors"] == {"log_bpp": {"feature": "anc_bpp", "weight": 1.0},
                                                    "vmaf_logit": {"feature": "anc_vmaf", "weight": 1.0}}
    X = M.design(test, COLS)[model.columns_]
    a, b = model.predict_frame(X), loaded.predict_frame(X)
    assert np.array_equal(a["log_bpp"], b["log_bpp"]) and np.array_equal(a["vmaf_mean"], b["vmaf_mean"])


def test_an_anchor_on_a_missing_feature_is_ignored_and_an_unknown_target_refused(data):
    train, _ = data
    m = M.CurveModel(family="hgb", feature_columns=("other",), anchors=ANCHORS).fit(train)
    assert m.anchors_ == {}
    with pytest.raises(ValueError, match="cannot anchor"):
        M.CurveModel(family="hgb", feature_columns=COLS, anchors=(("kbps", "anc_bpp"),)).fit(train)


def test_an_anchor_weight_is_applied():
    """Quality that moves with half the anchor's logit: the half-weight anchor follows a title far
    beyond the training range, a full-weight one overshoots by half the distance."""
    rng = np.random.default_rng(3)
    train = table(list(zip(rng.uniform(-4, -2, 40), rng.uniform(60, 85, 40))), vmaf_weight=0.5)
    test = table([(-3.0, 98.5)], seed=4, vmaf_weight=0.5)
    half = M.CurveModel(family="hgb", feature_columns=COLS, members=2,
                        anchors=(("vmaf_logit", "anc_vmaf", 0.5),)).fit(train)
    full = M.CurveModel(family="hgb", feature_columns=COLS, members=2,
                        anchors=(("vmaf_logit", "anc_vmaf"),)).fit(train)
    assert half.anchors_ == {"vmaf_logit": ("anc_vmaf", 0.5)}
    # logit(98.5) is 3.9, the training anchors' at most 1.7: a full weight adds half of that too much
    assert errors(half, test)[1] < 0.15 < 0.6 < errors(full, test)[1]


def test_a_model_saved_before_anchor_weights_loads_with_weight_one(data, tmp_path):
    """Model files of the build before weights map a target to its feature alone."""
    train, test = data
    model = M.CurveModel(family="hgb", feature_columns=COLS, members=2,
                         anchors=(("log_bpp", "anc_bpp"), ("vmaf_logit", "anc_vmaf"))).fit(train)
    train = train.assign(codec="libx264", preset="medium", vmaf_model="vmaf_v0.6.1")
    X = M.design(test, COLS)[model.columns_]
    want = model.predict_frame(X)
    model.anchors_ = {"log_bpp": "anc_bpp", "vmaf_logit": "anc_vmaf"}     # the older form
    path = str(tmp_path / "old.skops")
    M.save(model, path, train, feature_version=1)
    loaded, _ = M.load(path, feature_version=1)
    assert loaded.anchors_ == {"log_bpp": ("anc_bpp", 1.0), "vmaf_logit": ("anc_vmaf", 1.0)}
    got = loaded.predict_frame(X)
    assert np.array_equal(got["log_bpp"], want["log_bpp"]) and np.array_equal(got["vmaf_mean"], want["vmaf_mean"])
    model.anchors_ = {"log_bpp": ("anc_bpp", "heavy")}                       # not a weight
    with pytest.raises(M.ModelError, match="anchors"):
        M.save(model, path, train, feature_version=1)
