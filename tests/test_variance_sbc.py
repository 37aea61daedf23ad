"""Simulation-based calibration of the period- and unit-variance SDMs (bayes_sdm.sbc.variance):
the configuration, the simulator against the data-generating process written out here, the
wrong (ordinary within) likelihood against a dense computation, the compiled-once model's data
swap, the rank loop on known draws and one tiny run end to end (fast tier); the 200-simulation
runs of both models and of the wrong version (slow tier)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bayes_sdm.errors import InputError
from bayes_sdm.sbc.variance import (
    VarianceSBCConfig,
    draw_variance_prior,
    make_variance_design,
    panel_data,
    run_variance_sbc,
    simulate_variance_panel,
    variance_quantities,
    within_period_loglik,
)


def test_config_validation():
    with pytest.raises(InputError, match="period variances"):
        VarianceSBCConfig(variance="unit", wrong=True).validate()
    with pytest.raises(InputError, match="variance must be"):
        VarianceSBCConfig(variance="time").validate()
    with pytest.raises(InputError, match="bins"):
        VarianceSBCConfig(n_rank_draws=98).validate()
    with pytest.raises(InputError, match="exceeds the"):
        VarianceSBCConfig(draws=50, n_rank_draws=99).validate()
    with pytest.raises(InputError, match="ranked_units"):
        VarianceSBCConfig(N=6, ranked_units=7).validate()
    assert VarianceSBCConfig(variance="unit").label == "variance-unit"
    assert VarianceSBCConfig(wrong=True).label == "variance-period-within"


def _dense(design, y, rho, beta, theta):
    """(I - rho W) y_t - X_t beta - W X_t theta (T, N), written out."""
    wm = np.asarray(design.w.matrix)
    x = design.X
    return (y @ (np.eye(wm.shape[0]) - rho * wm).T - np.einsum("tnk,k->tn", x, beta)
            - np.einsum("ij,tjk,k->ti", wm, x, theta))


@pytest.mark.parametrize("variance", ["period", "unit"])
def test_simulator_is_the_models_dgp(variance):
    """y_t = (I - rho W)^{-1}(X_t beta + W X_t theta + mu + alpha_t + eps_t), eps_it with sd
    sigma_t (period) or sigma sqrt(v_i) (unit), from one random stream in the order errors,
    mu, alpha."""
    d = make_variance_design(VarianceSBCConfig(variance=variance, N=9, T=4))
    p = draw_variance_prior(d, 2, seed=3)
    panel = simulate_variance_panel(d, p, 1, np.random.default_rng(5))
    rng = np.random.default_rng(5)
    z = rng.standard_normal((4, 9))
    mu, alpha = rng.standard_normal(9), rng.standard_normal(4)
    sd = (p["sigma"][1][:, None] if variance == "period"
          else p["sigma"][1] * np.sqrt(p["v"][1])[None, :])
    r = _dense(d, panel.y, p["rho"][1], p["beta"][1], p["theta"][1])
    np.testing.assert_allclose(r, mu[None, :] + alpha[:, None] + sd * z, atol=1e-10)


def test_prior_draws_are_the_models_priors():
    """sigma_t ~ HalfNormal(sd(y~) of the reference panel) per period; v_i ~ InvGamma(2, 2)
    (r / v ~ chi^2(r), r = 4); rho uniform on the log-determinant's interval."""
    from bayes_sdm.likelihood import prior_scale_refs

    d = make_variance_design(VarianceSBCConfig(variance="unit", N=9, T=4))
    p = draw_variance_prior(d, 3000, seed=1)
    assert p["v"].shape == (3000, 9) and p["sigma"].shape == (3000,)
    assert stats.kstest(p["v"][:, 0], stats.invgamma(2.0, scale=2.0).cdf).pvalue > 1e-3
    ysd = prior_scale_refs(d.prep.stats)[0]
    assert stats.kstest(p["sigma"], stats.halfnorm(scale=ysd).cdf).pvalue > 1e-3
    lo, hi = d.prep.logdet.interval
    assert stats.kstest(p["rho"], stats.uniform(lo, hi - lo).cdf).pvalue > 1e-3
    dp = make_variance_design(VarianceSBCConfig(N=9, T=4))
    assert draw_variance_prior(dp, 5, seed=1)["sigma"].shape == (5, 4)


def test_within_loglik_is_lee_yu_at_equal_variances_and_the_dense_slip_otherwise():
    """The wrong likelihood = the two-way Lee-Yu likelihood when every sigma_t is equal; with
    unequal ones it is the period-wise normal density of the double-demeaned residuals with
    n (T-1)/T observations a period (written out here), not the correct period likelihood."""
    from bayes_sdm.likelihood import loglik
    from bayes_sdm.variances import period_loglik, period_stats

    d = make_variance_design(VarianceSBCConfig(N=12, T=5))
    p = draw_variance_prior(d, 1, seed=2)
    panel = simulate_variance_panel(d, p, 0, np.random.default_rng(1))
    from bayes_sdm import prepared

    prep = prepared.build(panel, d.w, "sdm", "twoway", logdet="eigen")
    ps = period_stats(prep)
    rho, beta, theta = 0.3, np.array([0.7]), np.array([-0.2])
    eq = np.full(5, 1.7)
    ll_w = within_period_loglik(ps, prep, rho, beta, theta, eq)
    assert ll_w == pytest.approx(loglik(prep.stats, prep.logdet, "sdm", rho, beta, theta,
                                        1.7), rel=1e-10)
    assert ll_w == pytest.approx(period_loglik(ps, prep, rho, beta, theta, eq), rel=1e-10)
    s2 = np.array([0.2, 0.5, 1.0, 2.0, 4.0])
    r = _dense(d, panel.y, rho, beta, theta)
    r = r - r.mean(axis=0, keepdims=True)
    r = r - r.mean(axis=1, keepdims=True)
    n, t = 11, 5
    wm = np.asarray(d.w.matrix)
    ld = np.linalg.slogdet(np.eye(12) - rho * wm)[1]
    want = (-0.5 * n * (t - 1) / t * np.log(2 * np.pi * s2).sum()
            - 0.5 * ((r**2).sum(axis=1) / s2).sum() + (t - 1) * (ld - np.log1p(-rho)))
    assert within_period_loglik(ps, prep, rho, beta, theta, s2) == pytest.approx(want,
                                                                                 rel=1e-10)
    assert abs(period_loglik(ps, prep, rho, beta, theta, s2) - want) > 1.0


def test_within_likelihood_shrinks_the_period_variances_the_correct_one_does_not():
    """What the wrong version gets wrong, on simulated panels: at the true coefficients the
    maximiser of the within likelihood over sigma_t^2 has expectation
    (sigma_t^2 (T-2) + mean_s sigma_s^2) / (T-1) (the time demeaning mixes the periods'
    variances, module docstring), the maximiser of the correct period likelihood is centred on
    sigma_t^2.  60 panels of the SBC design, means within 4 Monte Carlo standard errors."""
    import scipy.optimize as so

    from bayes_sdm.variances import period_loglik, period_stats

    t, sims = 5, 60
    d = make_variance_design(VarianceSBCConfig(N=16, T=t))
    s2 = np.array([0.2, 0.5, 1.0, 2.0, 4.0])
    rho, beta, theta = 0.3, np.array([0.7]), np.array([-0.2])
    p = {"rho": np.array([rho]), "beta": beta[None], "theta": theta[None],
         "sigma": np.sqrt(s2)[None]}
    rng = np.random.default_rng(0)
    est = {within_period_loglik: [], period_loglik: []}
    for _ in range(sims):
        prep = replace(d.prep, panel=simulate_variance_panel(d, p, 0, rng))
        ps = period_stats(prep)
        for f, out in est.items():
            r = so.minimize(lambda ls, f, ps, prep: -f(ps, prep, rho, beta, theta, np.exp(ls)),
                            np.zeros(t), args=(f, ps, prep), method="L-BFGS-B",
                            bounds=[(-6.0, 6.0)] * t)
            out.append(np.exp(r.x))
    shrunk = (s2 * (t - 2) + s2.mean()) / (t - 1)
    for f, want in ((within_period_loglik, shrunk), (period_loglik, s2)):
        e = np.array(est[f])
        se = e.std(axis=0, ddof=1) / np.sqrt(sims)
        assert np.all(np.abs(e.mean(axis=0) - want) < 4 * se), (f.__name__, e.mean(axis=0))
    # the shrinkage is many standard errors wide: 0.2 -> 0.535, 4 -> 3.385
    e = np.array(est[within_period_loglik])
    se = e.std(axis=0, ddof=1) / np.sqrt(sims)
    assert e.mean(axis=0)[0] - s2[0] > 10 * se[0]
    assert s2[-1] - e.mean(axis=0)[-1] > 3 * se[-1]


@pytest.mark.parametrize("variance", ["period", "unit"])
def test_mutable_model_fits_a_new_panel(variance):
    """The compiled-once model with a simulated panel's statistics set has the log density of
    the model built on that panel."""
    import pymc as pm

    from bayes_sdm import prepared
    from bayes_sdm.variances import build_period_model, build_unit_model

    cfg = VarianceSBCConfig(variance=variance, N=9, T=4)
    d = make_variance_design(cfg)
    p = draw_variance_prior(d, 1, seed=4)
    panel = simulate_variance_panel(d, p, 0, np.random.default_rng(2))
    with d.model:
        pm.set_data(panel_data(d, panel))
    prep = prepared.build(panel, d.w, "sdm", "twoway", logdet="eigen")
    ref = (build_period_model if variance == "period" else build_unit_model)(prep, cfg.priors)
    pt = d.model.initial_point()
    pt["rho_interval__"] = 0.3
    s0 = np.asarray(pt["sigma_log__"])
    pt["sigma_log__"] = s0 + np.linspace(-0.5, 0.5, s0.size).reshape(s0.shape)
    f_mut = d.model.compile_logp(vars=[d.model["loglik"]])
    f_ref = ref.compile_logp(vars=[ref["loglik"]])
    assert np.isfinite(f_mut(pt))
    np.testing.assert_allclose(f_mut(pt), f_ref(pt), rtol=1e-10)


def test_rank_loop_counts_thinned_draws_below_the_truth():
    """core.rank_loop on a stand-in sampler with known draws: the rank is the number of the
    n_rank_draws evenly thinned draws (chains stacked) below the truth; data_for is called in
    order; divergences are counted per simulation."""
    import xarray as xr

    from bayes_sdm.sbc.core import rank_loop

    calls = []

    class Fake:
        def sample(self, seed, data=None):
            calls.append((seed, data["i"]))
            a = np.arange(20.0).reshape(2, 10) + data["i"]  # chains x draws
            post = xr.Dataset({"a": (("chain", "draw"), a)})
            ss = xr.Dataset({"diverging": (("chain", "draw"), np.eye(2, 10, dtype=bool)
                                           if data["i"] else np.zeros((2, 10), bool))})
            return {"posterior": post, "sample_stats": ss}

    truth = {"a": np.array([4.5, 100.0, -1.0]), "a2": np.array([16.0, 0.0, 50.0])}
    ranks, div = rank_loop(Fake(), truth, lambda i: {"i": i},
                           lambda d: {"a": d["a"], "a2": d["a"] ** 2}, ("a", "b"),
                           seed=7, n_rank_draws=5)
    # thinned draws of 0..19 (+i) at indices 0, 5, 10, 14, 19 (linspace, rounded)
    thin = [np.array([0, 5, 10, 14, 19]) + i for i in range(3)]
    want_a = [int((thin[i] < truth["a"][i]).sum()) for i in range(3)]
    want_a2 = [int((thin[i] ** 2 < truth["a2"][i]).sum()) for i in range(3)]
    assert ranks["a"].tolist() == want_a == [1, 5, 0]
    assert ranks["a2"].tolist() == want_a2
    assert div.tolist() == [0, 2, 2]
    assert calls == [(1007, 0), (1008, 1), (1009, 2)]


def test_tiny_run_end_to_end(tmp_path):
    """Two simulations of the period-variance SBC (PyMC's NUTS, few draws): ranks in range
    for every quantity, the result's files (ranks, truth, uniformity, sbc.json, plots)."""
    cfg = VarianceSBCConfig(n_sims=2, N=9, T=4, draws=30, tune=40, n_rank_draws=29, bins=5,
                            sampler="pymc", seed=3)
    res = run_variance_sbc(cfg)
    q = ["rho", "beta[x1]", "theta[x1]", "effects[direct, x1]", "effects[indirect, x1]",
         "effects[total, x1]", "sigma2[0]", "sigma2[1]", "sigma2[2]", "sigma2[3]",
         "sigma2_mean"]
    assert list(res.ranks.columns) == q
    assert res.ranks.shape == (2, 11)
    assert res.ranks.min().min() >= 0 and res.ranks.max().max() <= 29
    d = make_variance_design(cfg)
    truth = variance_quantities(d, draw_variance_prior(d, 2, cfg.seed + 1))
    np.testing.assert_allclose(res.truth.to_numpy(), pd.DataFrame(truth).to_numpy())
    files = {p.name for p in res.write(tmp_path)}
    assert {"ranks.csv", "truth.csv", "uniformity.csv", "sbc.json", "rank_ecdf_all.png",
            "rank_ecdf_sigma2_mean.png"} <= files
    js = json.loads((tmp_path / "sbc.json").read_text())
    assert js["label"] == "variance-period" and js["n_sims"] == 2


def test_unit_quantities():
    d = make_variance_design(VarianceSBCConfig(variance="unit", N=9, T=4, ranked_units=2))
    p = draw_variance_prior(d, 3, seed=1)
    q = variance_quantities(d, p)
    assert {"sigma2", "v[u00]", "v[u01]", "sigma2_v[u01]", "v_mean"} <= set(q)
    assert "v[u02]" not in q
    np.testing.assert_allclose(q["sigma2_v[u01]"], p["sigma"] ** 2 * p["v"][:, 1])
    np.testing.assert_allclose(q["v_mean"], p["v"].mean(axis=1))


def test_sbc_command_runs_the_variance_trio(tmp_path, monkeypatch):
    """``python -m bayes_sdm.sbc --which variance`` runs the period and unit models and the
    wrong within version with the command's settings, writes their files, exits 0 only when
    the first two are calibrated and the third is not (run_variance_sbc replaced by a stand-in
    whose ranks are uniform or piled at 0)."""
    from bayes_sdm.sbc import cli, variance
    from bayes_sdm.sbc.result import SBCResult

    seen = []

    def fake(cfg, progress=False, bad=()):
        seen.append(cfg)
        rng = np.random.default_rng(0)
        good = cfg.label not in bad
        r = rng.integers(0, 100, 200) if good else np.zeros(200, int)
        return SBCResult(cfg, pd.DataFrame({"rho": r}), pd.DataFrame({"rho": r * 0.0}),
                         np.zeros(200, int), 0.1, 0.2)

    monkeypatch.setattr(variance, "run_variance_sbc",
                        lambda cfg, progress=False: fake(cfg, bad=("variance-period-within",)))
    rc = cli._run(["--which", "variance", "--sims", "7", "--N", "9", "--T", "4", "--K", "1",
                   "--sampler", "pymc", "--no-plots", "--out", str(tmp_path)])
    assert rc == 0
    assert [(c.variance, c.wrong) for c in seen] == [("period", False), ("unit", False),
                                                     ("period", True)]
    assert all(c.n_sims == 7 and c.N == 9 and c.T == 4 and c.K == 1 and c.sampler == "pymc"
               for c in seen)
    for label in ("variance-period", "variance-unit", "variance-period-within"):
        assert (tmp_path / label / "uniformity.csv").exists()
    monkeypatch.setattr(variance, "run_variance_sbc",
                        lambda cfg, progress=False: fake(cfg, bad=("variance-unit",)))
    assert cli._run(["--which", "variance", "--no-plots", "--out", str(tmp_path)]) == 1


@pytest.mark.slow
def test_period_variance_sbc_passes():
    res = run_variance_sbc(VarianceSBCConfig(n_sims=150, variance="period"))
    u = res.uniformity()
    print(u.to_string(), res.wall_s)
    assert res.passed, u[~u["passed"]]


@pytest.mark.slow
def test_unit_variance_sbc_passes():
    res = run_variance_sbc(VarianceSBCConfig(n_sims=150, variance="unit"))
    u = res.uniformity()
    print(u.to_string(), res.wall_s)
    assert res.passed, u[~u["passed"]]


@pytest.mark.slow
def test_ordinary_within_period_likelihood_fails_sbc():
    """The ordinary within transform with period variances shrinks the sigma_t^2 toward their
    mean: the ranks of the period variances are not uniform."""
    res = run_variance_sbc(VarianceSBCConfig(n_sims=150, variance="period", wrong=True))
    u = res.uniformity().set_index("quantity")
    print(u.to_string(), res.wall_s)
    assert not res.passed
    failed = set(u.index[~u["passed"]])
    assert any(q.startswith("sigma2[") for q in failed), failed
