"""Simulation-based calibration of the Bayesian dynamic SDM (bayes_sdm.sbc.dynamic): the prior
simulator against the model's own prior density, the compiled-once model's data swap (fast
tier); the SBC run of the correlated-random-effects model and of the within model it must
reject (slow tier)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from bayes_sdm.dynamic import prepare_dynamic
from bayes_sdm.dynamic_bayes import build_dynamic_model, stationary
from bayes_sdm.sbc.dynamic import (
    DynamicSBCConfig,
    draw_dynamic_prior,
    make_dynamic_design,
    run_dynamic_sbc,
    sbc_dynamic_priors,
    simulate_dynamic_panel,
)


def test_prior_simulator_matches_the_model_prior():
    design = make_dynamic_design(DynamicSBCConfig(N=9, T=4))
    m = design.model
    om, (lo, hi) = design.omega_min, design.interval
    # the model's prior density in rho (stationary_unit fixed) is the rho prior times the
    # region's area (1 - rho)(1 - rho om): what the simulator draws from
    f = m.compile_logp(vars=[m["rho"], m["stationary_unit"], m["stationary_region"]],
                       jacobian=False)
    pt = m.initial_point()
    rs = np.linspace(lo + 0.05, hi - 0.05, 7)
    lp = []
    for r in rs:
        pt["rho_interval__"] = np.log((r - lo) / (hi - r))
        lp.append(f(pt))
    want = np.log((1 - rs) * (1 - rs * om))
    np.testing.assert_allclose(np.diff(lp), np.diff(want), atol=1e-10)
    p = draw_dynamic_prior(design, 4000, seed=3)

    def cdf(r):
        g = lambda v: v - (1 + om) * v**2 / 2 + om * v**3 / 3  # noqa: E731
        return (g(r) - g(lo)) / (g(hi) - g(lo))

    assert stats.kstest(p["rho"], cdf).pvalue > 1e-3
    assert stationary(p["tau"], p["rho"], p["eta"], om).all()
    # (tau, eta) given rho uniform on the region: u1 = tau + eta uniform on +-(1 - rho)
    u = (p["tau"] + p["eta"]) / (1 - p["rho"])
    assert stats.kstest(u, "uniform", args=(-1, 2)).pvalue > 1e-3
    assert {"psi", "sigma_mu", "beta", "theta", "sigma2"} <= set(p)


@pytest.mark.parametrize("model", ["sdm", "sdem"])
def test_mutable_model_fits_a_new_panel(model):
    """The compiled-once model with a simulated panel's Gram matrices set has the log density
    of the model built on that panel."""
    import pymc as pm

    cfg = DynamicSBCConfig(N=9, T=4, model=model)
    design = make_dynamic_design(cfg)
    p = draw_dynamic_prior(design, 2, seed=1)
    panel = simulate_dynamic_panel(design, p, 0, np.random.default_rng(0))
    if model == "sdem":
        from bayes_sdm.dynamic_error import prepare_dynamic_error
        from bayes_sdm.dynamic_error_bayes import build_dynamic_error_model

        dd = prepare_dynamic_error(panel, design.w, "sdem", "twoway", "unrestricted", "eigen")
        ref = build_dynamic_error_model(dd, sbc_dynamic_priors())
    else:
        dd = prepare_dynamic(panel, design.w, "sdm", "twoway", "unrestricted", "eigen")
        ref = build_dynamic_model(dd, sbc_dynamic_priors(), mu="cre")
    with design.model:
        pm.set_data({"gram": dd.gram, "gram_b": dd.gram_b})
    ll_mut = design.model.compile_logp(vars=[design.model["loglik"]])
    ll_ref = ref.compile_logp(vars=[ref["loglik"]])
    pt = design.model.initial_point()
    pt["rho_interval__" if model == "sdm" else "lambda_interval__"] = 0.3
    assert np.isfinite(ll_mut(pt))
    np.testing.assert_allclose(ll_mut(pt), ll_ref(pt), rtol=1e-10)


@pytest.mark.slow
def test_dynamic_sbc_passes_and_the_within_model_fails():
    ranks, table, info = run_dynamic_sbc(DynamicSBCConfig(n_sims=100))
    assert info["passed"], table
    _, bad, info_bad = run_dynamic_sbc(DynamicSBCConfig(n_sims=100, mu="fixed"))
    assert not info_bad["passed"]
    assert "tau" in set(bad.loc[~bad["passed"], "quantity"])


@pytest.mark.slow
def test_dynamic_sdem_sbc_passes():
    ranks, table, info = run_dynamic_sbc(DynamicSBCConfig(n_sims=100, model="sdem"))
    assert info["passed"], table


def test_sbc_command_runs_the_dynamic_pair(tmp_path, monkeypatch):
    """``python -m bayes_sdm.sbc --which dynamic`` runs the CRE model and the wrong within
    version with the command's settings, writes their ranks and uniformity tables, and exits 0
    only when the first is calibrated and the second is not (the sampling itself is the slow
    test above; here run_dynamic_sbc is replaced by a recorder)."""
    import pandas as pd

    from bayes_sdm.sbc import cli, dynamic

    seen = []

    def fake(cfg, progress=False):
        seen.append(cfg)
        table = pd.DataFrame({"quantity": ["tau"], "passed": [cfg.mu == "cre"]})
        return (pd.DataFrame({"tau": [1, 2]}), table,
                {"passed": cfg.mu == "cre", "wall_s": 0.1, "divergences": 0})

    monkeypatch.setattr(dynamic, "run_dynamic_sbc", fake)
    rc = cli._run(["--which", "dynamic", "--sims", "7", "--N", "9", "--T", "5",
                   "--out", str(tmp_path)])
    assert rc == 0
    assert [c.mu for c in seen] == ["cre", "fixed"]
    assert all(c.n_sims == 7 and c.N == 9 and c.T == 5 for c in seen)
    for mu in ("cre", "fixed"):
        assert (tmp_path / f"dynamic-sdm-{mu}" / "ranks.csv").exists()
        assert (tmp_path / f"dynamic-sdm-{mu}" / "uniformity.csv").exists()

    def broken_cre(cfg, progress=False):
        r, t, info = fake(cfg)
        return r, t, {**info, "passed": False}

    monkeypatch.setattr(dynamic, "run_dynamic_sbc", broken_cre)
    assert cli._run(["--which", "dynamic", "--sims", "2", "--out", str(tmp_path)]) == 1
