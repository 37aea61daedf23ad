"""The closed-form collapsed regional posterior (bayes_sdm.regional.closed_form): its log-density
and gradient equal the PyMC model's (the same model, term for term), the gradient equals finite
differences, the fit through the user layer picks it and agrees with the PyMC path's posterior,
and what it does not cover falls back to the PyMC model."""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from conftest import regional_fit, regional_model
from pymc.pytensorf import join_nonshared_inputs
from test_hierarchy import simulate

from bayes_sdm.errors import InputError
from bayes_sdm.regional.closed_form import CollapsedClosedForm, regional_unsupported
from bayes_sdm.sampling import ClosedFormNUTS, CompiledNUTS, regional_samplers
from bayes_sdm.spec import PriorSpec, SamplerSpec


@pytest.fixture(scope="module")
def small_panel():
    return simulate(sizes=(5, 6, 5), T=6, seed=3)


def _pymc_logp_grad(rm):
    """The PyMC model's log-density and gradient as one function of the flat unconstrained
    vector (PyTensor's FAST_COMPILE mode: quick to build, exact)."""
    m = rm.pymc_model()
    vv = list(m.value_vars)
    logp = m.logp()
    grad = pt.concatenate([g.ravel() for g in pt.grad(logp, vv)])
    point = m.initial_point()
    outs, x = join_nonshared_inputs(point, [logp, grad], vv)
    size = sum(np.size(point[v.name]) for v in vv)
    return size, pytensor.function([x], outs, mode="FAST_COMPILE")


@pytest.mark.parametrize(("model", "priors", "tau"), [
    ("sdm", None, None),
    ("sar", None, None),
    ("sdm", "flat", None),
    ("sdm", None, 0.3),
])
def test_logp_and_gradient_equal_the_pymc_model(small_panel, model, priors, tau):
    panel, w, regs = small_panel
    kw = {} if priors is None else {"priors": PriorSpec.preset(priors)}
    rm = regional_model(panel, w, regs, model=model, regional_w="full", tau=tau, graph=False,
                        **kw)
    cf = CollapsedClosedForm(rm)
    size, f = _pymc_logp_grad(rm)
    assert size == cf.n_dim
    rng = np.random.default_rng(1)
    for _ in range(6):
        x = cf.support_point + rng.normal(0, 0.7, cf.n_dim)
        lp_ref, g_ref = f(x)
        lp, g = cf.logp_and_grad(x)
        assert lp == pytest.approx(float(lp_ref), rel=1e-10, abs=1e-9)
        np.testing.assert_allclose(g, g_ref, rtol=1e-8, atol=1e-8)


def test_gradient_equals_finite_differences(small_panel):
    panel, w, regs = small_panel
    rm = regional_model(panel, w, regs, model="sdm", regional_w="full", graph=False)
    cf = CollapsedClosedForm(rm)
    x = cf.support_point + np.random.default_rng(2).normal(0, 0.5, cf.n_dim)
    _, g = cf.logp_and_grad(x)
    h = 1e-6
    fd = np.array([(cf.logp_and_grad(x + h * e)[0] - cf.logp_and_grad(x - h * e)[0]) / (2 * h)
                   for e in np.eye(cf.n_dim)])
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-5)


def test_expand_names_the_pymc_variables(small_panel):
    panel, w, regs = small_panel
    rm = regional_model(panel, w, regs, model="sdm", regional_w="full", graph=False)
    cf = CollapsedClosedForm(rm)
    out = cf.expand(cf.support_point)
    assert {"rho", "sigma", "sigma2", "beta_tau", "theta_tau"} <= set(out)
    assert out["sigma2"] == pytest.approx(out["sigma"] ** 2)
    assert out["beta_tau"].shape == (panel.K,)
    assert np.all(out["beta_tau"] > 0) and -1 < float(out["rho"]) < 1


def test_uncovered_models_keep_the_pymc_model(small_panel):
    """Block W and sampled coefficients are not covered: the PyMC model, and an explicit
    ``closed-form`` says why; the graph is built only then."""
    panel, w, regs = small_panel
    rm = regional_model(panel, w, regs, model="sdm", regional_w="block", graph=False)
    assert "block W" in regional_unsupported(rm)
    with pytest.raises(InputError, match="does not cover"):
        CollapsedClosedForm(rm)
    with pytest.warns(UserWarning, match="does not cover"):
        (cs,) = regional_samplers(rm, SamplerSpec(nuts_sampler="closed-form")).values()
    assert isinstance(cs, CompiledNUTS) and rm.model is not None
    rm = regional_model(panel, w, regs, model="sdm", regional_w="full", marginalize=False,
                        graph=False)
    assert "sampled" in regional_unsupported(rm)
    full = regional_model(panel, w, regs, model="sdm", regional_w="full", graph=False)
    (cs,) = regional_samplers(full, SamplerSpec(nuts_sampler="auto")).values()
    assert isinstance(cs, ClosedFormNUTS) and full.model is None


def test_fit_agrees_with_the_pymc_path(small_panel):
    """The same model sampled both ways: posterior means of rho, sigma, the group scales and the
    regional total effects agree within a quarter of a posterior sd (Monte Carlo error about
    0.05 sd at these sizes)."""
    panel, w, regs = small_panel
    s = dict(draws=600, tune=600, chains=2, seed=4, cores=1)
    a = regional_fit(panel, w, regs, regional_w="full",
                     sampler=SamplerSpec(nuts_sampler="closed-form", **s))
    b = regional_fit(panel, w, regs, regional_w="full",
                     sampler=SamplerSpec(nuts_sampler="nutpie-pyfunc", **s))
    assert a.idata.attrs["nuts_sampler"] == "closed-form"
    assert b.idata.attrs["nuts_sampler"] == "nutpie-pyfunc"
    pa, pb = a.idata["posterior"], b.idata["posterior"]
    for name in ("rho", "sigma", "beta_tau", "theta_tau", "beta", "effects"):
        va, vb = pa[name].values, pb[name].values
        ma, mb = va.mean(axis=(0, 1)), vb.mean(axis=(0, 1))
        sd = np.maximum(va.std(axis=(0, 1)), 1e-12)
        assert np.max(np.abs(ma - mb) / sd) < 0.25, name


def test_pooled_regional_models_use_the_pooled_closed_form(small_panel):
    """Complete pooling is one pooled model and no pooling under block W one per region: both
    on :mod:`bayes_sdm.closed_form`, with no PyMC graph built."""
    panel, w, regs = small_panel
    comp = regional_model(panel, w, regs, model="sdm", regional_w="block", pooling="complete",
                          graph=False)
    (cs,) = regional_samplers(comp, SamplerSpec(nuts_sampler="closed-form")).values()
    assert isinstance(cs, ClosedFormNUTS) and comp.model is None
    sep = regional_model(panel, w, regs, model="sdm", regional_w="block", pooling="none",
                         graph=False)
    per_region = regional_samplers(sep, SamplerSpec(nuts_sampler="auto"))
    assert list(per_region) == list(sep.regions.names)
    assert all(isinstance(c, ClosedFormNUTS) for c in per_region.values())
    assert sep.region_models is None
