"""Which size wins at a bitrate, learnt from the exhaustive hulls themselves.

The curve model predicts every grid point's rate and VMAF, and ``predict`` puts each rung at the
size whose predicted curve is highest at the rung's bitrate. That decision rests on the
*difference* between neighbouring sizes' curves, a point or two of VMAF, which the curve model
gets wrong where a title's sizes cross elsewhere than its training titles' did: its worst
held-out ladders jump from the smallest sizes straight to the native one, or stay a size or two
off. A second, small model learns the decision directly: for every training title and every
bitrate on a grid from the rungs' floor to past its top rung, the log2 scale (:func:`log2_scale`)
of the size that is best there on the title's measured curves, from the title's features and the
bitrate (per source pixel, absolute and relative to the probe encode's). At a rung's bitrate the
ladder may then use only the two sizes whose scale is nearest the predicted one, the curves
choosing between them (:meth:`SizeModel.eligible`, given to
:func:`pertitle.ladders.policy.choose_ladder` as its ``evidence``). One size alone (the nearest)
was worse: the regression's error is about a size, and the curves settle the rest.

Measured on the held-out priors of the three fold assignments (160 real windows; a size model
fitted per fold on the training folds' windows) and on the 49 extra windows no model was trained
on: docs/model-guided.md, "Sizes chosen among the two a size model names".

Pure NumPy at prediction time (the trees as :class:`pertitle.ladders.trees.PlainBoost`);
scikit-learn only to fit.
"""
from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from .scale import SIZE_FEATURES, log2_scale
from .trees import PlainBoost

RATE_COLUMNS = ("log_bpp", "log_bpp_vs_probe", "log_ref_pixels")
"""The bitrate as the size model sees it: bits per source pixel (log), the same relative to the
probe encode's (``fp_log_bpp``; NaN without the probe), and the source's pixels (log)."""
PROBE_RATE = "fp_log_bpp"
GRID_POINTS = 14          # bitrates per training title, log-spaced ...
GRID_TOP = 1.5            # ... from the rungs' floor to this much above its exhaustive top rung
CANDIDATES = 2            # sizes a rung may take: those nearest the predicted scale
STATE_FORMAT = 1


def bitrate_row(features: Mapping[str, float], kbps: float, ref_size: tuple[int, int], fps: float) -> list[float]:
    """The rate columns (:data:`RATE_COLUMNS`) of a bitrate for a title."""
    w, h = ref_size
    lb = math.log(kbps * 1000.0 / (w * h * fps))
    probe = _get(features, PROBE_RATE)
    return [lb, lb - probe, math.log(w * h)]


def _get(features: Mapping[str, float], name: str) -> float:
    v = features.get(name, features.get(f"f_{name}", math.nan))
    try:
        v = float(v)
    except (TypeError, ValueError):
        return math.nan
    return v if math.isfinite(v) else math.nan


def best_scales(curves, ref_size: tuple[int, int], policy) -> list[tuple[float, float]]:
    """(kbps, log2 scale of the best size there) on a title's measured ``curves``, at
    :data:`GRID_POINTS` bitrates from the policy's floor to :data:`GRID_TOP` times the top rung
    of the ladder the policy chooses on them (a tie goes to the larger size)."""
    from .curves import true_quality
    from .policy import choose_ladder

    top = choose_ladder(list(curves), policy).rungs[-1].kbps
    hi = max(top * GRID_TOP, policy.min_kbps * GRID_TOP)
    W, H = ref_size
    out = []
    for kbps in np.geomspace(policy.min_kbps, hi, GRID_POINTS):
        best = max(curves, key=lambda c: (true_quality(curves, c.width, c.height, float(kbps)), min(c.width, c.height)))
        out.append((float(kbps), float(log2_scale(best.width, best.height, W, H))))
    return out


def training_rows(df, feature_columns: Sequence[str], policy) -> tuple[np.ndarray, np.ndarray]:
    """The design matrix (title features, then :data:`RATE_COLUMNS`) and the best log2 scale,
    :data:`GRID_POINTS` rows per title of ``df`` (a table of exhaustive sweeps)."""
    from ..core.errors import LadderError
    from .document import curves_from_rows

    X, y = [], []
    for _, dt in df.groupby("title", sort=True):
        first = dt.iloc[0].to_dict()
        ref = (int(first["ref_width"]), int(first["ref_height"]))
        fps = float(first["ref_fps"])
        try:
            curves = curves_from_rows(dt.to_dict("records"), "vmaf_mean")
            best = best_scales(curves, ref, policy)
        except LadderError:
            continue      # no ladder on its measured curves (every encode above the rate ceiling)
        feats = [_get(first, c) for c in feature_columns]
        for kbps, scale in best:
            X.append(feats + bitrate_row(first, kbps, ref, fps))
            y.append(scale)
    return np.array(X, dtype=np.float64), np.array(y, dtype=np.float64)


class SizeModel:
    """Predicts the log2 scale of the best size at a bitrate (see the module doc)."""

    def __init__(self, feature_columns: Sequence[str], medians: Sequence[float], trees):
        self.feature_columns = tuple(feature_columns)
        self.medians = [float(m) for m in medians]
        self.trees = trees           # a PlainBoost, or a fitted scikit-learn regressor

    @classmethod
    def fit(cls, df, feature_columns: Sequence[str], policy, random_state: int = 0) -> SizeModel:
        from sklearn.ensemble import HistGradientBoostingRegressor

        from .trees import plain_from_sklearn

        # a title's features only: a size's own (the scaling ceiling) does not say which size wins
        feature_columns = [c for c in feature_columns if c not in SIZE_FEATURES]
        X, y = training_rows(df, feature_columns, policy)
        if not len(y):
            raise ValueError("no title to learn sizes from")
        med = np.nanmedian(X, axis=0)
        med = np.where(np.isfinite(med), med, 0.0)
        X = np.where(np.isnan(X), med, X)
        est = HistGradientBoostingRegressor(max_iter=300, learning_rate=0.05, min_samples_leaf=20,
                                            random_state=random_state).fit(X, y)
        return cls(feature_columns, med, plain_from_sklearn(est))

    @property
    def columns(self) -> list[str]:
        return list(self.feature_columns) + list(RATE_COLUMNS)

    def scales(self, features: Mapping[str, float], kbps: Sequence[float], ref_size: tuple[int, int],
               fps: float) -> np.ndarray:
        """The predicted best log2 scale at each of ``kbps``."""
        feats = [_get(features, c) for c in self.feature_columns]
        X = np.array([feats + bitrate_row(features, float(k), ref_size, fps) for k in kbps], dtype=np.float64)
        X = np.where(np.isnan(X), np.array(self.medians), X)
        return np.asarray(self.trees.predict(X), dtype=np.float64)

    def eligible(self, features: Mapping[str, float], sizes: Sequence[tuple[int, int]],
                 ref_size: tuple[int, int], fps: float) -> Callable[[float], set[tuple[int, int]]]:
        """``kbps -> the sizes a rung may take there``: the :data:`CANDIDATES` sizes whose log2
        scale is nearest the predicted one (on a tie the larger)."""
        W, H = ref_size
        scale = {tuple(s): float(log2_scale(s[0], s[1], W, H)) for s in sizes}

        def at(kbps: float) -> set[tuple[int, int]]:
            s = float(self.scales(features, [kbps], ref_size, fps)[0])
            near = sorted(scale, key=lambda z: (abs(scale[z] - s), -min(z), z))
            return set(near[:CANDIDATES])
        return at

    # -- persistence: NumPy arrays and JSON only (a model file's ``sizes_*`` entries) ----------

    def to_arrays(self) -> dict[str, np.ndarray]:
        t = self.trees
        if not isinstance(t, PlainBoost):
            raise TypeError("only a size model with plain trees is saved")
        state = {"format": STATE_FORMAT, "feature_columns": list(self.feature_columns),
                 "medians": self.medians, "rate_columns": list(RATE_COLUMNS), "candidates": CANDIDATES}
        out = {"sizes_state_json": np.array(json.dumps(state)), "sizes_baseline": np.array([t.baseline])}
        for name in ("roots", "value", "feature", "threshold", "nan_left", "left", "right", "leaf"):
            out[f"sizes_{name}"] = getattr(t, name)
        return out

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> SizeModel | None:
        """The size model a file's arrays hold; None when they hold none. Raises ValueError when
        they do not make one."""
        if "sizes_state_json" not in arrays:
            return None
        try:
            state = json.loads(str(arrays["sizes_state_json"]))
            if (not isinstance(state, dict) or state.get("format") != STATE_FORMAT
                    or list(state.get("rate_columns", [])) != list(RATE_COLUMNS)):
                raise ValueError("unknown size model state")
            cols = [str(c) for c in state["feature_columns"]]
            med = [float(m) for m in state["medians"]]
            g = lambda name: np.asarray(arrays[f"sizes_{name}"])  # noqa: E731
            trees = PlainBoost(g("baseline")[0], g("roots"), g("value"), g("feature"), g("threshold"),
                               g("nan_left"), g("left"), g("right"), g("leaf"))
        except (KeyError, TypeError, IndexError, json.JSONDecodeError) as exc:
            raise ValueError(f"not a size model: {exc}") from None
        if len(med) != len(cols) + len(RATE_COLUMNS) or not trees.check(len(med)):
            raise ValueError("the size model's trees do not match its columns")
        return cls(cols, med, trees)
