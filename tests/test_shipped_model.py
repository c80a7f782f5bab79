"""The default model and the table it was trained on ship with the package and work together."""
import json
import os

from ladders import model as M
from ladders import training as T
from ladders.document import validate

from .test_cli import run


def test_shipped_table_and_model_exist_and_agree():
    df = T.read_dataset(T.shipped_dataset_path())
    model, meta = M.load(T.shipped_model_path())
    # the model says which table it came from: retraining from the shipped table is reproducible
    assert meta["training_data_sha256"] == M.dataset_hash(df)
    assert meta["n_titles"] == df["title"].nunique() >= 30
    assert set(meta["feature_columns"]) <= {c[2:] for c in df.columns if c.startswith("f_")}
    assert model.family == T.DEFAULT_FAMILY


def test_predict_uses_the_shipped_model_and_orders_content_by_difficulty(make_clip, tmp_path):
    """No --model: the shipped one. A flat picture needs fewer bits for the top rung than grain."""
    docs = {}
    for kind, kw in {"flat": dict(source="color=c=0x3060a0:size=640x360:rate=24"),
                     "grain": dict(vf="noise=alls=40:allf=t")}.items():
        clip = make_clip(f"ship_{kind}.mp4", size="640x360", seconds=2, **kw)
        out = tmp_path / f"{kind}.ladder.json"
        p = run("predict", clip, "-o", out, "-q", "--cache", tmp_path / "c")
        assert p.returncode == 0, p.stderr
        doc = json.loads(out.read_text())
        validate(doc)
        assert doc["kind"] == "predicted" and doc["prediction"]["verify_encodes"] == 0
        kbps = [r["bitrate_kbps"] for r in doc["rungs"]]
        assert kbps == sorted(kbps) and len(set(kbps)) == len(kbps)
        docs[kind] = doc
    assert docs["flat"]["rungs"][-1]["bitrate_kbps"] < docs["grain"]["rungs"][-1]["bitrate_kbps"]


def test_unloadable_shipped_model_is_retrained_from_the_shipped_table(tmp_path, monkeypatch):
    bad = tmp_path / "default.joblib"
    bad.write_bytes(b"not a model")
    monkeypatch.setattr(T, "shipped_model_path", lambda: str(bad))
    model, meta = T.load_default_model(cache_dir=str(tmp_path / "cache"))
    assert "retrained_because" in meta and model.family == T.DEFAULT_FAMILY
    saved = os.listdir(tmp_path / "cache" / "models")
    assert len(saved) == 1 and saved[0].startswith("default-")
    # the second call finds the retrained model instead of fitting again
    again, meta2 = T.load_default_model(cache_dir=str(tmp_path / "cache"))
    assert meta2["training_data_sha256"] == meta["training_data_sha256"]


