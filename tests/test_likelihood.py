"""The Lee-Yu likelihood: explicit orthonormal transforms, Gram-matrix SSE, PyMC term, mode."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg as sla
import scipy.optimize as so
from conftest import random_panel

from bayes_sdm.likelihood import (
    coef_vector,
    fe_terms,
    jacobian,
    loglik,
    profile_lag,
    sse,
    sufficient_stats,
    transformed_columns,
)
from bayes_sdm.logdet import make_logdet


def orthonormal_complement(n: int) -> np.ndarray:
    """F_{n,n-1}: orthonormal columns orthogonal to iota (eigenvectors of I - J/n)."""
    q = np.eye(n) - np.ones((n, n)) / n
    vals, vecs = np.linalg.eigh(q)
    return vecs[:, vals > 0.5]


def explicit_loglik(panel, w, fe, model, rho, beta, theta, sigma2):
    """Exact Gaussian log-likelihood of the data premultiplied by F_T' kron F_N' (for the FE
    dimensions swept out), computed with dense matrices and slogdet."""
    n, t = panel.N, panel.T
    wm = w.matrix
    fn = orthonormal_complement(n) if fe in ("time", "twoway") else np.eye(n)
    ft = orthonormal_complement(t) if fe in ("unit", "twoway") else np.eye(t)
    y = panel.y.T  # (N, T)
    xb = np.einsum("tnk,k->nt", panel.X, beta)
    wxth = wm @ np.einsum("tnk,k->nt", panel.X, theta) if theta is not None else 0.0
    a = np.eye(n) - rho * wm
    if model == "sdm":
        r = a @ y - xb - wxth  # (N, T) residual of the untransformed model minus FE
    else:
        raise NotImplementedError
    rs = fn.T @ r @ ft  # transformed residuals; FE vanish
    # the transformed model: (I - rho W*) y* = ..., W* = F_N' W F_N
    wstar = fn.T @ wm @ fn
    nn, tt = rs.shape
    _, ld = np.linalg.slogdet(np.eye(nn) - rho * wstar)
    m = nn * tt
    return -0.5 * m * np.log(2 * np.pi * sigma2) + tt * ld - (rs**2).sum() / (2 * sigma2)


@pytest.mark.parametrize("fe", ["twoway", "unit", "time", "none"])
def test_transform_likelihood_equals_explicit(fe):
    panel, w = random_panel(n=9, t=6, k=2, seed=3)
    ld = make_logdet(w, "eigen")
    stats = sufficient_stats(panel, w, fe)
    rng = np.random.default_rng(1)
    for _ in range(5):
        rho = rng.uniform(-0.6, 0.9)
        beta, theta = rng.normal(size=2), rng.normal(size=2)
        s2 = rng.uniform(0.3, 2.0)
        ours = loglik(stats, ld, "sdm", rho, beta, theta, s2)
        ref = explicit_loglik(panel, w, fe, "sdm", rho, beta, theta, s2)
        assert ours == pytest.approx(ref, rel=1e-11, abs=1e-9)


def test_fe_terms_table():
    t = fe_terms("twoway", 10, 5)
    assert (t.n_eff, t.a, t.b) == (36, 4, 4)
    assert (fe_terms("unit", 10, 5).n_eff, fe_terms("time", 10, 5).n_eff) == (40, 45)
    assert fe_terms("twoway", 10, 5, "none").n_eff == 50


@pytest.mark.parametrize("model", ["sdm", "sar", "sem", "sdem", "slx"])
def test_gram_sse_equals_naive_residuals(model):
    panel, w = random_panel(n=11, t=4, k=3, seed=5, symmetric=False)
    stats = sufficient_stats(panel, w, "twoway")
    z = transformed_columns(panel, w, "twoway")
    y, wy, x, wx, wwx = z[..., 0], z[..., 1], z[..., 2:5], z[..., 5:8], z[..., 8:11]
    rng = np.random.default_rng(2)
    rho, beta, theta = 0.37, rng.normal(size=3), rng.normal(size=3)
    if model == "sdm":
        e = y - rho * wy - x @ beta - wx @ theta
    elif model == "sar":
        e = y - rho * wy - x @ beta
    elif model == "sem":
        e = (y - x @ beta) - rho * (wy - wx @ beta)
    elif model == "sdem":
        e = (y - x @ beta - wx @ theta) - rho * (wy - wx @ beta - wwx @ theta)
    else:
        e = y - x @ beta - wx @ theta
    c = coef_vector(stats, model, rho, beta, theta)
    assert sse(stats, c) == pytest.approx((e**2).sum(), rel=1e-12)


def test_lag_conventions_coincide_under_unit_fe_only():
    panel, w = random_panel(n=10, t=5, seed=8, symmetric=False)
    g1 = sufficient_stats(panel, w, "unit", lag_convention="QWy").gram
    g2 = sufficient_stats(panel, w, "unit", lag_convention="WQy").gram
    np.testing.assert_allclose(g1, g2, rtol=1e-12, atol=1e-12)
    g3 = sufficient_stats(panel, w, "twoway", lag_convention="QWy").gram
    g4 = sufficient_stats(panel, w, "twoway", lag_convention="WQy").gram
    assert not np.allclose(g3, g4)


def test_time_effects_refuse_non_row_standardised_w():
    from bayes_sdm.errors import InputError
    from bayes_sdm.weights import make_weights

    panel, w = random_panel(n=8, t=4)
    raw = make_weights(w.raw_base(), w.ids, standardize=False)
    with pytest.raises(InputError, match="row-standardised"):
        sufficient_stats(panel, raw, "twoway")
    sufficient_stats(panel, raw, "unit")  # allowed


def test_pymc_loglik_term_equals_numpy():
    import pymc  # noqa: F401

    from bayes_sdm.pymc_models import build_model

    panel, w = random_panel(n=10, t=5, k=2, seed=11)
    ld = make_logdet(w, "eigen")
    for model in ("sdm", "sar"):
        stats = sufficient_stats(panel, w, "twoway")
        m = build_model(stats, ld, model)
        rng = np.random.default_rng(4)
        for _ in range(4):
            rho, b, th, s = rng.uniform(-0.5, 0.8), rng.normal(size=2), rng.normal(size=2), \
                rng.uniform(0.5, 2)
            givens = {m["rho"]: rho, m["beta"]: b, m["sigma"]: s}
            if model == "sdm":
                givens[m["theta"]] = th
            val = m["loglik"].eval(givens)
            ref = explicit_loglik(panel, w, "twoway", "sdm", rho, b,
                                  th if model == "sdm" else np.zeros(2), s**2)
            assert val == pytest.approx(ref, abs=1e-10, rel=1e-12)


def concentrated_ml(stats, ld, model):
    """1-D bounded search over rho with beta and sigma^2 concentrated out."""
    n = stats.terms.n_eff

    def nll(r):
        _, s = profile_lag(stats, model, r)
        return -(-0.5 * n * np.log(s / n) + jacobian(stats.terms, ld.value(r), r))

    lo, hi = ld.interval
    res = so.minimize_scalar(nll, bounds=(lo + 1e-9, hi - 1e-9), method="bounded",
                             options={"xatol": 1e-12})
    return res.x


def test_posterior_mode_equals_ml_on_cigar(cigar):
    import pymc as pm

    from bayes_sdm.pymc_models import build_model
    from bayes_sdm.spec import PriorSpec

    panel, w = cigar
    ld = make_logdet(w, "eigen")
    stats = sufficient_stats(panel, w, "twoway")
    rho_ml = concentrated_ml(stats, ld, "sdm")
    assert rho_ml == pytest.approx(0.27118, abs=1e-4)
    priors = PriorSpec(beta={"dist": "flat"}, theta={"dist": "flat"},
                       sigma={"dist": "flat_sigma2"})
    m = build_model(stats, ld, "sdm", priors)
    with m:
        mode = pm.find_MAP(method="BFGS", progressbar=False, tol=1e-14,
                           options={"gtol": 1e-10, "maxiter": 5000})
    assert float(mode["rho"]) == pytest.approx(rho_ml, abs=1e-5)
    coef, s = profile_lag(stats, "sdm", rho_ml)
    np.testing.assert_allclose(np.r_[mode["beta"], mode["theta"]], coef, atol=1e-5)
    assert float(mode["sigma2"]) == pytest.approx(s / stats.terms.n_eff, rel=1e-5)


def test_eigen_solvers_agree_on_similar_form():
    panel, w = random_panel(n=15, seed=2)
    lam_sym = np.sort(make_logdet(w, "eigen").eigenvalues)
    lam_gen = np.sort(sla.eigvals(w.matrix).real)
    np.testing.assert_allclose(lam_sym, lam_gen, atol=1e-10)
