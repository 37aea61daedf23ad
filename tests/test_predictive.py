"""Prior / posterior predictive simulation: the observed-y likelihood equals the Potential, the
fixed effects are recovered, and replicated draws have the moments the model implies."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import random_panel

from bayes_sdm.errors import InputError
from bayes_sdm.likelihood import sufficient_stats
from bayes_sdm.logdet import make_logdet
from bayes_sdm.panel import Panel
from bayes_sdm.predictive import draw_y, fixed_effects, observed_gram, predictive_data
from bayes_sdm.simulate import simulate_y

MODELS = ["sdm", "sar", "sem", "sdem", "slx"]
FES = ["twoway", "unit", "time", "none"]


def simulated_panel(n=15, t=6, k=2, seed=0, model="sdm", rho=0.4, sigma=0.5, eps_zero=False,
                    symmetric=True):
    """A panel drawn from the model with unit and time effects; returns (panel, w, truth)."""
    panel0, w = random_panel(n=n, t=t, k=k, seed=seed, symmetric=symmetric)
    rng = np.random.default_rng(seed + 100)
    beta = rng.normal(size=k)
    theta = rng.normal(size=k) * 0.5
    mu = rng.normal(scale=2.0, size=n)
    alpha = rng.normal(scale=2.0, size=t)
    eps = np.zeros((t, n)) if eps_zero else None
    y = simulate_y(w, panel0.X, model, rho=rho, beta=beta, theta=theta, sigma=sigma, mu=mu,
                   alpha=alpha, rng=rng, eps=eps)
    panel = Panel(y, panel0.X, panel0.units, panel0.times, "y", panel0.x_names)
    return panel, w, dict(rho=rho, beta=beta, theta=theta, sigma=sigma, mu=mu, alpha=alpha)


@pytest.mark.parametrize("lag_convention", ["QWy", "WQy"])
@pytest.mark.parametrize("fe", FES)
def test_observed_gram_equals_sufficient_stats(fe, lag_convention):
    panel, w = random_panel(n=9, t=5, k=2, seed=4, symmetric=False)
    data = predictive_data(panel, w, fe, lag_convention)
    g = observed_gram(data, panel.y).eval()
    ref = sufficient_stats(panel, w, fe, lag_convention=lag_convention).gram
    np.testing.assert_allclose(g, ref, rtol=1e-11, atol=1e-11)


def test_observed_gram_sparse_w():
    import scipy.sparse as sp

    from bayes_sdm.weights import SpatialWeights

    panel, w = random_panel(n=9, t=5, k=2, seed=6)
    ws = SpatialWeights(sp.csr_array(w.matrix), w.ids, name="sparse",
                        row_standardized=w.row_standardized, sym_scale=w.sym_scale)
    data = predictive_data(panel, ws, "twoway")
    g = observed_gram(data, panel.y).eval()
    np.testing.assert_allclose(g, sufficient_stats(panel, w, "twoway").gram, rtol=1e-11,
                               atol=1e-11)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("fe", FES)
def test_fixed_effects_recovered_and_y_reproduced(model, fe):
    """With eps = 0 the replicated y at the true parameters is the observed y exactly: the
    fixed-effect estimates given the draw absorb exactly the simulated mu_i + alpha_t."""
    panel, w, tr = simulated_panel(model=model, eps_zero=True, seed=3)
    if fe != "twoway":  # the DGP must only contain the effects the model has
        mu = tr["mu"] if fe in ("unit",) else np.zeros(panel.N)
        al = tr["alpha"] if fe in ("time",) else np.zeros(panel.T)
        y = simulate_y(w, panel.X, model, rho=tr["rho"], beta=tr["beta"], theta=tr["theta"],
                       mu=mu, alpha=al, eps=np.zeros((panel.T, panel.N)))
        panel = Panel(y, panel.X, panel.units, panel.times, "y", panel.x_names)
    data = predictive_data(panel, w, fe)
    th = tr["theta"] if model in ("sdm", "sdem", "slx") else None
    fe_hat = fixed_effects(data, model, tr["rho"], tr["beta"], th)
    if model in ("sdm", "sar", "slx"):
        expect = {"twoway": tr["mu"][None, :] + tr["alpha"][:, None],
                  "unit": np.broadcast_to(tr["mu"][None, :], fe_hat.shape),
                  "time": np.broadcast_to(tr["alpha"][:, None], fe_hat.shape),
                  "none": np.zeros_like(fe_hat)}[fe]
        np.testing.assert_allclose(fe_hat, expect, atol=1e-9)
    y_rep = draw_y(data, model, tr["rho"], tr["beta"], th, 1e-300, rng=1)
    np.testing.assert_allclose(y_rep, panel.y, atol=1e-9)
    # wrong parameters do not reproduce y (the check can fail)
    y_bad = draw_y(data, model, tr["rho"], tr["beta"] + 0.5, th, 1e-300, rng=1)
    assert np.abs(y_bad - panel.y).max() > 1e-3


@pytest.mark.parametrize("model", MODELS)
def test_observed_y_logp_equals_potential(model):
    """build_model(panel=, w=) puts the same log-likelihood on the observed y as the Potential."""
    from bayes_sdm.pymc_models import build_model

    panel, w, _ = simulated_panel(model="sdm", seed=9)
    ld = make_logdet(w, "eigen")
    for fe in (("twoway", "unit", "time", "none") if model == "sdm" else ("twoway",)):
        stats = sufficient_stats(panel, w, fe)
        m0 = build_model(stats, ld, model)
        m1 = build_model(stats, ld, model, panel=panel, w=w)
        assert "y" in m1.named_vars and m1["y"] in m1.observed_RVs
        assert m1.named_vars_to_dims["y"] == ("time", "unit")
        f0, f1 = m0.compile_logp(), m1.compile_logp()
        ip = m0.initial_point()
        rng = np.random.default_rng(0)
        for _ in range(3):
            p = {k: v + rng.normal(scale=0.3, size=np.shape(v)) for k, v in ip.items()}
            assert f1(p) == pytest.approx(f0(p), rel=1e-10, abs=1e-8)


def test_build_model_refuses_mismatched_panel():
    from bayes_sdm.pymc_models import build_model

    panel, w, _ = simulated_panel(seed=1)
    other, _, _ = simulated_panel(seed=2)
    stats = sufficient_stats(panel, w, "twoway")
    ld = make_logdet(w, "eigen")
    with pytest.raises(InputError, match="do not reproduce"):
        build_model(stats, ld, "sdm", panel=other, w=w)
    with pytest.raises(InputError, match="both"):
        build_model(stats, ld, "sdm", panel=panel)


def test_draw_y_moments_at_fixed_parameters():
    """At fixed parameters, y_rep ~ N(A^{-1}(X b + W X th + FE), sigma^2 A^{-1} A^{-T}) per
    period (A = I - rho W), checked against dense inverses over many draws."""
    panel, w, tr = simulated_panel(n=8, t=4, seed=5, sigma=0.7)
    data = predictive_data(panel, w, "twoway")
    rng = np.random.default_rng(0)
    s = 1500
    draws = np.stack([draw_y(data, "sdm", tr["rho"], tr["beta"], tr["theta"], tr["sigma"], rng)
                      for _ in range(s)])
    wm = w.matrix
    a_inv = np.linalg.inv(np.eye(panel.N) - tr["rho"] * wm)
    fx = panel.X @ tr["beta"] + (wm @ (panel.X @ tr["theta"]).T).T
    # FE estimates computed independently: means of the raw residual
    e = panel.y - tr["rho"] * (wm @ panel.y.T).T - fx
    fe = e.mean(0)[None, :] + e.mean(1)[:, None] - e.mean()
    mean = (a_inv @ (fx + fe).T).T
    cov = tr["sigma"] ** 2 * a_inv @ a_inv.T
    z = (draws.mean(0) - mean) / np.sqrt(np.diag(cov)[None, :] / s)
    assert np.mean(z**2) == pytest.approx(1.0, abs=0.5)
    emp = np.cov(draws[:, 2, :].T)
    np.testing.assert_allclose(emp, cov, atol=0.12 * cov.max())
    # the unit means over time of the replicated panels equal the observed ones (two-way FE)
    np.testing.assert_allclose(mean.mean(0), panel.y.mean(0), atol=1e-10)


@pytest.fixture(scope="module")
def fitted():
    """A small two-way SDM fit on a simulated panel (nutpie; a few seconds)."""
    from bayes_sdm.api import fit, prepare
    from bayes_sdm.spec import SamplerSpec

    panel, w, tr = simulated_panel(n=15, t=6, seed=21, sigma=0.5)
    prep = prepare(panel, w, "sdm", "twoway")
    res = fit(prep, sampler=SamplerSpec(draws=300, tune=300, chains=2, seed=3,
                                        nuts_sampler="nutpie", cores=1), progressbar=False)
    return res, tr


def test_posterior_predictive_moments_on_simulated_data(fitted):
    """Posterior predictive draws through pm.sample_posterior_predictive: per cell mean and
    variance match the law of total expectation / variance over the posterior draws, computed
    with dense inverses; the unit time-means equal the observed ones; dims and seed."""
    from bayes_sdm.ppc import posterior_predictive

    res, _ = fitted
    prep = res.prepared
    y = posterior_predictive(res, draws=None, seed=7)
    assert y.dims == ("chain", "draw", "time", "unit")
    assert y.shape == (2, 300, prep.panel.T, prep.panel.N)
    assert list(y.coords["unit"].values) == list(prep.panel.units)
    post = res.idata["posterior"]
    rho = post["rho"].values.ravel()
    beta = post["beta"].values.reshape(-1, prep.panel.K)
    theta = post["theta"].values.reshape(-1, prep.panel.K)
    sig2 = post["sigma2"].values.ravel()
    wm, X, yo = prep.w.matrix, prep.panel.X, prep.panel.y  # noqa: N806
    n = prep.panel.N
    means, variances = [], []
    for r, b, th, s2 in zip(rho, beta, theta, sig2):
        a_inv = np.linalg.inv(np.eye(n) - r * wm)
        fx = X @ b + (wm @ (X @ th).T).T
        e = yo - r * (wm @ yo.T).T - fx
        fe = e.mean(0)[None, :] + e.mean(1)[:, None] - e.mean()
        means.append((a_inv @ (fx + fe).T).T)
        variances.append(s2 * np.sum(a_inv**2, axis=1))
    means = np.array(means)
    m_theory = means.mean(0)
    v_theory = np.mean(variances, axis=0)[None, :] + means.var(0)
    yr = y.values.reshape(-1, *yo.shape)
    s = yr.shape[0]
    z = (yr.mean(0) - m_theory) / np.sqrt(v_theory / s)
    assert np.mean(z**2) == pytest.approx(1.0, abs=0.4)
    ratio = yr.var(0) / v_theory
    assert ratio.mean() == pytest.approx(1.0, abs=0.06)
    np.testing.assert_allclose(yr.mean(0).mean(0), yo.mean(0), atol=4 * np.sqrt(
        v_theory.mean() / (s * yo.shape[0])))
    # a predictive from the wrong scale would fail: twice sigma gives ratio ~ 4
    assert not (0.94 < (4 * ratio).mean() < 1.06)
    y2 = posterior_predictive((prep, res.idata), draws=None, seed=7)
    np.testing.assert_array_equal(y.values, y2.values)
    y3 = posterior_predictive(res, draws=50, seed=7)
    assert y3.sizes["draw"] == 50


def test_prior_predictive(fitted):
    from bayes_sdm.ppc import prior_predictive
    from bayes_sdm.spec import PriorSpec

    res, _ = fitted
    y, prior = prior_predictive(res.prepared, draws=20, seed=1)
    assert y.dims == ("chain", "draw", "time", "unit") and y.sizes["draw"] == 20
    assert {"rho", "beta", "theta", "sigma"} <= set(prior.data_vars)
    assert np.isfinite(y.values).all()
    with pytest.raises(InputError, match="flat"):
        prior_predictive(res.prepared, priors=PriorSpec.preset("flat"), draws=5)


def test_posterior_predictive_after_exact_sampler():
    """The exact sampler (flat priors) stores sigma2, not the model's free log(sigma2): the
    predictive check derives it instead of asking PyMC to draw from a flat density (this
    failed with 'Cannot sample from flat variable'); replicates centre on the data."""
    from bayes_sdm import api
    from bayes_sdm.ppc import posterior_predictive
    from bayes_sdm.spec import PriorSpec, SamplerSpec

    panel, w = random_panel(n=15, t=4, seed=5)
    prep = api.prepare(panel, w, "sar", "twoway")
    res = api.fit(prep, sampler=SamplerSpec(kind="exact", draws=50, chains=2, seed=1),
                  priors=PriorSpec.preset("flat"))
    y = posterior_predictive(res, draws=20, seed=3)
    assert y.shape == (2, 20, panel.T, panel.N) and np.isfinite(y.values).all()
    # the spread of the replicates is the model's: per cell, the law of total variance over
    # the draws used (SAR: sigma2 diag((I - rho W)^-1 (I - rho W)^-T) plus the mean's spread)
    post = res.idata["posterior"].to_dataset().isel(draw=slice(None, None, 50 // 20))
    n, wm, X, yo = panel.N, w.matrix, panel.X, panel.y  # noqa: N806
    means, variances = [], []
    for r, b, s2 in zip(post["rho"].values.ravel(), post["beta"].values.reshape(-1, panel.K),
                        post["sigma2"].values.ravel()):
        a_inv = np.linalg.inv(np.eye(n) - r * wm)
        e = yo - r * (wm @ yo.T).T - X @ b
        fe = e.mean(0)[None, :] + e.mean(1)[:, None] - e.mean()
        means.append((a_inv @ (X @ b + fe).T).T)
        variances.append(np.broadcast_to(s2 * np.sum(a_inv**2, axis=1), yo.shape))
    v_theory = np.mean(variances, axis=0) + np.var(means, axis=0)
    ratio = y.values.reshape(-1, *yo.shape).var(0) / v_theory
    assert ratio.mean() == pytest.approx(1.0, abs=0.15)
