"""A one-rung prior's slope in CRF from the in-memory probe (ladders/slope.py): exact on synthetic
rows, never applied to a ladder of several rungs, and wired into the replay's judge."""
import math

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pertitle.encoder.features import NATIVE_PROBE_CRFS
from pertitle.ladders import slope as S
from pertitle.ladders.document import curves_from_rows, validate
from pertitle.ladders.evaluate import judge_title
from pertitle.ladders.policy import LadderPolicy, choose_ladder
from pertitle.pipeline.predict import PROBE_CRF

POLICY = LadderPolicy()
CRFS = (16.0, 19.0, 22.0, 25.0, 28.0, 31.0, 34.0, 38.0, 42.0)
NATIVE = (640, 360)
SIZES = ((416, 234), (480, 270), NATIVE)
# a one-rung clip; lavfi's gradients draws its colours from the clock unless seeded, and another
# draw can lift the whole curve past the bitrate floor the tests rely on
SLOW_GRADIENT = "gradients=s=640x360:r=24:speed=0.001:seed=1"


def flat_rows(k16: float, slope: float, sizes=SIZES) -> list[dict]:
    """A flat title: every size's whole curve below the 145-kbps floor (a one-rung ladder);
    ``slope``: its log-rate drop per CRF step; smaller sizes cost less and score a little less."""
    rows = []
    for w, h in sizes:
        s = h / NATIVE[1]
        for c in CRFS:
            rows.append({"width": w, "height": h, "crf": c, "kbps": k16 * s * math.exp(-slope * (c - 16)),
                         "vmaf_mean": 99.0 - 0.6 * (c - 16) - 4 * (1 - s)})
    return rows


def probe_feats(slope: float, prefix: str = "") -> dict:
    lo, hi = NATIVE_PROBE_CRFS
    return {f"{prefix}nat_crf{lo}_log_bpp": -4.0, f"{prefix}nat_crf{hi}_log_bpp": -4.0 - slope * (hi - lo)}


def test_constants_are_the_probes():
    assert S.PIVOT_CRF == PROBE_CRF
    assert S.PROBE_CRFS == NATIVE_PROBE_CRFS


def test_probe_slope_reads_either_name_and_refuses_what_is_missing_or_not_falling():
    assert S.probe_slope(probe_feats(0.05)) == pytest.approx(0.05)
    assert S.probe_slope(probe_feats(0.05, "f_")) == pytest.approx(0.05)
    assert S.probe_slope({}) is None
    assert S.probe_slope({**probe_feats(0.05), "nat_crf28_log_bpp": float("nan")}) is None
    assert S.probe_slope({**probe_feats(0.05), "nat_crf28_log_bpp": "x"}) is None
    assert S.probe_slope(probe_feats(0.0)) is None       # a rate that does not fall says nothing
    assert S.probe_slope(probe_feats(-0.01)) is None


def test_row_slope_between_crf_16_and_the_highest_up_to_28():
    rows = flat_rows(60.0, 0.07)
    assert S.row_slope(rows, NATIVE) == pytest.approx(0.07, abs=1e-12)
    # only CRFs 30 and 34 at that size: none in the span
    assert S.row_slope([r for r in rows if r["crf"] > 28], NATIVE) is None
    assert S.row_slope(rows, (1280, 720)) is None


def test_a_one_rung_prior_gets_the_probes_slope_on_every_size_pivoting_at_crf_23():
    rows = flat_rows(100.0, 0.08)
    assert len(choose_ladder(curves_from_rows(rows, "vmaf_mean"), POLICY).rungs) == 1
    f = S.one_rung_factors(rows, probe_feats(0.03), POLICY, NATIVE)
    assert f is not None and set(f) == set(CRFS)
    for c in CRFS:   # above the pivot (CRF 23) dearer, below it cheaper: the rate at CRF 23 stays
        assert f[c] == pytest.approx(math.exp(-0.05 * (S.PIVOT_CRF - c)))
    out = S.apply_factors(rows, f)
    for size in SIZES:
        assert S.row_slope(out, size) == pytest.approx(0.03, rel=1e-6)
    by = {(r["width"], r["height"], r["crf"]): r for r in rows}
    for r in out:
        old = by[(r["width"], r["height"], r["crf"])]
        assert r["vmaf_mean"] == old["vmaf_mean"]
        assert r["kbps"] / old["kbps"] == pytest.approx(f[r["crf"]], rel=1e-6)


def test_a_ladder_of_several_rungs_is_left_as_the_model_made_it():
    rows = flat_rows(3000.0, 0.12)  # reaches far above the floor: several rungs
    assert len(choose_ladder(curves_from_rows(rows, "vmaf_mean"), POLICY).rungs) >= 2
    assert S.one_rung_factors(rows, probe_feats(0.03), POLICY, NATIVE) is None
    assert S.apply_factors(rows, None) == rows
    # nor without the probe's features, or without the native size among the rows
    flat = flat_rows(100.0, 0.08)
    assert S.one_rung_factors(flat, {}, POLICY, NATIVE) is None
    assert S.one_rung_factors(flat, probe_feats(0.03), POLICY, (1280, 720)) is None


@settings(max_examples=60, deadline=None)
@given(k16=st.floats(5, 140), model=st.floats(0.005, 0.2), probe=st.floats(0.001, 0.3))
def test_the_correction_keeps_rows_monotone_and_pivots_at_crf_23(k16, model, probe):
    rows = flat_rows(k16, model)
    out = S.apply_factors(rows, S.one_rung_factors(rows, probe_feats(probe), POLICY, NATIVE))
    assert len(out) == len(rows)
    for size in SIZES:
        mine = sorted((r for r in out if (r["width"], r["height"]) == size), key=lambda r: r["crf"])
        assert all(a["kbps"] > b["kbps"] for a, b in zip(mine, mine[1:]))
        assert all(a["vmaf_mean"] >= b["vmaf_mean"] for a, b in zip(mine, mine[1:]))
    # every rate moves by the slope's change times its distance from the pivot (none at CRF 23)
    by = {(r["width"], r["height"], r["crf"]): r["kbps"] for r in rows}
    for r in out:
        moved = math.log(r["kbps"] / by[(r["width"], r["height"], r["crf"])])
        assert moved == pytest.approx((probe - model) * (S.PIVOT_CRF - r["crf"]), abs=1e-6)


def test_judge_title_prices_a_flat_title_with_the_probes_slope():
    """A held-out flat title whose prior has the level right at CRF 23 but too steep a slope (its
    CRF-16 rate 1.6x too high, as the models had it on a microscopy timelapse): with the probe's
    slope (here the truth's) predict's one rung costs what the exhaustive one does."""
    truth = flat_rows(60.0, 0.03)
    prior = flat_rows(60.0 * math.exp(0.07 * 7), 0.10)   # the same rate at CRF 23
    dt = pd.DataFrame([{**r, "title": "flat", "group": "g", "ref_width": NATIVE[0], "ref_height": NATIVE[1],
                        "ref_fps": 25.0, **probe_feats(0.03, "f_")} for r in truth])
    (ev,) = judge_title(dt, POLICY, ["predict"], prior)
    assert ev.rungs_exhaustive.count("@") == 1 and ev.bd_rate_pct is None
    assert abs(ev.envelope_loss_pct) < 0.5 and ev.top_ratio == pytest.approx(1.0, rel=0.01)
    # the same prior without the probe's features: the rung is priced at the model's CRF-16 rate
    (raw,) = judge_title(dt.drop(columns=[c for c in dt if c.startswith("f_nat")]), POLICY, ["predict"], prior)
    assert raw.top_ratio == pytest.approx(math.exp(0.07 * 7), rel=0.02)


def test_predict_on_a_flat_clip_records_and_uses_the_probes_slope(make_clip, tmp_path):
    """The installed command on a slow gradient (a one-rung title): the document records the two
    slopes, its native curve has the probe's slope, and the summary says so."""
    import json

    from .conftest import run

    clip = make_clip("slope_gradient.mp4", size="640x360", seconds=2,
                     source=SLOW_GRADIENT)
    out = tmp_path / "flat.ladder.json"
    p = run("predict", clip, "-o", out, "--cache", tmp_path / "c")
    assert p.returncode == 0, p.stderr
    doc = json.loads(out.read_text())
    validate(doc)
    assert len(doc["rungs"]) == 1
    pr = doc["prediction"]
    sl, f = pr["one_rung_slope"], pr["features"]
    lo, hi = NATIVE_PROBE_CRFS
    assert sl["pivot_crf"] == PROBE_CRF
    assert sl["probe"] == pytest.approx((f[f"nat_crf{lo}_log_bpp"] - f[f"nat_crf{hi}_log_bpp"]) / (hi - lo), abs=1e-4)
    assert sl["probe"] != pytest.approx(sl["model"], abs=1e-3)   # it did change something
    (native,) = [c for c in doc["curves"] if (c["width"], c["height"]) == NATIVE]
    kbps = dict(zip(native["crf"], (k for k, _ in native["points"])))
    assert math.log(kbps[16.0] / kbps[28.0]) / 12 == pytest.approx(sl["probe"], abs=2e-3)   # kbps rounded
    assert f"from the in-memory probe, {sl['probe']:.3f} instead of the model's {sl['model']:.3f}" in p.stdout
    # the whole curve is under the bitrate floor: the one rung sits at its end, and its loss is bounded
    # by its rate over the lowest its end may have (ladders/uncertainty.curve_end), not by the regret
    rung = doc["rungs"][0]
    assert rung["bitrate_kbps"] == pytest.approx(max(kbps.values()), abs=1)
    assert pr["loss_bound_kind"] == "rate_excess"
    # both rates are rounded to a kbps in the document: the least the bound can be from them
    low, rate = pr["top_kbps_interval"][0] + 0.5, rung["bitrate_kbps"] - 0.5
    assert pr["loss_bound_pct"] >= 100 * (rate / low - 1) - 0.01
    assert f"rate-excess loss up to {pr['loss_bound_pct']:.1f}%" in p.stdout


def flat_dataset(n_titles: int = 20, seed: int = 3) -> pd.DataFrame:
    """Flat titles (one-rung ladders) whose rate level at CRF 23 the features tell (``a``) but
    whose slope in CRF only the in-memory probe's columns tell."""
    import numpy as np

    rng = np.random.default_rng(seed)
    rows = []
    for t in range(n_titles):
        level, slope = float(rng.uniform(20, 60)), float(rng.uniform(0.02, 0.10))
        feats = {"f_a": math.log(level) + rng.normal(0, 0.02), "f_b": rng.normal(0, 1), **probe_feats(slope, "f_")}
        for w, h in SIZES:
            s = h / NATIVE[1]
            for c in CRFS:
                kbps = level * s ** 1.5 * math.exp(-slope * (c - 23))
                rows.append({"title": f"t{t}", "group": f"g{t // 2}", "width": w, "height": h, "crf": c,
                             "kbps": kbps, "vmaf_mean": 99.0 - 0.5 * (c - 16) - 6 * (1 - s),
                             "ref_width": NATIVE[0], "ref_height": NATIVE[1], "ref_fps": 25.0,
                             "log_bpp": math.log(kbps * 1000 / (w * h * 25.0)), **feats})
    return pd.DataFrame(rows)


def test_calibration_measures_the_corrected_top_rung():
    """The intervals describe the ladders the tool gives: with the probe's slope in the table, the
    calibrated top-rung error of these one-rung titles is far smaller than without it."""
    from pertitle.ladders.model import CurveModel
    from pertitle.ladders.uncertainty import calibrate

    df = flat_dataset()
    fit = lambda d: CurveModel(family="hgb", feature_columns=("a", "b"), members=3).fit(d)  # noqa: E731
    with_probe = calibrate(df, fit, POLICY, folds=4)
    without = calibrate(df.drop(columns=[c for c in df if c.startswith("f_nat")]), fit, POLICY, folds=4)
    # the rate at CRF 23 is known to 2 %; the CRF-16 rung errs by up to exp(0.04 x 7) = 1.3x without
    # the probe's slope; the interval's scale is that error over the members' spread
    assert with_probe["top"]["scale"] < 0.6 * without["top"]["scale"]


def test_the_fast_mode_records_its_priors_slope(make_clip, tmp_path):
    """The fast mode's own model gets the same correction, recorded with its search."""
    import json

    from .conftest import run

    clip = make_clip("slope_gradient.mp4", size="640x360", seconds=2,
                     source=SLOW_GRADIENT)
    out = tmp_path / "fast.ladder.json"
    p = run("analyze", clip, "--fast", "-o", out, "-q", "--cache", tmp_path / "c")
    assert p.returncode == 0, p.stderr
    doc = json.loads(out.read_text())
    validate(doc)
    assert len(doc["rungs"]) == 1
    sl = doc["sweep"]["prior_one_rung_slope"]
    assert sl["pivot_crf"] == PROBE_CRF and sl["probe"] > 0 and sl["probe"] != pytest.approx(sl["model"], abs=1e-3)
