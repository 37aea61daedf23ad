"""Period-specific error variances (bayes_sdm.variances): the likelihood against a dense
multivariate normal of the Lee-Yu-transformed panel written here, the homoskedastic case, ML
recovery of sigma_t^2, flat-prior posterior mode = ML, exact LOO conditionals against the dense
precision matrix."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

from bayes_sdm.api import prepare
from bayes_sdm.errors import InputError
from bayes_sdm.likelihood import loglik
from bayes_sdm.sbc.core import lattice_weights
from bayes_sdm.variances import (
    fit_period_ml,
    period_loglik,
    period_pointwise_loglik,
    period_stats,
)


def _simulate(n=49, t=6, sig=None, seed=1, rho=0.4):
    from bayes_sdm.panel import Panel

    w = lattice_weights(n)
    rng = np.random.default_rng(seed)
    wm = np.asarray(w.matrix.toarray() if w.is_sparse else w.matrix)
    sig = np.linspace(0.3, 2.0, t) if sig is None else np.asarray(sig)
    x = rng.normal(size=(t, n, 2))
    mu, alpha = rng.normal(size=n), rng.normal(size=t)
    s_inv = np.linalg.inv(np.eye(n) - rho * wm)
    y = np.stack([s_inv @ (x[k] @ [1.0, -0.5] + wm @ (x[k] @ [0.5, 0.2]) + mu + alpha[k]
                           + sig[k] * rng.normal(size=n)) for k in range(t)])
    panel = Panel(y, x, tuple(w.ids), tuple(range(2000, 2000 + t)), "y", ("x1", "x2"))
    return panel, w, sig


def _dense_loglik(panel, w, fe, model, s, beta, theta, s2):
    """Transform y, X explicitly by F_T' (x) F_N' and evaluate the normal density of the
    transformed errors with covariance (F_T' D F_T) (x) I."""
    wm = np.asarray(w.matrix.toarray() if w.is_sparse else w.matrix)
    t, n = panel.y.shape
    y, x = panel.y, panel.X
    xb = np.einsum("tnk,k->tn", x, beta) + np.einsum("ij,tjk,k->ti", wm, x, theta)
    b = np.eye(n) - s * wm
    if model == "sdm":
        r = y @ b.T - xb  # (T, N): (I - rho W) y_t - X beta - WX theta
    else:  # sem: (I - lambda W)(y - X beta - WX theta)
        r = (y - xb) @ b.T
    ft = np.eye(t)
    if fe in ("unit", "twoway"):
        ev, vec = np.linalg.eigh(np.eye(t) - np.ones((t, t)) / t)
        ft = vec[:, ev > 0.5]
    fn = np.eye(n)
    if fe in ("time", "twoway"):
        ev, vec = np.linalg.eigh(np.eye(n) - np.ones((n, n)) / n)
        fn = vec[:, ev > 0.5]
    rs = ft.T @ r @ fn  # (T*, N*)
    cov_t = ft.T @ np.diag(s2) @ ft
    ll = stats.multivariate_normal(np.zeros(cov_t.shape[0]), cov_t).logpdf(rs.T).sum()
    bs = fn.T @ b @ fn
    return ll + ft.shape[1] * np.linalg.slogdet(bs)[1]


@pytest.mark.parametrize("fe", ["twoway", "unit", "time", "none"])
@pytest.mark.parametrize("model", ["sdm", "sem"])
def test_period_loglik_equals_dense(fe, model):
    panel, w, _ = _simulate(n=12, t=5, seed=3)
    if fe == "none":  # an intercept is refused (not implemented); the model without one
        with pytest.raises(InputError, match="intercept"):
            period_stats(prepare(panel, w, model, fe))
    prep = prepare(panel, w, model, fe, intercept=False)
    ps = period_stats(prep)
    rng = np.random.default_rng(0)
    for _ in range(3):
        s = rng.uniform(-0.3, 0.6)
        beta, theta = rng.normal(size=2), rng.normal(size=2)
        theta = theta if model == "sdm" else np.zeros(2)
        s2 = rng.uniform(0.2, 3.0, size=5)
        a = period_loglik(ps, prep, s, beta, theta, s2)
        b = _dense_loglik(panel, w, fe, model, s, beta, theta, s2)
        assert a == pytest.approx(b, rel=1e-10)
        # equal variances: the homoskedastic Lee-Yu likelihood
        h = period_loglik(ps, prep, s, beta, theta, np.full(5, s2[0]))
        assert h == pytest.approx(loglik(prep.stats, prep.logdet, prep.family, s, beta, theta,
                                         s2[0]), rel=1e-10)


def test_period_ml_recovers_variances():
    sig = np.array([0.3, 0.6, 1.0, 1.5, 2.0, 3.0, 0.5, 1.2])
    panel, w, sig = _simulate(n=100, t=8, sig=sig, seed=7)
    prep = prepare(panel, w, "sdm", "twoway")
    r = fit_period_ml(prep)
    est = r.params[[f"sigma2[{t}]" for t in panel.times]].to_numpy()
    se = r.se[[f"sigma2[{t}]" for t in panel.times]].to_numpy()
    z = (est - sig**2) / se
    assert np.all(np.abs(z) < 3.5), z
    assert np.all(np.abs(est / sig**2 - 1) < 0.4)
    assert r.params["rho"] == pytest.approx(0.4, abs=0.08)
    assert r.params["beta[x1]"] == pytest.approx(1.0, abs=0.1)
    # the score vanishes: the log-likelihood at the estimate beats nearby points
    assert r.loglik > period_loglik(period_stats(prep), prep, r.params["rho"] + 1e-3,
                                    r.params[["beta[x1]", "beta[x2]"]].to_numpy(),
                                    r.params[["theta[x1]", "theta[x2]"]].to_numpy(), est)
    tab = r.table()
    assert np.isnan(tab.loc[tab.parameter == "sigma2[2000]", "z"]).all()
    eff = r.effects()
    assert len(eff) == 6 and np.isfinite(eff["se"]).all()


def test_flat_prior_mode_equals_ml():
    import pymc as pm

    from bayes_sdm.spec import PriorSpec
    from bayes_sdm.variances import build_period_model

    panel, w, _ = _simulate(n=36, t=5, seed=5)
    prep = prepare(panel, w, "sdm", "twoway")
    r = fit_period_ml(prep)
    pr = PriorSpec.preset("flat")
    pr.sigma = {"dist": "flat_sigma2"}
    m = build_period_model(prep, pr)
    mp = pm.find_MAP(model=m, progressbar=False, maxeval=20000)
    assert mp["rho"] == pytest.approx(r.params["rho"], abs=2e-4)
    assert mp["beta"] == pytest.approx(r.params[["beta[x1]", "beta[x2]"]].to_numpy(),
                                       abs=2e-4)
    assert mp["sigma2"] == pytest.approx(
        r.params[[f"sigma2[{t}]" for t in panel.times]].to_numpy(), rel=2e-3)


@pytest.mark.parametrize("fe", ["twoway", "unit"])
def test_loo_conditionals_against_dense_precision(fe):
    panel, w, _ = _simulate(n=9, t=4, seed=2)
    prep = prepare(panel, w, "sdm", fe)
    rng = np.random.default_rng(1)
    s_draws = 3
    rho = rng.uniform(0, 0.5, s_draws)
    beta, theta = rng.normal(size=(s_draws, 2)), rng.normal(size=(s_draws, 2))
    s2 = rng.uniform(0.3, 2.0, size=(s_draws, 4))
    post = xr.Dataset({
        "rho": (("chain", "draw"), rho[None]),
        "beta": (("chain", "draw", "coef"), beta[None]),
        "theta": (("chain", "draw", "coef"), theta[None]),
        "sigma2": (("chain", "draw", "time"), s2[None])},
        coords={"chain": [0], "draw": np.arange(s_draws), "coef": ["x1", "x2"],
                "time": [str(t) for t in panel.times]})
    fit = SimpleNamespace(prepared=prep, idata=xr.DataTree.from_dict({"posterior": post}))
    got = period_pointwise_loglik(fit).values[0]  # (S, T, N)
    wm = np.asarray(w.matrix.toarray() if w.is_sparse else w.matrix)
    n, t = 9, 4
    y = panel.y.reshape(-1)
    for d in range(s_draws):
        wt = 1 / s2[d]
        pt_ = np.diag(wt) - np.outer(wt, wt) / wt.sum()
        mn = np.eye(n) - np.ones((n, n)) / n if fe == "twoway" else np.eye(n)
        big_b = np.kron(np.eye(t), np.eye(n) - rho[d] * wm)
        prec = big_b.T @ np.kron(pt_, mn) @ big_b
        xb = (np.einsum("tnk,k->tn", panel.X, beta[d])
              + np.einsum("ij,tjk,k->ti", wm, panel.X, theta[d])).reshape(-1)
        g = prec @ y - big_b.T @ np.kron(pt_, mn) @ xb
        q = np.diag(prec)
        ref = -0.5 * math.log(2 * math.pi) + 0.5 * np.log(q) - 0.5 * g**2 / q
        assert got[d].reshape(-1) == pytest.approx(ref, rel=1e-9, abs=1e-9)


def test_refusals_and_spec():
    from bayes_sdm.commands import default_spec
    from bayes_sdm.spec import ModelSpec

    panel, w, _ = _simulate(n=9, t=4)
    prep = prepare(panel, w, "sdm", "twoway", correction="none")
    with pytest.raises(InputError, match="transform"):
        period_stats(prep)
    s = default_spec()
    assert "variance" not in s.to_dict()
    s.variance = "period"
    assert ModelSpec.from_dict(s.to_dict()).variance == "period"
    d = s.to_dict()
    d["variance"] = "unitwise"
    with pytest.raises(InputError, match="variance"):
        ModelSpec.from_dict(d)


def test_cli_variance_period_ml_only(tmp_path):
    from bayes_sdm.cli import main

    out = tmp_path / "v"
    rc = main(["--dataset", "cigar", "--model", "sdm", "--fe", "twoway", "--variance",
               "period", "--ml-only", "--quiet", "--out", str(out)])
    assert rc == 0
    ml = pd.read_csv(out / "ml.csv")
    assert (ml.parameter.str.startswith("sigma2[")).sum() == 30


# ----------------------------------------------------------------------------- unit scales
def _dense_unit_loglik(panel, w, fe, s, beta, theta, s2, v):
    wm = np.asarray(w.matrix.toarray() if w.is_sparse else w.matrix)
    t, n = panel.y.shape
    xb = np.einsum("tnk,k->tn", panel.X, beta) + np.einsum("ij,tjk,k->ti", wm, panel.X, theta)
    b = np.eye(n) - s * wm
    r = panel.y @ b.T - xb
    ft, fn = np.eye(t), np.eye(n)
    if fe in ("unit", "twoway"):
        ev, vec = np.linalg.eigh(np.eye(t) - np.ones((t, t)) / t)
        ft = vec[:, ev > 0.5]
    if fe in ("time", "twoway"):
        ev, vec = np.linalg.eigh(np.eye(n) - np.ones((n, n)) / n)
        fn = vec[:, ev > 0.5]
    rs = ft.T @ r @ fn  # (T*, N*): rows independent, each N(0, s2 fn' V fn)
    cov = s2 * fn.T @ np.diag(v) @ fn
    ll = stats.multivariate_normal(np.zeros(cov.shape[0]), cov).logpdf(rs).sum()
    return ll + ft.shape[1] * np.linalg.slogdet(fn.T @ b @ fn)[1]


@pytest.mark.parametrize("fe", ["twoway", "unit", "time", "none"])
def test_unit_loglik_equals_dense(fe):
    from bayes_sdm.variances import unit_loglik, unit_stats

    panel, w, _ = _simulate(n=12, t=5, seed=8)
    if fe == "none":  # an intercept is refused (not implemented); the model without one
        with pytest.raises(InputError, match="unit variances with an intercept"):
            unit_stats(prepare(panel, w, "sdm", fe))
    prep = prepare(panel, w, "sdm", fe, intercept=False)
    us = unit_stats(prep)
    rng = np.random.default_rng(4)
    for _ in range(2):
        s = rng.uniform(-0.3, 0.6)
        beta, theta = rng.normal(size=2), rng.normal(size=2)
        s2, v = rng.uniform(0.5, 2.0), rng.uniform(0.2, 3.0, size=12)
        a = unit_loglik(us, prep, s, beta, theta, s2, v)
        assert a == pytest.approx(_dense_unit_loglik(panel, w, fe, s, beta, theta, s2, v),
                                  rel=1e-10)
        h = unit_loglik(us, prep, s, beta, theta, s2, np.ones(12))
        assert h == pytest.approx(loglik(prep.stats, prep.logdet, prep.family, s, beta, theta,
                                         s2), rel=1e-10)


@pytest.mark.slow
def test_unit_scales_posterior_mode_separates_noisy_units():
    """Half the units with 9 times the error variance: the posterior mode of v_i is larger for
    them (the v_i prior is inverse-chi^2(4)/4)."""
    import pymc as pm

    from bayes_sdm.panel import Panel
    from bayes_sdm.variances import build_unit_model

    w = lattice_weights(36)
    rng = np.random.default_rng(9)
    wm = np.asarray(w.matrix.toarray() if w.is_sparse else w.matrix)
    t, n = 10, 36
    scale = np.where(np.arange(n) % 2 == 0, 0.5, 1.5)
    x = rng.normal(size=(t, n, 2))
    s_inv = np.linalg.inv(np.eye(n) - 0.4 * wm)
    mu, al = rng.normal(size=n), rng.normal(size=t)
    y = np.stack([s_inv @ (x[k] @ [1.0, -0.5] + wm @ (x[k] @ [0.5, 0.2]) + mu + al[k]
                           + scale * rng.normal(size=n)) for k in range(t)])
    panel = Panel(y, x, tuple(w.ids), tuple(range(t)), "y", ("x1", "x2"))
    prep = prepare(panel, w, "sdm", "twoway")
    mp = pm.find_MAP(model=build_unit_model(prep), progressbar=False)
    v = mp["v"] * mp["sigma2"]
    ratio = v[1::2].mean() / v[0::2].mean()
    assert ratio > 4.0, ratio
    assert mp["rho"] == pytest.approx(0.4, abs=0.1)


def test_variance_verdict():
    from bayes_sdm.variance_selection import verdict

    tab = pd.DataFrame({"model": ["period", "homoskedastic"], "elpd_diff": [0.0, -2022.5],
                        "dse": [0.0, 59.0]})
    assert verdict(tab).startswith("The data prefer period-specific variances")
    tab["elpd_diff"] = [0.0, -50.0]
    tab["dse"] = [0.0, 40.0]
    assert "do not improve" in verdict(tab)
    tab["model"] = ["homoskedastic", "period"]
    assert "not supported" in verdict(tab)


@pytest.mark.slow
def test_elpd_does_not_prefer_period_variances_on_homoskedastic_data():
    """Two NUTS fits of a homoskedastic panel: the ELPD comparison does not favour sigma_t^2."""
    from bayes_sdm.spec import ModelSpec
    from bayes_sdm.variance_selection import compare_variances

    panel, w, _ = _simulate(n=49, t=8, sig=np.ones(8), seed=12)
    spec = ModelSpec(model="sdm", fe="twoway")
    spec.sampler.draws, spec.sampler.tune, spec.sampler.chains = 500, 500, 2
    tab, sentence = compare_variances(panel, w, spec)
    print(tab, sentence)
    assert not sentence.startswith("The data prefer period-specific variances")
