"""The default model and the table it was trained on ship with the package and work together."""
import json
import math
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from pertitle.encoder.features import PROBE_COLUMNS
from pertitle.ladders import model as M
from pertitle.ladders.document import validate
from pertitle.pipeline import models as T

from .conftest import run


@pytest.mark.parametrize("name", T.SHIPPED)
def test_shipped_table_and_models_exist_and_agree(name):
    df = T.read_dataset(T.shipped_dataset_path())
    rec = T.shipped_model_record(name)
    assert rec["sha256"] == M.file_sha256(T.shipped_model_path(name))
    model, meta = M.load(T.shipped_model_path(name), sha256=rec["sha256"])
    # the model says which table it came from (its real titles: the shipped models leave the
    # synthetic clips out): retraining from the shipped table is reproducible
    real = df[~T.is_synthetic(df)]
    assert meta["training_data_sha256"] == M.dataset_hash(real)
    assert meta["n_titles"] == real["title"].nunique() >= 30
    assert set(meta["feature_columns"]) <= {c[2:] for c in df.columns if c.startswith("f_")}
    assert model.family == T.DEFAULT_FAMILY
    # as many members as this build trains (a retrained fallback would otherwise differ from it)
    assert meta["members"] == T.DEFAULT_MEMBERS == len(model.members_)
    # predict's model reads the probe encode; the fast mode's does not (it measures the grid itself)
    assert (set(PROBE_COLUMNS) <= set(meta["feature_columns"])) == (name == "default")
    # the same model as plain trees (what the pipeline loads: no scikit-learn import), same numbers
    assert rec["trees_sha256"] == M.file_sha256(T.shipped_trees_path(name))
    plain, pmeta = M.load_plain(T.shipped_trees_path(name), sha256=rec["trees_sha256"])
    assert pmeta["training_data_sha256"] == meta["training_data_sha256"]
    rows = real.sample(400, random_state=0)
    X = M.design(rows, model.feature_columns)[model.columns_]
    a, b = model.predict_members(X), plain.predict_members(X)
    assert all(np.array_equal(x[t], y[t]) for x, y in zip(a, b) for t in x)
    assert plain.calibration_ == model.calibration_ and plain.anchors_ == model.anchors_


def test_shipped_model_loads_from_the_installed_package_in_another_folder(tmp_path):
    """Not from the source tree: a subprocess in an empty folder, no PYTHONPATH."""
    code = ("import sys; from pertitle.pipeline.models import load_default_model; "
            "m, meta = load_default_model(); "
            "print(type(m).__module__, meta.get('retrained_because', 'shipped'), 'sklearn' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    p = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["pertitle.ladders.model", "shipped", "False"]   # plain trees: no import


def test_predict_uses_the_shipped_model_and_orders_content_by_difficulty(make_clip, tmp_path):
    """No --model: the shipped one. A flat picture needs fewer bits for the top rung than grain."""
    docs = {}
    for kind, kw in {"flat": dict(source="color=c=0x3060a0:size=640x360:rate=24"),
                     "grain": dict(vf="noise=alls=40:allf=t")}.items():
        clip = make_clip(f"ship_{kind}.mp4", size="640x360", seconds=2, **kw)
        out = tmp_path / f"{kind}.ladder.json"
        p = run("predict", clip, "-o", out, "--cache", tmp_path / "c")
        assert p.returncode == 0, p.stderr
        doc = json.loads(out.read_text())
        validate(doc)
        assert doc["kind"] == "predicted" and doc["prediction"]["verify_encodes"] == 0
        kbps = [r["bitrate_kbps"] for r in doc["rungs"]]
        assert kbps == sorted(kbps) and len(set(kbps)) == len(kbps)
        # the probe encode (one full-frame veryfast encode of the excerpt) is recorded
        pe = doc["prediction"]["probe_encode"]
        assert pe["preset"] == "veryfast" and pe["crf"] == 23 and pe["seconds"] > 0
        # ... and so is the scaling measurement, whose features the model read for every size
        sc = doc["prediction"]["scaling_ceiling"]
        assert sc["runs"] * sc["run_frames"] == 24 and sc["seconds"] >= 0 and "each size scaled, no encode" in p.stdout
        ceil = {k: v for k, v in doc["prediction"]["features"].items() if k.startswith("ceil_vmaf@")}
        assert {f"ceil_vmaf@{c['width']}x{c['height']}" for c in doc["curves"]} == set(ceil)
        assert all(0 <= v <= 100.5 for v in ceil.values())
        pr = doc["prediction"]
        assert pr["loss_bound_kind"] == ("bd_rate" if len(doc["rungs"]) > 1 else "rate_excess")
        uncertain = [n for n in doc["notes"] if n.startswith("too uncertain")]
        assert len(uncertain) == (0 if pr["confident"] else 1)
        # the summary says it once: the note when uncertain, a "ship it" line with the figures when not
        assert p.stdout.count("too uncertain") == len(uncertain)
        assert ("ship it" in p.stdout) == pr["confident"]
        # the shipped model's size model chose among the sizes, and the summary says so
        assert pr["size_choice"] == "size_model" and "its size model names" in p.stdout
        if uncertain:  # the note and the summary print the document's own (rounded) figures
            lo, hi = pr["top_kbps_interval"]
            assert f"top rung {lo}-{hi} kbps" in uncertain[0]
            assert f"loss up to {pr['loss_bound_pct']:.1f}%" in uncertain[0]
        f = doc["prediction"]["features"]
        assert 0 <= f["fp_vmaf"] <= 100 and math.isfinite(f["fp_log_bpp"])
        docs[kind] = doc
    assert docs["flat"]["rungs"][-1]["bitrate_kbps"] < docs["grain"]["rungs"][-1]["bitrate_kbps"]
    # grain costs more bits per pixel than a flat picture at the same CRF, and scores lower
    fl, gr = docs["flat"]["prediction"]["features"], docs["grain"]["prediction"]["features"]
    assert gr["fp_log_bpp"] > fl["fp_log_bpp"] + 1.0 and gr["fp_vmaf"] < fl["fp_vmaf"]


def test_tampered_shipped_model_is_not_loaded_but_retrained(tmp_path, monkeypatch):
    """A shipped model whose bytes changed fails its checksum and is never unpacked; the same
    model is refitted from the shipped table into the cache, in the safe format, and reused."""
    monkeypatch.setattr(T, "DEFAULT_MEMBERS", 2)   # the test's retrain: a smaller ensemble
    bad, bad_trees = tmp_path / "default.skops", tmp_path / "default.trees.npz"
    for src, dst in ((T.shipped_model_path(), bad), (T.shipped_trees_path(), bad_trees)):
        shutil.copy(src, dst)
        with open(dst, "ab") as fh:
            fh.write(b"tampered")
    monkeypatch.setattr(T, "shipped_model_path", lambda name="default": str(bad))
    monkeypatch.setattr(T, "shipped_trees_path", lambda name="default": str(bad_trees))
    model, meta = T.load_default_model(cache_dir=str(tmp_path / "cache"))
    assert "checksum" in meta["retrained_because"] and model.family == T.DEFAULT_FAMILY
    saved = sorted(os.listdir(tmp_path / "cache" / "models"))
    assert len(saved) == 2 and saved[0].startswith("default-") and saved[0].endswith(".json")
    with open(tmp_path / "cache" / "models" / saved[1], "rb") as fh:
        assert fh.read(2) == b"PK"  # a skops zip, not a pickle
    # the second call finds the retrained model instead of fitting again
    again, meta2 = T.load_default_model(cache_dir=str(tmp_path / "cache"))
    assert meta2["training_data_sha256"] == meta["training_data_sha256"]
    assert "retrained_because" in meta2
    # the retrained model keeps the shipped calibration (it measures the family on this table)
    assert again.calibration_ == T.shipped_model_record()["meta"].get("calibration", {})


def test_tampered_plain_trees_fall_back_to_the_shipped_skops_file(tmp_path, monkeypatch):
    """The plain trees fail their checksum: the skops file of the same model is used (verified
    too), not a retrained one."""
    bad = tmp_path / "fast.trees.npz"
    shutil.copy(T.shipped_trees_path("fast"), bad)
    with open(bad, "r+b") as fh:
        fh.seek(200)
        fh.write(b"\x00" * 16)
    monkeypatch.setattr(T, "shipped_trees_path", lambda name="default": str(bad))
    model, meta = T.load_default_model(cache_dir=str(tmp_path / "cache"), name="fast")
    assert "retrained_because" not in meta and not (tmp_path / "cache").exists()
    assert not isinstance(model.members_[0]["log_bpp"], M.PlainBoost)   # the skops file's
