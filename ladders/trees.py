"""Boosted regressors as plain arrays, predicted without scikit-learn."""
from __future__ import annotations

import math

import numpy as np

from ..core.errors import ModelError

# ------------------------------------------------------------------------------------------
# Plain trees: a boosted model's predictions without scikit-learn
# ------------------------------------------------------------------------------------------
# Importing scikit-learn and skops takes about 1.2 s here, on every `predict`, `--verify` and
# `--fast` run: a fifth of a short title's fast analysis, none of which the exhaustive analysis
# pays. A fitted boosted model is only arrays (each tree's nodes: feature, threshold, where a
# missing value goes, children, leaf values; each regressor's baseline), so it is also written as
# a NumPy .npz (no pickle: loaded with allow_pickle=False) with its metadata as JSON, and predicted
# by walking those arrays, every tree of a regressor at once, summing the trees in sklearn's order:
# the same numbers, bit for bit (tests/test_model_file.py).

_NODE_FIELDS = ("value", "feature_idx", "num_threshold", "missing_go_to_left", "left", "right", "is_leaf")


class PlainBoost:
    """A boosted regressor's trees as flat arrays (node indices global, ``roots`` each tree's
    first node), predicting as scikit-learn's HistGradientBoostingRegressor does on numeric data:
    a missing value goes where the node says, else left when ``x <= threshold``."""

    def __init__(self, baseline: float, roots, value, feature, threshold, nan_left, left, right, leaf):
        self.baseline = float(baseline)
        self.roots = np.asarray(roots, dtype=np.int64)
        self.value = np.asarray(value, dtype=np.float64)
        self.feature = np.asarray(feature, dtype=np.int64)
        self.threshold = np.asarray(threshold, dtype=np.float64)
        self.nan_left = np.asarray(nan_left, dtype=bool)
        self.left = np.asarray(left, dtype=np.int64)
        self.right = np.asarray(right, dtype=np.int64)
        self.leaf = np.asarray(leaf, dtype=bool)

    def check(self, n_features: int) -> bool:
        """Every index in range and every walk ends at a leaf (children come after their node)."""
        n = len(self.value)
        arrays = (self.feature, self.threshold, self.nan_left, self.left, self.right, self.leaf)
        if n == 0 or any(len(a) != n for a in arrays) or len(self.roots) == 0:
            return False
        inner = ~self.leaf
        idx = np.arange(n)
        return bool((self.roots >= 0).all() and (self.roots < n).all()
                    and (self.feature[inner] >= 0).all() and (self.feature[inner] < n_features).all()
                    and (self.left[inner] > idx[inner]).all() and (self.left[inner] < n).all()
                    and (self.right[inner] > idx[inner]).all() and (self.right[inner] < n).all()
                    and np.isfinite(self.value).all() and math.isfinite(self.baseline))

    def predict(self, X) -> np.ndarray:
        x = np.asarray(X, dtype=np.float64)
        rows = np.arange(len(x))[:, None]
        at = np.broadcast_to(self.roots, (len(x), len(self.roots))).copy()
        # children always come after their node (checked on load), so this ends within the depth
        for _ in range(len(self.value)):
            inner = ~self.leaf[at]
            if not inner.any():
                break
            v = x[rows, np.where(inner, self.feature[at], 0)]
            go_left = np.where(np.isnan(v), self.nan_left[at], v <= self.threshold[at])
            at = np.where(inner, np.where(go_left, self.left[at], self.right[at]), at)
        leaves = self.value[at]
        # ((baseline + tree 0) + tree 1) + ...: the order scikit-learn adds them in
        return np.cumsum(np.column_stack([np.full(len(x), self.baseline), leaves]), axis=1)[:, -1]


def plain_from_sklearn(est) -> PlainBoost:
    """A fitted HistGradientBoostingRegressor (numeric features) as :class:`PlainBoost`."""
    if getattr(est, "n_trees_per_iteration_", 1) != 1:
        raise ModelError("only a numeric regressor's trees can be written as plain arrays")
    flat = [tree for it in est._predictors for tree in it]
    parts, roots, start = {f: [] for f in _NODE_FIELDS}, [], 0
    for tree in flat:
        nodes = tree.nodes
        if nodes["is_categorical"].any():
            raise ModelError("only a numeric regressor's trees can be written as plain arrays")
        roots.append(start)
        for f in _NODE_FIELDS:
            col = nodes[f].astype(np.int64) + start if f in ("left", "right") else nodes[f]
            parts[f].append(col)
        start += len(nodes)
    cat = {f: np.concatenate(v) for f, v in parts.items()}
    return PlainBoost(float(np.ravel(est._baseline_prediction)[0]), roots, cat["value"], cat["feature_idx"],
                      cat["num_threshold"], cat["missing_go_to_left"], cat["left"], cat["right"], cat["is_leaf"])
