"""Bundled datasets: loaders, panels, W, the synthetic panel's truth, its resemblance to the seed
study (effects, regional pattern, Moran's I, resilience spread) and the raw-table round trip."""

from __future__ import annotations

import dataclasses
import json
from importlib import resources

import numpy as np
import pandas as pd
import pytest
from conftest import ml_fit
from scipy.optimize import minimize_scalar

from bayes_sdm.datasets import Dataset, list_datasets, load_dataset, load_raw_tables
from bayes_sdm.datasets import generate_synthetic as gen
from bayes_sdm.datasets._loaders import RAW_FILES
from bayes_sdm.effects import dense_effects, lag_effects
from bayes_sdm.errors import InputError
from bayes_sdm.indices import build_indices, build_panel
from bayes_sdm.likelihood import profile_lag, sufficient_stats
from bayes_sdm.logdet import make_logdet
from bayes_sdm.moran import moran_table
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
    assert list_datasets() == ["cigar", "columbus", "produc", "synthetic_ua"]
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
    # realistic scales (controls in per cent)
    q = f[X_STUDY].quantile([0.05, 0.95])
    assert 1.2 < q.loc[0.05, "mar"] and q.loc[0.95, "mar"] < 6.0
    assert 1.0 < q.loc[0.05, "jacobs"] and q.loc[0.95, "jacobs"] < 6.0
    assert 0.5 < q.loc[0.05, "inf"] and q.loc[0.95, "inf"] < 10.0
    assert 5.0 < q.loc[0.05, "tra"] and q.loc[0.95, "tra"] < 30.0
    assert 0.1 < q.loc[0.05, "ftri"] and q.loc[0.95, "ftri"] < 8.0
    assert 0.3 < q.loc[0.05, "inv"] and q.loc[0.95, "inv"] < 6.0
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
    # the pooled effects are the seed study's (direct and indirect as printed, total = sum)
    for k, tgt in dgp["target_pooled_effects"].items():
        for e in ("direct", "indirect", "total"):
            assert eff["pooled"][e][k] == pytest.approx(tgt[e], abs=1e-9)
    assert gen.TARGET_EFFECTS["mar"] == (0.107, 0.342)
    assert gen.TARGET_EFFECTS["inv"] == (0.372, 0.462)


def test_truth_regional_pattern(synth):
    """The seed study's regional findings hold in the stored truths: MAR helps every region,
    most in the west, least in the east; Jacobs spills over only in the east; nil in the west;
    in the east diversity matters more than specialisation."""
    tr = synth.truth
    hom = tr["effects"]["by_region_homogeneous"]
    dgp = tr["dgp"]
    for e in ("direct", "indirect", "total"):
        assert 0 < hom["east"][e]["mar"] < hom["central"][e]["mar"] < hom["west"][e]["mar"]
    for r in ("east", "central", "west"):
        assert dgp["beta"][r]["mar"] > 0 and dgp["theta"][r]["mar"] > 0
    assert hom["east"]["indirect"]["jacobs"] > 0.5
    assert hom["central"]["direct"]["jacobs"] > 0.1
    assert hom["central"]["indirect"]["jacobs"] == pytest.approx(0.0, abs=1e-12)
    assert dgp["beta"]["west"]["jacobs"] == dgp["theta"]["west"]["jacobs"] == 0.0
    assert hom["east"]["total"]["jacobs"] > hom["east"]["total"]["mar"]
    # the controls are common to all regions
    for k in ("inf", "tra", "ftri", "inv"):
        assert len({dgp["beta"][r][k] for r in ("east", "central", "west")}) == 1


def test_raw_tables_round_trip(synth):
    raw = load_raw_tables("synthetic_ua")
    assert set(raw) == {"employment", "national_employment", "city_series", "national_series",
                        "industries", "cities"}
    assert list(raw["employment"].columns) == ["city", "year", "industry", "employment"]
    assert len(raw["employment"]) == 176 * 16 * 19  # 2003-2018; 2002 serves growth only
    assert len(raw["industries"]) == 19
    built = build_indices(raw["employment"], raw["city_series"], raw["national_series"],
                          national_employment=raw["national_employment"])
    m = synth.frame.merge(built, on=["city", "year"], suffixes=("", "_built"),
                          validate="one_to_one")
    assert len(m) == len(synth.frame) == len(built)
    for c in ["resi", *X_STUDY, "gdp_pc"]:
        np.testing.assert_array_equal(m[f"{c}_built"], m[c])  # exactly
    panel = build_panel(raw["employment"], raw["city_series"], raw["national_series"],
                        raw["cities"], national_employment=raw["national_employment"])
    pd.testing.assert_frame_equal(panel, synth.frame, check_exact=True)
    # and the city list matches
    cities = raw["cities"].set_index("city")
    per_city = synth.frame.drop_duplicates("city").set_index("city")
    assert (cities.loc[per_city.index, "region"] == per_city["region"]).all()


def test_generator_reproduces_files(synth, tmp_path):
    assert gen.main(["--out", str(tmp_path)]) == 0
    root = resources.files("bayes_sdm.datasets").joinpath("data", "synthetic_ua")
    for rel in ("synthetic_ua.csv", "synthetic_ua_truth.json",
                *(f"raw/{f}" for f in RAW_FILES.values())):
        assert (tmp_path / rel).read_bytes() == root.joinpath(rel).read_bytes(), rel
    new = pd.read_csv(tmp_path / "synthetic_ua.csv")
    pd.testing.assert_frame_equal(new, synth.frame, check_exact=True)
    truth = json.loads((tmp_path / "synthetic_ua_truth.json").read_text())
    assert truth == synth.truth  # the stored truths are what the generator computes
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
    assert abs(rho - dgp["rho"]) < 0.15
    for r in ("east", "central", "west"):
        assert z[f"b_mar_{r}"] > 2
    assert z["b_jacobs_east"] > 3 and z["b_jacobs_central"] > 3 and abs(z["b_jacobs_west"]) < 2
    assert z["t_jacobs_east"] > 2 and abs(z["t_jacobs_west"]) < 2
    for k in ("mar", "jacobs"):
        for r in ("east", "central", "west"):
            for kind, tab in (("b", "beta"), ("t", "theta")):
                nm = f"{kind}_{k}_{r}"
                assert abs(est[nm] - dgp[tab][r][k]) < 4 * se[names.index(nm)], nm


# ----------------------------------------------------------------------------- like the study
#: The seed study's pooled SDM effects: significant at 10 % (two-sided) except Ftri's
#: spillover and total effect.
PAPER_NOT_SIGNIFICANT = {("ftri", "indirect"), ("ftri", "total")}


def test_ml_pooled_effects_show_the_papers_pattern(synth):
    """Two-way FE SDM by ML: every effect the paper reports as significant is positive and
    significant at 10 %, Ftri's spillover and total effect are not (stars differ in places:
    see the dataset README)."""
    res = ml_fit(synth.panel(), synth.weights, model="sdm", fe="twoway")
    eff = res.effects()
    z = eff["mean"] / eff["se"]
    for (v, e), zz in zip(zip(eff["variable"], eff["effect"]), z):
        if (v, e) in PAPER_NOT_SIGNIFICANT:
            assert abs(zz) < 1.645, (v, e, zz)
        else:
            assert zz > 1.645, (v, e, zz)
    # and near the truth: within 3 delta-method standard errors
    tr = synth.truth["effects"]["pooled"]
    for r in eff.itertuples():
        assert abs(r.mean - tr[r.effect][r.variable]) < 3 * r.se, (r.variable, r.effect)


def test_moran_significant_every_year_every_variable(synth):
    mt = moran_table(synth.frame, synth.weights, ["resi", *X_STUDY], unit="city", time="year",
                     method="numpy")
    assert len(mt) == 7 * 16
    assert (mt["I"] > 0).all() and (mt["p"] < 0.05).all(), mt.sort_values("z").head()


def test_resilience_spread_follows_the_national_swing(synth):
    """resi = (dG_r - dG_n)/|dG_n| with city growth shocks of constant size: its spread is
    largest when national growth barely changed (2004, 2013, 2017: 0.1 point) and small in
    2008 (4.5 points); the city growth series are generated forward with realistic levels."""
    f = synth.frame
    sd = f.groupby("year")["resi"].std()
    dn = pd.Series(synth.truth["dgp"]["national_growth_change"]).rename(int).abs()
    assert dn.max() / dn.min() == pytest.approx(45.0)
    assert sd.max() / sd.min() > 3
    assert set(sd.nlargest(3).index) == {2004, 2013, 2017}
    assert sd[2008] < sd.median()
    assert sd.corr(1 / dn, method="spearman") > 0.7
    sig = pd.Series(synth.truth["dgp"]["sigma_by_year"]).rename(int)
    assert sig.idxmax() in (2004, 2013, 2017) and sig.idxmin() == 2008
    g = load_raw_tables("synthetic_ua")["city_series"]
    assert -5 < g["gdp_growth"].min() and g["gdp_growth"].max() < 25
    assert (g["gdp_growth"] < 0).mean() < 0.02
    assert 0.8 < g.groupby("year")["gdp_growth"].std().min()
    assert g.groupby("year")["gdp_growth"].std().max() < 4
