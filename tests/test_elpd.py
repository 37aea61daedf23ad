"""Exact leave-one-out conditional densities of the Lee-Yu panel (bayes_sdm.elpd) against brute
force: log p(y_it | y_-it, theta) from the foundation's log-likelihood evaluated at three values
of y_it (it is quadratic in y_it; the Jacobian does not depend on y), then normalised."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from conftest import regional_model

from bayes_sdm import elpd
from bayes_sdm.errors import InputError
from bayes_sdm.likelihood import coef_vector, loglik, sufficient_stats, transformed_columns
from bayes_sdm.logdet import make_logdet
from bayes_sdm.panel import Panel
from bayes_sdm.regional import expand_panel
from bayes_sdm.result import FitResult
from bayes_sdm.simulate import simulate_y
from bayes_sdm.weights import economic_distance


def simulate(sizes=(5, 6), T=5, K=2, seed=0):  # noqa: N803
    """A small full-W SDM panel with region-specific coefficients (theta by unit's region)."""
    rng = np.random.default_rng(seed)
    n = sum(sizes)
    ids = tuple(f"u{i:02d}" for i in range(n))
    index = np.repeat(np.arange(len(sizes)), sizes)
    w = economic_distance(rng.normal(size=n), ids)
    x = rng.normal(size=(T, n, K))
    beta, theta = rng.normal(1.0, 0.3, (len(sizes), K)), rng.normal(0.5, 0.3, (len(sizes), K))
    y = simulate_y(w, x, "sdm", 0.3, beta[index], theta[index], 0.5, rng.normal(size=n),
                   rng.normal(size=T), rng)
    panel = Panel(y, x, ids, tuple(range(T)), "y", tuple(f"x{k + 1}" for k in range(K)))
    return panel, w, [f"r{g}" for g in index]


def brute_conditional(panel: Panel, w, fe, model, rho, beta, theta, sigma2, t, i,
                      expand=None):
    """log p(y_ti | rest) by evaluating the Lee-Yu loglik at y_ti - 1, y_ti, y_ti + 1."""
    ld = make_logdet(w)

    def ll(v):
        y = panel.y.copy()
        y[t, i] = v
        p = Panel(y, panel.X, panel.units, panel.times, panel.y_name, panel.x_names)
        if expand is not None:
            p = expand(p)
        st = sufficient_stats(p, w, fe)
        return loglik(st, ld, model, rho, beta, theta, sigma2)

    y0 = panel.y[t, i]
    lm, l0, lp = ll(y0 - 1.0), ll(y0), ll(y0 + 1.0)
    q = -(lp + lm - 2.0 * l0)  # precision of y_ti | rest
    slope = 0.5 * (lp - lm)  # = -q (y0 - mean)
    return 0.5 * np.log(q / (2.0 * np.pi)) - 0.5 * slope**2 / q


@pytest.mark.parametrize("fe", ["twoway", "unit", "time", "none"])
@pytest.mark.parametrize("model", ["sdm", "sem", "slx"])
def test_conditional_matches_brute_force(fe, model):
    panel, w, _ = simulate(sizes=(5, 6), T=5, seed=3)
    rng = np.random.default_rng(0)
    rho = 0.0 if model == "slx" else 0.35
    beta, theta, s2 = rng.normal(size=2), rng.normal(size=2), 0.7
    st = sufficient_stats(panel, w, fe)
    c = coef_vector(st, model, rho, beta, theta)
    z = transformed_columns(panel, w, fe)
    e = np.einsum("tnc,c->tn", z, c)[None]
    ll = elpd.conditional_loglik(e, w.matrix, np.array([rho]), np.array([s2]), fe, panel.T)[0]
    for t, i in [(0, 0), (2, 7), (4, 10)]:
        ref = brute_conditional(panel, w, fe, model, rho, beta, theta, s2, t, i)
        assert ll[t, i] == pytest.approx(ref, abs=1e-8)


def _fake_fit(rm, rng, draws=2, chains=1, scale=0.0, centre=None):
    """A RegionalFit with a hand-made posterior (no sampling)."""
    g, k = rm.regions.G, rm.panel.K
    coords = {"chain": np.arange(chains), "draw": np.arange(draws),
              "region": list(rm.regions.names), "coef": list(rm.panel.x_names)}
    c = centre or {}
    sh = (chains, draws)
    if rm.regional_w == "block":
        post = {"rho": (("chain", "draw", "region"), c.get("rho", 0.3) + scale * rng.normal(
            size=(*sh, g)) + (0 if scale else rng.uniform(-0.1, 0.1, (*sh, g)))),
                "sigma2": (("chain", "draw", "region"), c.get("sigma2", 0.3) * np.exp(
                    0.1 * rng.normal(size=(*sh, g))))}
    else:
        post = {"rho": (("chain", "draw"), c.get("rho", 0.3) + 0.05 * rng.normal(size=sh)),
                "sigma2": (("chain", "draw"), c.get("sigma2", 0.3) * np.exp(
                    0.1 * rng.normal(size=sh)))}
    for name in ("beta", "theta"):
        base = c.get(name, np.zeros((g, k)))
        post[name] = (("chain", "draw", "region", "coef"),
                      base + (scale or 1.0) * rng.normal(size=(*sh, g, k)))
    idata = xr.DataTree.from_dict({"posterior": xr.DataTree(xr.Dataset(post, coords=coords))})
    return FitResult(idata, None, None, regional_model=rm)


@pytest.mark.parametrize("regional_w", ["block", "full"])
def test_regional_pointwise_matches_brute_force(regional_w):
    panel, w, regs = simulate(sizes=(5, 6), T=5, seed=4)
    rm = regional_model(panel, w, regs, regional_w=regional_w, pooling="none")
    fit = _fake_fit(rm, np.random.default_rng(1))
    ll = elpd.pointwise_loglik(fit)
    assert ll.dims == ("chain", "draw", "time", "unit")
    post = fit.posterior
    for d in range(2):
        for t, i in [(1, 2), (3, 8)]:
            g = rm.regions.index[i]
            beta = post["beta"].values[0, d]
            theta = post["theta"].values[0, d]
            if regional_w == "block":
                b = rm.blocks[g]
                loc = int(np.nonzero(b.positions == i)[0][0])
                ref = brute_conditional(b.panel, b.w, "twoway", "sdm",
                                        post["rho"].values[0, d, g], beta[g], theta[g],
                                        post["sigma2"].values[0, d, g], t, loc)
            else:
                gam = np.concatenate([beta.ravel(), theta.ravel()])
                ref = brute_conditional(
                    panel, w, "twoway", "sar", float(post["rho"].values[0, d]), gam, None,
                    float(post["sigma2"].values[0, d]), t, i,
                    expand=lambda p: expand_panel(p, w, rm.regions, "sdm"))
            assert float(ll.values[0, d, t, i]) == pytest.approx(ref, abs=1e-8)


def test_compare_table_and_errors():
    panel, w, regs = simulate(sizes=(5, 6), T=6, seed=5)
    rng = np.random.default_rng(2)
    fits = {}
    for rw in ("block", "full"):
        rm = regional_model(panel, w, regs, regional_w=rw, pooling="none")
        from bayes_sdm.regional.data import quick_estimates

        est = [quick_estimates(b.stats, b.logdet, b.lik_family) for b in rm.blocks]
        k, g = panel.K, rm.regions.G
        if rw == "block":
            centre = {"beta": np.array([e["coef"][:k] for e in est]),
                      "theta": np.array([e["coef"][k:2 * k] for e in est]),
                      "rho": np.array([e["rho"] for e in est]),
                      "sigma2": np.array([e["sigma2"] for e in est])}
        else:
            cf = est[0]["coef"]
            centre = {"beta": cf[:g * k].reshape(g, k), "theta": cf[g * k:].reshape(g, k),
                      "rho": est[0]["rho"], "sigma2": est[0]["sigma2"]}
        fits[rw] = _fake_fit(rm, rng, draws=200, chains=2, scale=0.02, centre=centre)
    tab = elpd.compare(fits)
    assert set(tab.index) == {"block", "full"}
    for col in ("elpd", "se", "elpd_diff", "dse", "n_high_k"):
        assert col in tab.columns
    assert tab["elpd_diff"].abs().min() == pytest.approx(0.0)
    assert tab["elpd_diff"].abs().max() > 0.0
    assert "log_likelihood" in fits["full"].idata.children
    assert fits["full"].idata["log_likelihood"]["y"].shape == (2, 200, panel.T, panel.N)
    with pytest.raises(InputError, match="at least two"):
        elpd.compare({"a": fits["full"]})
    rm = regional_model(panel, w, regs, regional_w="block", pooling="none",
                              correction="none")
    with pytest.raises(InputError, match="correction='transform'"):
        elpd.pointwise_loglik(_fake_fit(rm, rng))


def test_single_model_fit_result():
    """The pooled model's FitResult (bayes_sdm.api) goes through the same code."""
    from bayes_sdm.api import FitResult, prepare
    from bayes_sdm.spec import ModelSpec

    panel, w, _ = simulate(sizes=(5, 6), T=5, seed=6)
    prep = prepare(panel, w, "sdm", "unit")
    rng = np.random.default_rng(3)
    post = xr.Dataset({"rho": (("chain", "draw"), rng.uniform(0.1, 0.4, (1, 2))),
                       "beta": (("chain", "draw", "coef"), rng.normal(size=(1, 2, 2))),
                       "theta": (("chain", "draw", "coef"), rng.normal(size=(1, 2, 2))),
                       "sigma2": (("chain", "draw"), rng.uniform(0.2, 0.5, (1, 2)))},
                      coords={"coef": list(panel.x_names)})
    fit = FitResult(xr.DataTree.from_dict({"posterior": xr.DataTree(post)}), prep, ModelSpec())
    ll = elpd.pointwise_loglik(fit)
    ref = brute_conditional(panel, w, "unit", "sdm", float(post["rho"][0, 1]),
                            post["beta"].values[0, 1], post["theta"].values[0, 1],
                            float(post["sigma2"][0, 1]), 2, 4)
    assert float(ll.values[0, 1, 2, 4]) == pytest.approx(ref, abs=1e-8)
