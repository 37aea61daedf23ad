"""Simulation-based calibration: the uniformity machinery, a fast run that shows the broken
(uncorrected NT-observation) likelihood is caught, and the >= 200-simulation runs (slow)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bayes_sdm.sbc import (
    SBCConfig,
    chi2_uniformity,
    ecdf_band,
    ecdf_test,
    lattice_weights,
    main,
    run_sbc,
    uniformity_table,
)


def test_lattice_weights():
    w = lattice_weights(20)
    assert w.n == 20 and w.row_standardized and w.sym_scale is not None
    np.testing.assert_allclose(w.matrix.sum(axis=1), 1.0)
    assert "4x5" in w.name
    assert ((w.matrix > 0).sum(axis=1) >= 2).all()


def test_chi2_and_ecdf_tests_bite():
    rng = np.random.default_rng(0)
    n, big_l = 200, 99
    uniform = rng.integers(0, big_l + 1, n)
    skewed = np.minimum((rng.beta(2.0, 1.0, n) * (big_l + 1)).astype(int), big_l)
    assert chi2_uniformity(uniform, big_l, 10)[1] > 0.01
    assert chi2_uniformity(skewed, big_l, 10)[1] < 1e-6
    # exactly flat counts: chi2 = 0, p = 1
    flat = np.repeat(np.arange(0, 100, 10), 20)
    assert chi2_uniformity(flat, big_l, 10) == (0.0, 1.0)
    band = ecdf_band(n, alpha=0.01, n_grid=100, n_sim=1000, seed=1)
    # coverage of the simultaneous band under uniformity is about 99%
    inside = [ecdf_test(rng.uniform(size=n), band)[1] for _ in range(300)]
    assert 0.96 <= np.mean(inside) <= 1.0
    p_skew, in_skew = ecdf_test(rng.beta(2.0, 1.0, n), band)
    assert p_skew < 0.01 and not in_skew


def test_uniformity_table_bonferroni():
    rng = np.random.default_rng(3)
    ranks = pd.DataFrame({"a": rng.integers(0, 100, 200), "b": rng.integers(0, 100, 200),
                          "c": np.minimum((rng.beta(3, 1, 200) * 100).astype(int), 99)})
    u = uniformity_table(ranks, 99, bins=10, alpha=0.01)
    assert list(u["quantity"]) == ["a", "b", "c"]
    assert u.set_index("quantity").loc[["a", "b"], "passed"].all()
    assert not u.set_index("quantity").loc["c", "passed"]
    assert {"chi2", "p_chi2", "p_ecdf", "in_band", "p_pot_c", "p_min"} <= set(u.columns)


def test_config_validation():
    from bayes_sdm.errors import InputError

    with pytest.raises(InputError, match="bins"):
        SBCConfig(n_rank_draws=98, bins=10).validate()
    with pytest.raises(InputError, match="exceeds"):
        SBCConfig(draws=10, chains=2, n_rank_draws=99).validate()
    assert main(["--which", "broken", "--fe", "none", "--sims", "2"]) == 2


FAST = dict(N=20, T=5, draws=60, tune=150, chains=2, n_rank_draws=29, bins=5,
            sampler="pymc", seed=11)


def test_fast_sbc_machinery_and_broken_model_caught(tmp_path):
    """Few simulations (PyMC's NUTS compiled once, y swapped through pm.Data): the ranks are
    in range and the table complete for the correct model; for the uncorrected likelihood
    (correction='none' with two-way effects, data from the true model with effects) the ranks
    of sigma2 are already detectably non-uniform (its posterior is shrunk by (N-1)(T-1)/NT)."""
    good = run_sbc(SBCConfig(n_sims=8, **FAST))
    assert good.ranks.shape == (8, 12)
    assert list(good.ranks.columns[:4]) == ["rho", "sigma2", "beta[x1]", "beta[x2]"]
    assert good.ranks.min().min() >= 0 and good.ranks.max().max() <= 29
    assert good.divergences.sum() <= 8
    u = good.uniformity()
    assert u.set_index("quantity").loc["sigma2", "p_chi2"] > 1e-3

    bad = run_sbc(SBCConfig(n_sims=10, correction="none", **FAST))
    ub = bad.uniformity().set_index("quantity")
    assert ub.loc["sigma2", "p_min"] < 1e-4 and ub.loc["sigma2", "p_chi2"] < 0.01
    assert ub.loc["sigma2", "mean_rank"] > 0.75  # the truth sits above the shrunk posterior
    assert not bad.passed
    assert "sigma2" in bad.to_dict()["failed_quantities"]
    files = bad.write(tmp_path / "broken")
    names = {p.name for p in files}
    assert {"ranks.csv", "uniformity.csv", "sbc.json", "rank_ecdf_sigma2.png",
            "rank_ecdf_all.png", "rank_ecdf_effects_direct_x1.png"} <= names
    d = json.loads((tmp_path / "broken" / "sbc.json").read_text())
    assert d["passed"] is False and d["n_sims"] == 10 and d["wall_s"] > 0


@pytest.mark.slow
def test_sbc_two_way_sdm_calibrated_200(tmp_path):
    """>= 200 simulations of the two-way SDM at N=20, T=5: every rank set is uniform."""
    res = run_sbc(SBCConfig(n_sims=200, sampler="nutpie"))
    res.write(tmp_path / "sdm")
    u = res.uniformity()
    print(u.to_string())
    print(res.to_dict()["wall_s"], "s")
    assert res.passed, u[~u["passed"]]
    assert (res.divergences > 0).mean() < 0.05


@pytest.mark.slow
def test_sbc_broken_likelihood_fails_200(tmp_path):
    """The uncorrected NT-observation likelihood fails SBC with 200 simulations."""
    res = run_sbc(SBCConfig(n_sims=200, sampler="nutpie", correction="none"))
    res.write(tmp_path / "broken")
    u = res.uniformity().set_index("quantity")
    assert not res.passed
    assert u.loc["sigma2", "p_min"] < 1e-10


@pytest.mark.slow
def test_sbc_command(tmp_path):
    """``python -m bayes_sdm.sbc`` (``make sbc``): exit 0 = correct calibrated, broken not."""
    rc = main(["--sims", "200", "--out", str(tmp_path)])
    assert rc == 0
    assert (tmp_path / "sdm-twoway" / "rank_ecdf_all.png").exists()
    assert (tmp_path / "sdm-twoway-broken" / "uniformity.csv").exists()


# ----------------------------------------------------------------------------- hierarchical
HIER = dict(n_sims=200, N=12, T=5, K=1, draws=100, tune=200, chains=2, sampler="pymc",
            hierarchical=True, regions=3)


def test_hier_dgp_is_each_units_own_region_convention():
    """simulate_hier_y = (I - rho W)^{-1}(X beta_(i) + (W X) theta_(i) + mu + alpha + eps): each
    unit's equation has its own region's coefficients (the hierarchy's D_g X, D_g WX)."""
    from bayes_sdm.sbc import draw_hier_prior, make_hier_design, simulate_hier_y

    d = make_hier_design(SBCConfig(**HIER))
    p = draw_hier_prior(d, 3, seed=1)
    assert p["beta"].shape == (3, 3, 1) and p["beta_tau"].shape == (3, 1)
    b, th = p["beta"][0][d.index], p["theta"][0][d.index]
    rng = np.random.default_rng(0)
    mu, alpha = rng.normal(size=12), rng.normal(size=5)
    y = simulate_hier_y(d, p["rho"][0], b, th, p["sigma"][0], mu, alpha,
                        np.random.default_rng(9))
    eps = p["sigma"][0] * np.random.default_rng(9).standard_normal((5, 12))
    wm = d.w.matrix
    a_inv = np.linalg.inv(np.eye(12) - p["rho"][0] * wm)
    x = d.X[:, :, 0]
    ref = np.stack([a_inv @ (x[t] * b[:, 0] + (wm @ x[t]) * th[:, 0] + mu + alpha[t] + eps[t])
                    for t in range(5)])
    np.testing.assert_allclose(y, ref, atol=1e-10)


def test_hier_model_effective_priors_are_fixed():
    """Whatever the scale of y, the regional model built for it has the fixed priors that
    draw_hier_prior samples from (the hierarchy scales its priors by sd(y~); SBC needs them
    independent of the data)."""
    import pymc as pm

    from bayes_sdm.sbc import HIER_SCALES, build_hier_model, make_hier_design

    d = make_hier_design(SBCConfig(**HIER))
    rng = np.random.default_rng(3)
    for scale in (0.2, 5.0):
        rm = build_hier_model(d, scale * rng.standard_normal((5, 12)))
        m = rm.model
        names = [v for v in ("beta_mean", "theta_mean", "beta_tau", "theta_tau", "sigma")
                 if v in m.named_vars]  # the means may be integrated out analytically
        assert {"beta_tau", "theta_tau", "sigma"} <= set(names)
        dr = dict(zip(names, pm.draw([m[v] for v in names], draws=6000, random_seed=4)))
        half = np.sqrt(2 / np.pi)  # E|N(0, s)| = s sqrt(2/pi)
        for base, sd in (("beta", d.x_sd), ("theta", d.wx_sd)):
            if f"{base}_mean" in dr:
                np.testing.assert_allclose(dr[f"{base}_mean"].std(0), HIER_SCALES[base] / sd,
                                           rtol=0.05)
            np.testing.assert_allclose(dr[f"{base}_tau"].mean(0),
                                       HIER_SCALES[f"{base}_tau"] / sd * half, rtol=0.05)
        assert dr["sigma"].mean() == pytest.approx(HIER_SCALES["sigma"] * half, rel=0.05)


@pytest.mark.slow
def test_sbc_hierarchical_calibrated_200(tmp_path):
    """>= 200 simulations of the full-W partially pooled regional SDM (rebuilt per simulation;
    about 5-10 s each): rho, sigma2, the hyperparameters, every beta_g, theta_g and regional
    effect have uniform ranks."""
    res = run_sbc(SBCConfig(**HIER))
    res.write(tmp_path / "hier")
    u = res.uniformity()
    print(u.to_string())
    assert res.passed, u[~u["passed"]]
