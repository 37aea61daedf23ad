"""Simulation-based calibration (Talts et al. 2018) of the Bayesian unit random-effects SAR.

Small design (N = 12 units on a ring-plus-random W, T = 4, one regressor): draws from proper
priors, panels simulated from the RE data-generating process (unit effects drawn, then
integrated out by the model), ranks of the truth among thinned posterior draws.  The model's
likelihood is :func:`bayes_sdm.re_model.re_loglik_symbolic` with the statistics as ``pm.Data``
(compiled once, :func:`bayes_sdm.sampling.compile_sampler`).  The correct likelihood passes a
chi^2 rank-uniformity test for every quantity; the variant without the N log phi term of the
quasi-demeaning transform (the slip of spreg's ``Panel_RE_Lag.logll``) fails it for phi.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

N, T, SIMS, RANK_DRAWS = 12, 4, 80, 99


def _setup():
    from conftest import ring_plus_random

    from bayes_sdm.logdet import make_logdet
    from bayes_sdm.weights import make_weights

    rng = np.random.default_rng(11)
    w = make_weights(ring_plus_random(N, rng, 0.2), tuple(range(N)))
    x = rng.standard_normal((T, N, 1))
    return w, x, make_logdet(w)


def _panel(y, x):
    from bayes_sdm.panel import Panel

    return Panel(y, x, tuple(range(N)), tuple(range(T)), "y", ("x",))


def _model(d0, ld, corrected: bool):
    import pymc as pm

    from bayes_sdm.re_model import re_loglik_symbolic

    with pm.Model() as m:
        gw = pm.Data("gw", d0.gw)
        gb = pm.Data("gb", d0.gb)
        zbar = pm.Data("zbar", d0.zbar)
        d = dataclasses.replace(d0, gw=gw, gb=gb, zbar=zbar)
        rho = pm.Uniform("rho", -0.5, 0.8)
        icpt = pm.Normal("intercept", 0.0, 1.0)
        beta = pm.Normal("beta", 0.0, 1.0, shape=1)
        phi = pm.Uniform("phi", 0.1, 1.0)
        sigma = pm.HalfNormal("sigma", 1.0)
        ll = re_loglik_symbolic(d, ld, rho, icpt, beta, None, phi, sigma ** 2)
        if not corrected:
            ll = ll - N * pm.math.log(phi)
        pm.Potential("loglik", ll)
    return m


def _run(corrected: bool) -> dict[str, float]:
    from bayes_sdm.random_effects import re_data
    from bayes_sdm.sampling import compile_sampler
    from bayes_sdm.sbc.core import quiet_sampling
    from bayes_sdm.sbc.uniformity import chi2_uniformity
    from bayes_sdm.spec import SamplerSpec

    w, x, ld = _setup()
    rng = np.random.default_rng(5 if corrected else 6)
    wm = np.asarray(w.matrix)
    d0 = re_data(_panel(rng.standard_normal((T, N)), x), w, "sar")
    cs = compile_sampler(_model(d0, ld, corrected),
                         SamplerSpec(draws=500, tune=500, chains=1, seed=0, cores=1))
    names = ("rho", "intercept", "beta", "phi", "sigma")
    ranks = {k: [] for k in names}
    for i in range(SIMS):
        th = {"rho": rng.uniform(-0.5, 0.8), "intercept": rng.normal(), "beta": rng.normal(),
              "phi": rng.uniform(0.1, 1.0), "sigma": abs(rng.normal())}
        s2mu = th["sigma"] ** 2 * (1 / th["phi"] ** 2 - 1) / T
        mu = rng.normal(0.0, np.sqrt(s2mu), N)
        a = np.linalg.inv(np.eye(N) - th["rho"] * wm)
        y = np.stack([a @ (th["intercept"] + x[t, :, 0] * th["beta"] + mu
                           + th["sigma"] * rng.standard_normal(N)) for t in range(T)])
        d = re_data(_panel(y, x), w, "sar")
        with quiet_sampling():
            tr = cs.sample(1000 + i, data={"gw": d.gw, "gb": d.gb, "zbar": d.zbar})
        post = tr["posterior"]
        for k in names:
            v = np.asarray(post[k].values, float).reshape(-1)
            v = v[np.linspace(0, v.size - 1, RANK_DRAWS).round().astype(int)]
            ranks[k].append(int((v < th[k]).sum()))
    return {k: chi2_uniformity(np.array(r), RANK_DRAWS, 10)[1] for k, r in ranks.items()}


@pytest.mark.slow
def test_re_sar_sbc_passes():
    p = _run(corrected=True)
    assert min(p.values()) > 0.001, p


@pytest.mark.slow
def test_re_sar_sbc_without_log_phi_term_fails():
    p = _run(corrected=False)
    assert p["phi"] < 0.001, p


def test_compiled_functions_follow_shared_data(tmp_path, monkeypatch):
    """Regression (found by this SBC): a compiled function read back from the on-disk cache
    had its own copy of the model's pm.Data, so pm.set_data did not reach it and every
    simulation after the first process refitted the first dataset.  Graphs with shared
    variables are no longer cached."""
    import pytensor
    import pytensor.tensor as pt

    from bayes_sdm.nutpie_pyfunc import compiled_functions

    monkeypatch.setenv("BAYES_SDM_CACHE", str(tmp_path))
    x = pt.dvector("x")
    data = pytensor.shared(np.array([1.0, 2.0]), name="d")
    out = [pt.sum(x * data)]
    (f1,) = compiled_functions(x, out)
    (f2,) = compiled_functions(x, out)  # a second "process": the cache would answer
    data.set_value(np.array([10.0, 20.0]))
    assert f1(np.ones(2))[0] == pytest.approx(30.0)
    assert f2(np.ones(2))[0] == pytest.approx(30.0)
