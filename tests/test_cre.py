"""Correlated random effects (Mundlak 1978) and the Bayesian counterpart of the Hausman test
(:mod:`bayes_sdm.cre`).

* The Mundlak identity: at given (rho|lambda, phi) the CRE GLS beta (and theta) equals the
  within (fixed-effects) estimator, computed independently here by OLS on time-demeaned data;
  in the non-spatial case the CRE ML beta equals the unit-FE ML beta of the OLS family.
* The exact LOO conditionals (observation and unit) against a dense N T x N T Gaussian
  conditioning (independent of the closed forms).
* On simulated panels: with the unit effects independent of X the comparison does not prefer
  CRE and the Mundlak coefficients' HDIs cover 0; with mu correlated with X it prefers CRE
  by several standard errors.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ring_plus_random
from scipy.stats import multivariate_normal

from bayes_sdm.cre import loo_conditionals, re_vs_cre
from bayes_sdm.errors import InputError
from bayes_sdm.panel import Panel
from bayes_sdm.random_effects import _best_phi, fit_re, profile_re, re_data
from bayes_sdm.weights import make_weights

FAMILIES = ("sar", "sdm", "sem", "sdem")


def _dense(w):
    m = w.matrix
    return m.toarray() if hasattr(m, "toarray") else np.asarray(m, float)


def _simulate(correlated: bool, family: str = "sar", seed: int = 1, n: int = 40, t: int = 5):
    rng = np.random.default_rng(seed)
    w = make_weights(ring_plus_random(n, rng, 0.2), tuple(range(n)))
    wd = _dense(w)
    x = rng.standard_normal((t, n, 2)) + rng.standard_normal((1, n, 2))
    mu = 0.7 * rng.standard_normal(n)
    if correlated:
        mu = mu + x.mean(axis=0) @ np.array([1.0, -1.0])
    binv = np.linalg.inv(np.eye(n) - 0.4 * wd)
    beta = np.array([1.0, 2.0])
    if family == "sar":
        y = np.stack([binv @ (1.0 + x[s] @ beta + mu + rng.standard_normal(n))
                      for s in range(t)])
    else:
        y = np.stack([1.0 + x[s] @ beta + mu + binv @ rng.standard_normal(n) for s in range(t)])
    return Panel(y, x, tuple(range(n)), tuple(range(t)), "y", ("a", "b")), w


def _within(panel, w, family, s):
    """The within estimator at the spatial parameter s, by OLS on time-demeaned data."""
    wd = _dense(w)
    x = np.asarray(panel.X, float)
    if family in ("sdm", "sdem"):
        x = np.concatenate([x, np.einsum("ij,tjk->tik", wd, x)], axis=2)
    b = np.eye(panel.N) - s * wd
    y = np.einsum("ij,tj->ti", b, panel.y)
    if family in ("sem", "sdem"):
        x = np.einsum("ij,tjk->tik", b, x)
    yq = (y - y.mean(axis=0)).ravel()
    xq = (x - x.mean(axis=0)).reshape(-1, x.shape[2])
    return np.linalg.lstsq(xq, yq, rcond=None)[0]


@pytest.mark.parametrize("family", FAMILIES)
def test_cre_beta_is_the_within_estimator(family):
    """Mundlak (1978): the CRE GLS beta/theta at (s, phi) is the within estimator at s."""
    panel, w = _simulate(True)
    d = re_data(panel, w, family, mundlak=True)
    k = 2 * len(panel.x_names) if family in ("sdm", "sdem") else len(panel.x_names)
    assert d.reg_names[1 + k:] == tuple(
        f"mundlak[{v}]" for v in (["a", "b", "Wa", "Wb"][:k]))
    for s, phi in ((0.0, 0.3), (0.35, 0.8), (-0.2, 0.05)):
        coef, _, _ = profile_re(d, s, phi)
        np.testing.assert_allclose(coef[1:1 + k], _within(panel, w, family, s), rtol=0,
                                   atol=1e-10)


def test_cre_ml_beta_equals_fe_ml_beta_non_spatial():
    """Non-spatial case: the CRE ML beta (at its ML phi, rho = 0) equals the unit-FE ML beta
    of the OLS family to 1e-8; the RE beta does not (the unit effects are correlated)."""
    from bayes_sdm.api import prepare
    from bayes_sdm.logdet import make_logdet
    from bayes_sdm.ml import fit_ml

    panel, w = _simulate(True)
    fe = fit_ml(prepare(panel, w, "ols", "unit", "none"), "none")
    fe_beta = fe.params[["beta[a]", "beta[b]"]].to_numpy()
    ld = make_logdet(w)
    for mundlak in (True, False):
        d = re_data(panel, w, "sar", mundlak=mundlak)
        phi, _ = _best_phi(d, ld, 0.0, 1e-11)
        coef, _, _ = profile_re(d, 0.0, phi)
        if mundlak:
            np.testing.assert_allclose(coef[1:3], fe_beta, rtol=1e-8)
        else:
            assert np.abs(coef[1:3] - fe_beta).max() > 0.01


def test_fit_re_mundlak_names_and_refusals():
    panel, w = _simulate(True)
    r = fit_re(panel, w, "sdm", mundlak=True)
    assert list(r.params.index) == [
        "rho", "intercept", "beta[a]", "beta[b]", "theta[a]", "theta[b]", "mundlak[a]",
        "mundlak[b]", "mundlak[Wa]", "mundlak[Wb]", "phi", "sigma2"]
    assert np.isfinite(r.se.to_numpy()).all()
    # the Mundlak columns do not enter the effects (LeSage & Pace 2009, dense S_k here)
    eff = r.effects().set_index(["variable", "effect"])["mean"]
    wd = _dense(w)
    n = panel.N
    binv = np.linalg.inv(np.eye(n) - r.params["rho"] * wd)
    for v in ("a", "b"):
        sk = binv @ (r.params[f"beta[{v}]"] * np.eye(n) + r.params[f"theta[{v}]"] * wd)
        assert eff[v, "direct"] == pytest.approx(np.trace(sk) / n, rel=1e-10)
        assert eff[v, "total"] == pytest.approx(sk.sum() / n, rel=1e-10)
    with pytest.raises(InputError, match="sar, sdm, sem and sdem"):
        re_vs_cre(panel, w, "sac")


def _dense_conditionals(d, y, post, wd, by_unit):
    t, n = y.shape
    out = []
    for k in range(post["s"].size):
        s, phi, s2 = post["s"][k], post["phi"][k], post["sigma2"][k]
        s2mu = s2 * (1 / phi ** 2 - 1) / t
        cov = np.kron(np.ones((t, t)), np.eye(n)) * s2mu
        mean = np.einsum("tnp,p->tn", d.regs, post["coef"][k]).ravel()
        bi = np.linalg.inv(np.eye(n) - s * wd)
        if d.family.lag:
            a = np.kron(np.eye(t), bi)
            v = a @ (cov + s2 * np.eye(n * t)) @ a.T
            mean = a @ mean
        else:
            v = cov + s2 * np.kron(np.eye(t), bi @ bi.T)
        yy = y.ravel()
        blocks = [[q * n + i for q in range(t)] for i in range(n)] if by_unit else \
            [[j] for j in range(n * t)]
        row = []
        for b in blocks:
            o = [j for j in range(n * t) if j not in b]
            vbo = v[np.ix_(b, o)]
            sol = np.linalg.solve(v[np.ix_(o, o)], np.c_[yy[o] - mean[o], vbo.T])
            cm = mean[b] + vbo @ sol[:, 0]
            cv = v[np.ix_(b, b)] - vbo @ sol[:, 1:]
            row.append(multivariate_normal.logpdf(yy[b], cm, cv))
        out.append(np.reshape(row, (n,) if by_unit else (t, n)))
    return np.array(out)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("mundlak", [False, True])
def test_loo_conditionals_match_dense_conditioning(family, mundlak):
    rng = np.random.default_rng(2)
    n, t = 8, 3
    w = make_weights(ring_plus_random(n, rng, 0.3), tuple(range(n)))
    x = rng.standard_normal((t, n, 1))
    y = rng.standard_normal((t, n))
    panel = Panel(y, x, tuple(range(n)), tuple(range(t)), "y", ("a",))
    d = re_data(panel, w, family, mundlak=mundlak)
    post = {"s": np.array([0.3, -0.2]), "phi": np.array([0.5, 0.9]),
            "sigma2": np.array([1.3, 0.7]), "coef": rng.standard_normal((2, d.p))}
    for by_unit in (False, True):
        got = loo_conditionals(d, y, post, by_unit=by_unit)
        ref = _dense_conditionals(d, y, post, _dense(w), by_unit)
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-10)


def test_comparison_independent_effects_keeps_re():
    panel, w = _simulate(False, "sar", seed=1)
    r = re_vs_cre(panel, w, "sar", draws=600)
    assert r["prefers"] == "re"
    assert r["elpd_diff"] < 2 * r["diff_se"]
    for c in r["mundlak"]["coefficients"].values():
        assert c["hdi_covers_zero"]
    assert r["mundlak"]["tail_probability_zero"] > 0.05
    assert r["pareto_k_max"] < 0.7


@pytest.mark.parametrize("family", ["sar", "sem"])
def test_comparison_correlated_effects_prefers_cre(family):
    panel, w = _simulate(True, family, seed=1)
    r = re_vs_cre(panel, w, family, draws=400)
    assert r["prefers"] == "cre"
    assert r["elpd_diff"] > 3 * r["diff_se"]
    assert r["mundlak"]["tail_probability_zero"] < 0.01
    for c in r["mundlak"]["coefficients"].values():
        assert not c["hdi_covers_zero"]
    # the posterior mean of the Mundlak coefficients is near the ML estimate
    ml = fit_re(panel, w, family, mundlak=True)
    for name, c in r["mundlak"]["coefficients"].items():
        assert c["mean"] == pytest.approx(ml.params[name], abs=2 * c["sd"])


def test_select_model_reports_the_bayesian_counterpart_beside_hausman():
    from bayes_sdm.selection import hausman_rows

    panel, w = _simulate(True, "sar", seed=1)
    rows, notes = hausman_rows(panel, w)
    tests = [r["test"] for r in rows]
    assert tests == ["Hausman FE vs RE (SAR)", "Bayes SAR: ELPD CRE - RE",
                     "Bayes SAR: Mundlak coefficients = 0 (posterior tail prob.)",
                     "Hausman FE vs RE (SEM)", "Bayes SEM: ELPD CRE - RE",
                     "Bayes SEM: Mundlak coefficients = 0 (posterior tail prob.)"]
    assert rows[0]["p"] < 0.01 and rows[1]["statistic"] > 10 and rows[2]["p"] < 0.01
    assert any("correlated random effects are preferred" in n for n in notes)
    assert any("not comparable" in n for n in notes)


@pytest.mark.parametrize("family", ["sdm", "sem"])
def test_bayesian_cre_model_loglik_and_flat_prior_mode(family):
    """The spec flag ``mundlak`` routes the Bayesian RE model (re_model) through the same
    statistics: its PyTensor log-likelihood equals the ML log-likelihood of the CRE fit and
    :func:`loglik_re` elsewhere, and the flat-prior mode is the ML estimate (the Newton step
    I^-1 grad at the ML estimate is below 1e-6 in every coordinate)."""
    import pytensor
    import pytensor.tensor as pt

    from bayes_sdm.random_effects import loglik_re, re_information
    from bayes_sdm.re_model import build_re_model, re_loglik_symbolic

    panel, w = _simulate(True, n=20, t=4)
    r = fit_re(panel, w, family, mundlak=True)
    d = r.re_data
    m = build_re_model(d, r.logdet)
    k = len(panel.x_names) * (2 if family == "sdm" else 1)
    assert m.coords["mundlak_coef"] == tuple(d.reg_names[1 + k:])
    kx = len(panel.x_names)
    v = pt.dvector("v")
    ll = re_loglik_symbolic(d, r.logdet, v[0], v[1], v[2:2 + kx],
                            v[2 + kx:2 + k] if family == "sdm" else None, v[-2], v[-1],
                            mundlak=v[2 + k:-2])
    f = pytensor.function([v], [ll, pytensor.grad(ll, v)])
    th = r.params.to_numpy(float)
    val, g = f(th)
    assert val == pytest.approx(r.loglik, rel=1e-12)
    th2 = th * (1 + 0.05 * np.random.default_rng(0).standard_normal(th.size))
    assert f(th2)[0] == pytest.approx(loglik_re(d, r.logdet, th2[0], th2[-2], th2[1:-2],
                                                th2[-1]), rel=1e-11)
    step = np.linalg.solve(re_information(d, th[0], th[1:-2], th[-2], th[-1]), g)
    assert np.all(np.abs(step) < 1e-6 * np.maximum(1.0, np.abs(th)))


def test_spec_mundlak_flag():
    from bayes_sdm.spec import ModelSpec

    spec = ModelSpec(model="sar", fe="random", mundlak=True).validate()
    assert "mundlak: true" in spec.to_yaml()
    assert ModelSpec.from_dict(spec.to_dict()).mundlak is True
    assert "mundlak" not in ModelSpec(model="sar", fe="random").to_yaml()
    with pytest.raises(InputError, match="mundlak: true .* applies to fe: random"):
        ModelSpec(model="sar", fe="unit", mundlak=True).validate()
