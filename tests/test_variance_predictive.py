"""Posterior predictive replicates of the period- and unit-variance models
(bayes_sdm.variance_predictive): the replicates' mean and variance against the exact ones
(law of total variance over a two-point posterior), with the fixed effects from a weighted
least-squares fit on dummy variables written here; the CLI's figures."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from bayes_sdm.api import prepare
from bayes_sdm.panel import Panel
from bayes_sdm.sbc.core import lattice_weights
from bayes_sdm.variance_predictive import variance_posterior_predictive, weighted_effects

S = 2000  # replicated draws (two parameter values, alternating)


def _panel(n=9, t=4, seed=2):
    w = lattice_weights(n)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(t, n, 2))
    y = rng.normal(size=(t, n)) + x[:, :, 0] + rng.normal(size=n)[None, :]
    return Panel(y, x, tuple(w.ids), tuple(range(2000, 2000 + t)), "y", ("x1", "x2")), w


def _dense(w):
    return np.asarray(w.matrix.toarray() if w.is_sparse else w.matrix, dtype=float)


def _wls_effects(e, fe, wt, ui):
    """Fitted values of e on unit and/or time dummies by weighted least squares."""
    t, n = e.shape
    cols = []
    if fe in ("unit", "twoway"):
        cols.append(np.kron(np.ones((t, 1)), np.eye(n)))
    if fe in ("time", "twoway"):
        d = np.kron(np.eye(t), np.ones((n, 1)))
        cols.append(d[:, 1:] if fe == "twoway" else d)
    dm = np.hstack(cols)
    om = np.kron(wt, ui)
    coef = np.linalg.solve(dm.T @ (om[:, None] * dm), dm.T @ (om * e.ravel()))
    return (dm @ coef).reshape(t, n)


def _exact_moments(panel, w, model, fe, variance, par):
    """Mean (T, N) and variance (T, N) of a replicate at one parameter value."""
    wm = _dense(w)
    t, n = panel.y.shape
    b = np.eye(n) - par["s"] * wm
    binv = np.linalg.inv(b)
    xb = panel.X @ par["beta"] + np.einsum("ij,tjk,k->ti", wm, panel.X, par["theta"])
    if model == "sem":  # e = (I - lam W)(y - X beta - WX theta)
        e = (panel.y - xb) @ b.T
    else:  # e = (I - rho W) y - X beta - WX theta
        e = panel.y @ b.T - xb
    if variance == "period":
        wt, ui = 1.0 / par["sigma2"], np.ones(n)
        cov_t = [s2 * binv @ binv.T for s2 in par["sigma2"]]
    else:
        wt, ui = np.ones(t), 1.0 / par["v"]
        cov_t = [par["sigma2"] * binv @ np.diag(par["v"]) @ binv.T] * t
    fe_hat = _wls_effects(e, fe, wt, ui)
    mean = xb + fe_hat @ binv.T if model == "sem" else (xb + fe_hat) @ binv.T
    var = np.stack([np.diag(c) for c in cov_t])
    return mean, var


def _posterior(pars, variance, panel, model):
    """One chain of S draws alternating between the parameter values ``pars``."""
    idx = np.arange(S) % len(pars)
    sp = "lambda" if model == "sem" else "rho"
    data = {sp: (("chain", "draw"), np.array([[pars[i]["s"] for i in idx]])),
            "beta": (("chain", "draw", "coef"), np.array([[pars[i]["beta"] for i in idx]]))}
    if model == "sdm":
        data["theta"] = (("chain", "draw", "coef"), np.array([[pars[i]["theta"] for i in idx]]))
    if variance == "period":
        data["sigma2"] = (("chain", "draw", "time"), np.array([[pars[i]["sigma2"] for i in idx]]))
    else:
        data["sigma2"] = (("chain", "draw"), np.array([[pars[i]["sigma2"] for i in idx]]))
        data["v"] = (("chain", "draw", "unit"), np.array([[pars[i]["v"] for i in idx]]))
    return xr.Dataset(data, coords={"chain": [0], "draw": np.arange(S),
                                    "coef": list(panel.x_names),
                                    "time": [str(t) for t in panel.times],
                                    "unit": [str(u) for u in panel.units]})


@pytest.mark.parametrize("variance,model,fe", [("period", "sdm", "twoway"),
                                               ("unit", "sem", "twoway"),
                                               ("period", "sdm", "unit"),
                                               ("unit", "sdm", "time")])
def test_replicates_mean_and_variance_are_exact(variance, model, fe):
    panel, w = _panel()
    t, n = panel.y.shape
    prep = prepare(panel, w, model, fe, intercept=False)
    base = {"theta": np.array([0.3, 0.0]) if model == "sdm" else np.zeros(2)}
    pars = [dict(base, s=0.5, beta=np.array([1.0, -0.5])),
            dict(base, s=-0.2, beta=np.array([0.6, 0.4]))]
    if variance == "period":
        pars[0]["sigma2"], pars[1]["sigma2"] = np.linspace(0.2, 3.0, t), np.full(t, 0.8)
    else:
        pars[0]["sigma2"], pars[1]["sigma2"] = 0.5, 1.5
        pars[0]["v"], pars[1]["v"] = np.linspace(0.3, 4.0, n), np.linspace(2.0, 0.5, n)
    yr = variance_posterior_predictive(prep, _posterior(pars, variance, panel, model),
                                       variance, seed=5)
    assert yr.dims == ("chain", "draw", "time", "unit") and yr.shape == (1, S, t, n)
    reps = yr.values[0]
    m = [_exact_moments(panel, w, model, fe, variance, p) for p in pars]
    mean = 0.5 * (m[0][0] + m[1][0])
    var = 0.5 * (m[0][1] + m[1][1]) + 0.25 * (m[0][0] - m[1][0]) ** 2  # total variance
    z = (reps.mean(axis=0) - mean) / np.sqrt(var / S)
    assert np.abs(z).max() < 4.5
    rel = reps.var(axis=0) / var - 1.0
    assert np.abs(rel).max() < 5 * np.sqrt(2.0 / S)
    # each parameter value's replicates separately: the conditional mean
    for j in range(2):
        zj = (reps[j::2].mean(axis=0) - m[j][0]) / np.sqrt(m[j][1] / (S / 2))
        assert np.abs(zj).max() < 4.5


def test_weighted_effects_equal_weights_is_the_plain_projection():
    rng = np.random.default_rng(0)
    e = rng.normal(size=(5, 7))
    for fe in ("unit", "time", "twoway", "none"):
        ref = _wls_effects(e, fe, np.ones(5), np.ones(7)) if fe != "none" else 0 * e
        np.testing.assert_allclose(weighted_effects(e, fe), ref, atol=1e-12)
        wt, ui = rng.uniform(0.2, 3, 5), rng.uniform(0.2, 3, 7)
        if fe != "none":
            np.testing.assert_allclose(weighted_effects(e, fe, wt, None),
                                       _wls_effects(e, fe, wt, np.ones(7)), atol=1e-12)
            np.testing.assert_allclose(weighted_effects(e, fe, None, ui),
                                       _wls_effects(e, fe, np.ones(5), ui), atol=1e-12)


@pytest.fixture(scope="module")
def small_files(tmp_path_factory):
    import pandas as pd
    from conftest import ring_plus_random

    from bayes_sdm.simulate import simulate_y
    from bayes_sdm.weights import make_weights

    d = tmp_path_factory.mktemp("vcli")
    rng = np.random.default_rng(7)
    n, t = 16, 5
    ids = [f"c{i:02d}" for i in range(n)]
    c = ring_plus_random(n, rng, 0.15)
    w = make_weights(c, ids)
    x = rng.normal(size=(t, n, 1))
    y = simulate_y(w, x, "sar", 0.4, [1.0], None, 0.5, mu=rng.normal(size=n),
                   alpha=rng.normal(size=t), rng=rng)
    rows = [{"city": ids[i], "year": 2000 + s, "y": y[s, i], "a": x[s, i, 0]}
            for s in range(t) for i in range(n)]
    pd.DataFrame(rows).to_csv(d / "panel.csv", index=False)
    pd.DataFrame(c, index=ids, columns=ids).to_csv(d / "w.csv")
    return d


@pytest.mark.parametrize("variance", ["period",
                                      pytest.param("unit", marks=pytest.mark.slow)])
def test_cli_variance_plots_write_figures_and_report(small_files, tmp_path, variance):
    from bayes_sdm.cli import main

    d, out = small_files, tmp_path / variance
    rc = main(["--data", str(d / "panel.csv"), "--unit", "city", "--time", "year", "--y", "y",
               "--x", "a", "--weights", str(d / "w.csv"), "--model", "sar", "--fe", "twoway",
               "--variance", variance, "--plots", "--draws", "40", "--tune", "60",
               "--chains", "1", "--no-progress", "--quiet", "--out", str(out)])
    assert rc in (0, 1)  # 40 draws: the diagnostics may fail; the files are written
    figs = {p.name for p in (out / "figures").glob("*.png")}
    assert {"trace.png", "rank.png", "effects_forest.png", "ppc_y.png",
            "ppc_moran.png"} <= figs
    text = (out / "report.md").read_text()
    assert "## Parameters" in text and "figures/ppc_y.png" in text
