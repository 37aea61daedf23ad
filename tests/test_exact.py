"""The exact sampler (flat priors, beta/theta/sigma^2 integrated out, rho on a grid) against
quadrature and against NUTS on the same PyMC model."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ring_plus_random
from scipy import integrate
from scipy import stats as sstats

from bayes_sdm.errors import InputError
from bayes_sdm.exact import _draw_from_grid, rho_posterior_grid, sample_exact
from bayes_sdm.likelihood import profile_lag, sufficient_stats
from bayes_sdm.logdet import EigenLogDet, eigenvalues, make_logdet
from bayes_sdm.marginal import log_integrand
from bayes_sdm.panel import Panel
from bayes_sdm.simulate import simulate_y
from bayes_sdm.weights import make_weights


@pytest.fixture(autouse=True)
def _no_cache(monkeypatch):
    monkeypatch.setenv("BAYES_SDM_CACHE", "0")


def simulated(model="sdm", n=30, t=6, k=2, seed=0, rho=0.4):
    rng = np.random.default_rng(seed)
    w = make_weights(ring_plus_random(n, rng, 0.1), tuple(range(n)))
    x = rng.standard_normal((t, n, k))
    beta = np.linspace(1.0, -1.0, k)
    theta = np.linspace(0.5, 0.2, k)
    y = simulate_y(w, x, model, rho=rho, beta=beta, theta=theta, sigma=0.7,
                   mu=rng.normal(size=n), alpha=rng.normal(size=t), rng=seed + 1)
    panel = Panel(y, x, tuple(range(n)), tuple(range(t)), "y", tuple(f"x{i}" for i in range(k)))
    stats = sufficient_stats(panel, w, "twoway")
    return stats, EigenLogDet(eigenvalues(w, cache=False)), w


def test_grid_inverse_cdf_draws_follow_the_density():
    x = np.linspace(-4, 4, 400)
    logpdf = sstats.norm.logpdf(x)
    d = _draw_from_grid(x, logpdf, 40000, np.random.default_rng(0))
    assert sstats.kstest(d, sstats.truncnorm(-4, 4).cdf).pvalue > 0.01
    # a skewed density: the linear interpolation within cells is exact for a linear density
    x = np.linspace(0, 1, 3)
    d = _draw_from_grid(x, np.log(np.array([1e-300, 0.5, 1.0]) + 0), 40000,
                        np.random.default_rng(1))
    assert sstats.kstest(d, lambda v: np.clip(v, 0, 1) ** 2).pvalue > 0.01


@pytest.mark.parametrize("model", ["sdm", "sar", "sem", "sdem"])
def test_rho_grid_matches_quadrature(model):
    stats, ld, _ = simulated(model)
    x, logpdf = rho_posterior_grid(stats, ld, model)
    lo, hi = ld.interval
    lmax = log_integrand(stats, ld, model, x).max()

    def f(r):
        return np.exp(log_integrand(stats, ld, model, np.array([r]))[0] - lmax)

    a, b = x[0], x[-1]
    z = integrate.quad(f, a, b, limit=200, epsabs=0)[0]
    m1 = integrate.quad(lambda r: r * f(r), a, b, limit=200, epsabs=0)[0] / z
    pdf = np.exp(logpdf)
    assert np.trapezoid(pdf, x) == pytest.approx(1.0, rel=1e-12)
    assert np.trapezoid(x * pdf, x) == pytest.approx(m1, abs=1e-5)
    # the grid keeps essentially all the mass: the whole interval adds nothing
    z_all = integrate.quad(f, lo + 1e-9, hi - 1e-9, limit=400, points=[a, b])[0]
    assert z == pytest.approx(z_all, rel=1e-9)


def test_conditionals_of_the_exact_draws():
    stats, ld, _ = simulated("sdm")
    dt = sample_exact(stats, ld, "sdm", draws=5000, chains=2, seed=3)
    post = dt.posterior
    assert set(post.data_vars) >= {"rho", "beta", "theta", "sigma2", "sigma", "effects"}
    assert post["beta"].dims == ("chain", "draw", "coef")
    assert post["effects"].dims == ("chain", "draw", "effect", "coef")
    assert list(post["effect"].values) == ["direct", "indirect", "total"]
    rho = post["rho"].values.ravel()
    b = np.concatenate([post["beta"].values.reshape(-1, 2), post["theta"].values.reshape(-1, 2)],
                       axis=1)
    coef, s = profile_lag(stats, "sdm", rho)
    # E[b | rho] = b(rho): the standardised residuals have mean 0, var sigma2 (Z'Z)^{-1}
    cols = stats.columns("sdm")
    gxx = stats.gram[np.ix_(cols, cols)]
    l_ = np.linalg.cholesky(gxx)
    sig2 = post["sigma2"].values.ravel()
    zs = ((b - coef) @ l_) / np.sqrt(sig2)[:, None]
    np.testing.assert_allclose(zs.mean(axis=0), 0.0, atol=0.05)
    np.testing.assert_allclose(np.cov(zs.T), np.eye(4), atol=0.06)
    # sigma2 | rho ~ InvGamma(a, S/2): S / sigma2 ~ 2 Gamma(a)
    a = 0.5 * (stats.terms.n_eff - 4)
    g = 0.5 * s / sig2
    assert sstats.kstest(g, sstats.gamma(a).cdf).pvalue > 0.001
    # effects equal lag_effects of the draws
    from bayes_sdm.effects import lag_effects

    eff = lag_effects(rho, b[:, :2], b[:, 2:], ld)
    np.testing.assert_allclose(post["effects"].values.reshape(-1, 3, 2), eff, rtol=1e-12)


def test_exact_sampler_input_errors():
    stats, ld, w = simulated("sdm")
    with pytest.raises(InputError, match="exact sampler covers"):
        sample_exact(stats, ld, "slx")
    with pytest.raises(InputError, match="draws"):
        sample_exact(stats, ld, "sdm", draws=0)
    other = make_logdet(make_weights(ring_plus_random(12, np.random.default_rng(0)),
                                     tuple(range(12))))
    with pytest.raises(InputError, match="N=12"):
        sample_exact(stats, other, "sdm")
    with pytest.raises(InputError, match="LogDet"):
        sample_exact(stats, "eigen", "sdm")


def test_exact_sampler_is_reproducible():
    stats, ld, _ = simulated("sar")
    a = sample_exact(stats, ld, "sar", draws=50, chains=2, seed=11)
    b = sample_exact(stats, ld, "sar", draws=50, chains=2, seed=11)
    np.testing.assert_array_equal(a.posterior["rho"].values, b.posterior["rho"].values)


def ess_1d(x: np.ndarray) -> float:
    from arviz_stats.base import array_stats

    return float(array_stats.ess(x, chain_axis=0, draw_axis=1, method="bulk"))


def compare_with_nuts(model, draws, tune, chains, seed=0, n=30, t=6, sampler="pymc"):
    from bayes_sdm.pymc_models import build_model
    from bayes_sdm.sampling import sample_nuts
    from bayes_sdm.spec import PriorSpec, SamplerSpec

    stats, ld, _ = simulated(model, n=n, t=t, seed=seed)
    ex = sample_exact(stats, ld, model, draws=4000, chains=1, seed=seed + 10).posterior
    m = build_model(stats, ld, model, PriorSpec.preset("flat"))
    idata = sample_nuts(m, SamplerSpec(draws=draws, tune=tune, chains=chains, cores=1, seed=seed,
                                       nuts_sampler=sampler, target_accept=0.9))
    nu = idata.posterior
    sname = "rho" if model in ("sdm", "sar") else "lambda"
    # KS on the spatial parameter with the NUTS effective sample size
    r_n = nu[sname].values
    ess = ess_1d(r_n)
    r_e = ex[sname].values.ravel()
    d = sstats.ks_2samp(r_n.ravel(), r_e).statistic
    crit = 1.95 * np.sqrt((ess + r_e.size) / (ess * r_e.size))  # alpha = 0.001
    assert d < crit, (d, crit, ess)
    # every parameter's mean within Monte Carlo error (4 standard errors)
    from bayes_sdm.effects import lag_effects, local_effects

    beta = nu["beta"].values
    theta = nu["theta"].values if "theta" in nu else None
    if sname == "rho":
        eff = lag_effects(nu["rho"].values, beta, theta, ld)
    else:
        eff = local_effects(beta, theta)
    nuts_vals = {sname: nu[sname].values, "sigma2": nu["sigma2"].values}
    ex_vals = {sname: ex[sname].values, "sigma2": ex["sigma2"].values}
    for j in range(stats.K):
        nuts_vals[f"beta{j}"] = beta[..., j]
        ex_vals[f"beta{j}"] = ex["beta"].values[..., j]
        if theta is not None:
            nuts_vals[f"theta{j}"] = theta[..., j]
            ex_vals[f"theta{j}"] = ex["theta"].values[..., j]
        for e in range(3):
            nuts_vals[f"eff{e}{j}"] = eff[..., e, j]
            ex_vals[f"eff{e}{j}"] = ex["effects"].values[..., e, j]
    for key, vn in nuts_vals.items():
        ve = ex_vals[key].ravel()
        if np.std(ve) == 0:
            assert np.allclose(vn, ve[0])
            continue
        se = np.sqrt(np.var(vn) / ess_1d(vn) + np.var(ve) / ve.size)
        assert abs(vn.mean() - ve.mean()) < 4 * se, (key, vn.mean(), ve.mean(), se)
    return d, crit


@pytest.mark.parametrize("sampler", ["pymc", "nutpie-pyfunc"])
def test_exact_matches_nuts_fast(sampler):
    """Small SDM panel, short NUTS run (2 chains x 600 draws), with PyMC's NUTS and with nutpie
    driving the PyTensor-compiled functions (the default sampler)."""
    compare_with_nuts("sdm", draws=600, tune=600, chains=2, sampler=sampler)


@pytest.mark.slow
@pytest.mark.parametrize("sampler", ["pymc", "nutpie-pyfunc"])
@pytest.mark.parametrize("model", ["sdm", "sar", "sem", "sdem"])
def test_exact_matches_nuts(model, sampler):
    """4 chains x 1000 NUTS draws against 4000 exact draws."""
    compare_with_nuts(model, draws=1000, tune=1000, chains=4, seed=5, n=40, t=8, sampler=sampler)
