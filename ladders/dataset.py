"""The training table: reading and checking it (one row per trial encode, features as ``f_*``)."""
from __future__ import annotations

import os

from ..core.errors import DatasetError

REQUIRED = ["title", "group", "width", "height", "ref_width", "ref_height", "ref_fps", "crf", "kbps",
            "vmaf_mean", "log_bpp", "codec", "preset", "vmaf_model", "analysis_encode_s"]


def read_dataset(path: str):
    import numpy as np
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
    numeric = ["width", "height", "ref_width", "ref_height", "ref_fps", "crf", "kbps", "vmaf_mean", "log_bpp"]
    for col in numeric:
        values = pd.to_numeric(df[col], errors="coerce")
        if not np.isfinite(values).all():
            raise DatasetError(f"column {col} holds a value that is not a finite number", path)
        df[col] = values
    if ((df["width"] < 2) | (df["height"] < 2) | (df["kbps"] <= 0) | (df["ref_fps"] <= 0)).any():
        raise DatasetError("sizes, bitrates and frame rates must be positive", path)
    return df
