"""The model file: boosted trees saved packed load back as the same trees; files of the previous
format still load; a packed file whose arrays do not add up is refused with a ModelError."""
import json
import zipfile

import numpy as np
import pytest
import skops.io as sio

from pertitle.core.errors import ModelError
from pertitle.ladders import model as M

from .test_anchors import ANCHORS, COLS, table

FEATURE_VERSION = 1


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(3)
    train = table(list(zip(rng.uniform(-4, -2, 30), rng.uniform(88, 95, 30))))
    train = train.assign(codec="libx264", preset="medium", vmaf_model="vmaf_v0.6.1")  # for the metadata
    test = table([(-3.1, 91.0), (-2.4, 94.0)], seed=4)
    model = M.CurveModel(family="hgb", feature_columns=COLS, members=3, anchors=ANCHORS).fit(train)
    return model, train, test


def predictions(model, test):
    X = M.design(test, model.feature_columns)[model.columns_]
    return model.predict_members(X)


def same(a, b):
    return len(a) == len(b) and all(np.array_equal(x[t], y[t]) for x, y in zip(a, b) for t in x)


def test_packed_trees_load_back_identical_and_the_file_has_few_entries(fitted, tmp_path):
    model, train, test = fitted
    path = str(tmp_path / "m.skops")
    M.save(model, path, train, FEATURE_VERSION)
    loaded, meta = M.load(path, FEATURE_VERSION)
    assert meta["format"] == M.MODEL_FORMAT == 3
    assert same(predictions(model, test), predictions(loaded, test))
    # saving did not strip the trees of the model in memory
    assert all(len(e._predictors) > 0 for m in model.members_ for e in m.values())
    trees = sum(len(it) for m in model.members_ for e in m.values() for it in e._predictors)
    with zipfile.ZipFile(path) as z:
        arrays = [n for n in z.namelist() if n.endswith(".npy")]
    # 3 arrays per tree unpacked; packed, 5 per regressor plus a handful per regressor for its state
    assert trees > 100 and len(arrays) < trees / 2


def test_a_file_of_the_previous_format_still_loads(fitted, tmp_path):
    model, train, test = fitted
    meta = {**M.metadata(model, train, FEATURE_VERSION), "format": 2}
    path = tmp_path / "old.skops"
    path.write_bytes(sio.dumps({"meta_json": json.dumps(meta), "model": model}))
    loaded, lmeta = M.load(str(path), FEATURE_VERSION)
    assert lmeta["format"] == 2
    assert same(predictions(model, test), predictions(loaded, test))


@pytest.mark.parametrize("damage", ["sizes", "per_iter", "dtype", "missing", "members", "dropped"])
def test_packed_trees_that_do_not_add_up_are_refused(fitted, tmp_path, damage):
    model, train, _ = fitted
    hollow, trees = M._pack_trees(model)
    p = trees[0]["log_bpp"]
    if damage == "sizes":
        p["sizes"] = p["sizes"].copy()
        p["sizes"][0, 0] += 1
    elif damage == "per_iter":
        p["per_iter"] = p["per_iter"][:-1]
    elif damage == "dtype":
        p["nodes"] = np.zeros(len(p["nodes"]), dtype=np.float64)
    elif damage == "missing":
        del p["raw"]
    elif damage == "dropped":
        trees[0]["log_bpp"] = None
    else:
        trees = trees[:-1]
    meta = M.metadata(model, train, FEATURE_VERSION)
    path = tmp_path / "bad.skops"
    path.write_bytes(sio.dumps({"meta_json": json.dumps(meta), "model": hollow, "trees": trees}))
    with pytest.raises(ModelError, match="packed trees"):
        M.load(str(path), FEATURE_VERSION)


# ------------------------------------------------------------------------------------------
# Plain trees: the same model, predicted without scikit-learn
# ------------------------------------------------------------------------------------------


def _rows_with_gaps(model, train):
    """The training rows' design matrix with missing values in every column in turn."""
    X = M.design(train, model.feature_columns)[model.columns_].copy()
    for j, c in enumerate(X.columns):
        X.loc[X.index[j::len(X.columns) + 1], c] = np.nan
    return X


def test_plain_trees_predict_the_same_numbers(fitted, tmp_path):
    model, train, test = fitted
    path = str(tmp_path / "m.npz")
    M.save_plain(model, path, {"feature_version": FEATURE_VERSION, "note": "x"})
    plain, meta = M.load_plain(path, FEATURE_VERSION)
    assert meta == {"feature_version": FEATURE_VERSION, "note": "x", "format": "plain-trees"}
    assert all(isinstance(e, M.PlainBoost) for m in plain.members_ for e in m.values())
    X = _rows_with_gaps(model, train)
    assert X.isna().any().all()
    # bit for bit, missing values included, member by member
    assert same(model.predict_members(X), plain.predict_members(X))
    assert same(predictions(model, test), predictions(plain, test))
    assert (plain.columns_, plain.medians_, plain.anchors_, plain.calibration_) == \
        (model.columns_, model.medians_, model.anchors_, getattr(model, "calibration_", {}))
    # M.load knows the file by its content, and checks its checksum
    again, _ = M.load(path, FEATURE_VERSION, sha256=M.file_sha256(path))
    assert same(predictions(model, test), predictions(again, test))
    with pytest.raises(ModelError, match="checksum"):
        M.load(path, FEATURE_VERSION, sha256="0" * 64)
    with pytest.raises(ModelError, match="feature version"):
        M.load_plain(path, FEATURE_VERSION + 1)


def test_plain_trees_load_and_predict_without_importing_scikit_learn(fitted, tmp_path):
    import subprocess
    import sys

    model, train, test = fitted
    path = str(tmp_path / "m.npz")
    M.save_plain(model, path, {"feature_version": FEATURE_VERSION})
    code = ("import sys, numpy as np; from pertitle.ladders import model as M; "
            f"m, _ = M.load({path!r}); "
            "import pandas as pd; X = pd.DataFrame([[m.medians_[c] for c in m.columns_]], columns=m.columns_); "
            "p = m.predict_members(X); "
            "print(len(p), 'sklearn' in sys.modules, 'skops' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(len(model.members_)), "False", "False"]


class _Payload:
    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def out_of_range_feature(arrays: dict, prefix: str) -> None:
    """Damage plain trees in place: the first inner node of ``prefix``'s trees splits on a feature
    the model does not have."""
    feat = arrays[f"{prefix}_feature"].copy()
    feat[np.flatnonzero(~arrays[f"{prefix}_leaf"].astype(bool))[0]] = 10_000
    arrays[f"{prefix}_feature"] = feat


@pytest.mark.parametrize("damage", ["pickle", "cycle", "feature", "missing", "truncated", "state"])
def test_plain_trees_that_are_not_trees_are_refused(fitted, tmp_path, damage):
    """Data only: an object array (a pickle) is never unpickled, and arrays that do not make
    trees (a child before its node: a walk that never ends; a feature out of range; a missing
    array; a cut file; a state that is not the model's) give a ModelError."""
    model, _, _ = fitted
    good = str(tmp_path / "good.npz")
    M.save_plain(model, good, {"feature_version": FEATURE_VERSION})
    with np.load(good, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    bad = tmp_path / "bad.npz"
    if damage == "pickle":
        arrays["m0_log_bpp_value"] = np.array([_Payload(str(tmp_path / "PWNED"))], dtype=object)
    elif damage == "cycle":
        left = arrays["m0_log_bpp_left"].copy()
        inner = np.flatnonzero(~arrays["m0_log_bpp_leaf"].astype(bool))
        left[inner[-1]] = inner[-1]
        arrays["m0_log_bpp_left"] = left
    elif damage == "feature":
        out_of_range_feature(arrays, "m0_vmaf_logit")
    elif damage == "missing":
        del arrays["m1_vmaf_logit_right"]
    elif damage == "state":
        arrays["state_json"] = np.array(json.dumps({"trees_format": 99, "family": "hgb"}))
    if damage == "truncated":
        bad.write_bytes(open(good, "rb").read()[:5000])
    else:
        np.savez(bad, **arrays)
    with pytest.raises(ModelError):
        M.load(str(bad), FEATURE_VERSION)
    assert not (tmp_path / "PWNED").exists()


def test_only_a_boosted_model_is_written_as_plain_trees(fitted, tmp_path):
    _, train, _ = fitted
    ridge = M.CurveModel(family="ridge", feature_columns=COLS).fit(train)
    with pytest.raises(ModelError, match="boosted"):
        M.save_plain(ridge, str(tmp_path / "r.npz"), {})
    assert not (tmp_path / "r.npz").exists()
