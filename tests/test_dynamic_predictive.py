"""Posterior predictive replicates of the Bayesian dynamic panel (bayes_sdm.dynamic_predictive):
the replicates' mean and variance at one parameter value against the exact ones of the model
given the first period, with the correlated random effect's conditional posterior computed here
by dense Gaussian conditioning; the CLI's figures and report."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from bayes_sdm.dynamic import prepare_dynamic, simulate_dynamic
from bayes_sdm.dynamic_bayes import cre_terms
from bayes_sdm.dynamic_predictive import dynamic_replicates
from bayes_sdm.errors import InputError
from bayes_sdm.sbc.core import lattice_weights

S = 3000
PAR = {"rho": 0.3, "tau": 0.4, "eta": -0.1, "beta": [1.0], "theta": [0.5], "sigma2": 0.5,
       "sigma_mu": 0.7}


def _setup(fe="unit", model="sdm"):
    w = lattice_weights(9)
    if model == "sdm":
        panel = simulate_dynamic(w, 4, 0.4, 0.3, -0.1, [1.0], [0.5], sigma=0.7, seed=3)
        dd = prepare_dynamic(panel, w, "sdm", fe)
    else:
        from bayes_sdm.dynamic_error import prepare_dynamic_error, simulate_dynamic_error

        panel = simulate_dynamic_error(w, 4, 0.4, 0.3, -0.1, [1.0], [0.5], sigma=0.7, seed=3)
        dd = prepare_dynamic_error(panel, w, model, fe)
    psi = np.array([0.2, -0.1, 0.3, 0.1, 0.5][:len(cre_terms(dd))])
    one = np.ones((1, S))
    data = {k: (("chain", "draw"), v * one) for k, v in PAR.items()
            if k not in ("beta", "theta")}
    if model != "sdm":
        data["lambda"] = data.pop("rho")
    data["beta"] = (("chain", "draw", "coef"), np.broadcast_to(PAR["beta"], (1, S, 1)))
    data["theta"] = (("chain", "draw", "coef"), np.broadcast_to(PAR["theta"], (1, S, 1)))
    data["psi"] = (("chain", "draw", "cre_term"), np.broadcast_to(psi, (1, S, psi.size)))
    post = xr.Dataset(data, coords={"chain": [0], "draw": np.arange(S), "coef": ["x1"],
                                    "cre_term": cre_terms(dd)})
    return w, panel, dd, psi, post


def _exact(w, panel, psi, mode, model="sdm"):
    """Mean and variance (T', N) of the replicates, from the model written out densely:
    y_t = P (tau I + eta W) y_{t-1} + P c_t + Q (h psi + a + eps_t) with P = Q = (I - rho W)^-1
    (lag) or P = I, Q = (I - lambda W)^-1 (error)."""
    wm = np.asarray(w.matrix.toarray() if w.is_sparse else w.matrix, dtype=float)
    y, x = panel.y, panel.X[:, :, 0]
    t, n = y.shape
    tp = t - 1
    qi = np.eye(n) - PAR["rho"] * wm  # S, or B with lambda = PAR["rho"]
    si = np.linalg.inv(qi)
    pm_ = si if model == "sdm" else np.eye(n)
    lagm = pm_ @ (PAR["tau"] * np.eye(n) + PAR["eta"] * wm)
    h = np.column_stack([y[0], wm @ y[0], x[1:].mean(0), (x[1:] @ wm.T).mean(0), np.ones(n)])
    th = 0.0 if model == "sem" else PAR["theta"][0]
    cx = [PAR["beta"][0] * x[k] + th * wm @ x[k] for k in range(1, t)]
    # a | y: prior N(0, sigma_mu^2 I); r_t = Q^-1 (y_t - lagm y_{t-1} - P cx_t) - h psi
    #      = a + eps_t
    r = np.concatenate([qi @ (y[k] - lagm @ y[k - 1] - pm_ @ cx[k - 1]) - h @ psi
                        for k in range(1, t)])
    d = np.kron(np.ones((tp, 1)), np.eye(n))
    ca = np.linalg.inv(np.eye(n) / PAR["sigma_mu"] ** 2 + d.T @ d / PAR["sigma2"])
    ma = ca @ d.T @ r / PAR["sigma2"]
    a_map = lagm if mode == "joint" else np.zeros((n, n))
    means, vars_ = [], []
    m, lmat, noise = y[0], np.zeros((n, n)), []
    for k in range(1, t):
        prev = m if mode == "joint" else y[k - 1]
        m = lagm @ prev + pm_ @ cx[k - 1] + si @ (h @ psi + ma)
        lmat = a_map @ lmat + si  # d y_t / d a
        noise = [a_map @ q for q in noise] + [si]  # d y_t / d eps_s, s <= t
        cov = lmat @ ca @ lmat.T + PAR["sigma2"] * sum(q @ q.T for q in noise)
        means.append(m)
        vars_.append(np.diag(cov))
    return np.array(means), np.array(vars_)


@pytest.mark.parametrize("mode,model", [("joint", "sdm"), ("one_step", "sdm"),
                                        ("joint", "sdem"), ("one_step", "sem")])
def test_replicates_have_the_exact_conditional_moments(mode, model):
    w, panel, dd, psi, post = _setup("unit", model)
    reps = dynamic_replicates(dd, panel, post, seed=11, mode=mode)
    assert reps.shape == (S, 3, 9)
    mean, var = _exact(w, panel, psi, mode, model)
    z = (reps.mean(axis=0) - mean) / np.sqrt(var / S)
    assert np.abs(z).max() < 4.5
    assert np.abs(reps.var(axis=0) / var - 1).max() < 5 * np.sqrt(2.0 / S)


def test_joint_and_one_step_differ_and_twoway_runs():
    w, panel, dd, psi, post = _setup("unit")
    a = dynamic_replicates(dd, panel, post.isel(draw=slice(0, 200)), seed=1)
    b = dynamic_replicates(dd, panel, post.isel(draw=slice(0, 200)), seed=1, mode="one_step")
    assert np.allclose(a[:, 0], b[:, 0]) and not np.allclose(a[:, 1:], b[:, 1:])
    dd2 = prepare_dynamic(panel, w, "sdm", "twoway")
    post2 = post.isel(cre_term=slice(0, 4)).assign_coords(cre_term=cre_terms(dd2))
    r2 = dynamic_replicates(dd2, panel, post2.isel(draw=slice(0, 50)), seed=1)
    assert r2.shape == (50, 3, 9) and np.isfinite(r2).all()
    with pytest.raises(InputError, match="mode"):
        dynamic_replicates(dd, panel, post, mode="recursive")
    with pytest.raises(InputError, match="lacks"):
        dynamic_replicates(dd, panel, post.drop_vars("tau"))


@pytest.mark.parametrize("model", ["sdm", pytest.param("sdem", marks=pytest.mark.slow)])
def test_cli_dynamic_plots_write_figures_and_report(tmp_path, model):
    import pandas as pd

    from bayes_sdm.cli import main

    w = lattice_weights(16)
    panel = simulate_dynamic(w, 6, 0.4, 0.3, -0.1, [1.0], [0.5], sigma=0.7, seed=5)
    ids = [str(u) for u in w.ids]
    rows = [{"unit": ids[i], "year": 2000 + s, "y": panel.y[s, i], "a": panel.X[s, i, 0]}
            for s in range(6) for i in range(16)]
    pd.DataFrame(rows).to_csv(tmp_path / "panel.csv", index=False)
    wm = np.asarray(w.matrix.toarray() if w.is_sparse else w.matrix)
    pd.DataFrame((wm > 0).astype(float), index=ids, columns=ids).to_csv(tmp_path / "w.csv")
    out = tmp_path / "run"
    rc = main(["--data", str(tmp_path / "panel.csv"), "--unit", "unit", "--time", "year",
               "--y", "y", "--x", "a", "--weights", str(tmp_path / "w.csv"), "--model", model,
               "--fe", "twoway", "--dynamic", "--ml", "--plots", "--draws", "40", "--tune",
               "60", "--chains", "1", "--no-progress", "--quiet", "--out", str(out)])
    assert rc in (0, 1)  # 40 draws: the diagnostics may fail; the files are written
    figs = {p.name for p in (out / "figures").glob("*.png")}
    assert figs == {"trace.png", "rank.png", "effects_forest.png", "ppc_y.png",
                    "ppc_moran.png", "rho_ml.png"}
    text = (out / "report.md").read_text()
    assert "## Parameters" in text and "figures/ppc_moran.png" in text and "long" in text
    assert (out / "report.html").exists()
