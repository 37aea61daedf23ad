"""Diagnostics: thresholds bite on deliberately bad chain sets; the report's keys."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bayes_sdm.diagnostics import PER_PARAMETER_COLUMNS, Thresholds, diagnose

C, D = 4, 1000


def make_idata(rho=None, energy=None, diverging=None, treedepth=None, sampler="pymc", seed=0):
    """A DataTree shaped like a fit: rho, beta[coef], theta[coef], sigma2, effects, sample_stats."""
    import arviz as az

    rng = np.random.default_rng(seed)
    post = {
        "rho": rng.normal(0.3, 0.05, (C, D)) if rho is None else rho,
        "beta": rng.normal(size=(C, D, 2)),
        "theta": rng.normal(size=(C, D, 2)),
        "sigma2": rng.gamma(50.0, 0.02, (C, D)),
        "effects": rng.normal(size=(C, D, 3, 2)),
    }
    ss = {
        "diverging": np.zeros((C, D), bool) if diverging is None else diverging,
        "energy": rng.normal(size=(C, D)) if energy is None else energy,
    }
    depth = np.full((C, D), 3) if treedepth is None else treedepth
    if sampler == "pymc":
        ss["tree_depth"] = depth
        ss["reached_max_treedepth"] = depth >= 10
    else:  # nutpie's names
        ss["depth"] = depth
        ss["maxdepth_reached"] = depth >= 10
    return az.from_dict(
        {"posterior": post, "sample_stats": ss},
        dims={"beta": ["coef"], "theta": ["coef"], "effects": ["effect", "coef"]},
        coords={"coef": ["x1", "x2"], "effect": ["direct", "indirect", "total"]},
    )


@pytest.mark.parametrize("sampler", ["pymc", "nutpie"])
def test_good_chains_pass(sampler):
    d = diagnose(make_idata(sampler=sampler))
    assert d.passed, d.failures()
    assert d.failures() == [] and d.warnings() == []
    assert list(d.per_parameter.columns) == PER_PARAMETER_COLUMNS
    # rho, sigma2, 2 beta, 2 theta, 6 effects
    assert len(d.per_parameter) == 12
    assert set(d.per_parameter["parameter"]) >= {"rho", "sigma2", "beta[x1]", "theta[x2]",
                                                  "effects[indirect, x1]"}
    assert d.max_treedepth == 3 and d.divergences == 0
    assert all(e > 1.5 for e in d.ebfmi)  # iid energy: E-BFMI ~ 2
    dd = d.to_dict()
    for key in ("passed", "max_r_hat", "min_ess_bulk", "min_ess_tail", "divergences",
                "treedepth_saturated", "ebfmi", "thresholds", "failures", "warnings",
                "parameters", "max_mcse_mean"):
        assert key in dd
    assert dd["passed"] is True and dd["max_r_hat"] < 1.01
    json.dumps(dd)  # JSON-ready (no numpy scalars, no NaN)


def test_ebfmi_matches_arviz():
    import arviz as az

    idata = make_idata(energy=np.cumsum(np.random.default_rng(1).normal(size=(C, D)), axis=1))
    ours = diagnose(idata).ebfmi
    ref = np.asarray(az.bfmi(idata)["energy"].values)
    np.testing.assert_allclose(ours, ref, rtol=1e-10)


def test_shifted_chain_fails_r_hat():
    rng = np.random.default_rng(2)
    rho = rng.normal(0.3, 0.05, (C, D))
    rho[0] += 0.2  # one chain stuck elsewhere
    d = diagnose(make_idata(rho=rho))
    assert not d.passed
    row = d.per_parameter.set_index("parameter").loc["rho"]
    assert not row["r_hat_ok"] and not row["passed"] and row["r_hat"] > 1.1
    assert any(f.startswith("rho: r_hat=") for f in d.failures())
    # other parameters still pass: the verdict is per parameter
    assert d.per_parameter.set_index("parameter").loc["beta[x1]", "passed"]


def test_autocorrelated_chain_fails_ess():
    rng = np.random.default_rng(3)
    rho = np.zeros((C, D))
    for c in range(C):
        for i in range(1, D):
            rho[c, i] = 0.995 * rho[c, i - 1] + rng.normal(scale=0.01)
    d = diagnose(make_idata(rho=rho))
    assert not d.passed
    row = d.per_parameter.set_index("parameter").loc["rho"]
    assert not row["ess_bulk_ok"] and row["ess_bulk"] < 400
    assert any("ess_bulk=" in f for f in d.failures())
    assert d.to_dict()["min_ess_bulk"] < 400


def test_divergences_fail():
    div = np.zeros((C, D), bool)
    div[1, [5, 50, 500]] = True
    d = diagnose(make_idata(diverging=div))
    assert not d.passed and d.divergences == 3
    assert any("3 divergent" in f for f in d.failures())
    assert d.to_dict()["divergences"] == 3


def test_low_ebfmi_fails():
    energy = np.cumsum(np.random.default_rng(4).normal(size=(C, D)), axis=1)  # random walk
    d = diagnose(make_idata(energy=energy))
    assert not d.passed
    assert all(e < 0.3 for e in d.ebfmi)
    assert any("E-BFMI" in f for f in d.failures())


@pytest.mark.parametrize("sampler", ["pymc", "nutpie"])
def test_treedepth_saturation_warns(sampler):
    depth = np.full((C, D), 4)
    depth[:, :100] = 10  # 10% saturated
    d = diagnose(make_idata(treedepth=depth, sampler=sampler))
    assert d.treedepth_saturated == 400 and d.max_treedepth == 10
    assert d.passed  # a warning, not a failure
    assert any("maximum tree depth" in w for w in d.warnings())
    assert d.to_dict()["treedepth_fraction"] == pytest.approx(0.1)


def test_custom_thresholds_and_no_sample_stats():
    import arviz as az

    idata = make_idata()
    assert not diagnose(idata, thresholds=Thresholds(ess_bulk=1e6)).passed
    bare = az.from_dict({"posterior": {"rho": np.random.default_rng(5).normal(size=(C, D))}})
    d = diagnose(bare)
    assert d.passed and d.divergences == 0 and d.ebfmi == []
    assert any("no HMC sample statistics" in w for w in d.warnings())


def test_short_real_fit_fails():
    """A real (too short) NUTS run on cigar fails the ESS thresholds; a failing check names the
    parameters."""
    from bayes_sdm import load_dataset, prepare
    from bayes_sdm.api import fit
    from bayes_sdm.spec import SamplerSpec

    ds = load_dataset("cigar")
    prep = prepare(ds.panel(), ds.weights, "sar", "twoway")
    res = fit(prep, sampler=SamplerSpec(draws=40, tune=100, chains=2, nuts_sampler="pymc",
                                        cores=1), progressbar=False)
    d = res.diagnostics()
    assert not d.passed
    assert any("ess_" in f for f in d.failures())
    assert len(d.ebfmi) == 2


def test_logdet_shift_fails_the_fit():
    """A recorded log-determinant shift above 0.01 posterior sd fails the fit, named."""
    idata = make_idata()
    assert diagnose(idata).logdet_shift is None and diagnose(idata).passed
    idata.attrs["logdet_posterior_shift"] = repr(0.004)
    d = diagnose(idata)
    assert d.passed and d.to_dict()["logdet_posterior_shift"] == pytest.approx(0.004)
    idata.attrs["logdet_posterior_shift"] = repr(0.05)
    d = diagnose(idata)
    assert not d.passed
    assert any("log-determinant" in f and "0.05" in f for f in d.failures())
