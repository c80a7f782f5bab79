"""The shipped model and the table it was trained on; loading a model for the pipeline.

Two models ship under ``ladders/models/`` (safe format, see :mod:`pertitle.ladders.model`), each
with a ``.json`` record beside it (the file's SHA-256 and its metadata) and the same model as
plain trees (``.trees.npz``, loaded first: predicting from it needs no scikit-learn import): ``default`` for
``predict`` and ``--verify`` (its features include the probe encode's, ``PROBE_COLUMNS``) and
``fast`` for ``analyze --fast``, without them (the fast mode measures the grid itself: in grouped
CV the probe did not improve it, and it would cost a sixth of its budget). ``default`` also
carries the size model ``predict`` chooses its rungs' sizes with (:mod:`pertitle.ladders.sizes`,
fitted on the same table). A shipped model whose
checksum does not match, or that this scikit-learn cannot load,
is retrained from the shipped table (seconds) into the cache folder, in the same safe format.
"""
from __future__ import annotations

import json
import os
from importlib import resources

from ..core.errors import ModelError
from ..encoder.cache import default_root
from ..encoder.features import FEATURE_COLUMNS, FEATURE_VERSION, PROBE_COLUMNS
from ..ladders import model as M
from ..ladders.dataset import read_dataset

DEFAULT_FAMILY = "hgb"
DEFAULT_MEMBERS = 15
"""Ensemble members (each bagged over the CV groups) for the tree families. 15 rather than 5: in
grouped CV on two fold assignments and two bootstrap seeds, the members' mean moved half as much
between seeds (mean |change| of a held-out window's ``predict`` loss 1.2 instead of 2.1 points),
``predict``'s mean loss over the top 16 windows fell from 28.1 to 27.0 % and ``--verify 6``'s 90th
percentile ranged 3.31-3.77 % over the four runs instead of 2.65-4.56 % (docs/model-guided.md,
"Ensemble size")."""
CALIBRATION_FOLDS = 5


def shipped_dataset_path() -> str:
    return str(resources.files("pertitle.samples").joinpath("training_dataset.csv"))


SHIPPED = ("default", "fast")
"""The shipped models; ``fast`` is trained without the probe encode's features."""


def _shipped_name(name: str) -> str:
    if name not in SHIPPED:
        raise ModelError(f"no shipped model called {name!r}")
    return name


def shipped_model_path(name: str = "default") -> str:
    return str(resources.files("pertitle.ladders").joinpath(f"models/{_shipped_name(name)}.skops"))


def shipped_model_record(name: str = "default") -> dict:
    """``<name>.json``: the shipped model's checksum and metadata."""
    path = str(resources.files("pertitle.ladders").joinpath(f"models/{_shipped_name(name)}.json"))
    try:
        with open(path, encoding="utf-8") as fh:
            rec = json.load(fh)
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"the shipped model's record is unreadable: {exc}", path) from None
    if not isinstance(rec, dict) or not isinstance(rec.get("sha256"), str):
        raise ModelError("the shipped model's record has no checksum", path)
    return rec


PROBE_ANCHORS = (("log_bpp", "fp_log_bpp", 1.0), ("vmaf_logit", "fp_vmaf", 0.5))
"""With the probe encode, both targets are learnt relative to it: every grid point's log bits per
pixel minus the probe's, its logit VMAF minus half the probe's (a veryfast encode's VMAF tracks
the grid's less closely than its rate does: r = 0.81-0.90 against 0.96). In grouped CV (two
fold assignments) this halved ``predict``'s worst window, cut its 90th percentile by 2.5-2.9
points and put its top rung within ±25 % on 82-86 % of held-out windows instead of 71-77 %
(docs/model-guided.md, "The probe as an anchor")."""


def new_model(family: str = DEFAULT_FAMILY, members: int | None = None, probe: bool = True) -> M.CurveModel:
    """An unfitted model over this build's feature list (with the probe encode's features, and
    its targets anchored on them, and the sizes' scaling ceilings, unless ``probe`` is false:
    the fast mode's model has neither, its budget is wall time)."""
    if members is None:
        members = DEFAULT_MEMBERS if family in ("hgb", "extratrees") else 1
    cols = tuple(FEATURE_COLUMNS) + (tuple(PROBE_COLUMNS) + tuple(M.SIZE_FEATURES) if probe else ())
    return M.CurveModel(family=family, feature_columns=cols, members=members,
                        anchors=PROBE_ANCHORS if probe else ())


WITH_SYNTHETIC = False
"""The shipped model is trained on real titles only: in grouped CV on held-out real titles the
synthetic clips improved the median of ``predict`` but worsened its 90th percentile, its top rung
and ``--verify 6`` (docs/model-guided.md, Results), so they do not earn their place."""


def is_synthetic(df):
    if "origin" in df.columns:
        return df["origin"].astype(str).eq("synthetic")
    return df["title"].astype(str).str.match(r"^(photo|lavfi|credits)_")


def evaluation_table(df, with_synthetic: bool = False):
    """The rows grouped cross-validation folds and judges (``pertitle evaluate``,
    ``bench/search_replay.py``): those scored with VMAF v0.6.1, and only the real titles unless
    ``with_synthetic`` (the folds then split the real groups only, with or without the probe)."""
    if "vmaf_model" in df.columns:
        df = df[df["vmaf_model"] == "vmaf_v0.6.1"]
    return df if with_synthetic else df[~is_synthetic(df)]


def train(df, family: str = DEFAULT_FAMILY, members: int | None = None, calibrate: bool = True,
          policy=None, with_synthetic: bool = WITH_SYNTHETIC, probe: bool = True,
          sizes: bool = True) -> M.CurveModel:
    """Fit on ``df`` (its synthetic titles only with ``with_synthetic``); with ``calibrate``, also
    the grouped-CV calibration of its intervals and of its winner's-curse bias
    (:mod:`pertitle.ladders.uncertainty`), for the default ladder policy. ``probe``: use the probe
    encode's features (titles without them are left out); with them and ``sizes``, also the size
    model ``predict`` chooses its rungs' sizes with (:mod:`pertitle.ladders.sizes`; the fast
    mode's rounds decide sizes by measurement and have none)."""
    from ..ladders.policy import LadderPolicy
    from ..ladders.sizes import SizeModel
    from ..ladders.uncertainty import calibrate as run_calibration

    if not with_synthetic:
        df = df[~is_synthetic(df)]
    if probe:
        df = with_probe(df)

    policy = policy or LadderPolicy()
    model = new_model(family, members, probe).fit(df)
    if probe and sizes:
        model.sizes_ = SizeModel.fit(df, model.feature_columns, policy)
    if calibrate:
        # calibrated on ladders chosen by the curves alone: its winner's-curse shift debiases the
        # rows --verify starts from too, and calibrated on the size model's ladders it made
        # --verify 6 worse on the extra windows, predict no better (docs/model-guided.md)
        model.calibration_ = run_calibration(df, lambda d: new_model(family, members, probe).fit(d),
                                             policy, folds=CALIBRATION_FOLDS)
    return model


def with_probe(df):
    """The rows whose title has the probe encode's features and its sizes' scaling ceilings (a
    table assembled without FFmpeg, or the synthetic clips carried over from an older table, have
    none)."""
    cols = [f"f_{c}" for c in (*PROBE_COLUMNS, *M.SIZE_FEATURES)]
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ModelError(f"dataset lacks the probe encode's columns ({', '.join(missing)}): assemble it "
                         "again, or train without them (--no-probe)")
    kept = df[df[cols].notna().all(axis=1)]
    if kept.empty:
        raise ModelError("no title of the dataset has the probe encode's features")
    return kept


def save(model: M.CurveModel, path: str, df, extra: dict | None = None) -> dict:
    """Write ``model``: a ``.npz`` path gets plain trees (a boosted model that predicts without
    importing scikit-learn, :func:`pertitle.ladders.model.save_plain`), any other a skops file."""
    if path.lower().endswith(".npz"):
        return M.save_plain(model, path, M.metadata(model, df, FEATURE_VERSION, extra))
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


def write_shipped(model: M.CurveModel, df, models_dir: str, name: str = "default") -> dict:
    """Save ``model`` as the shipped model ``name`` with its record (used when the table changes)."""
    from ..core.fsutil import atomic_write_json

    name = _shipped_name(name)
    path = os.path.join(models_dir, f"{name}.skops")
    meta = save(model, path, df)
    trees = os.path.join(models_dir, f"{name}.trees.npz")
    M.save_plain(model, trees, meta)
    atomic_write_json(os.path.join(models_dir, f"{name}.json"),
                      {"file": f"{name}.skops", "sha256": M.file_sha256(path),
                       "trees_file": f"{name}.trees.npz", "trees_sha256": M.file_sha256(trees), "meta": meta})
    return meta


def shipped_trees_path(name: str = "default") -> str:
    return str(resources.files("pertitle.ladders").joinpath(f"models/{_shipped_name(name)}.trees.npz"))


def load_default_model(cache_dir: str | None = None, name: str = "default"):
    """The shipped model ``name`` (checksum verified); if it cannot be used, the same model
    retrained from the shipped table and kept in the cache folder (also checked by its recorded
    checksum)."""
    try:
        rec = shipped_model_record(name)
        if isinstance(rec.get("trees_sha256"), str):
            # the same model as plain trees: no scikit-learn import (about 1.2 s of every run)
            trees = shipped_trees_path(name)
            try:
                return _memo(trees, lambda: M.load_plain(trees, FEATURE_VERSION, sha256=rec["trees_sha256"]))
            except ModelError:
                pass   # the skops file, then a retrained model
        path = shipped_model_path(name)
        return _memo(path, lambda: M.load(path, FEATURE_VERSION, sha256=rec["sha256"]))
    except ModelError as first:
        data = shipped_dataset_path()
        if not os.path.isfile(data):
            raise first
        return _retrained_default(data, cache_dir, first, name)


def _retrained_default(data: str, cache_dir: str | None, why: ModelError, name: str = "default"):
    import sklearn

    df = read_dataset(data)
    root = os.path.join(cache_dir or default_root(), "models")
    import hashlib

    # the model's configuration (family, features, anchors) is part of the name: a model retrained
    # by an older build is not taken for this one's
    config = repr(new_model(probe=(name != "fast"))) + f" scale rule {M.SCALE_RULE}"
    config = hashlib.sha256(config.encode()).hexdigest()[:8]
    stem = f"{name}-{M.dataset_hash(df)[:16]}-{config}-{sklearn.__version__}"
    path, record = os.path.join(root, stem + ".skops"), os.path.join(root, stem + ".json")
    try:
        with open(record, encoding="utf-8") as fh:
            sha = json.load(fh)["sha256"]
        return M.load(path, FEATURE_VERSION, sha256=sha)
    except (OSError, ValueError, KeyError, TypeError, ModelError):
        pass  # not there yet, or not trustworthy: fit again
    model = train(df, calibrate=False, probe=(name != "fast"))
    try:  # the calibration measures the model family on this table: the shipped one still holds
        model.calibration_ = dict(shipped_model_record(name).get("meta", {}).get("calibration") or {})
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
