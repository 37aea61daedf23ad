"""``replicate_study`` (bayes_sdm.study): the five tables, their numbers against the package's
estimators, stars against p-values, exit codes; ML by region (``fit_region --ml --pooling``)."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from bayes_sdm.api import prepare
from bayes_sdm.hypothesis import all_tests
from bayes_sdm.ml import fit_ml
from bayes_sdm.moran import moran_table
from bayes_sdm.regional.ml import ml_by_region
from bayes_sdm.regional.regions import select_region
from bayes_sdm.spectests import lm_tests
from bayes_sdm.study.command import main
from bayes_sdm.study.format import stars
from bayes_sdm.study.tables import ml_effect_rows
from bayes_sdm.weights import economic_distance

X = ["mar", "jacobs", "inf", "tra", "ftri", "inv"]
TABLES = ["table1_moran", "table2_spec_tests", "table3_models", "table4_effects",
          "table5_regions"]


@pytest.fixture(scope="module")
def subset(tmp_path_factory):
    """12 cities per region of the synthetic study panel, 2003-2009 (a CSV, as a reader's)."""
    from bayes_sdm.datasets import load_dataset

    f = load_dataset("synthetic_ua").frame
    keep = [c for _, g in f.groupby("region") for c in sorted(g.city.unique())[:12]]
    sub = f[f.city.isin(keep) & (f.year <= 2009)].reset_index(drop=True)
    path = tmp_path_factory.mktemp("data") / "sub.csv"
    sub.to_csv(path, index=False)
    return path, sub


def _args(path):
    return ["--data", str(path), "--unit", "city", "--time", "year", "--y", "resi", "--x", *X,
            "--weights", "economic-distance:gdp_pc", "--region-col", "region", "--quiet"]


@pytest.fixture(scope="module")
def ml_run(subset, tmp_path_factory):
    path, _ = subset
    out = tmp_path_factory.mktemp("runs") / "study"
    assert main([*_args(path), "--out", str(out), "--ml-only"]) == 0
    return out / "tables"


@pytest.fixture(scope="module")
def data(subset):
    from bayes_sdm.panel import panel_from_frame

    _, sub = subset
    gdp = sub.groupby("city").gdp_pc.mean()
    w = economic_distance(gdp)
    panel = panel_from_frame(sub, "city", "year", "resi", X, units=w.ids, unit_cols=["region"])
    return panel, w, panel.unit_info["region"].astype(str)


def test_the_five_tables_in_three_formats(ml_run):
    names = sorted(p.name for p in ml_run.iterdir())
    assert names == sorted([f"{t}.{e}" for t in TABLES for e in ("csv", "md", "tex")]
                           + ["README.md"])
    for t in TABLES:
        tex = (ml_run / f"{t}.tex").read_text()
        assert "\\toprule" in tex and "\\midrule" in tex and "\\bottomrule" in tex
        md = (ml_run / f"{t}.md").read_text()
        assert md.startswith("### Table") and "p < 0.10" in md
    readme = (ml_run / "README.md").read_text()
    assert "hierarchical model" in readme and "separate fits" in readme.lower()


def test_models_table_equals_the_ml_fits(ml_run, data):
    panel, w, _ = data
    num = pd.read_csv(ml_run / "table3_models.csv")
    sdm_prep = prepare(panel, w, "sdm", "twoway")
    for m, lab in (("sdm", "SDM"), ("sar", "SLM"), ("sem", "SEM")):
        res = fit_ml(sdm_prep.with_family(m) if m != "sdm" else sdm_prep)
        mine = num[num.model == lab].set_index("parameter")
        for par in res.params.index:
            assert mine.loc[par, "estimate"] == pytest.approx(res.params[par], rel=1e-8)
            assert mine.loc[par, "se"] == pytest.approx(res.se[par], rel=1e-8)
        assert mine.loc["loglik", "estimate"] == pytest.approx(res.loglik, rel=1e-9)
        assert mine.loc["aic", "estimate"] == pytest.approx(res.aic, rel=1e-9)
        assert mine.loc["N", "estimate"] == panel.N and mine.loc["T", "estimate"] == panel.T
        r2w, r2c = mine.loc["r2_within", "estimate"], mine.loc["r2_corr", "estimate"]
        assert 0 < r2w <= 1 and 0 < r2c <= 1


def test_r2_measures_by_hand(data):
    """corr²(fitted, y) from explicit transformed columns and residuals; the within R² from
    an explicit dense reduced form."""
    from bayes_sdm.design import demean
    from bayes_sdm.study.fitstats import r2_measures

    panel, w, _ = data
    prep = prepare(panel, w, "sdm", "twoway")
    res = fit_ml(prep)
    rho = res.params["rho"]
    b = res.params[[f"beta[{x}]" for x in X]].to_numpy()
    t = res.params[[f"theta[{x}]" for x in X]].to_numpy()
    y, xr = panel.y, panel.X
    wm = np.asarray(w.matrix)
    yq, wyq = demean(y, "twoway"), demean(y @ wm.T, "twoway")
    xq, wxq = demean(xr, "twoway"), demean(np.einsum("ij,tjk->tik", wm, xr), "twoway")
    fitted = rho * wyq + xq @ b + wxq @ t
    pred = np.linalg.solve(np.eye(panel.N) - rho * wm, (xq @ b + wxq @ t).T).T
    r2 = r2_measures(prep, res)
    assert r2["r2_corr"] == pytest.approx(np.corrcoef(yq.ravel(), fitted.ravel())[0, 1] ** 2,
                                          rel=1e-10)
    assert r2["r2_within"] == pytest.approx(np.corrcoef(yq.ravel(), pred.ravel())[0, 1] ** 2,
                                            rel=1e-10)


def test_tests_moran_and_effects_tables_equal_the_package(ml_run, data):
    panel, w, regions = data
    t2 = pd.read_csv(ml_run / "table2_spec_tests.csv").set_index("test")
    fe = all_tests(prepare(panel, w, "ols", "twoway"), fe_test_models=("ols",))
    assert t2.loc["LR unit effects", "statistic"] == pytest.approx(
        fe["unit_effects_lr_ols"]["statistic"], rel=1e-9)
    assert t2.loc["LR time effects", "df"] == panel.T - 1
    lm = lm_tests(panel, w, "twoway").set_index("test")
    for name in lm.index:
        assert t2.loc[name, "statistic"] == pytest.approx(lm.loc[name, "statistic"], rel=1e-9)
    t1 = pd.read_csv(ml_run / "table1_moran.csv")
    ref = moran_table(panel, w)
    np.testing.assert_allclose(t1[["I", "z", "p"]].to_numpy(), ref[["I", "z", "p"]].to_numpy(),
                               rtol=1e-8)
    t4 = pd.read_csv(ml_run / "table4_effects.csv")
    ml = ml_effect_rows(fit_ml(prepare(panel, w, "sdm", "twoway")))
    m = t4.merge(ml, on=["variable", "effect"], suffixes=("", "_ref"))
    assert len(m) == 3 * len(X)
    np.testing.assert_allclose(m[["estimate", "se", "p"]].to_numpy(),
                               m[["estimate_ref", "se_ref", "p_ref"]].to_numpy(), rtol=1e-8)
    t5 = pd.read_csv(ml_run / "table5_regions.csv")
    fits = ml_by_region(panel, w, regions)
    for g, res in fits.items():
        r = ml_effect_rows(res)
        got = t5[t5.region == g].merge(r, on=["variable", "effect"], suffixes=("", "_ref"))
        np.testing.assert_allclose(got.estimate, got.estimate_ref, rtol=1e-8)


def test_stars_match_the_p_values(ml_run):
    assert [stars(p) for p in (0.0099, 0.01, 0.049, 0.05, 0.099, 0.1, np.nan)] == \
        ["***", "**", "**", "*", "*", "", ""]
    for t in TABLES:
        num = pd.read_csv(ml_run / f"{t}.csv", keep_default_na=False)
        if "p" not in num.columns:
            continue
        p = pd.to_numeric(num.p, errors="coerce")
        assert [stars(v) for v in p] == num.stars.tolist(), t
    # the displayed cells: stars of table 4's ML column follow the CSV's p, row by row
    md = (ml_run / "table4_effects.md").read_text().splitlines()
    rows = [ln for ln in md if ln.startswith("| direct") or ln.startswith("| indirect")
            or ln.startswith("| total")]
    num = pd.read_csv(ml_run / "table4_effects.csv")
    assert len(rows) == len(num)
    for ln, p in zip(rows, num.p, strict=True):
        cell = ln.split("|")[3]
        assert re.sub(r"[^*]", "", cell.replace("\\", "")) == stars(p)


@pytest.mark.parametrize("bad", [["--draws", "5"], ["--x", "mar", "nope"],
                                 ["--region-col", "nope"]])
def test_bad_input_exits_2(subset, tmp_path, bad, capsys):
    path, _ = subset
    args = _args(path)
    if bad[0] == "--x":
        i = args.index("--x")
        args = args[:i] + bad + args[i + 1 + len(X):]
    elif bad[0] == "--region-col":
        i = args.index("--region-col")
        args = args[:i] + bad + args[i + 2:]
    else:
        args = args + bad
    assert main([*args, "--out", str(tmp_path / "o"), "--ml-only"]) == 2
    assert "error:" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_ml_by_region_is_the_separate_fit(data):
    panel, w, regions = data
    fits = ml_by_region(panel, w, regions, "sdm", "twoway")
    assert set(fits) == {"east", "central", "west"}
    p, wg = select_region(panel, w, regions, "west")
    ref = fit_ml(prepare(p, wg, "sdm", "twoway"))
    np.testing.assert_allclose(fits["west"].params.to_numpy(), ref.params.to_numpy(),
                               rtol=1e-10)
    assert fits["west"].N == p.N


def test_fit_region_ml_with_pooling_writes_each_region(subset, tmp_path):
    from bayes_sdm.cli import main as fit_main

    path, _ = subset
    out = tmp_path / "reg"
    code = fit_main([*_args(path), "--pooling", "none", "--ml-only", "--out", str(out)])
    assert code == 0
    for g in ("east", "central", "west"):
        tests = json.loads((out / "ml" / g / "tests.json").read_text())
        assert {"unit_effects_lr_ols", "unit_effects_lr_sdm"} <= set(tests)
        assert tests["unit_effects_lr_ols"]["model"] == "ols"
        assert (out / "ml" / g / "ml_effects.csv").exists()


@pytest.mark.slow
def test_replicate_study_with_bayesian_fits(subset, tmp_path):
    path, _ = subset
    out = tmp_path / "study"
    code = main([*_args(path), "--out", str(out), "--draws", "40", "--chains", "1"])
    assert code in (0, 1)  # short chains may fail the diagnostics; the tables are written
    t4 = pd.read_csv(out / "tables" / "table4_effects.csv")
    assert t4.post_mean.notna().all() and t4.hdi_low.lt(t4.hdi_high).all()
    t5 = pd.read_csv(out / "tables" / "table5_regions.csv")
    assert t5.separate_mean.notna().all() and t5.hier_mean.notna().all()
