"""Bundled datasets: loaders, panels, W, the synthetic panel's truth and raw-table round trip."""

from __future__ import annotations

import dataclasses
import json
from importlib import resources

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize_scalar

from bayes_sdm.datasets import Dataset, list_datasets, load_dataset, load_raw_tables
from bayes_sdm.datasets import generate_synthetic as gen
from bayes_sdm.effects import dense_effects, lag_effects
from bayes_sdm.errors import InputError
from bayes_sdm.indices import build_indices
from bayes_sdm.likelihood import profile_lag, sufficient_stats
from bayes_sdm.logdet import make_logdet
from bayes_sdm.panel import Panel, check_not_absorbed
from bayes_sdm.weights import economic_distance

X_STUDY = ["mar", "jacobs", "inf", "tra", "ftri", "inv"]


@pytest.fixture(scope="module")
def synth() -> Dataset:
    return load_dataset("synthetic_ua")


def _ml_rho(panel, w, model="sdm", fe="twoway"):
    """Concentrated-likelihood ML of rho (Lee-Yu), with the coefficients at the optimum."""
    st = sufficient_stats(panel, w, fe)
    ld = make_logdet(w)
    n = st.terms.n_eff

    def negll(r):
        _, s = profile_lag(st, model, np.array(r))
        return -(-0.5 * n * np.log(s / n) + st.terms.a * ld.value(r)
                 - st.terms.b * np.log1p(-r))

    r = minimize_scalar(negll, bounds=(-0.9, 0.95), method="bounded",
                        options={"xatol": 1e-9}).x
    coef, s = profile_lag(st, model, np.array(r))
    return float(r), coef, float(s) / n, st, ld


# ----------------------------------------------------------------------------- registry
def test_list_and_unknown():
    assert list_datasets() == ["cigar", "produc", "synthetic_ua"]
    with pytest.raises(InputError, match=r"unknown dataset 'nope'.*cigar.*produc.*synthetic_ua"):
        load_dataset("nope")
    with pytest.raises(InputError, match="no raw tables"):
        load_raw_tables("cigar")
    with pytest.raises(InputError, match="unknown dataset"):
        load_raw_tables("nope")


def test_package_data_files_present():
    root = resources.files("bayes_sdm.datasets")
    for rel in ("README.md", "data/cigar/README.md", "data/produc/README.md",
                "data/synthetic_ua/README.md", "data/synthetic_ua/synthetic_ua.csv"):
        assert root.joinpath(rel).is_file(), rel
    size = len(root.joinpath("data/synthetic_ua/synthetic_ua.csv").read_bytes())
    assert size < 1_000_000


@pytest.mark.parametrize("name,n,t,k,region", [("cigar", 46, 30, 2, "census_region"),
                                               ("produc", 48, 17, 4, "census_division"),
                                               ("synthetic_ua", 176, 16, 6, "region")])
def test_loaders_shapes_and_w(name, n, t, k, region):
    ds = load_dataset(name)
    assert isinstance(ds, Dataset)
    p = ds.panel()
    assert isinstance(p, Panel)
    assert (p.T, p.N, p.K) == (t, n, k)
    assert p.units == ds.weights.ids
    assert set(ds.frame[ds.unit]) == set(ds.weights.ids)
    assert len(ds.frame) == n * t  # balanced
    assert p.x_names == ds.x and p.y_name == ds.y
    assert list(p.unit_info.columns) == [region]
    assert p.unit_info[region].notna().all()
    w = ds.weights
    assert w.row_standardized and w.sym_scale is not None
    np.testing.assert_allclose(np.asarray(w.matrix).sum(axis=1), 1.0, atol=1e-12)
    assert np.all(np.diag(np.asarray(w.matrix)) == 0)
    check_not_absorbed(p, "twoway")
    with pytest.raises(dataclasses.FrozenInstanceError):
        ds.y = "other"
    assert name in repr(ds)


def test_panel_options():
    ds = load_dataset("cigar")
    p = ds.panel(y="logc", x=["logp"], region_col=None)
    assert p.K == 1 and p.unit_info is None
    assert set(ds.frame["census_region"]) == {"Northeast", "Midwest", "South", "West"}
    pd_ = load_dataset("produc")
    assert pd_.frame["census_division"].nunique() == 9
    assert int((np.asarray(pd_.weights.raw_base()) > 0).sum()) == 214
    assert int((np.asarray(ds.weights.raw_base()) > 0).sum()) == 188


def test_cigar_twoway_sdm_ml_matches_reference():
    ds = load_dataset("cigar")
    rho, *_ = _ml_rho(ds.panel(), ds.weights)
    assert rho == pytest.approx(0.27118, abs=5e-5)


# ----------------------------------------------------------------------------- synthetic_ua
def test_synthetic_frame(synth):
    f = synth.frame
    assert synth.synthetic and "SYNTHETIC" in synth.description
    assert list(f.columns) == ["city", "year", "agglomeration", "province", "region", "resi",
                               *X_STUDY, "gdp_pc"]
    assert f["city"].nunique() == 176
    assert sorted(f["year"].unique()) == list(range(2003, 2019))
    assert f["agglomeration"].nunique() == 18
    assert f.groupby("city")["region"].nunique().max() == 1
    assert f.drop_duplicates("city")["region"].value_counts().to_dict() == {
        "east": 70, "central": 60, "west": 46}
    assert not f.isna().any().any()
    # realistic-ish scales
    q = f[X_STUDY].quantile([0.05, 0.95])
    assert 1.0 < q.loc[0.05, "mar"] and q.loc[0.95, "mar"] < 3.5
    assert 1.0 < q.loc[0.05, "jacobs"] and q.loc[0.95, "jacobs"] < 8.0
    for c in ("inf", "tra", "ftri", "inv"):
        assert 0 < q.loc[0.05, c] and q.loc[0.95, c] < 0.5
    # each regressor varies within units and across units
    p = synth.panel()
    for k in range(p.K):
        x = p.X[:, :, k]
        assert (x - x.mean(axis=0)).std() > 0.1 * x.std()
        assert x.mean(axis=0).std() > 0.1 * x.std()
    # the seed study's default model is stored in the truth
    dm = synth.truth["default_model"]
    assert dm["y"] == "resi" and dm["x"] == X_STUDY and dm["fe"] == "twoway"
    assert (synth.y, list(synth.x)) == ("resi", X_STUDY)


def test_synthetic_weights_are_economic_distance(synth):
    means = synth.frame.groupby("city", sort=False)["gdp_pc"].mean()
    assert tuple(means.index) == synth.weights.ids
    d = np.abs(means.to_numpy()[:, None] - means.to_numpy()[None, :])
    assert d[~np.eye(len(d), dtype=bool)].min() > 0  # no ties
    w = economic_distance(means)
    np.testing.assert_allclose(np.asarray(synth.weights.matrix), np.asarray(w.matrix),
                               rtol=0, atol=1e-15)
    c = np.where(np.eye(len(d), dtype=bool), 0.0, 1.0 / np.where(d == 0, 1.0, d))
    np.testing.assert_allclose(np.asarray(w.matrix), c / c.sum(axis=1, keepdims=True),
                               rtol=1e-12)


def test_synthetic_panel_with_agglomeration(synth):
    p = synth.panel(region_col="agglomeration")
    assert p.unit_info["agglomeration"].nunique() == 18


def test_truth_effects_recomputed(synth):
    tr = synth.truth
    dgp = tr["dgp"]
    rho = dgp["rho"]
    w = np.asarray(synth.weights.matrix)
    regions = synth.panel().unit_info["region"].to_numpy()
    beta = np.array([[dgp["beta"][r][k] for k in X_STUDY] for r in regions])
    theta = np.array([[dgp["theta"][r][k] for k in X_STUDY] for r in regions])
    n = len(regions)
    ainv = np.linalg.inv(np.eye(n) - rho * w)
    eff = tr["effects"]
    for j, k in enumerate(X_STUDY):
        s = ainv @ (np.diag(beta[:, j]) + np.diag(theta[:, j]) @ w)
        d, rows, cols = np.diag(s), s.sum(axis=1), s.sum(axis=0)
        assert eff["pooled"]["direct"][k] == pytest.approx(np.trace(s) / n, rel=1e-10)
        assert eff["pooled"]["total"][k] == pytest.approx(s.sum() / n, rel=1e-10)
        assert eff["pooled"]["indirect"][k] == pytest.approx((s.sum() - np.trace(s)) / n,
                                                             rel=1e-9, abs=1e-12)
        for r in ("east", "central", "west"):
            m = regions == r
            got = eff["by_region"][r]
            assert got["direct"][k] == pytest.approx(d[m].mean(), rel=1e-10)
            assert got["total"][k] == pytest.approx(rows[m].mean(), rel=1e-10)
            assert got["indirect"][k] == pytest.approx(rows[m].mean() - d[m].mean(),
                                                       rel=1e-9, abs=1e-12)
            assert eff["by_region_from"][r]["total"][k] == pytest.approx(cols[m].mean(),
                                                                         rel=1e-10)
    # regional homogeneous effects = dense_effects = the eigenvalue-based lag_effects
    ld = make_logdet(synth.weights)
    for r in ("east", "central", "west"):
        b = np.array([dgp["beta"][r][k] for k in X_STUDY])
        th = np.array([dgp["theta"][r][k] for k in X_STUDY])
        ref = dense_effects(rho, b, th, w)
        fast = lag_effects(np.array(rho), b, th, ld)
        np.testing.assert_allclose(fast, ref, rtol=1e-9, atol=1e-12)
        got = np.array([[eff["by_region_homogeneous"][r][e][k] for k in X_STUDY]
                        for e in ("direct", "indirect", "total")])
        np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)
    # the study's pattern: diversity spills over in the east, not in the west
    assert dgp["theta"]["east"]["jacobs"] > 0 and dgp["theta"]["west"]["jacobs"] == 0
    assert eff["by_region"]["east"]["total"]["mar"] < 0 < eff["by_region"]["central"]["total"][
        "mar"]


def test_raw_tables_round_trip(synth):
    raw = load_raw_tables("synthetic_ua")
    assert set(raw) == {"employment", "national_employment", "city_series", "national_series",
                        "industries", "cities"}
    assert list(raw["employment"].columns) == ["city", "year", "industry", "employment"]
    assert len(raw["employment"]) == 176 * 17 * 19
    assert len(raw["industries"]) == 19
    built = build_indices(raw["employment"], raw["city_series"], raw["national_series"],
                          national_employment=raw["national_employment"])
    m = synth.frame.merge(built, on=["city", "year"], suffixes=("", "_built"),
                          validate="one_to_one")
    assert len(m) == len(synth.frame) == len(built)
    for c in ["resi", *X_STUDY, "gdp_pc"]:
        np.testing.assert_allclose(m[f"{c}_built"], m[c], rtol=0,
                                   atol=1e-10 * max(1.0, m[c].abs().max()))
    # and the city list matches
    cities = raw["cities"].set_index("city")
    per_city = synth.frame.drop_duplicates("city").set_index("city")
    assert (cities.loc[per_city.index, "region"] == per_city["region"]).all()


def test_generator_reproduces_files(synth, tmp_path):
    assert gen.main(["--out", str(tmp_path)]) == 0
    new = pd.read_csv(tmp_path / "synthetic_ua.csv", float_precision="round_trip")
    pd.testing.assert_frame_equal(new, synth.frame, check_exact=False, rtol=1e-10, atol=1e-10)
    truth = json.loads((tmp_path / "synthetic_ua_truth.json").read_text())
    assert truth["dgp"]["beta"] == synth.truth["dgp"]["beta"]
    for scope in ("pooled",):
        for e in ("direct", "indirect", "total"):
            for k in X_STUDY:
                assert truth["effects"][scope][e][k] == pytest.approx(
                    synth.truth["effects"][scope][e][k], rel=1e-9, abs=1e-12)
    emp = pd.read_csv(tmp_path / "raw" / "employment_wide.csv")
    raw = load_raw_tables("synthetic_ua")
    long = emp.melt(id_vars=["city", "year"], var_name="industry", value_name="employment")
    merged = long.merge(raw["employment"], on=["city", "year", "industry"])
    assert len(merged) == len(long) and (merged.employment_x == merged.employment_y).all()
    assert truth["dgp"]["max_abs_resi_minus_draw"] < 1e-10


def test_regional_pattern_recoverable(synth):
    """The heterogeneous DGP refitted by ML (regional beta/theta as interacted regressors of a
    SAR, the same W): the study's pattern shows at several standard errors."""
    p = synth.panel()
    w = synth.weights
    reg = p.unit_info["region"].to_numpy()
    wx = w.lag(p.X)
    cols, names = [], []
    for kind, arr in (("b", p.X), ("t", wx)):
        for r in ("east", "central", "west"):
            cols.append(arr * (reg == r)[None, :, None])
            names += [f"{kind}_{k}_{r}" for k in X_STUDY]
    aug = Panel(p.y, np.concatenate(cols, axis=-1), p.units, p.times, p.y_name, tuple(names))
    rho, coef, s2, st, _ = _ml_rho(aug, w, model="sar")
    cc = st.columns("sar")
    se = np.sqrt(np.diag(s2 * np.linalg.inv(st.gram[np.ix_(cc, cc)])))
    est = dict(zip(names, coef))
    z = dict(zip(names, coef / se))
    dgp = synth.truth["dgp"]
    assert abs(rho - dgp["rho"]) < 0.08
    assert z["t_jacobs_east"] > 6 and z["t_jacobs_central"] > 3 and abs(z["t_jacobs_west"]) < 3
    assert z["b_mar_east"] < -6 and z["b_mar_central"] > 4 and z["t_mar_east"] < -3
    for k in ("mar", "jacobs"):
        for r in ("east", "central", "west"):
            for kind, tab in (("b", "beta"), ("t", "theta")):
                nm = f"{kind}_{k}_{r}"
                assert abs(est[nm] - dgp[tab][r][k]) < 4 * se[names.index(nm)], nm
