"""The Bayesian dynamic panel (bayes_sdm.dynamic_bayes): the correlated-random-effects likelihood
against a dense multivariate-normal implementation written here, numpy = PyTensor, the posterior
mode, and (slow) the coverage of the 94% HDIs at T = 10."""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
import pytest
from scipy import stats

from bayes_sdm.dynamic import loglik, prepare_dynamic, simulate_dynamic
from bayes_sdm.dynamic_bayes import build_dynamic_model, dynamic_loglik, stationary
from bayes_sdm.errors import InputError
from bayes_sdm.sbc.core import lattice_weights

TRUTH = dict(tau=0.4, rho=0.3, eta=-0.1)


@pytest.fixture(scope="module")
def sim():
    w = lattice_weights(16)
    panel = simulate_dynamic(w, 7, beta=[1.0, -0.5], theta=[0.4, 0.2], sigma=0.8, seed=4,
                             **TRUTH)
    return panel, w


def _dense_cre(panel, w, fe, rho, tau, eta, beta, theta, psi, s2, s2mu):
    """The CRE likelihood from the joint normal of each cross-section row's T' errors
    (covariance sigma^2 I + sigma_mu^2 11'), written without Gram matrices."""
    wm = np.asarray(w.matrix.toarray() if w.is_sparse else w.matrix)
    y, x = panel.y, panel.X
    tt, n = y.shape
    tp = tt - 1
    xbar = x[1:].mean(0)
    h = [y[0], wm @ y[0], *xbar.T, *(wm @ xbar).T]
    if fe == "unit":
        h.append(np.ones(n))
    m = np.column_stack(h) @ psi
    s = np.eye(n) - rho * wm
    v = np.stack([s @ y[t] - tau * y[t - 1] - eta * wm @ y[t - 1] - x[t] @ beta
                  - wm @ (x[t] @ theta) - m for t in range(1, tt)])  # (T', N)
    ws = wm
    if fe == "twoway":
        ev, vec = np.linalg.eigh(np.eye(n) - np.ones((n, n)) / n)
        f = vec[:, ev > 0.5]
        v = v @ f
        ws = f.T @ wm @ f
    cov = s2 * np.eye(tp) + s2mu * np.ones((tp, tp))
    ll = stats.multivariate_normal(np.zeros(tp), cov).logpdf(v.T).sum()
    return ll + tp * np.linalg.slogdet(np.eye(ws.shape[0]) - rho * ws)[1]


@pytest.mark.parametrize("fe", ["unit", "twoway"])
@pytest.mark.parametrize("model", ["sdm", "sar"])
def test_cre_loglik_equals_dense(sim, fe, model):
    panel, w = sim
    dd = prepare_dynamic(panel, w, model, fe)
    rng = np.random.default_rng(2)
    npsi = 2 + 4 + (fe == "unit")
    for _ in range(3):
        rho, tau, eta = rng.uniform(-0.2, 0.5), rng.uniform(0, 0.5), rng.uniform(-0.3, 0.3)
        beta, theta = rng.normal(size=2), rng.normal(size=2)
        theta = theta if model == "sdm" else np.zeros(2)
        psi = rng.normal(size=npsi)
        s2, smu = rng.uniform(0.5, 2), rng.uniform(0.1, 1)
        a = dynamic_loglik(dd, rho, tau, eta, beta, theta, s2, psi, smu)
        b = _dense_cre(panel, w, fe, rho, tau, eta, beta, theta, psi, s2, smu**2)
        assert a == pytest.approx(b, rel=1e-10)
        assert dynamic_loglik(dd, rho, tau, eta, beta, theta, s2) == pytest.approx(
            loglik(dd, rho, tau, eta, beta, theta, s2), rel=1e-12)
    if (fe, model) == ("twoway", "sdm"):  # the PyTensor graph evaluates the same number
        c = dynamic_loglik(dd, pt.as_tensor(rho), pt.as_tensor(tau), pt.as_tensor(eta),
                           pt.as_tensor(beta), pt.as_tensor(theta), pt.as_tensor(s2),
                           pt.as_tensor(psi), pt.as_tensor(smu), xp=pt).eval()
        assert float(c) == pytest.approx(a, rel=1e-10)


def test_stationarity_region():
    # |tau + eta w| < 1 - rho w at w = omega_min and 1
    assert stationary(0.86, 0.16, -0.10, -0.7)  # cigar: tau + |rho| + |eta| > 1, stationary
    assert not stationary(0.8, 0.3, 0.0, -0.7)  # tau + rho + eta >= 1
    assert not stationary(-0.5, 0.0, 0.6, -1.0)  # |tau - eta| >= 1 + rho


def test_cre_posterior_mode_and_model(sim):
    import pymc as pm

    w = lattice_weights(64)
    panel = simulate_dynamic(w, 11, beta=[1.0], theta=[0.5], sigma=1.0, seed=21, **TRUTH)
    dd = prepare_dynamic(panel, w, "sdm", "twoway")
    m = build_dynamic_model(dd, mu="cre")
    assert {"rho", "stationary_unit", "beta", "theta", "sigma", "psi", "sigma_mu"} <= \
        {v.name for v in m.free_RVs}
    mp = pm.find_MAP(model=m, progressbar=False)
    assert stationary(mp["tau"], mp["rho"], mp["eta"], 1 / dd.logdet.interval[0])
    from bayes_sdm.dynamic import fit_dynamic_ml

    ml = fit_dynamic_ml(dd).params  # bias-corrected ML
    for name in ("tau", "rho", "eta"):
        assert mp[name] == pytest.approx(ml[name], abs=0.03)
    assert mp["tau"] == pytest.approx(TRUTH["tau"], abs=0.06)
    with pytest.raises(InputError, match="correlated random effects"):
        build_dynamic_model(prepare_dynamic(panel, w, "sdm", "time"), mu="cre")
    mr = build_dynamic_model(prepare_dynamic(panel, w, "sar", "unit", "restricted"))
    assert "tau" in {v.name for v in mr.free_RVs}


def _coverage(mu, reps, seed):
    from bayes_sdm.dynamic_run import fit_dynamic_bayes
    from bayes_sdm.ml import hdi_interval
    from bayes_sdm.spec import ModelSpec

    spec = ModelSpec()
    spec.sampler.draws, spec.sampler.tune, spec.sampler.chains = 500, 500, 2
    spec.sampler.target_accept = 0.9
    w = lattice_weights(49)
    hits = {k: [] for k in TRUTH}
    for r in range(reps):
        panel = simulate_dynamic(w, 11, beta=[1.0], theta=[0.5], sigma=1.0, seed=seed + r,
                                 **TRUTH)
        dd = prepare_dynamic(panel, w, "sdm", "twoway")
        spec.sampler.seed = seed + r
        post = fit_dynamic_bayes(dd, spec, mu=mu).idata["posterior"]
        for k, v in TRUTH.items():
            lo, hi = hdi_interval(post[k].values, 0.94)
            hits[k].append(lo <= v <= hi)
    return {k: float(np.mean(v)) for k, v in hits.items()}


@pytest.mark.slow
def test_cre_coverage_at_t10():
    """20 replications, N = 49, T' = 10: the 94% HDIs of tau, rho, eta cover the truth in
    >= 90% of them with correlated random effects."""
    cov = _coverage("cre", 20, 500)
    print("CRE coverage", cov)
    assert all(c >= 0.9 for c in cov.values())


@pytest.mark.slow
def test_fixed_effects_posterior_undercovers_tau():
    """The within (Nickell-biased) likelihood: tau's HDI misses the truth far more often."""
    cov = _coverage("fixed", 20, 500)
    print("fixed-effects coverage", cov)
    assert cov["tau"] < 0.7
