"""SAC / SARAR (rho on W y, lambda on the error): ML against R spatialreg's ``sacsarlm``
(Columbus cross-section, pooled cigar / Produc with one intercept; method "eigen") and R
splm's ``spml(lag=TRUE, spatial.error="b")`` with unit / time / two-way FE (demean then lag,
no Lee-Yu correction: ``lag_convention="WQy"``, ``correction="none"``); the likelihood against
an explicit dense implementation; the flat-prior posterior mode = ML; refusals of the
one-parameter estimators.  Reference files and provenance: ``tests/data/reference/`` (README).

spatialreg / splm locate (rho, lambda) with nlminb / optim on function values (the README:
exact to ~1e-8 absolute), so the spatial parameters are compared at 1e-6 relative or 3e-8
absolute, whichever is larger, and our log-likelihood must not be below theirs.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bayes_sdm import load_dataset
from bayes_sdm.api import fit, prepare
from bayes_sdm.errors import InputError
from bayes_sdm.families import REGISTRY
from bayes_sdm.likelihood import loglik
from bayes_sdm.ml import fit_ml

REF = Path(__file__).parent / "data" / "reference"
SAC = REGISTRY["sac"]


def _ref(name):
    return json.loads((REF / name).read_text())


def _compare(r, ref, pre, x_names, tol=1e-6, tol_se=1e-4, loglik_key="loglik"):
    bad = []

    def cmp(ours, key, t, abs_tol=0.0):
        if key not in ref:
            return
        if abs(ours - ref[key]) > max(t * abs(ref[key]), abs_tol):
            bad.append(f"{key}: ours {ours!r} ref {ref[key]!r} "
                       f"rel {abs(ours - ref[key]) / abs(ref[key]):.2e}")

    for sp in ("rho", "lambda"):
        cmp(r.params[sp], f"{pre}.{sp}", tol, 3e-8)
        cmp(r.se[sp], f"{pre}.{sp}_se", tol_se)
    cmp(r.params["sigma2"], f"{pre}.sigma2", tol)
    cmp(r.se["sigma2"], f"{pre}.sigma2_se", tol_se)
    if "intercept" in r.params.index:
        cmp(r.params["intercept"], f"{pre}.coef.(Intercept)", tol)
        cmp(r.se["intercept"], f"{pre}.se.(Intercept)", tol_se)
    for x in x_names:
        cmp(r.params[f"beta[{x}]"], f"{pre}.coef.{x}", tol)
        cmp(r.se[f"beta[{x}]"], f"{pre}.se.{x}", tol_se)
    cmp(r.loglik, f"{pre}.{loglik_key}", 1e-9)
    assert r.loglik >= ref[f"{pre}.{loglik_key}"] - 1e-7 * abs(ref[f"{pre}.{loglik_key}"])
    eff = r.effects().set_index(["effect", "variable"])["mean"]
    for e in ("direct", "indirect", "total"):
        for x in x_names:
            cmp(float(eff[(e, x)]), f"{pre}.impacts.{e}.{x}", tol)
    return bad


def test_columbus_vs_sacsarlm():
    ds = load_dataset("columbus")
    p, w = ds.panel(), ds.weights
    r = fit_ml(prepare(p, w, model="sac", fe="none"))
    assert list(r.params.index) == ["rho", "lambda", "beta[INC]", "beta[HOVAL]", "intercept",
                                    "sigma2"]
    ref = _ref("columbus_spatialreg.json")
    bad = _compare(r, ref, "sac", p.x_names)
    assert not bad, "\n".join(bad)
    assert abs(r.aic - ref["sac.aic"]) < 1e-6 * abs(ref["sac.aic"])


@pytest.mark.parametrize("name", ["cigar", "produc"])
def test_pooled_vs_sacsarlm(name):
    ds = load_dataset(name)
    p, w = ds.panel(region_col=None), ds.weights
    r = fit_ml(prepare(p, w, model="sac", fe="none"))
    # Produc: sacsarlm's lambda stops 8e-7 short of the maximum (ours is higher)
    bad = _compare(r, _ref(f"pooled_{name}_spatialreg.json"), "sac", p.x_names,
                   tol=2e-6 if name == "produc" else 1e-6)
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("name", ["cigar", "produc"])
@pytest.mark.parametrize("fe,pre", [("twoway", "fe_tw_sac"), ("unit", "fe_ind_sac"),
                                    ("time", "fe_time_sac")])
def test_fixed_effects_vs_splm(name, fe, pre):
    ds = load_dataset(name)
    p, w = ds.panel(region_col=None), ds.weights
    r = fit_ml(prepare(p, w, model="sac", fe=fe, lag_convention="WQy", correction="none"))
    bad = _compare(r, _ref(f"splm_{name}.json"), pre, p.x_names, loglik_key="loglik_full")
    assert not bad, "\n".join(bad)


def test_loglik_equals_explicit_dense():
    """The Gram-matrix likelihood of SAC (and the Lee-Yu transformed two-way one) against an
    explicit N x N computation of the Gaussian density."""
    from conftest import random_panel

    from bayes_sdm.logdet import make_logdet

    panel, w = random_panel(n=14, t=4, k=2, seed=5, symmetric=False)
    wm = w.matrix.toarray() if w.is_sparse else np.asarray(w.matrix)
    n, t = panel.N, panel.T
    rho, lam, beta, s2 = 0.31, -0.42, np.array([0.7, -1.3]), 0.83
    a, b = np.eye(n) - rho * wm, np.eye(n) - lam * wm
    ld = make_logdet(w, "eigen")
    # no effects, no intercept
    prep = prepare(panel, w, model="sac", fe="none", intercept=False, logdet=ld)
    e = np.stack([b @ (a @ panel.y[s] - panel.X[s] @ beta) for s in range(t)])
    want = (-0.5 * n * t * np.log(2 * np.pi * s2) + t * np.linalg.slogdet(a)[1]
            + t * np.linalg.slogdet(b)[1] - (e * e).sum() / (2 * s2))
    got = loglik(prep.stats, prep.logdet, SAC, (rho, lam), beta, None, s2)
    assert got == pytest.approx(want, rel=1e-12)
    # two-way FE, Lee-Yu: the exact density of F_T' x F_N' applied to the model
    prep = prepare(panel, w, model="sac", fe="twoway", logdet=ld)
    fn = np.linalg.svd(np.eye(n) - 1.0 / n)[0][:, :n - 1]
    ft = np.linalg.svd(np.eye(t) - 1.0 / t)[0][:, :t - 1]
    ws = fn.T @ wm @ fn
    as_, bs = np.eye(n - 1) - rho * ws, np.eye(n - 1) - lam * ws
    ys = np.einsum("ts,sn,nm->tm", ft.T, panel.y, fn)
    xs = np.einsum("ts,snk,nm->tmk", ft.T, panel.X, fn)
    e = np.stack([bs @ (as_ @ ys[s] - xs[s] @ beta) for s in range(t - 1)])
    ne = (n - 1) * (t - 1)
    want = (-0.5 * ne * np.log(2 * np.pi * s2) + (t - 1) * np.linalg.slogdet(as_)[1]
            + (t - 1) * np.linalg.slogdet(bs)[1] - (e * e).sum() / (2 * s2))
    got = loglik(prep.stats, prep.logdet, SAC, (rho, lam), beta, None, s2)
    assert got == pytest.approx(want, rel=1e-10)


def test_flat_prior_posterior_mode_is_ml():
    """NUTS's target (rho, lambda, beta, sigma sampled) under flat priors: zero gradient at
    the ML estimates, and the mode found from elsewhere equals ML to 1e-5."""
    from bayes_sdm.pymc_models import build_model
    from bayes_sdm.spec import PriorSpec

    ds = load_dataset("produc")
    p, w = ds.panel(region_col=None), ds.weights
    prep = prepare(p, w, model="sac", fe="twoway")
    r = fit_ml(prep)
    priors = PriorSpec(beta={"dist": "flat"}, theta={"dist": "flat"},
                       sigma={"dist": "flat_sigma2"})
    m = build_model(prep.stats, prep.logdet, SAC, priors)
    lo, hi = prep.logdet.interval
    pt = m.initial_point()
    for sp in ("rho", "lambda"):
        pt[f"{sp}_interval__"] = np.array(np.log((r.params[sp] - lo) / (hi - r.params[sp])))
    pt["beta"] = np.array([r.params[f"beta[{x}]"] for x in p.x_names])
    pt["sigma2_flat_log__"] = np.array(np.log(r.params["sigma2"]))
    grad = m.compile_dlogp(jacobian=False)(pt)
    assert np.abs(grad).max() < 1e-4  # scale: the information is ~1e6 for these parameters
    # maximise the density of the parameters themselves (no transform Jacobians) from a
    # perturbed start: the mode equals ML
    import scipy.optimize as so
    from pymc.blocking import DictToArrayBijection

    logp = m.compile_logp(jacobian=False)
    dlogp = m.compile_dlogp(jacobian=False)
    start = DictToArrayBijection.map({k: np.asarray(v, float) for k, v in pt.items()})

    def unmap(x):
        return DictToArrayBijection.rmap(start._replace(data=x))

    x0 = start.data.copy()
    x0[:2] += np.array([0.1, -0.1])
    res = so.minimize(lambda x: -logp(unmap(x)), x0, jac=lambda x: -dlogp(unmap(x)),
                      method="BFGS", options={"gtol": 1e-8, "maxiter": 5000})
    mode = unmap(res.x)
    for sp in ("rho", "lambda"):
        v = lo + (hi - lo) / (1.0 + np.exp(-float(mode[f"{sp}_interval__"])))
        assert v == pytest.approx(r.params[sp], abs=1e-5)
    np.testing.assert_allclose(mode["beta"], pt["beta"], rtol=1e-5)
    assert float(np.exp(mode["sigma2_flat_log__"])) == pytest.approx(r.params["sigma2"],
                                                                      rel=1e-5)


def test_one_parameter_estimators_refuse_sac():
    from bayes_sdm.exact import sample_exact
    from bayes_sdm.spec import PriorSpec, SamplerSpec

    ds = load_dataset("columbus")
    p, w = ds.panel(), ds.weights
    prep = prepare(p, w, model="sac", fe="none")
    with pytest.raises(InputError, match="exact sampler"):
        sample_exact(prep.stats, prep.logdet, SAC)
    with pytest.raises(InputError, match="exact sampler"):
        fit(prep, priors=PriorSpec.preset("flat"), sampler=SamplerSpec(kind="exact"))
    cig = load_dataset("cigar")
    with pytest.raises(InputError, match="one spatial parameter.*rho and lambda"):
        prepare(cig.panel(), cig.weights, model="sac", fe="twoway", regions="census_region",
                hierarchy={"pooling": "partial"})


def test_sac_effects_are_the_lag_effects():
    from bayes_sdm.effects import dense_effects

    ds = load_dataset("columbus")
    p, w = ds.panel(), ds.weights
    r = fit_ml(prepare(p, w, model="sac", fe="none"))
    eff = r.effects(method="simulation", draws=200, seed=1)
    beta = np.array([r.params[f"beta[{x}]"] for x in p.x_names])
    wm = w.matrix.toarray() if w.is_sparse else np.asarray(w.matrix)
    want = dense_effects(r.params["rho"], beta, None, wm)
    got = eff.pivot(index="effect", columns="variable", values="mean").loc[
        ["direct", "indirect", "total"], list(p.x_names)].to_numpy()
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_observed_y_form_and_predictive_draws():
    """The observed-y form (posterior predictive checks) of SAC: same log-density as the
    sufficient-statistics form, and replicated panels of the right shape."""
    import pymc as pm

    from bayes_sdm.pymc_models import build_model

    ds = load_dataset("produc")
    p, w = ds.panel(region_col=None), ds.weights
    prep = prepare(p, w, model="sac", fe="twoway")
    a = build_model(prep.stats, prep.logdet, SAC)
    b = build_model(prep.stats, prep.logdet, SAC, panel=p, w=w)
    pt = a.initial_point()
    pt["rho_interval__"] = np.array(0.3)
    pt["lambda_interval__"] = np.array(-0.4)
    assert a.compile_logp()(pt) == pytest.approx(b.compile_logp()(pt), rel=1e-10)
    with b:
        pp = pm.sample_prior_predictive(draws=3, random_seed=1)
    assert pp["prior_predictive"]["y"].shape == (1, 3, p.T, p.N)


def test_cli_sac_twoway_ml(tmp_path):
    from bayes_sdm.cli import main

    out = tmp_path / "run"
    assert main(["--dataset", "produc", "--model", "sac", "--fe", "twoway", "--ml-only",
                 "--out", str(out), "--quiet"]) == 0
    import pandas as pd

    ml = pd.read_csv(out / "ml.csv").set_index("parameter")
    assert {"rho", "lambda", "sigma2"} <= set(ml.index)
    assert (out / "ml_effects.csv").is_file() and (out / "tests.json").is_file()


@pytest.mark.slow
def test_sbc_sac_calibrated_and_broken_fails(tmp_path):
    """SBC of the two-way SAC at small N, T (16 x 5): 200 simulations pass; the uncorrected
    NT-observation likelihood (``correction="none"``) fails them (sigma2)."""
    from bayes_sdm.sbc import SBCConfig, run_sbc

    kw = dict(n_sims=200, N=16, T=5, K=1, model="sac", draws=200, tune=300, chains=2)
    res = run_sbc(SBCConfig(**kw))
    res.write(tmp_path / "sac")
    u = res.uniformity()
    assert res.passed, u[~u["passed"]]
    assert (res.divergences > 0).mean() < 0.05
    bad = run_sbc(SBCConfig(**kw, correction="none"))
    ub = bad.uniformity().set_index("quantity")
    assert not bad.passed
    assert ub.loc["sigma2", "p_min"] < 1e-6


def test_marginal_likelihood_two_dimensional():
    """SAC's integrand is the SAR one at lambda = 0 and the SEM one at rho = 0; its 2-D
    quadrature equals scipy's adaptive dblquad; select_model offers it (log_marginals)."""
    import scipy.integrate as si

    from bayes_sdm import sac
    from bayes_sdm.marginal import log_integrand, log_marginals

    ds = load_dataset("columbus")
    p, w = ds.panel(), ds.weights
    prep = prepare(p, w, model="sac", fe="none")
    st, ld = prep.stats, prep.logdet
    x = np.linspace(-0.6, 0.8, 5)
    np.testing.assert_allclose(sac.log_integrand(st, ld, SAC, x, 0.0),
                               log_integrand(st, ld, "sar", x), rtol=1e-12)
    np.testing.assert_allclose(sac.log_integrand(st, ld, SAC, 0.0, x),
                               log_integrand(st, ld, "sem", x), rtol=1e-12)
    got = sac.log_marginal(st, ld, SAC)
    lo, hi = ld.interval
    mx = float(sac.log_integrand(st, ld, SAC, got["mode"], got["mode_lambda"]))
    val, err = si.dblquad(
        lambda lam, r: float(np.exp(sac.log_integrand(st, ld, SAC, r, lam) - mx)),
        lo + 1e-9, hi - 1e-9, lo + 1e-9, hi - 1e-9, epsabs=0, epsrel=1e-9)
    want = np.log(val) + mx - 2 * np.log(hi - lo)
    assert got["log_marginal"] == pytest.approx(want, abs=1e-6)
    tab = log_marginals(p, w, "none", models=["sar", "sem", "sac"])
    assert list(tab["model"]) == ["sar", "sem", "sac"]
    assert tab["probability"].sum() == pytest.approx(1.0)
