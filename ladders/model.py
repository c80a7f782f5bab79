"""Predict a title's rate-quality points from its cheap features (scikit-learn).

What is predicted: for every candidate size and CRF of the analysis grid, the encode's bits
per pixel (as log) and its VMAF. Those predicted RD points then go through the very same
curves, hull and ladder policy as measured ones, so a policy change needs no retraining and
the model is judged on the ladder it yields.

One row of the design matrix is one (title, size, CRF): the title's features plus where the
encode sits — log2 of its height over the reference height, log of its pixel count, the CRF.

Families (``family=``):
- ``median``: the median training title — per (scale, CRF), the median target. The trivial baseline.
- ``probe_shift``: the median curves, with bits shifted by how much more/less the title's own
  probe encode cost than the median title's (the classic one-probe baseline).
- ``ridge``: standardised features with pairwise interactions, ridge regression.
- ``hgb``: gradient-boosted trees, monotone in CRF (more CRF: fewer bits, less quality) and in
  size (smaller: less quality).
- ``extratrees``: extremely randomised trees.
"""
from __future__ import annotations

import copy
import hashlib
import json
import math
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..core.errors import ModelError
from ..core.fsutil import file_sha256
from .scale import ANAMORPHIC, SCALE_RULE, SIZE_FEATURES, log2_scale, size_key  # noqa: F401  (re-exported: the models' size axis)
from .trees import PlainBoost, plain_from_sklearn  # noqa: F401  (re-exported)

ROW_FEATURES = ["log2_scale", "log_rung_pixels", "crf"]
TARGETS = ["log_bpp", "vmaf_logit"]
VMAF_SPAN = 100.5   # VMAF can slightly exceed 100; the logit link needs an upper bound above it


def vmaf_to_logit(v):
    """VMAF is sigmoidal in log-rate: a logit link makes the curves nearly quadratic."""
    v = np.clip(np.asarray(v, dtype=float), 0.25, VMAF_SPAN - 0.25)
    return np.log(v / (VMAF_SPAN - v))


def logit_to_vmaf(z):
    return VMAF_SPAN / (1.0 + np.exp(-np.asarray(z, dtype=float)))


FAMILIES = ("median", "probe_shift", "ridge", "ridge_int", "hgb", "extratrees")
PROBE_ANCHOR = "probe_lo_crf33_log_bpp"
MODEL_FORMAT = 3   # 3: skops file + JSON metadata, the boosted trees packed (2: one entry per tree; 1: a pickle)
READ_FORMATS = (2, 3)


def row_features(width: int, height: int, crf: float, ref_width: int, ref_height: int) -> dict:
    return {"log2_scale": float(log2_scale(width, height, ref_width, ref_height)),
            "log_rung_pixels": math.log(width * height), "crf": float(crf)}


def design(df, feature_columns: Sequence[str]):
    """Design matrix from dataset rows (title features are the ``f_`` columns)."""
    import pandas as pd

    X = pd.DataFrame({c: df[f"f_{c}"].astype(float).values for c in feature_columns})
    X["log2_scale"] = log2_scale(df["width"].values, df["height"].values, df["ref_width"].values,
                                 df["ref_height"].values)
    X["log_rung_pixels"] = np.log(df["width"].values * df["height"].values)
    X["crf"] = df["crf"].astype(float).values
    return X


class _RowInteractions:
    """Title features, a quadratic basis in (CRF, log2 scale), and every title feature times
    every basis term: how the curve moves with the content, without title x title terms."""

    def __init__(self, columns: Sequence[str]):
        self.columns = list(columns)

    def fit(self, X, y=None):
        self.title_cols_ = [c for c in self.columns if c not in ROW_FEATURES]
        return self

    def transform(self, X):
        c = X["crf"].values.astype(float) / 10.0
        s = X["log2_scale"].values.astype(float)
        basis = np.column_stack([c, c * c, s, s * s, c * s, X["log_rung_pixels"].values / 10.0])
        t = X[self.title_cols_].values.astype(float)
        inter = (t[:, :, None] * basis[:, None, :]).reshape(len(X), -1)
        return np.column_stack([basis, t, inter])

    def get_params(self, deep=True):
        return {"columns": self.columns}

    def set_params(self, **p):
        self.columns = p.get("columns", self.columns)
        return self


class _MedianCurves:
    """Per (scale bucket, CRF), the median target over training rows; nearest bucket at predict."""

    def fit(self, X, y):
        keys = np.round(X["log2_scale"].values * 4) / 4
        self.table_ = {}
        for k, c, v in zip(keys, X["crf"].values, y):
            self.table_.setdefault((float(k), float(c)), []).append(float(v))
        self.table_ = {k: float(np.median(v)) for k, v in self.table_.items()}
        self.keys_ = np.array(list(self.table_))
        return self

    def predict(self, X):
        out = []
        for s, c in zip(X["log2_scale"].values, X["crf"].values):
            d = (self.keys_[:, 0] - s) ** 2 * 16 + ((self.keys_[:, 1] - c) / 3) ** 2
            out.append(self.table_[tuple(self.keys_[int(np.argmin(d))])])
        return np.array(out)


class _ProbeShift:
    """Median curves; the bits target moved by the title's probe cost relative to the median."""

    def __init__(self, shift: bool):
        self.shift = shift

    def fit(self, X, y):
        self.base_ = _MedianCurves().fit(X, y)
        self.anchor_ = float(np.median(X[PROBE_ANCHOR].values)) if self.shift else 0.0
        return self

    def predict(self, X):
        p = self.base_.predict(X)
        if self.shift:
            p = p + (X[PROBE_ANCHOR].values - self.anchor_)
        return p


def make_estimator(family: str, target: str, columns: Sequence[str], random_state: int = 0):
    from sklearn.ensemble import ExtraTreesRegressor, HistGradientBoostingRegressor
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import PolynomialFeatures, StandardScaler

    if family == "median":
        return _MedianCurves()
    if family == "probe_shift":
        return _ProbeShift(shift=(target == "log_bpp"))
    if family == "ridge":
        return make_pipeline(StandardScaler(), PolynomialFeatures(2, include_bias=False), StandardScaler(),
                             RidgeCV(alphas=np.logspace(-1, 4, 16)))
    if family == "ridge_int":
        return make_pipeline(_RowInteractions(columns), StandardScaler(), RidgeCV(alphas=np.logspace(-2, 4, 25)))
    if family == "hgb":
        sign = {"crf": -1, "log2_scale": 1 if target == "vmaf_logit" else 0}
        if target == "vmaf_logit":   # a size that keeps more of the picture scores higher
            sign.update(ceil_vmaf=1, ceil_drop=-1)
        cst = [sign.get(c, 0) for c in columns]
        # 120 trees at 0.12 predict as well as 400 at 0.05 in grouped CV (within its noise) and an
        # ensemble of them loads from disk in under a second
        return HistGradientBoostingRegressor(max_iter=120, learning_rate=0.12, max_leaf_nodes=15,
                                             min_samples_leaf=20, l2_regularization=1.0,
                                             monotonic_cst=cst, random_state=random_state)
    if family == "extratrees":
        return ExtraTreesRegressor(n_estimators=300, min_samples_leaf=3, max_features=0.5,
                                   random_state=random_state, n_jobs=1)
    raise ValueError(f"unknown model family {family!r}; choose one of {', '.join(FAMILIES)}")


@dataclass
class CurveModel:
    """scikit-learn style: parameters in ``__init__``, fitted state in attributes ending in ``_``.

    With ``members`` > 1 the model is an ensemble: each member is fitted on a bootstrap sample of
    the training *groups* (a group's titles come in or stay out together), so the members disagree
    where the training data says little. Predictions are the members' mean (in log-rate and
    logit-VMAF); their spread is what :mod:`pertitle.ladders.uncertainty` calibrates into
    intervals. ``calibration_`` (set by :func:`pertitle.ladders.uncertainty.calibrate`) holds
    those calibrations.

    ``anchors`` — (target, feature[, weight]) tuples: that target is learnt and predicted as its
    difference from ``weight`` (default 1) times the title's own value of the feature, in the
    target's units (a VMAF feature through the same logit), e.g. the log bits per pixel of every
    grid point relative to the probe encode's. Trees cannot extrapolate: a title cheaper or better
    than every training title would otherwise get the nearest training title's level; relative to
    a measured anchor they only have to learn the curve's shape around it."""

    family: str = "hgb"
    feature_columns: tuple[str, ...] = ()
    random_state: int = 0
    members: int = 1
    anchors: tuple[tuple, ...] = ()

    def fit(self, df) -> CurveModel:
        X, y = self._fit_frame(df)
        y = {t: v - self._anchor(X, t) for t, v in y.items()}   # what the trees learn
        self.members_ = []
        for m, idx in enumerate(member_rows(df, self.members, self.random_state)):
            ests = {}
            for t in TARGETS:
                est = make_estimator(self.family, t, self.columns_, self.random_state + m)
                ests[t] = est.fit(X.iloc[idx], y[t][idx])
            self.members_.append(ests)
        self.n_titles_ = int(df["title"].nunique())
        self.calibration_: dict = {}
        return self

    def _fit_frame(self, df):
        """Checks the configuration against ``df`` and sets ``columns_``, ``medians_`` and
        ``anchors_``: the design matrix (missing values imputed) and the targets as measured."""
        if self.family not in FAMILIES:
            raise ValueError(f"unknown model family {self.family!r}")
        if not self.feature_columns:
            raise ValueError("a model needs the list of title features it may use")
        missing = [c for c in self.feature_columns if f"f_{c}" not in df.columns]
        if missing:
            raise ModelError(f"dataset lacks feature columns: {', '.join(missing[:5])}")
        X = design(df, self.feature_columns)
        self.columns_ = list(X.columns)
        # a feature a title cannot have (the crossover probe of a 32x32 source) is imputed
        self.medians_ = {c: float(v) for c, v in X.median().items()}
        X = X.fillna(self.medians_)
        bad = [str(a[0]) for a in self.anchors if a[0] not in TARGETS or len(a) not in (2, 3)]
        if bad:
            raise ValueError(f"cannot anchor {', '.join(bad)}: the targets are {', '.join(TARGETS)}")
        self.anchors_ = {a[0]: (a[1], float(a[2]) if len(a) == 3 else 1.0)
                         for a in self.anchors if a[1] in self.columns_}
        return X, {"log_bpp": df["log_bpp"].astype(float).values, "vmaf_logit": vmaf_to_logit(df["vmaf_mean"])}

    def _members(self) -> list[dict]:
        return self.members_ if hasattr(self, "members_") else [self.estimators_]

    def predict_members(self, X) -> list[dict]:
        """Per member: {"log_bpp": ..., "vmaf_logit": ...} for design rows ``X``: a DataFrame
        with the model's columns, or a float array whose columns are ``columns_`` in order. The
        plain trees take the array; pandas is imported only for a scikit-learn estimator."""
        M = np.array(X, dtype=np.float64) if isinstance(X, np.ndarray) else \
            X[self.columns_].to_numpy(dtype=np.float64, copy=True)
        medians = getattr(self, "medians_", {})
        for j, c in enumerate(self.columns_):          # what training filled a missing value with
            if c in medians:
                col = M[:, j]
                col[np.isnan(col)] = medians[c]
        frame = None
        out = []
        for e in self._members():
            member = {}
            for t in TARGETS:
                if isinstance(e[t], PlainBoost):
                    raw = e[t].predict(M)
                else:
                    if frame is None:
                        import pandas as pd

                        frame = pd.DataFrame(M, columns=self.columns_)
                    raw = e[t].predict(frame)
                member[t] = raw + self._anchor(M, t)
            out.append(member)
        return out

    def _anchor(self, X, target: str):
        """What ``target`` is learnt relative to: 0, or its anchor's weight times the title's value
        of the anchor feature (``X`` a DataFrame, or an array with the ``columns_``)."""
        spec = getattr(self, "anchors_", {}).get(target)
        if not spec:
            return 0.0
        col, weight = spec
        v = (X[:, self.columns_.index(col)] if isinstance(X, np.ndarray) else X[col].values).astype(float)
        return weight * (vmaf_to_logit(v) if target == "vmaf_logit" else v)

    def predict_frame(self, X):
        """{"log_bpp": ..., "vmaf_mean": ...} for design rows ``X`` (the members' mean)."""
        per = self.predict_members(X)
        return {"log_bpp": np.mean([p["log_bpp"] for p in per], axis=0),
                "vmaf_mean": logit_to_vmaf(np.mean([p["vmaf_logit"] for p in per], axis=0))}

    def _design_rows(self, features: Mapping[str, float], sizes: Sequence[tuple[int, int]],
                     crfs: Sequence[float], ref_size: tuple[int, int]):
        recs = []
        for (w, h) in sizes:
            for q in crfs:
                rec = {}
                for c in self.feature_columns:
                    v = features.get(size_key(c, w, h) if c in SIZE_FEATURES else c)
                    rec[c] = float(v) if v is not None else math.nan
                rec.update(row_features(w, h, q, *ref_size))
                recs.append(rec)
        X = np.array([[rec[c] for c in self.columns_] for rec in recs], dtype=np.float64)
        return recs, X.reshape(len(recs), len(self.columns_))

    @staticmethod
    def _rows(recs, sizes, crfs, log_bpp, vmaf, fps) -> list[dict]:
        rows = []
        for i, (rec, (w, h)) in enumerate(zip(recs, [s for s in sizes for _ in crfs])):
            bpp = math.exp(log_bpp[i])
            rows.append({"width": w, "height": h, "crf": rec["crf"],
                         "kbps": bpp * w * h * fps / 1000.0,
                         "vmaf_mean": float(np.clip(vmaf[i], 0, 100))})
        return monotone_rows(rows)

    def predict_rows(self, features: Mapping[str, float], sizes: Sequence[tuple[int, int]],
                     crfs: Sequence[float], ref_size: tuple[int, int], fps: float) -> list[dict]:
        """Predicted RD rows (width, height, crf, kbps, vmaf_mean) for one title."""
        recs, X = self._design_rows(features, sizes, crfs, ref_size)
        pred = self.predict_frame(X)
        return self._rows(recs, sizes, crfs, pred["log_bpp"], pred["vmaf_mean"], fps)

    def predict_member_rows(self, features: Mapping[str, float], sizes: Sequence[tuple[int, int]],
                            crfs: Sequence[float], ref_size: tuple[int, int], fps: float) -> list[list[dict]]:
        """The same rows as each member predicts them (for spreads and intervals)."""
        recs, X = self._design_rows(features, sizes, crfs, ref_size)
        return [self._rows(recs, sizes, crfs, p["log_bpp"], logit_to_vmaf(p["vmaf_logit"]), fps)
                for p in self.predict_members(X)]


def member_rows(df, members: int, random_state: int):
    """Each ensemble member's training rows (positions in ``df``, repeated as drawn): a bootstrap
    sample of the origin groups (``group``, else ``title``) drawn from ``random_state``, a drawn
    group's rows all in; every row once when there is one member."""
    groups = (df["group"] if "group" in df.columns else df["title"]).astype(str).values
    names = sorted(set(groups))
    rng = np.random.default_rng(random_state)
    for _ in range(max(1, members)):
        if members > 1:
            counts = np.bincount(rng.choice(len(names), size=len(names), replace=True), minlength=len(names))
            yield np.concatenate([np.repeat(np.where(groups == g)[0], c) for g, c in zip(names, counts) if c])
        else:
            yield np.arange(len(df))


def monotone_rows(rows: list[dict]) -> list[dict]:
    """Within a size, bits and quality must both fall as CRF rises: enforce it (running min)."""
    out = []
    by_size: dict[tuple[int, int], list[dict]] = {}
    for r in rows:
        by_size.setdefault((r["width"], r["height"]), []).append(r)
    for rs in by_size.values():
        rs = sorted(rs, key=lambda r: r["crf"])
        k_min, q_min = math.inf, math.inf
        for r in rs:
            k_min = min(k_min, r["kbps"] * (1 - 1e-9))
            q_min = min(q_min, r["vmaf_mean"])
            out.append({**r, "kbps": k_min, "vmaf_mean": q_min})
            k_min *= 0.999  # strictly decreasing
    return out


# ------------------------------------------------------------------------------------------
# Saving and loading: models are data, not code
# ------------------------------------------------------------------------------------------
# A model file is a zip written by skops: the fitted estimators as plain arrays and the names of
# their classes. Loading rebuilds only the classes listed in TRUSTED_TYPES (scikit-learn's own
# estimators and this module's small helpers); a file naming any other type is refused before
# anything is built. Pickle/joblib files can run arbitrary code when loaded: they are refused
# unless the caller explicitly trusts the file (``trust_pickle``).

TRUSTED_TYPES = (
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingRegressor",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.ensemble._forest.ExtraTreesRegressor",
    "sklearn.tree._classes.ExtraTreeRegressor",
    "sklearn.tree._tree.Tree",
    "sklearn.linear_model._ridge.RidgeCV",
    "sklearn.linear_model._ridge._RidgeGCV",
    "sklearn.pipeline.Pipeline",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.preprocessing._polynomial.PolynomialFeatures",
    "sklearn._loss.loss.HalfSquaredError",
    "sklearn._loss.link.IdentityLink",
    "sklearn._loss.link.Interval",
    "sklearn.utils._bunch.Bunch",
    "numpy.random._pcg64.PCG64",
    "numpy.random._generator.Generator",
    "numpy.random.mtrand.RandomState",
    "builtins.slice",
    f"{__name__}.CurveModel",
    f"{__name__}._MedianCurves",
    f"{__name__}._ProbeShift",
    f"{__name__}._RowInteractions",
)


def dataset_hash(df) -> str:
    cols = sorted(df.columns)
    blob = df[cols].to_csv(index=False).encode()
    return hashlib.sha256(blob).hexdigest()


def versions() -> dict:
    import scipy
    import sklearn
    import skops

    return {"python": platform.python_version(), "scikit-learn": sklearn.__version__,
            "numpy": np.__version__, "scipy": scipy.__version__, "skops": skops.__version__}


def metadata(model: CurveModel, df, feature_version: int, extra: Mapping | None = None) -> dict:
    """What a model file says about itself: features, targets, grid, training data, versions."""
    return {
        "format": MODEL_FORMAT,
        "family": model.family,
        "members": getattr(model, "members", 1),
        "calibration": getattr(model, "calibration_", {}),
        "feature_columns": list(model.feature_columns),
        "anchors": {t: {"feature": c, "weight": w}
                    for t, (c, w) in _anchor_specs(getattr(model, "anchors_", {})).items()},
        "design_columns": model.columns_,
        "scale_rule": SCALE_RULE,
        "feature_version": feature_version,
        "targets": {"log_bpp": "log of (kbps * 1000 / (width * height * fps)) of the trial encode",
                    "vmaf_logit": "log(v / (100.5 - v)) of the trial encode's mean VMAF v",
                    "anchored": "a target named in anchors is learnt minus weight x the title's value "
                                "of that feature (a VMAF feature through the same logit)"},
        "grid": {"crfs": sorted(float(c) for c in df["crf"].unique())},
        "codec": str(df["codec"].iloc[0]), "preset": str(df["preset"].iloc[0]),
        "vmaf_model": str(df["vmaf_model"].iloc[0]),
        "n_titles": int(df["title"].nunique()), "n_rows": int(len(df)),
        "training_data_sha256": dataset_hash(df),
        "size_model": _size_meta(model),
        "versions": versions(),
        **(extra or {}),
    }


def _size_meta(model: CurveModel) -> dict | None:
    """What the metadata says of a model's size model (:mod:`pertitle.ladders.sizes`), if any."""
    from . import sizes as S

    sm = getattr(model, "sizes_", None)
    if sm is None:
        return None
    return {"rate_columns": list(S.RATE_COLUMNS), "candidates": S.CANDIDATES, "grid_points": S.GRID_POINTS,
            "grid_top": S.GRID_TOP}


def _size_arrays(model: CurveModel) -> dict:
    sm = getattr(model, "sizes_", None)
    return {} if sm is None else sm.to_arrays()


def _read_sizes(model: CurveModel, arrays, path: str) -> None:
    """Give a loaded ``model`` the size model its file holds (``sizes_``: None when none)."""
    from .sizes import SizeModel

    try:
        model.sizes_ = SizeModel.from_arrays(arrays if isinstance(arrays, dict) else {})
    except ValueError:
        raise ModelError("the model's size model is unreadable: retrain", path) from None


def save(model: CurveModel, path: str, df, feature_version: int, extra: Mapping | None = None) -> dict:
    """Write ``model`` (skops) with its metadata; returns the metadata."""
    import zipfile

    import skops.io as sio

    from ..core.fsutil import atomic_write

    meta = metadata(model, df, feature_version, extra)
    hollow, trees = _pack_trees(model)
    hollow = copy.copy(hollow)
    hollow.__dict__.pop("sizes_", None)     # saved as arrays beside the model, never as an object
    sizes = {k: (str(v) if k.endswith("_json") else v) for k, v in _size_arrays(model).items()}
    blob = sio.dumps({"meta_json": json.dumps(meta), "model": hollow, "trees": trees, "sizes": sizes},
                     compression=zipfile.ZIP_DEFLATED, compresslevel=9)
    atomic_write(path, lambda fh: fh.write(blob), mode="wb")
    return meta


def _is_plain(path: str) -> bool:
    """A zip holding the arrays of :func:`save_plain` (a skops file holds schema.json)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            return "state_json.npy" in z.namelist()
    except (OSError, zipfile.BadZipFile, ValueError):
        return False


def _is_pickle(head: bytes) -> bool:
    return head[:1] == b"\x80" or head[:2] in (b"(d", b"}q", b"(l", b"]q")


def load(path: str, feature_version: int | None = None, *, sha256: str | None = None,
         trust_pickle: bool = False) -> tuple[CurveModel, dict]:
    """Load a model file. ``sha256``: the content must have this hash (the shipped model).
    ``feature_version``: refuse a model trained on other features."""
    import zipfile

    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except FileNotFoundError:
        raise ModelError("no such model file", path) from None
    except OSError as exc:
        raise ModelError(f"cannot read the model file: {exc.strerror}", path) from None
    if sha256 is not None and file_sha256(path) != sha256:
        raise ModelError("the model file's checksum does not match the one recorded for it", path)
    if _is_pickle(head):
        if not trust_pickle:
            raise ModelError("this is a pickle (joblib) file: loading it would run whatever code it "
                             "holds, so it is refused; retrain with `pertitle train` (skops format), or "
                             "pass --trust-model if you made this file yourself", path)
        blob = _load_trusted_pickle(path)
    elif head[:2] == b"PK" and _is_plain(path):
        return load_plain(path, feature_version)   # its checksum checked above
    elif head[:2] == b"PK":
        import skops.io as sio
        from skops.io.exceptions import UntrustedTypesFoundException

        try:
            # one pass: skops refuses, before building anything, a file naming other types
            blob = sio.load(path, trusted=list(TRUSTED_TYPES))
        except UntrustedTypesFoundException as exc:
            raise ModelError("the model file names types outside the allowed list: "
                             f"{str(exc)[:200]}", path) from None
        except (zipfile.BadZipFile, KeyError, ValueError, TypeError, AttributeError, ImportError,
                OSError, RecursionError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelError(f"not a readable model file ({type(exc).__name__}: {str(exc)[:120]}); "
                             "retrain with `pertitle train`", path) from None
    else:
        raise ModelError("not a pertitle model file", path)
    if not isinstance(blob, dict) or "model" not in blob or not isinstance(blob.get("meta_json"), str):
        raise ModelError("not a pertitle model file", path)
    try:
        meta = json.loads(blob["meta_json"])
    except json.JSONDecodeError:
        raise ModelError("the model's metadata is not JSON", path) from None
    model = blob["model"]
    if not isinstance(meta, dict) or not isinstance(model, CurveModel):
        raise ModelError("not a pertitle model file", path)
    if meta.get("format") not in READ_FORMATS:
        raise ModelError(f"model format {meta.get('format')} is not {MODEL_FORMAT}: retrain", path)
    if meta["format"] >= 3:
        _unpack_trees(model, blob.get("trees"), path)
    _read_sizes(model, blob.get("sizes"), path)
    import sklearn

    trained = meta.get("versions", {}).get("scikit-learn")
    if trained and str(trained).split(".")[:2] != sklearn.__version__.split(".")[:2]:
        raise ModelError(f"model trained with scikit-learn {trained}, this is {sklearn.__version__}: "
                         "retrain with `pertitle train`", path)
    if feature_version is not None and meta.get("feature_version") != feature_version:
        raise ModelError(f"model expects feature version {meta.get('feature_version')}, this "
                         f"build computes {feature_version}: retrain", path)
    model.anchors_ = _anchor_specs(getattr(model, "anchors_", {}), path)
    return model, meta


# A boosted regressor keeps each of its trees as an object holding three small arrays; saved as
# they are, a 15-member model is 12 500 arrays in the zip and skops spends ~0.3 ms on each when
# loading. Saved packed (each regressor's trees as three concatenated arrays and their lengths),
# the same model loads in a fraction of that, and the loaded trees are the same arrays.

def _pack_trees(model: CurveModel):
    """A shallow copy of ``model`` whose boosted regressors hold no trees, and the trees, per
    member and target, as {"nodes", "binned", "raw": concatenated arrays; "sizes": one row of
    lengths per tree; "per_iter": trees per boosting iteration} (None for other estimators)."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    if not hasattr(model, "members_"):
        return model, None
    hollow_members, packed = [], []
    for member in model.members_:
        h, p = {}, {}
        for t, est in member.items():
            if isinstance(est, HistGradientBoostingRegressor) and hasattr(est, "_predictors"):
                flat = [tree for it in est._predictors for tree in it]
                h[t] = copy.copy(est)
                h[t]._predictors = []
                p[t] = {"nodes": np.concatenate([tr.nodes for tr in flat]),
                        "binned": np.concatenate([tr.binned_left_cat_bitsets for tr in flat]),
                        "raw": np.concatenate([tr.raw_left_cat_bitsets for tr in flat]),
                        "sizes": np.array([[len(tr.nodes), len(tr.binned_left_cat_bitsets),
                                            len(tr.raw_left_cat_bitsets)] for tr in flat], dtype=np.int64),
                        "per_iter": np.array([len(it) for it in est._predictors], dtype=np.int64)}
            else:
                h[t], p[t] = est, None
        hollow_members.append(h)
        packed.append(p)
    hollow = copy.copy(model)
    hollow.members_ = hollow_members
    return hollow, packed


def _unpack_trees(model: CurveModel, packed, path: str) -> None:
    """Give the boosted regressors of a loaded ``model`` their trees back (checked: a file whose
    arrays do not add up is refused, not half-loaded)."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE, X_BITSET_INNER_DTYPE
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor

    bad = ModelError("the model's packed trees do not match its estimators: retrain", path)
    members = getattr(model, "members_", None)
    if packed is None and members is None:
        return
    if not isinstance(packed, list) or not isinstance(members, list) or len(packed) != len(members):
        raise bad
    for member, pk in zip(members, packed):
        if not isinstance(member, dict) or not isinstance(pk, dict) or set(member) != set(pk):
            raise bad
        for t, est in member.items():
            p = pk[t]
            # a boosted regressor without its trees would predict its baseline alone
            if isinstance(est, HistGradientBoostingRegressor) != isinstance(p, dict):
                raise bad
            if p is None:
                continue
            try:
                sizes, per_iter = np.asarray(p["sizes"]), np.asarray(p["per_iter"])
                arrays = [p["nodes"], p["binned"], p["raw"]]
                ok = (all(isinstance(a, np.ndarray) for a in arrays) and sizes.ndim == 2
                      and sizes.shape[1] == 3 and sizes.dtype.kind == "i" and per_iter.dtype.kind == "i"
                      and (sizes >= 0).all() and (per_iter >= 0).all()
                      and int(per_iter.sum()) == len(sizes)
                      and all(int(sizes[:, k].sum()) == len(a) for k, a in enumerate(arrays)))
                if not ok or p["nodes"].dtype != PREDICTOR_RECORD_DTYPE or any(
                        a.dtype != X_BITSET_INNER_DTYPE or a.ndim != 2 for a in arrays[1:]):
                    raise bad
                ends = np.cumsum(sizes, axis=0)
                starts = ends - sizes
                trees = [TreePredictor(*(a[starts[i, k]:ends[i, k]] for k, a in enumerate(arrays)))
                         for i in range(len(sizes))]
                at = np.concatenate([[0], np.cumsum(per_iter)])
                est._predictors = [trees[at[j]:at[j + 1]] for j in range(len(per_iter))]
            except (KeyError, TypeError, ValueError, IndexError):
                raise bad from None


def _anchor_specs(anchors, path: str | None = None) -> dict:
    """A model's ``anchors_`` as {target: (feature, weight)}. Models saved before anchors
    carried a weight map a target to its feature alone (weight 1)."""
    out = {}
    for target, spec in (anchors.items() if isinstance(anchors, dict) else [(None, None)]):
        if isinstance(spec, str):
            spec = (spec, 1.0)
        if (target not in TARGETS or not isinstance(spec, (tuple, list)) or len(spec) != 2
                or not isinstance(spec[0], str) or not isinstance(spec[1], (int, float))):
            raise ModelError("the model's anchors are not (feature, weight) pairs: retrain", path)
        out[target] = (spec[0], float(spec[1]))
    return out


def _load_trusted_pickle(path: str):
    import joblib

    try:
        with open(path, "rb") as fh:
            return joblib.load(fh)
    except Exception as exc:  # noqa: BLE001 - the user asked to trust it; any failure is "cannot load"
        raise ModelError(f"cannot load the pickle model ({type(exc).__name__}): retrain with "
                         "`pertitle train`", path) from None


# Plain trees (:mod:`pertitle.ladders.trees`): the format of a model written as them

TREES_FORMAT = 1


def save_plain(model: CurveModel, path: str, meta: Mapping) -> dict:
    """Write a fitted boosted ``model`` (family hgb) as plain arrays with ``meta`` (see above),
    its ``format`` set to "plain-trees"; returns that metadata."""
    from ..core.fsutil import atomic_write

    if model.family != "hgb" or not hasattr(model, "members_"):
        raise ModelError("only a fitted boosted (hgb) model can be written as plain trees")
    arrays: dict[str, np.ndarray] = {}
    for m, member in enumerate(model.members_):
        for t in TARGETS:
            p = plain_from_sklearn(member[t])
            arrays[f"m{m}_{t}_baseline"] = np.array([p.baseline])
            for name in ("roots", "value", "feature", "threshold", "nan_left", "left", "right", "leaf"):
                arrays[f"m{m}_{t}_{name}"] = getattr(p, name)
    state = {"trees_format": TREES_FORMAT, "family": model.family, "feature_columns": list(model.feature_columns),
             "random_state": model.random_state, "members": len(model.members_), "anchors": [list(a) for a in model.anchors],
             "columns_": list(model.columns_), "medians_": model.medians_,
             "anchors_": {t: list(s) for t, s in getattr(model, "anchors_", {}).items()},
             "n_titles_": int(model.n_titles_), "calibration_": getattr(model, "calibration_", {}) or {}}
    arrays.update(_size_arrays(model))
    arrays["state_json"] = np.array(json.dumps(state))
    meta = {**meta, "format": "plain-trees"}
    arrays["meta_json"] = np.array(json.dumps(meta))

    def write(fh):
        np.savez_compressed(fh, **arrays)
    atomic_write(path, write, mode="wb")
    return meta


def load_plain(path: str, feature_version: int | None = None, *, sha256: str | None = None) -> tuple[CurveModel, dict]:
    """A model written by :func:`save_plain`: a :class:`CurveModel` whose members are
    :class:`PlainBoost` (no scikit-learn import), and its metadata. Data only: NumPy arrays and
    JSON, nothing executed; a file whose arrays do not make trees is refused."""
    import zipfile

    bad = ModelError("not a readable plain-trees model file", path)
    try:
        if sha256 is not None and file_sha256(path) != sha256:
            raise ModelError("the model file's checksum does not match the one recorded for it", path)
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise ModelError("no such model file", path) from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError):
        raise bad from None
    try:
        state = json.loads(str(arrays["state_json"]))
        meta = json.loads(str(arrays["meta_json"]))
        if state.get("trees_format") != TREES_FORMAT or state.get("family") != "hgb":
            raise bad
        model = CurveModel(family="hgb", feature_columns=tuple(state["feature_columns"]),
                           random_state=int(state["random_state"]), members=int(state["members"]),
                           anchors=tuple(tuple(a) for a in state["anchors"]))
        model.columns_ = [str(c) for c in state["columns_"]]
        model.medians_ = {str(k): float(v) for k, v in state["medians_"].items()}
        model.anchors_ = _anchor_specs({k: tuple(v) for k, v in state["anchors_"].items()}, path)
        model.n_titles_ = int(state["n_titles_"])
        model.calibration_ = dict(state["calibration_"])
        members = []
        for m in range(model.members):
            member = {}
            for t in TARGETS:
                g = lambda name: arrays[f"m{m}_{t}_{name}"]
                p = PlainBoost(g("baseline")[0], g("roots"), g("value"), g("feature"), g("threshold"),
                               g("nan_left"), g("left"), g("right"), g("leaf"))
                if not p.check(len(model.columns_)):
                    raise bad
                member[t] = p
            members.append(member)
        model.members_ = members
        _read_sizes(model, arrays, path)
    except ModelError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, json.JSONDecodeError):
        raise bad from None
    if not isinstance(meta, dict):
        raise bad
    if feature_version is not None and meta.get("feature_version") != feature_version:
        raise ModelError(f"model expects feature version {meta.get('feature_version')}, this "
                         f"build computes {feature_version}: retrain", path)
    return model, meta
