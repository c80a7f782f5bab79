"""The training table: reading it, checking it, and the shipped default model built from it."""
from __future__ import annotations

import os
from importlib import resources

from encoder.errors import DatasetError, ModelError

REQUIRED = ["title", "group", "width", "height", "ref_width", "ref_height", "ref_fps", "crf", "kbps",
            "vmaf_mean", "log_bpp", "codec", "preset", "vmaf_model", "analysis_encode_s"]
DEFAULT_FAMILY = "hgb"


def read_dataset(path: str):
    import pandas as pd

    if not os.path.isfile(path):
        raise DatasetError("no such dataset file", path)
    try:
        df = pd.read_csv(path)
    except Exception as exc:  # pandas raises many parser error types
        raise DatasetError(f"not a readable CSV: {exc}", path) from None
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise DatasetError(f"missing columns: {', '.join(missing)} (build it with `pertitle dataset build`)", path)
    if not any(c.startswith("f_") for c in df.columns):
        raise DatasetError("no feature columns (f_*)", path)
    if df["title"].nunique() < 2:
        raise DatasetError("needs at least two titles", path)
    return df


def shipped_dataset_path() -> str:
    return str(resources.files("samples").joinpath("training_dataset.csv"))


def shipped_model_path() -> str:
    return str(resources.files("ladders").joinpath("models/default.joblib"))


def load_default_model(cache_dir: str | None = None):
    """The shipped model; if this scikit-learn cannot load it, retrain it from the shipped table
    (seconds) and keep the result in the cache directory."""
    from . import model as M

    try:
        return M.load(shipped_model_path())
    except ModelError as first:
        data = shipped_dataset_path()
        if not os.path.isfile(data):
            raise first
        from encoder.cache import default_root

        root = cache_dir or default_root()
        df = read_dataset(data)
        retrained = os.path.join(root, "models", f"default-{M.dataset_hash(df)[:16]}-{_sk()}.joblib")
        if os.path.isfile(retrained):
            try:
                return M.load(retrained)
            except ModelError:
                pass
        model = M.CurveModel(family=DEFAULT_FAMILY).fit(df)
        meta = M.save(model, retrained, df, extra={"retrained_because": str(first)})
        return model, meta


def _sk() -> str:
    import sklearn

    return sklearn.__version__
