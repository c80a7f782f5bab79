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
