"""Dataset -> train -> predict round trip on a tiny generated dataset; model files; grouped CV."""
import json
import os
import shutil

import numpy as np
import pytest

from pertitle.pipeline.common import AnalysisOptions
from pertitle.encoder.cache import Cache
from pertitle.core.errors import DatasetError, InvalidOptions, ModelError
from pertitle.ladders import model as M
from pertitle.ladders.document import validate
from pertitle.ladders.evaluate import cross_validate, group_splits, summarize
from pertitle.ladders.policy import LadderPolicy
from pertitle.ladders.dataset import read_dataset
from pertitle.pipeline import models

from .conftest import run


@pytest.fixture(scope="module")
def tiny(ff, make_clip, tmp_path_factory):
    """Five 1-second 480x270 titles; two of them share the group 'pair'."""
    from pertitle.pipeline.dataset import build

    d = tmp_path_factory.mktemp("tiny")
    srcs = {"pair_a": dict(source="testsrc2"), "pair_b": dict(source="testsrc2", vf="noise=alls=25:allf=t"),
            "zoom": dict(source="mandelbrot"), "bars": dict(source="smptebars"),
            "life": dict(source="cellauto")}
    for name, kw in srcs.items():
        shutil.copy(make_clip(f"t_{name}.mp4", size="480x270", rate=12, seconds=1, **kw), d / f"{name}.mp4")
    opts = AnalysisOptions(crfs=(20, 30, 40), jobs=2, gop_seconds=1)
    df, failures = build([str(d)], opts, ff, Cache(str(d / "cache")), group_regex=r"^(pair)_")
    assert not failures
    path = d / "tiny.csv"
    df.to_csv(path, index=False)
    return {"dir": d, "csv": str(path), "df": df}


def test_dataset_is_tidy(tiny):
    df = tiny["df"]
    assert df["title"].nunique() == 5 and len(df) == 5 * 2 * 3
    assert set(df[df.title.str.startswith("pair")]["group"]) == {"pair"}
    assert {"kbps", "vmaf_mean", "log_bpp", "f_si_mean", "f_probe_lo_crf33_log_bpp"} <= set(df.columns)
    assert df.groupby("title")["f_si_mean"].nunique().max() == 1  # features are per title


@pytest.mark.parametrize("family", M.FAMILIES)
def test_every_family_fits_and_predicts_monotone_rows(tiny, family):
    df = read_dataset(tiny["csv"])
    model = models.train(df, family, members=2, calibrate=False)
    feats = {c: float(df[f"f_{c}"].iloc[0]) for c in model.feature_columns}
    rows = model.predict_rows(feats, [(416, 234), (480, 270)], [20, 30, 40], (480, 270), 12.0)
    assert len(rows) == 6
    for size in [(416, 234), (480, 270)]:
        rs = sorted([r for r in rows if (r["width"], r["height"]) == size], key=lambda r: r["crf"])
        assert all(a["kbps"] > b["kbps"] for a, b in zip(rs, rs[1:]))
        assert all(a["vmaf_mean"] >= b["vmaf_mean"] for a, b in zip(rs, rs[1:]))
        assert all(0 <= r["vmaf_mean"] <= 100 for r in rs)


def test_model_file_carries_metadata_and_refuses_other_versions(tiny, tmp_path):
    df = read_dataset(tiny["csv"])
    path = str(tmp_path / "m.skops")
    meta = models.save(models.train(df, "ridge", calibrate=False), path, df)
    model, loaded = models.load(path)
    assert loaded["feature_columns"] == list(model.feature_columns)
    assert loaded["training_data_sha256"] == M.dataset_hash(df) == meta["training_data_sha256"]
    assert loaded["versions"]["scikit-learn"] and loaded["grid"]["crfs"] == [20.0, 30.0, 40.0]
    assert loaded["targets"]["log_bpp"].startswith("log of")
    models.save(model, path, df, extra={"versions": {"scikit-learn": "0.1.0"}})
    with pytest.raises(ModelError, match="retrain"):
        models.load(path)
    with open(path, "wb") as fh:
        fh.write(b"garbage")
    with pytest.raises(ModelError):
        models.load(path)


def test_grouped_cv_never_leaks(tiny):
    df = tiny["df"]
    for tr, te in group_splits(df):
        assert not set(df.iloc[tr]["group"]) & set(df.iloc[te]["group"])
        assert not set(df.iloc[tr]["title"]) & set(df.iloc[te]["title"])
    folds = list(group_splits(df))
    assert len(folds) == df["group"].nunique() == 4
    # the two 'pair' titles are held out together
    assert any(set(df.iloc[te]["title"]) == {"pair_a", "pair_b"} for _, te in folds)


def test_cross_validation_reports_per_title_and_mode(tiny):
    fit = lambda d: models.train(d, "hgb", members=2, calibrate=False)  # noqa: E731
    res = cross_validate(tiny["df"], fit, LadderPolicy(), ["predict", "verify 1", "fast"])
    per, agg = summarize(res)
    assert set(per["mode"]) == {"predict", "verify 1", "fast"}
    assert set(per.title) == {"pair_a", "pair_b", "zoom", "bars", "life"}
    assert (per[per["mode"] == "predict"].encodes == 0).all()
    assert (per[per["mode"] == "verify 1"].encodes <= 1).all()
    # fast: within its ceiling, 18 % of the two-lane wall time or the floor of two dearest points
    from pertitle.ladders.search import fast_ceiling

    for r in per[per["mode"] == "fast"].itertuples():
        dt = tiny["df"][tiny["df"]["title"] == r.title]
        W, H = int(dt["ref_width"].iloc[0]), int(dt["ref_height"].iloc[0])
        grid = [(int(a), int(b), float(c)) for a, b, c in zip(dt.width, dt.height, dt.crf)]
        ceiling, full = fast_ceiling(grid, W * H, 0.18, 3)
        assert r.cost_ratio <= ceiling / full + 1e-9
        assert r.cost_ratio <= 0.18 + 1e-9 or ceiling > 0.18 * full
    assert set(agg["mode"]) == {"predict", "verify 1", "fast"}


def test_judging_given_priors_is_what_evaluate_does_and_a_perfect_prior_loses_nothing(tiny):
    """``judge_title`` (the search replays of bench/search_replay.py) on a model's priors gives
    exactly ``evaluate_title``'s figures; with the title's own measured table as the prior,
    ``predict``'s ladder is the exhaustive one."""
    from dataclasses import asdict

    from pertitle.ladders.evaluate import held_out_prior, evaluate_title, judge_title

    df = tiny["df"]
    train, dt = df[df["title"] != "zoom"], df[df["title"] == "zoom"]
    model = models.train(train, "hgb", members=2, calibrate=False)
    modes = ["predict", "verify 2", "fast"]
    via_model = evaluate_title(model, dt, LadderPolicy(), modes)
    given = judge_title(dt, LadderPolicy(), modes, held_out_prior(model, dt)[0])
    assert [asdict(a) for a in via_model] == [asdict(b) for b in given]

    truth = [{"width": int(r.width), "height": int(r.height), "crf": float(r.crf), "kbps": float(r.kbps),
              "vmaf_mean": float(r.vmaf_mean)} for r in dt.itertuples()]
    # predict only: the searches place rungs by the evidence rule, which can cost something even
    # with a perfect prior (a size measured far from a rung's bitrate may not hold it)
    [ev] = judge_title(dt, LadderPolicy(), ["predict"], truth)
    assert ev.bd_rate_pct is None or abs(ev.bd_rate_pct) < 1e-6
    assert abs(ev.envelope_loss_pct) < 1e-6 and abs(ev.top_ratio - 1) < 1e-9 and abs(ev.vmaf_bias) < 1e-6
    assert ev.rungs_predicted == ev.rungs_exhaustive


def test_the_fast_modes_replay_with_measurement_noise(tiny, monkeypatch):
    """With ``fast_noise`` the fast mode's search sees each table point's VMAF plus exactly
    :func:`subsample_error`'s draw for it (clamped to 0-100), the other modes the table itself; a
    zero noise changes nothing, and the ladder is still judged on the table."""
    from dataclasses import asdict

    from pertitle.ladders import evaluate as E
    from pertitle.ladders.evaluate import held_out_prior, judge_title, subsample_error

    df = tiny["df"]
    train, dt = df[df["title"] != "zoom"], df[df["title"] == "zoom"]
    model = models.train(train, "hgb", members=2, calibrate=False)
    prior = held_out_prior(model, dt)[0]
    table = {(int(r.width), int(r.height), float(r.crf)): float(r.vmaf_mean) for r in dt.itertuples()}
    seen, real = [], E.search

    def spy(rows, measure, *a, **k):
        def wrapped(pts):
            got = measure(pts)
            seen.append([(int(m["width"]), int(m["height"]), float(m["crf"]), m["vmaf_mean"]) for m in got])
            return got
        return real(rows, wrapped, *a, **k)
    monkeypatch.setattr(E, "search", spy)
    modes = ["verify 2", "fast"]
    plain = judge_title(dt, LadderPolicy(), modes, prior)
    assert all(q == table[(w, h, c)] for batch in seen for w, h, c, q in batch)
    seen.clear()
    assert [asdict(a) for a in judge_title(dt, LadderPolicy(), modes, prior, fast_noise=(0.0, 0.0, 3))] == \
        [asdict(b) for b in plain]
    seen.clear()
    noisy = judge_title(dt, LadderPolicy(), ["fast"], prior, fast_noise=(2.0, 1.0, 3))
    err = subsample_error("zoom", 2.0, 1.0, 3)
    got = [x for batch in seen for x in batch]
    assert got and all(abs(q - min(100.0, max(0.0, table[(w, h, c)] + err((w, h, c))))) < 1e-9 for w, h, c, q in got)
    assert any(abs(q - table[(w, h, c)]) > 1e-6 for w, h, c, q in got)
    assert noisy[0].mode == "fast" and noisy[0].rungs_exhaustive == plain[1].rungs_exhaustive


def test_searches_skip_near_twins_from_six_encodes_and_in_the_fast_mode(tiny, monkeypatch):
    """The replay passes each mode's rule to the search, as ``predict --verify N`` and ``--fast``
    do: ``--verify 3`` keeps near-twins as neighbours, ``--verify 6`` and the fast mode skip them."""
    from pertitle.ladders import evaluate as E
    from pertitle.ladders.evaluate import held_out_prior, judge_title

    df = tiny["df"]
    train, dt = df[df["title"] != "zoom"], df[df["title"] == "zoom"]
    model = models.train(train, "hgb", members=2, calibrate=False)
    seen, real = [], E.search
    monkeypatch.setattr(E, "search", lambda *a, **k: seen.append(k.get("skip_twins")) or real(*a, **k))
    judge_title(dt, LadderPolicy(), ["verify 3", "verify 6", "fast"], held_out_prior(model, dt)[0])
    assert seen == [False, True, True]


def test_the_exhaustive_ladder_loses_nothing_against_itself_even_off_the_envelope():
    """A one-rung exhaustive ladder can sit above another size's curve (the microscopy window of
    the shipped table: its one rung is the native size's best grid point, 3.4 % dearer than the
    smaller size's curve at that quality); a ladder equal to it scores 0, not that 3.4 %."""
    from pertitle.ladders.document import curves_from_rows
    from pertitle.ladders.evaluate import envelope_loss, ladder_loss, score_ladder
    from pertitle.ladders.policy import choose_ladder

    df = read_dataset(os.path.join(os.path.dirname(__file__), "..", "samples", "training_dataset.csv"))
    dt = df[df["title"] == "killidynamics_embryo_microscopy_timelapse_896x672@18.366"]
    truth = curves_from_rows(dt.to_dict("records"), "vmaf_mean")
    exh = choose_ladder(truth, LadderPolicy()).rungs
    assert len(exh) == 1 and envelope_loss(truth, [(r.kbps, r.quality) for r in exh]) > 1.0
    s = score_ladder(exh, truth, LadderPolicy())
    assert s["bd_rate_pct"] is None and abs(s["envelope_loss_pct"]) < 1e-9
    dearer = [type(exh[0])(**{**exh[0].__dict__, "kbps": exh[0].kbps * 1.5})]
    assert score_ladder(dearer, truth, LadderPolicy())["envelope_loss_pct"] > 40.0
    # the exhaustive ladder handed in (a caller scoring many ladders on one truth) scores the same
    assert score_ladder(dearer, truth, LadderPolicy(), exh=exh) == score_ladder(dearer, truth, LadderPolicy())
    # one figure a ladder: the envelope loss where no BD-rate is defined, else the BD-rate
    assert ladder_loss(s) == s["envelope_loss_pct"]
    assert ladder_loss({**s, "bd_rate_pct": 2.5}) == 2.5


def test_cli_train_predict_evaluate(tiny, tmp_path):
    model = tmp_path / "m.skops"
    p = run("train", tiny["csv"], "-o", model, "--family", "hgb", "--members", "2")
    assert p.returncode == 0, p.stderr
    src = str(tiny["dir"] / "zoom.mp4")
    out = tmp_path / "zoom.ladder.json"
    p = run("predict", src, "--model", model, "-o", out, "--json", "-q")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    validate(doc)
    assert doc["kind"] == "predicted" and doc["prediction"]["verify_encodes"] == 0
    assert doc["prediction"]["model"] == "hgb" and doc["rungs"]
    # the rungs' sizes come from the two the model's size model names (ladders/sizes.py) ...
    assert doc["prediction"]["size_choice"] == "size_model"
    p = run("predict", src, "--model", model, "-o", out, "--verify", "2", "--cache", tmp_path / "c", "-q", "--json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert 1 <= doc["prediction"]["verify_encodes"] <= 2
    assert doc["prediction"]["size_choice"] == "curves"     # ... unless measurements decide them
    p = run("evaluate", tiny["csv"], "--verify", "0,1", "--members", "2", "--no-calibration", "--judge", "all")
    assert p.returncode == 0, p.stderr
    assert "[predict]" in p.stdout and "[verify 1]" in p.stdout and "[fast]" in p.stdout
    p = run("predict", src, "--model", tmp_path / "missing.skops")
    assert p.returncode == ModelError.exit_code and "no such model" in p.stderr
    # the same model as plain trees (.npz): the same ladder, to the kbps
    plain = tmp_path / "m.npz"
    p = run("train", tiny["csv"], "-o", plain, "--family", "hgb", "--members", "2")
    assert p.returncode == 0, p.stderr
    docs = []
    for m in (model, plain):
        p = run("predict", src, "--model", m, "-o", tmp_path / "z.json", "--json", "-q", "--cache", tmp_path / "c")
        assert p.returncode == 0, p.stderr
        docs.append(json.loads(p.stdout))
    assert docs[0]["rungs"] == docs[1]["rungs"]
    assert docs[0]["prediction"]["loss_bound_pct"] == docs[1]["prediction"]["loss_bound_pct"]
    # both files carry the same size model, described in their metadata
    (a, meta_a), (b, _) = M.load(str(model)), M.load(str(plain))
    feats = {c: float(tiny["df"][f"f_{c}"].iloc[0]) for c in a.feature_columns}
    assert meta_a["size_model"]["candidates"] == 2
    assert np.array_equal(a.sizes_.scales(feats, [150, 400, 900], (480, 270), 12.0),
                          b.sizes_.scales(feats, [150, 400, 900], (480, 270), 12.0))
    p = run("train", tiny["csv"], "-o", tmp_path / "r.npz", "--family", "ridge")
    assert p.returncode == InvalidOptions.exit_code and "plain trees" in p.stderr
    assert not (tmp_path / "r.npz").exists()


def test_bad_dataset(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(DatasetError, match="missing columns"):
        read_dataset(str(bad))
    p = run("train", bad, "-o", tmp_path / "m.skops")
    assert p.returncode == DatasetError.exit_code


def test_fast_mode_spends_a_fraction_of_the_grid(tiny, ff, tmp_path):
    from pertitle.pipeline.analyze import analyze

    df = read_dataset(tiny["csv"])
    model = str(tmp_path / "m.skops")
    models.save(models.train(df, "ridge_int", calibrate=False, probe=False), model, df)
    src = str(tiny["dir"] / "zoom.mp4")
    opts = AnalysisOptions(crfs=(18, 22, 26, 30, 34, 38, 42), gop_seconds=1, jobs=2, fast=True,
                           fast_budget=0.4, model_path=model)
    events = []
    (tmp_path / "w").mkdir()
    a = analyze(src, opts, ff, Cache(str(tmp_path / "c")), on_event=events.append,
                workdir=str(tmp_path / "w"))
    validate(a.document)
    sw = a.document["sweep"]
    assert sw["mode"] == "fast" and sw["grid_points"] == 14
    # its rounds share one decoded reference, removed afterwards
    assert sum(getattr(e, "name", None) == "reference" for e in events) == 1
    assert os.listdir(tmp_path / "w") == []
    assert 1 <= sw["encodes"] <= 6 and sw["vmaf_subsample"] == 3
    assert sw["reference_s"] > 0   # decoded beside the features and the prior, and accounted for
    assert len(a.rd_frame()) == sw["encodes"]  # the RD table holds measured points only
    assert any("fast mode" in n for n in a.document["notes"])
    # a model file that fails to load: its error, once the early decode has ended; nothing left
    bad = tmp_path / "bad.skops"
    bad.write_bytes(b"PK not a zip")
    with pytest.raises(ModelError):
        analyze(src, AnalysisOptions(crfs=(18, 22, 26, 30, 34, 38, 42), gop_seconds=1, fast=True,
                                     model_path=str(bad)),
                ff, Cache(str(tmp_path / "c2")), workdir=str(tmp_path / "w"))
    assert os.listdir(tmp_path / "w") == []


def test_fast_mode_is_deterministic_whatever_the_number_of_jobs(tiny, ff, tmp_path):
    """Same input, options and version: the same ladder and the same points, with one job, two or
    three (parallel jobs finish their encodes in any order; the rounds are planned for a fixed
    number of lanes, not for --jobs) and with a fresh cache each time."""
    df = read_dataset(tiny["csv"])
    model = str(tmp_path / "m.skops")
    models.save(models.train(df, "hgb", members=2, calibrate=False, probe=False), model, df)
    src = str(tiny["dir"] / "life.mp4")
    docs = []
    for jobs, cache in ((1, "c1"), (2, "c2"), (2, "c3"), (3, "c4")):
        p = run("analyze", src, "--fast", "--model", model, "-o", tmp_path / f"{cache}.json", "--json", "-q",
                "--crf", "18,22,26,30,34,38,42", "--gop", "1", "-j", str(jobs), "--cache", tmp_path / cache)
        assert p.returncode == 0, p.stderr
        docs.append(json.loads(p.stdout))
    for d in docs[1:]:
        assert [(r["width"], r["height"], r["bitrate_kbps"]) for r in d["rungs"]] == \
            [(r["width"], r["height"], r["bitrate_kbps"]) for r in docs[0]["rungs"]]
        assert d["sweep"]["search"]["rounds"] == docs[0]["sweep"]["search"]["rounds"]
    # planned for 3 lanes (--fast-lanes): again the same whatever --jobs, and recorded
    wide = []
    for jobs, cache in ((1, "w1"), (2, "w2")):
        p = run("analyze", src, "--fast", "--fast-lanes", "3", "--model", model, "-o", tmp_path / f"{cache}.json",
                "--json", "-q", "--crf", "18,22,26,30,34,38,42", "--gop", "1", "-j", str(jobs),
                "--cache", tmp_path / cache)
        assert p.returncode == 0, p.stderr
        wide.append(json.loads(p.stdout))
    assert wide[0]["sweep"]["search"]["lanes"] == 3 and docs[0]["sweep"]["search"]["lanes"] == 2
    assert wide[1]["sweep"]["search"]["rounds"] == wide[0]["sweep"]["search"]["rounds"]
    assert wide[1]["rungs"] == wide[0]["rungs"]


def test_the_lane_count_changes_the_config_key_and_the_jobs_do_not():
    """Batch resume reuses a title's result only for the same ladder-defining options."""
    base = AnalysisOptions(fast=True)
    assert AnalysisOptions(fast=True, jobs=8).config_key() == base.config_key()
    assert AnalysisOptions(fast=True, fast_lanes=4).config_key() != base.config_key()
    assert AnalysisOptions(fast=True, fast_lanes=2).config_key() == base.config_key()


def test_dataset_sweep_and_assemble_with_the_probe_encode(make_clip, tmp_path):
    """Windows swept, then assembled with their features and the probe encode's (one veryfast
    encode of the window at its largest size); a source gone missing keeps its rows with
    --carry-over; a table without the probe's columns cannot train the probe model."""
    src = tmp_path / "src"
    src.mkdir()
    for name, kw in {"flat": dict(source="color=c=0x3060a0:size=480x270:rate=12"),
                     "grain": dict(source="cellauto", vf="noise=alls=30:allf=t")}.items():
        shutil.copy(make_clip(f"ds_{name}.mp4", size="480x270", rate=12, seconds=2, **kw), src / f"{name}.mp4")
    p = run("dataset", "sweep", src, "-o", tmp_path / "sw", "--crf", "24,36", "--gop", "1", "-q")
    assert p.returncode == 0, p.stderr
    p = run("dataset", "assemble", tmp_path / "sw", "--sources", src, "-o", tmp_path / "d.csv", "-q")
    assert p.returncode == 0, p.stderr
    df = read_dataset(str(tmp_path / "d.csv"))
    per = df.groupby("file")[["f_fp_log_bpp", "f_fp_vmaf"]].first()
    assert per.notna().all().all() and per["f_fp_vmaf"].between(0, 100).all()
    assert per.loc["grain.mp4", "f_fp_log_bpp"] > per.loc["flat.mp4", "f_fp_log_bpp"] + 1.0
    # each row carries its own size's scaling ceiling: the native size's drop is 0, pixel-fine
    # cells lose more to a downscale than a flat colour does (nothing: tolerance 1 VMAF point)
    assert df[["f_ceil_vmaf", "f_ceil_drop"]].notna().all().all() and df["f_ceil_vmaf"].between(0, 100.5).all()
    native = df[(df["width"] == df["ref_width"]) & (df["height"] == df["ref_height"])]
    assert (native["f_ceil_drop"] == 0).all()
    drop = df[df["width"] < df["ref_width"]].groupby("file")["f_ceil_drop"].max()
    assert drop.loc["flat.mp4"] < 1.0 and drop.loc["grain.mp4"] > drop.loc["flat.mp4"] + 5.0
    # the probe encode is not a grid point: the sweep's rows are unchanged by it
    assert set(df["crf"]) == {24.0, 36.0} and set(df["preset"]) == {"medium"}

    p = run("dataset", "assemble", tmp_path / "sw", "--sources", src, "-o", tmp_path / "d3.csv", "--no-probe", "-q")
    assert p.returncode == 0, p.stderr
    assert not {"f_fp_vmaf", "f_ceil_vmaf"} & set(read_dataset(str(tmp_path / "d3.csv")).columns)
    p = run("train", tmp_path / "d3.csv", "-o", tmp_path / "m.skops", "--members", "1", "--no-calibration")
    assert p.returncode == ModelError.exit_code and "probe encode" in p.stderr
    p = run("train", tmp_path / "d3.csv", "-o", tmp_path / "m.skops", "--members", "1", "--no-calibration",
            "--no-probe")
    assert p.returncode == 0, p.stderr

    os.remove(src / "flat.mp4")
    p = run("dataset", "assemble", tmp_path / "sw", "--sources", src, "-o", tmp_path / "d2.csv",
            "--carry-over", tmp_path / "d.csv", "-q")
    assert p.returncode == 0, p.stderr
    again = read_dataset(str(tmp_path / "d2.csv"))
    assert sorted(again["title"].unique()) == sorted(df["title"].unique())
    carried = again[again["file"] == "flat.mp4"].reset_index(drop=True)
    assert carried["f_fp_vmaf"].tolist() == df[df["file"] == "flat.mp4"]["f_fp_vmaf"].tolist()


def test_a_long_title_is_probed_on_spread_excerpts(make_clip):
    """The probe encode of a long title analysed whole is 6 evenly spread excerpts (its cost stays
    a few seconds whatever the length); an excerpt asked for, or a short title, is probed as is."""
    from pertitle.encoder.probe import probe
    from pertitle.pipeline.common import make_plan
    from pertitle.pipeline.predict import PROBE_SEGMENTS, probe_plan

    long_clip = make_clip("probe_long.mp4", size="160x90", rate=12, seconds=40)
    src = probe(long_clip)
    opts = AnalysisOptions()
    plan = make_plan(src, opts)
    pp = probe_plan(src, plan, opts)
    assert not plan.reference.segments and len(pp.reference.segments) == PROBE_SEGMENTS
    assert sum(d for _, d in pp.reference.segments) < 0.5 * src.duration_s
    starts = [s for s, _ in pp.reference.segments]
    assert starts == sorted(starts) and starts[-1] - starts[0] > 0.6 * src.duration_s
    part = AnalysisOptions(start_s=5, duration_s=6)
    plan = make_plan(src, part)
    assert probe_plan(src, plan, part) is plan
    short = probe(make_clip("probe_short.mp4", size="160x90", rate=12, seconds=4))
    plan = make_plan(short, opts)
    assert probe_plan(short, plan, opts) is plan


def test_a_fold_seed_gives_another_grouped_assignment_that_never_leaks():
    import pandas as pd

    df = pd.DataFrame({"group": [f"g{i // 3}" for i in range(60)], "title": [f"t{i}" for i in range(60)]})

    def folds(seed):
        out = []
        for tr, te in group_splits(df, 5, fold_seed=seed):
            assert not set(df.iloc[tr]["group"]) & set(df.iloc[te]["group"])
            out.append(frozenset(df.iloc[te]["group"]))
        held = [g for f in out for g in f]
        assert sorted(held) == sorted(set(df["group"]))   # every group held out exactly once
        return set(out)

    assert folds(7) == folds(7)                        # reproducible
    assert folds(7) != folds(None) and folds(7) != folds(8)


def test_evaluation_lines_label_a_one_rung_ladders_loss_env_not_bd():
    from pertitle.cli import render_evaluation
    from pertitle.ladders.evaluate import TitleEval

    def ev(title, bd, env):
        return TitleEval(title=title, group=title, mode="predict", encodes=0, grid=10, cost_ratio=0.0,
                         bd_rate_pct=bd, envelope_loss_pct=env, hull_loss_pct=None, top_ratio=1.0,
                         vmaf_mae=0.0, vmaf_bias=0.0, rungs_predicted="x", rungs_exhaustive="x")
    per, agg = summarize([ev("two_rungs", 4.5, 9.0), ev("one_rung", None, 2.5)])
    lines = render_evaluation(per, agg).splitlines()
    assert [ln.split()[1:3] for ln in lines if ln.strip().startswith(("two_rungs", "one_rung"))] == \
        [["BD", "+4.50%"], ["env", "+2.50%"]]
