"""The sampler dispatch (bayes_sdm.sampling): names, errors, and the nutpie-pyfunc bridge's output
(same groups, names, dims and transforms as pm.sample; its posterior is tested against the exact
sampler in test_exact.py)."""

from __future__ import annotations

import numpy as np
import pytest

from bayes_sdm.errors import InputError
from bayes_sdm.sampling import NUTS_SAMPLERS, resolve_sampler, sample_nuts
from bayes_sdm.spec import ModelSpec, PriorSpec, SamplerSpec


def test_resolve_sampler():
    assert resolve_sampler("auto") == "nutpie-pyfunc"  # nutpie is a test dependency
    for name in ("pymc", "nutpie", "nutpie-pyfunc"):
        assert resolve_sampler(name) == name
    with pytest.raises(InputError, match="unknown NUTS sampler 'stan'"):
        resolve_sampler("stan")


def test_missing_package_named(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "numpyro" else real(name, *a))
    with pytest.raises(InputError, match=r"needs numpyro.*bayes_sdm\[jax\]"):
        resolve_sampler("numpyro")


def test_spec_refuses_unknown_sampler():
    spec = ModelSpec(sampler=SamplerSpec(nuts_sampler="gibbs"))
    with pytest.raises(InputError, match="sampler.nuts_sampler"):
        spec.validate()
    assert set(NUTS_SAMPLERS) >= {"auto", "pymc", "nutpie", "nutpie-pyfunc", "numpyro"}


@pytest.fixture(scope="module")
def small():
    from test_predictive import simulated_panel

    from bayes_sdm.likelihood import sufficient_stats
    from bayes_sdm.logdet import make_logdet

    panel, w, _ = simulated_panel(n=12, t=5, seed=3)
    return sufficient_stats(panel, w, "twoway"), make_logdet(w)


@pytest.mark.parametrize("sigma_prior", ["halfnormal", "jeffreys"])
def test_pyfunc_output_like_pm_sample(small, sigma_prior):
    """Constrained variables and deterministics only, dims from the model, nutpie's
    sample_stats, 'sampling_time' recorded; the transforms are applied exactly."""
    from bayes_sdm.pymc_models import build_model

    stats, ld = small
    priors = PriorSpec()
    priors.sigma = {"dist": sigma_prior, "scale": 1.0} if sigma_prior == "halfnormal" else {
        "dist": sigma_prior}
    m = build_model(stats, ld, "sdm", priors)
    idata = sample_nuts(m, SamplerSpec(draws=50, tune=50, chains=2, seed=1,
                                       nuts_sampler="nutpie-pyfunc"))
    post = idata["posterior"]
    expected = {"rho", "beta", "theta", "sigma", "sigma2"}
    if sigma_prior == "jeffreys":
        expected.add("log_sigma2")
    assert set(post.data_vars) == expected
    assert post["beta"].dims == ("chain", "draw", "coef")
    assert list(post["coef"].values) == list(stats.x_names)
    assert post.sizes["chain"] == 2 and post.sizes["draw"] == 50
    np.testing.assert_allclose(post["sigma2"].values, post["sigma"].values ** 2, rtol=1e-12)
    lo, hi = ld.interval
    assert np.all((post["rho"].values > lo) & (post["rho"].values < hi))
    assert np.all(post["sigma"].values > 0)
    assert "diverging" in idata["sample_stats"].data_vars
    assert post.attrs["sampling_time"] > 0


def test_pyfunc_with_observed_y_and_integer_coords():
    """The observed-y form (``build_model(panel=, w=)``, dims time x unit with integer labels)
    samples with nutpie-pyfunc; its log-density is the Potential's, so the same seed gives the
    same posterior as the Potential form."""
    from test_predictive import simulated_panel

    from bayes_sdm.likelihood import sufficient_stats
    from bayes_sdm.logdet import make_logdet
    from bayes_sdm.pymc_models import build_model

    panel, w, _ = simulated_panel(n=12, t=5, seed=3)
    stats, ld = sufficient_stats(panel, w, "twoway"), make_logdet(w)
    spec = SamplerSpec(draws=200, tune=200, chains=2, seed=5, nuts_sampler="nutpie-pyfunc")
    obs = sample_nuts(build_model(stats, ld, "sdm", panel=panel, w=w), spec)
    pot = sample_nuts(build_model(stats, ld, "sdm"), spec)
    assert obs["observed_data"]["y"].dims == ("time", "unit")
    assert list(obs["observed_data"]["time"].values) == list(panel.times)
    np.testing.assert_allclose(obs["posterior"]["rho"].values, pot["posterior"]["rho"].values,
                               rtol=1e-6)


def test_pyfunc_dims_declared_by_length():
    """A dim given by its length alone (no labels) gets 0..n-1, as with pm.sample."""
    import pymc as pm

    with pm.Model() as m:
        m.add_coord("k", length=3)
        x = pm.Normal("x", 0.0, 1.0, dims="k")
        pm.Deterministic("x2", x**2, dims="k")
    post = sample_nuts(m, SamplerSpec(draws=100, tune=100, chains=2,
                                      nuts_sampler="nutpie-pyfunc"))["posterior"]
    assert post["x"].dims == ("chain", "draw", "k") and list(post["k"].values) == [0, 1, 2]
    np.testing.assert_allclose(post["x2"].values, post["x"].values ** 2, rtol=1e-12)
