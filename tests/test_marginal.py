"""Log marginal likelihoods (analytic beta / sigma^2, numerical rho), the SDPDmod cross-check,
and the Bayesian SEM / SDEM / SLX panels of pymc_models against an explicit numpy likelihood."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.integrate as si
from conftest import random_panel

from bayes_sdm.effects import local_effects
from bayes_sdm.errors import InputError
from bayes_sdm.likelihood import loglik, sufficient_stats, transformed_columns
from bayes_sdm.logdet import make_logdet
from bayes_sdm.marginal import (
    ALL_MODELS,
    log_integrand,
    log_marginal_exact,
    log_marginals,
    probabilities,
    profile_terms,
    standardized_stats,
)
from bayes_sdm.panel import Panel
from bayes_sdm.simulate import simulate_y

# R SDPDmod 0.0.6 vignette (spatial_model), blmpSDPD(logc ~ logp + logy, effect="individual"),
# also stored in tests/data/sdpdmod_vignette_cigar.json (a copy of shared/reference)
SDPDMOD_UNIT = {"ols": 884.7551, "sar": 938.6934, "sdm": 1046.4868, "sem": 993.192,
                "sdem": 1039.6707, "slx": 930.0585}
SDPDMOD_UNIT_PROBS = {"sdm": 0.9989, "sdem": 0.0011}


def test_reference_file_matches_the_numbers_used_here():
    p = Path(__file__).parent / "data" / "sdpdmod_vignette_cigar.json"
    ref = json.loads(p.read_text())["res1_blmpSDPD_individual_uniform_prior"]
    assert ref["log_marginal"] == SDPDMOD_UNIT
    assert ref["probs"]["sdm"] == SDPDMOD_UNIT_PROBS["sdm"]


def test_sdpdmod_emulation_reproduces_blmpsdpd_on_cigar(cigar):
    panel, w = cigar
    tab = log_marginals(panel, w, "unit", convention="sdpdmod").set_index("model")
    for m, v in SDPDMOD_UNIT.items():
        assert tab.loc[m, "log_marginal"] == pytest.approx(v, abs=1e-4)
    for m, v in SDPDMOD_UNIT_PROBS.items():
        assert round(tab.loc[m, "probability"], 4) == v
    # two-way effects (SDPDmod vignette res2-type call; values printed in public tutorials
    # using SDPDmod: SDM 45.92 %, SDEM 41.31 %)
    tw = log_marginals(panel, w, "twoway", convention="sdpdmod").set_index("model")
    assert tw.loc["sdm", "probability"] == pytest.approx(0.4592, abs=1e-4)
    assert tw.loc["sdem", "probability"] == pytest.approx(0.4131, abs=1e-4)


def test_exact_marginals_give_sdpdmod_probabilities_to_two_decimals(cigar):
    """The exact (Lee-Yu, pi^-a, proper quadrature) convention: unit-FE cigar probabilities
    agree with SDPDmod's to two decimals although the log marginals differ by constants."""
    panel, w = cigar
    tab = log_marginals(panel, w, "unit").set_index("model")
    for m in ALL_MODELS:
        ref = SDPDMOD_UNIT_PROBS.get(m, 0.0)
        assert round(tab.loc[m, "probability"], 2) == pytest.approx(ref, abs=0.0051)
    assert (tab.quad_error < 1e-8).all()
    assert tab.probability.sum() == pytest.approx(1.0)
    assert tab.loc["sar", "mode"] == pytest.approx(0.298, abs=1e-3)  # ML rho, unit FE


@pytest.mark.parametrize("model", ["sar", "sem", "ols"])
def test_analytic_integration_over_beta_and_sigma2_equals_quadrature(model):
    """log p(y | rho, M) = log int int exp(loglik) / sigma^2 dbeta dsigma^2 (flat beta,
    Jeffreys sigma^2), with loglik from bayes_sdm.likelihood, by 2-D adaptive quadrature."""
    panel, w = random_panel(n=5, t=3, k=1, seed=4)
    st = sufficient_stats(panel, w, "unit")
    ld = make_logdet(w)
    rho = 0.3 if model != "ols" else 0.0
    ours = float(log_integrand(st, ld, model, np.array([rho]))[0])
    s_min, _ = profile_terms(st, model, np.array([rho]))
    b_hat = _argmin_beta(panel, w, model, rho)
    n = st.terms.n_eff
    s2_hat = float(s_min[0]) / n
    shift = float(loglik(st, ld, model, rho, np.array([b_hat]), None, s2_hat))

    def f(log_s2, b):
        return np.exp(loglik(st, ld, model, rho, np.array([b]), None, np.exp(log_s2)) - shift)

    val, err = si.nquad(f, [[np.log(s2_hat) - 8, np.log(s2_hat) + 8],
                            [b_hat - 30 * np.sqrt(s2_hat), b_hat + 30 * np.sqrt(s2_hat)]],
                        opts={"epsabs": 0, "epsrel": 1e-10, "limit": 200})
    assert ours == pytest.approx(shift + np.log(val), abs=1e-7)


def _argmin_beta(panel, w, model, rho):
    z = transformed_columns(panel, w, "unit").reshape(-1, 5)
    y, wy, x, wx = z[:, 0], z[:, 1], z[:, 2], z[:, 3]
    if model == "sem":
        yy, xx = y - rho * wy, x - rho * wx
    elif model == "sar":
        yy, xx = y - rho * wy, x
    else:
        yy, xx = y, x
    return float(xx @ yy / (xx @ xx))


@pytest.mark.parametrize("model", ["sdm", "sar", "sem", "sdem", "slx", "ols"])
def test_profile_terms_equal_least_squares_on_the_columns(model):
    panel, w = random_panel(n=9, t=4, k=2, seed=8, symmetric=False)
    st = sufficient_stats(panel, w, "twoway")
    z = transformed_columns(panel, w, "twoway").reshape(-1, 8)
    y, wy, x, wx, wwx = z[:, 0], z[:, 1], z[:, 2:4], z[:, 4:6], z[:, 6:8]
    for lam in (-0.4, 0.0, 0.55):
        if model in ("sem", "sdem"):
            yy = y - lam * wy
            xx = x - lam * wx if model == "sem" else np.c_[x - lam * wx, wx - lam * wwx]
        elif model in ("sar", "sdm"):
            yy, xx = y - lam * wy, (x if model == "sar" else np.c_[x, wx])
        else:
            yy, xx = y, (x if model == "ols" else np.c_[x, wx])
        _, res, *_ = np.linalg.lstsq(xx, yy, rcond=None)
        s, ldx = profile_terms(st, model, np.array([lam]))
        assert s[0] == pytest.approx(res[0], rel=1e-10)
        assert ldx[0] == pytest.approx(np.linalg.slogdet(xx.T @ xx)[1], rel=1e-10)


@pytest.mark.parametrize("model", ["sar", "sem", "sdem"])
def test_rho_quadrature_equals_adaptive_quad(cigar, model):
    panel, w = cigar
    st = sufficient_stats(panel, w, "twoway")
    ld = make_logdet(w)
    res = log_marginal_exact(st, ld, model)
    lo, hi = ld.interval
    peak = float(log_integrand(st, ld, model, np.array([res["mode"]]))[0])
    val, _ = si.quad(lambda r: np.exp(log_integrand(st, ld, model, np.array([r]))[0] - peak),
                     lo + 1e-12, hi - 1e-12, points=[res["mode"]], limit=500, epsabs=0,
                     epsrel=1e-12)
    assert res["log_marginal"] == pytest.approx(peak + np.log(val) - np.log(hi - lo), abs=1e-8)
    assert res["quad_error"] < 1e-9


def test_standardize_makes_probabilities_unit_free(cigar):
    panel, w = cigar
    scaled = Panel(panel.y * 10.0, panel.X * np.array([3.0, 0.5]), panel.units, panel.times,
                   panel.y_name, panel.x_names)
    a = log_marginals(panel, w, "twoway", standardize=True)
    b = log_marginals(scaled, w, "twoway", standardize=True)
    np.testing.assert_allclose(a.probability, b.probability, atol=1e-10)
    raw_a = log_marginals(panel, w, "twoway")
    raw_b = log_marginals(scaled, w, "twoway")
    assert np.abs(raw_a.probability - raw_b.probability).max() > 0.1  # flat-prior unit effect
    st = standardized_stats(sufficient_stats(panel, w, "twoway"))
    assert st.gram[0, 0] == pytest.approx(panel.N * panel.T, rel=1e-10)  # y~ has unit sd


def test_several_fe_and_subsets():
    panel, w = random_panel(n=14, t=5, k=2, seed=1)
    tab = log_marginals(panel, w, ["unit", "twoway"], models=("sar", "sem"))
    assert list(tab.columns[:4]) == ["model", "fe", "log_marginal", "probability"]
    assert len(tab) == 4
    for _, g in tab.groupby("fe"):
        assert g.probability.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(probabilities([0.0, np.log(3.0)]), [0.25, 0.75])


def test_bad_inputs():
    panel, w = random_panel(n=8, t=4, k=1, seed=2)
    with pytest.raises(InputError, match="unknown model"):
        log_marginals(panel, w, "unit", models=("sar", "gns"))
    with pytest.raises(InputError, match="fixed effects"):
        log_marginals(panel, w, "both")
    with pytest.raises(InputError, match="convention"):
        log_marginals(panel, w, "unit", convention="lesage")
    with pytest.raises(InputError, match="duplicate"):
        log_marginals(panel, w, "unit", models=("sar", "sar"))
    with pytest.raises(InputError, match="SDPDmod emulation"):
        log_marginals(panel, w, "none", convention="sdpdmod")
    x = np.concatenate([panel.X, 2 * panel.X], axis=2)
    coll = Panel(panel.y, x, panel.units, panel.times, "y", ("a", "b"))
    with pytest.raises(InputError, match="collinear"):
        log_marginals(coll, w, "unit", models=("sar",))


# --------------------------------------------------------------------------- Bayesian SEM etc.
def orthonormal_complement(n: int) -> np.ndarray:
    q = np.eye(n) - np.ones((n, n)) / n
    vals, vecs = np.linalg.eigh(q)
    return vecs[:, vals > 0.5]


def explicit_loglik(panel, w, fe, model, lam, beta, theta, sigma2):
    """Gaussian log-likelihood of the Lee-Yu transformed panel with dense matrices:
    y* = F' y (F = F_T kron F_N for the swept dimensions), W* = F_N' W F_N, and for error
    models e* = (I - lam W*)(y* - X* beta - W* X* theta), Jacobian T* log|I - lam W*|."""
    n, t = panel.N, panel.T
    wm = np.asarray(w.matrix.toarray() if hasattr(w.matrix, "toarray") else w.matrix)
    fn = orthonormal_complement(n) if fe in ("time", "twoway") else np.eye(n)
    ft = orthonormal_complement(t) if fe in ("unit", "twoway") else np.eye(t)
    ws = fn.T @ wm @ fn
    ys = fn.T @ panel.y.T @ ft  # (N*, T*)
    xs = np.einsum("nm,tmk,ts->nsk", fn.T, panel.X, ft)
    mean = np.einsum("nsk,k->ns", xs, beta)
    if theta is not None:
        mean = mean + ws @ np.einsum("nsk,k->ns", xs, theta)
    a = np.eye(ws.shape[0]) - lam * ws
    if model in ("sem", "sdem"):
        e = a @ (ys - mean)
        _, ld = np.linalg.slogdet(a)
    else:  # slx
        e = ys - mean
        ld = 0.0
    m = e.size
    return -0.5 * m * np.log(2 * np.pi * sigma2) + ft.shape[1] * ld - (e**2).sum() / (2 * sigma2)


@pytest.mark.parametrize("model,fe", [("sem", "twoway"), ("sdem", "twoway"), ("slx", "twoway"),
                                      ("sem", "unit"), ("sdem", "time")])
def test_pymc_error_and_slx_models_equal_explicit_loglik(model, fe):
    from bayes_sdm.pymc_models import build_model

    panel, w = random_panel(n=9, t=5, k=2, seed=13, symmetric=False)
    st = sufficient_stats(panel, w, fe)
    ld = make_logdet(w)
    m = build_model(st, ld, model)
    names = {v.name for v in m.free_RVs}
    assert ("lambda" in names) == (model in ("sem", "sdem")) and "rho" not in names
    assert ("theta" in names) == (model in ("sdem", "slx"))
    rng = np.random.default_rng(5)
    for _ in range(3):
        lam = rng.uniform(-0.6, 0.9) if model != "slx" else 0.0
        b, th, s = rng.normal(size=2), rng.normal(size=2), rng.uniform(0.5, 2.0)
        givens = {m["beta"]: b, m["sigma"]: s}
        if model != "slx":
            givens[m["lambda"]] = lam
        if model != "sem":
            givens[m["theta"]] = th
        val = m["loglik"].eval(givens)
        ref = explicit_loglik(panel, w, fe, model, lam, b, None if model == "sem" else th, s**2)
        assert val == pytest.approx(ref, rel=1e-11, abs=1e-9)


def test_local_effects_of_error_and_slx_models():
    rng = np.random.default_rng(0)
    beta, theta = rng.normal(size=(50, 3)), rng.normal(size=(50, 3))
    eff = local_effects(beta, theta)  # SDEM / SLX
    np.testing.assert_array_equal(eff[:, 0], beta)
    np.testing.assert_array_equal(eff[:, 1], theta)
    np.testing.assert_allclose(eff[:, 2], beta + theta)
    sem = local_effects(beta)  # SEM: no spillover
    np.testing.assert_array_equal(sem[:, 1], 0.0)
    np.testing.assert_array_equal(sem[:, 2], beta)


# --------------------------------------------------------------------------- slow tier
@pytest.mark.slow
@pytest.mark.parametrize("standardize", [False, True])
def test_model_probabilities_pick_the_true_model(standardize):
    """SAR, SEM and SDM panels at the study's size (N = 176, T = 16, two-way FE, inverse
    economic-distance W): the highest posterior probability is the true model in >= 90 % of
    20 replications each."""
    from bayes_sdm.weights import economic_distance

    n, t, k = 176, 16, 3
    rng = np.random.default_rng(20260101)
    w = economic_distance(np.exp(rng.normal(size=n)), ids=list(range(n)))
    ld = make_logdet(w)
    beta, theta = np.array([1.0, -1.0, 0.5]), np.array([0.5, 0.5, -0.5])
    hits, rows = {}, []
    for true in ("sar", "sem", "sdm"):
        hits[true] = 0
        for r in range(20):
            x = rng.normal(size=(t, n, k))
            y = simulate_y(w, x, true, rho=0.4, beta=beta, theta=theta, sigma=1.0,
                           mu=rng.normal(size=n), alpha=rng.normal(size=t), rng=rng)
            p = Panel(y, x, w.ids, tuple(range(t)), "y", ("x1", "x2", "x3"))
            tab = log_marginals(p, w, "twoway", logdet=ld, standardize=standardize)
            best = tab.model[tab.probability.idxmax()]
            hits[true] += best == true
            rows.append((true, r, best))
    print(pd.DataFrame(rows, columns=["true", "rep", "picked"]).groupby("true").picked
          .value_counts())
    for true, h in hits.items():
        assert h >= 18, f"{true}: true model picked in {h}/20 replications"


@pytest.mark.parametrize("model", ["sem", "sdem", "slx"])
def test_api_effects_of_error_and_slx_models_are_local(model):
    import xarray as xr

    from bayes_sdm.api import effects_draws, prepare

    panel, w = random_panel(n=10, t=4, k=2, seed=3)
    prep = prepare(panel, w, model, "twoway")
    rng = np.random.default_rng(1)
    post = xr.Dataset({"beta": (("chain", "draw", "coef"), rng.normal(size=(2, 7, 2)))},
                      coords={"chain": [0, 1], "draw": np.arange(7), "coef": ["x0", "x1"]})
    if model != "sem":
        post["theta"] = (("chain", "draw", "coef"), rng.normal(size=(2, 7, 2)))
        post["lambda"] = (("chain", "draw"), rng.uniform(-0.5, 0.5, size=(2, 7)))
    eff = effects_draws(prep, post)
    np.testing.assert_array_equal(eff.sel(effect="direct").values, post["beta"].values)
    ind = eff.sel(effect="indirect").values
    np.testing.assert_array_equal(ind, 0.0 if model == "sem" else post["theta"].values)


def test_bayesian_sem_fit_recovers_lambda_and_has_no_spillovers():
    from bayes_sdm.api import fit, prepare
    from bayes_sdm.spec import SamplerSpec

    rng = np.random.default_rng(11)
    n, t = 30, 8
    _, w = random_panel(n=n, t=t, seed=11)
    x = rng.normal(size=(t, n, 2))
    y = simulate_y(w, x, "sem", rho=0.5, beta=np.array([1.0, -0.5]), sigma=0.5,
                   mu=rng.normal(size=n), alpha=rng.normal(size=t), rng=rng)
    panel = Panel(y, x, w.ids, tuple(range(t)), "y", ("x0", "x1"))
    prep = prepare(panel, w, "sem", "twoway")
    res = fit(prep, sampler=SamplerSpec(draws=300, tune=300, chains=2, cores=1, seed=3,
                                        nuts_sampler="pymc"), progressbar=False)
    post = res.idata.posterior
    assert float(post["lambda"].mean()) == pytest.approx(0.5, abs=0.2)
    np.testing.assert_allclose(post["beta"].mean(("chain", "draw")), [1.0, -0.5], atol=0.15)
    eff = post["effects"]
    assert float(np.abs(eff.sel(effect="indirect")).max()) == 0.0
