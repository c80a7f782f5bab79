"""The shipped model and the table it was trained on; loading a model for the pipeline.

The default model ships as ``ladders/models/default.skops`` (safe format, see
:mod:`pertitle.ladders.model`) with ``default.json`` beside it: the file's SHA-256 and its
metadata. A shipped model whose checksum does not match, or that this scikit-learn cannot load,
is retrained from the shipped table (seconds) into the cache folder, in the same safe format.
"""
from __future__ import annotations

import json
import os
from importlib import resources

from ..core.errors import ModelError
from ..encoder.cache import default_root
from ..encoder.features import FEATURE_COLUMNS, FEATURE_VERSION
from ..ladders import model as M
from ..ladders.dataset import read_dataset

DEFAULT_FAMILY = "hgb"
DEFAULT_MEMBERS = 5       # ensemble members (bagged over groups) for the tree families
CALIBRATION_FOLDS = 5


def shipped_dataset_path() -> str:
    return str(resources.files("pertitle.samples").joinpath("training_dataset.csv"))


def shipped_model_path() -> str:
    return str(resources.files("pertitle.ladders").joinpath("models/default.skops"))


def shipped_model_record() -> dict:
    """``default.json``: the shipped model's checksum and metadata."""
    path = str(resources.files("pertitle.ladders").joinpath("models/default.json"))
    try:
        with open(path, encoding="utf-8") as fh:
            rec = json.load(fh)
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"the shipped model's record is unreadable: {exc}", path) from None
    if not isinstance(rec, dict) or not isinstance(rec.get("sha256"), str):
        raise ModelError("the shipped model's record has no checksum", path)
    return rec


def new_model(family: str = DEFAULT_FAMILY, members: int | None = None) -> M.CurveModel:
    """An unfitted model over this build's feature list."""
    if members is None:
        members = DEFAULT_MEMBERS if family in ("hgb", "extratrees") else 1
    return M.CurveModel(family=family, feature_columns=tuple(FEATURE_COLUMNS), members=members)


WITH_SYNTHETIC = False
"""The shipped model is trained on real titles only: in grouped CV on held-out real titles the
synthetic clips improved the median of ``predict`` but worsened its 90th percentile, its top rung
and ``--verify 6`` (docs/model-guided.md, Results), so they do not earn their place."""


def is_synthetic(df):
    if "origin" in df.columns:
        return df["origin"].astype(str).eq("synthetic")
    return df["title"].astype(str).str.match(r"^(photo|lavfi|credits)_")


def train(df, family: str = DEFAULT_FAMILY, members: int | None = None, calibrate: bool = True,
          policy=None, with_synthetic: bool = WITH_SYNTHETIC) -> M.CurveModel:
    """Fit on ``df`` (its synthetic titles only with ``with_synthetic``); with ``calibrate``, also
    the grouped-CV calibration of its intervals and of its winner's-curse bias
    (:mod:`pertitle.ladders.uncertainty`), for the default ladder policy."""
    from ..ladders.policy import LadderPolicy
    from ..ladders.uncertainty import calibrate as run_calibration

    if not with_synthetic:
        df = df[~is_synthetic(df)]

    model = new_model(family, members).fit(df)
    if calibrate:
        model.calibration_ = run_calibration(df, lambda d: new_model(family, members).fit(d),
                                             policy or LadderPolicy(), folds=CALIBRATION_FOLDS)
    return model


def save(model: M.CurveModel, path: str, df, extra: dict | None = None) -> dict:
    return M.save(model, path, df, FEATURE_VERSION, extra)


_LOADED: dict[tuple, tuple] = {}


def _memo(path: str, loader):
    """A model file is read once per process (a batch or a benchmark predicts many titles); the
    memo is keyed by the file's identity and modification time."""
    try:
        st = os.stat(path)
        key = (os.path.abspath(path), st.st_size, st.st_mtime_ns)
    except OSError:
        return loader()
    if key not in _LOADED:
        _LOADED.clear()
        _LOADED[key] = loader()
    return _LOADED[key]


def load(path: str, *, trust_pickle: bool = False):
    """A user's model file (``--model``)."""
    return _memo(path, lambda: M.load(path, FEATURE_VERSION, trust_pickle=trust_pickle))


def write_shipped(model: M.CurveModel, df, models_dir: str) -> dict:
    """Save ``model`` as the shipped default with its record (used when the table changes)."""
    from ..core.fsutil import atomic_write_json

    path = os.path.join(models_dir, "default.skops")
    meta = save(model, path, df)
    atomic_write_json(os.path.join(models_dir, "default.json"),
                      {"file": "default.skops", "sha256": M.file_sha256(path), "meta": meta})
    return meta


def load_default_model(cache_dir: str | None = None):
    """The shipped model (checksum verified); if it cannot be used, the same model retrained from
    the shipped table and kept in the cache folder (also checked by its recorded checksum)."""
    try:
        rec = shipped_model_record()
        path = shipped_model_path()
        return _memo(path, lambda: M.load(path, FEATURE_VERSION, sha256=rec["sha256"]))
    except ModelError as first:
        data = shipped_dataset_path()
        if not os.path.isfile(data):
            raise first
        return _retrained_default(data, cache_dir, first)


def _retrained_default(data: str, cache_dir: str | None, why: ModelError):
    import sklearn

    df = read_dataset(data)
    root = os.path.join(cache_dir or default_root(), "models")
    stem = f"default-{M.dataset_hash(df)[:16]}-{sklearn.__version__}"
    path, record = os.path.join(root, stem + ".skops"), os.path.join(root, stem + ".json")
    try:
        with open(record, encoding="utf-8") as fh:
            sha = json.load(fh)["sha256"]
        return M.load(path, FEATURE_VERSION, sha256=sha)
    except (OSError, ValueError, KeyError, TypeError, ModelError):
        pass  # not there yet, or not trustworthy: fit again
    model = train(df, calibrate=False)
    try:  # the calibration measures the model family on this table: the shipped one still holds
        model.calibration_ = dict(shipped_model_record().get("meta", {}).get("calibration") or {})
    except ModelError:
        model.calibration_ = {}
    extra = {"retrained_because": str(why)}
    try:
        meta = save(model, path, df, extra=extra)
        from ..core.fsutil import atomic_write_json

        atomic_write_json(record, {"sha256": M.file_sha256(path)})
    except OSError:  # an unwritable cache: use the model, keep nothing
        meta = M.metadata(model, df, FEATURE_VERSION, extra)
    return model, meta
