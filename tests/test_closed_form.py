"""The closed-form pooled posterior (bayes_sdm.closed_form) and its nutpie sampler
(bayes_sdm.closed_form_nuts): log-density and gradient equal the PyMC model's, term for term, in
the unconstrained space; the gradient equals finite differences; NUTS on it agrees with the
exact sampler; models it does not cover fall back to the PyMC model and say so."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import random_panel

from bayes_sdm.api import prepare
from bayes_sdm.closed_form import ClosedFormModel, unsupported
from bayes_sdm.logdet.base import LogDet
from bayes_sdm.logdet.block import BlockLogDet
from bayes_sdm.logdet.chebyshev import ChebyshevLogDet
from bayes_sdm.logdet.eigen import EigenLogDet
from bayes_sdm.spec import PriorSpec, SamplerSpec
from bayes_sdm.weights import make_weights

N, T = 16, 4


def _directed_ring_w():
    """A row-standardised W with complex eigenvalues (a directed ring with a chord)."""
    c = np.zeros((N, N))
    for i in range(N):
        c[i, (i + 1) % N], c[i, (i - 1) % N], c[i, (i + 5) % N] = 0.8, 0.2, 0.1
    return make_weights(c, tuple(range(N)))


def _logdet(kind, w):
    if kind == "eigen":
        return EigenLogDet(np.linalg.eigvals(np.asarray(w.matrix.toarray()
                                                        if hasattr(w.matrix, "toarray")
                                                        else w.matrix)))
    if kind == "eigen+cheb":
        return EigenLogDet(EigenLogDet(np.linalg.eigvals(_dense(w))).eigenvalues,
                           symbolic="chebyshev")
    if kind == "chebyshev":
        return ChebyshevLogDet(w, cache=False)
    if kind == "block":
        return BlockLogDet([EigenLogDet(np.linalg.eigvals(_dense(w))),
                            ChebyshevLogDet(w, cache=False)])
    raise AssertionError(kind)


def _dense(w):
    m = w.matrix
    return np.asarray(m.toarray() if hasattr(m, "toarray") else m)


FLAT = {"dist": "flat"}
#: (family, fe, intercept, W kind, log-det, priors): every family, FE type, prior kind and
#: log-determinant form appears at least once
CASES = [
    ("sdm", "twoway", True, "sym", "eigen", PriorSpec()),
    ("sar", "unit", True, "directed", "eigen", PriorSpec.preset("flat")),
    ("sem", "time", True, "sym", "eigen",
     PriorSpec(rho={"dist": "beta", "alpha": 2.0, "beta": 3.0},
               sigma={"dist": "exponential", "scale": 2.0})),
    ("sdem", "none", True, "directed", "eigen",
     PriorSpec(beta=FLAT, sigma={"dist": "flat_sigma2"})),
    ("slx", "twoway", True, "sym", "eigen", PriorSpec()),
    ("sdm", "none", True, "sym", "chebyshev",
     PriorSpec(beta={"dist": "normal", "scale": 1.5, "mu": 0.3})),
    ("sem", "twoway", True, "sym", "chebyshev", PriorSpec.preset("flat")),
    ("sar", "twoway", True, "sym", "eigen+cheb",
     PriorSpec(rho={"dist": "beta", "alpha": 1.5, "beta": 1.2})),
    ("sdm", "unit", True, "sym", "block", PriorSpec(sigma={"dist": "jeffreys"})),
    ("sem", "none", False, "directed", "eigen", PriorSpec(theta=FLAT)),
    ("slx", "none", True, "sym", "eigen", PriorSpec.preset("flat")),
    ("sdem", "time", True, "sym", "eigen+cheb", PriorSpec(theta=FLAT)),
]


def _prepared(model, fe, intercept, wkind, ldkind):
    p, w = random_panel(n=N, t=T, k=2, seed=3)
    if wkind == "directed":
        w = _directed_ring_w()
    return prepare(p, w, model, fe, logdet=_logdet(ldkind, w), intercept=intercept)


def _pymc_logp_dlogp(prep, priors):
    """The PyMC model's log-density and gradient in its value variables, as one function of
    the flat unconstrained vector (no graph rewriting: fast to compile, same numbers)."""
    import pytensor
    import pytensor.tensor as pt
    from pytensor.compile.mode import Mode

    from bayes_sdm.pymc_models import build_model

    m = build_model(prep.stats, prep.logdet, prep.family, priors)
    values = list(m.value_vars)
    lp = m.logp()
    grads = pt.grad(lp, values)
    fn = pytensor.function(values, [lp, *grads], mode=Mode(linker="py", optimizer=None))
    point = m.initial_point()
    shapes = [np.shape(point[v.name]) for v in values]

    def f(x):
        args, i = [], 0
        for s in shapes:
            n = int(np.prod(s))
            args.append(np.asarray(x[i:i + n]).reshape(s))
            i += n
        out = fn(*args)
        return float(out[0]), np.concatenate([np.ravel(g) for g in out[1:]])

    return f, [v.name for v in values]


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-{c[1]}-{c[3]}-{c[4]}" for c in CASES])
def test_logp_and_gradient_equal_pymc(case):
    model, fe, intercept, wkind, ldkind, priors = case
    prep = _prepared(model, fe, intercept, wkind, ldkind)
    cf = ClosedFormModel(prep.stats, prep.logdet, prep.family, priors)
    ref, names = _pymc_logp_dlogp(prep, priors)
    assert cf.n_dim == sum(1 if n not in ("beta", "theta") else prep.stats.K for n in names)
    rng = np.random.default_rng(7)
    for _ in range(20):
        x = cf.support_point + rng.normal(0.0, 0.7, cf.n_dim)
        lp0, g0 = ref(x)
        lp1, g1 = cf.logp_and_grad(x)
        assert lp1 == pytest.approx(lp0, rel=1e-9, abs=1e-9)
        np.testing.assert_allclose(g1, g0, rtol=1e-9, atol=1e-9 * max(1.0, np.abs(g0).max()))


@pytest.mark.parametrize("case", [CASES[0], CASES[3], CASES[5], CASES[7]],
                         ids=["sdm-eigen", "sdem-intercept-complex", "sdm-cheb", "sar-beta"])
def test_gradient_equals_finite_differences(case):
    model, fe, intercept, wkind, ldkind, priors = case
    prep = _prepared(model, fe, intercept, wkind, ldkind)
    cf = ClosedFormModel(prep.stats, prep.logdet, prep.family, priors)
    rng = np.random.default_rng(11)
    for _ in range(5):
        x = cf.support_point + rng.normal(0.0, 0.5, cf.n_dim)
        _, g = cf.logp_and_grad(x)
        h = 1e-6
        fd = np.array([(cf.logp_and_grad(x + h * e)[0] - cf.logp_and_grad(x - h * e)[0]) / (2 * h)
                       for e in np.eye(cf.n_dim)])
        np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-5 * max(1.0, np.abs(g).max()))


def test_expansion_names_dims_and_values():
    prep = _prepared("sdm", "none", True, "sym", "eigen")
    priors = PriorSpec(rho={"dist": "beta", "alpha": 2.0, "beta": 2.0},
                       sigma={"dist": "jeffreys"})
    cf = ClosedFormModel(prep.stats, prep.logdet, prep.family, priors)
    x = cf.support_point + 0.3
    out = cf.expand(x)
    assert set(out) == {"beta", "theta", "intercept", "rho", "rho_unit", "sigma", "sigma2",
                        "log_sigma2"}
    assert cf.dims == {"beta": ("coef",), "theta": ("coef",)}
    lo, hi = prep.logdet.interval
    u = 1.0 / (1.0 + np.exp(-x[0]))
    assert out["rho_unit"] == pytest.approx(u)
    assert out["rho"] == pytest.approx(lo + (hi - lo) * u)
    assert out["sigma2"] == pytest.approx(np.exp(x[5]))
    assert out["sigma"] == pytest.approx(np.exp(0.5 * x[5]))
    np.testing.assert_array_equal(out["beta"], x[1:3])
    assert out["intercept"] == x[6]


def test_nuts_agrees_with_exact_sampler(cigar):
    """cigar two-way SDM under flat priors: closed-form NUTS (4 x 1,000) against the exact
    sampler's independent draws; means within 4 Monte Carlo standard errors, sds within 10%."""
    from bayes_sdm.sampling import compile_sampler

    prep = prepare(*cigar, "sdm", "twoway")
    flat = PriorSpec.preset("flat")
    cs = compile_sampler(prep, SamplerSpec(draws=1000, tune=600, seed=5), flat)
    assert cs.name == "closed-form"
    nuts = cs.sample()
    assert nuts.attrs["nuts_sampler"] == "closed-form"
    assert int(nuts["sample_stats"]["diverging"].sum()) == 0
    again = compile_sampler(prep, SamplerSpec(draws=1000, tune=600, seed=5, cores=1),
                            flat).sample()  # the same draws on one thread
    np.testing.assert_array_equal(again["posterior"]["rho"], nuts["posterior"]["rho"])
    exact = compile_sampler(prep, SamplerSpec(kind="exact", draws=2000, seed=5), flat).sample()
    pn, pe = nuts["posterior"], exact["posterior"]
    assert set(pn.data_vars) >= {"rho", "beta", "theta", "sigma", "sigma2"}
    assert pn["beta"].dims == ("chain", "draw", "coef")
    assert list(pn["beta"].coords["coef"].values) == list(pe["beta"].coords["coef"].values)
    for name in ("rho", "beta", "theta", "sigma2"):
        a = np.asarray(pn[name]).reshape(4000, -1)
        b = np.asarray(pe[name]).reshape(8000, -1)
        se = np.sqrt(a.var(0) / 1000 + b.var(0) / 8000)  # NUTS ESS >= 1,000 here
        assert np.all(np.abs(a.mean(0) - b.mean(0)) < 4 * se), name
        np.testing.assert_allclose(a.std(0), b.std(0), rtol=0.1, err_msg=name)


class _OtherLogDet(LogDet):
    """A log-determinant method the closed form does not know."""

    method = "other"

    def __init__(self, inner):
        self.inner, self.n, self.interval = inner, inner.n, inner.interval

    def value(self, rho):
        return self.inner.value(rho)

    def deriv(self, rho):
        return self.inner.deriv(rho)

    def symbolic(self, rho):
        return self.inner.symbolic(rho)


def test_fallback_to_pymc_model_says_so(cigar):
    from bayes_sdm.sampling import CompiledNUTS, compile_sampler

    sac = prepare(*cigar, "sac", "twoway")
    assert "two spatial parameters" in unsupported(sac.stats, sac.logdet, sac.family,
                                                    PriorSpec())
    with pytest.warns(UserWarning, match="closed-form sampler does not cover sac"):
        cs = compile_sampler(sac, SamplerSpec(nuts_sampler="closed-form"))
    assert isinstance(cs, CompiledNUTS) and cs.name == "nutpie-pyfunc"
    with warnings.catch_warnings():  # auto takes the PyMC model without a word
        warnings.simplefilter("error")
        assert isinstance(compile_sampler(sac, SamplerSpec()), CompiledNUTS)
    sdm = prepare(*cigar, "sdm", "twoway")
    other = prepare(*cigar, "sdm", "twoway", logdet=_OtherLogDet(sdm.logdet))
    assert unsupported(other.stats, other.logdet, other.family, PriorSpec()) == \
        "the other log-determinant"
    with pytest.warns(UserWarning, match="other log-determinant"):
        assert isinstance(compile_sampler(other, SamplerSpec(nuts_sampler="closed-form")),
                          CompiledNUTS)
    assert compile_sampler(sdm, SamplerSpec()).name == "closed-form"
    from bayes_sdm.pymc_models import build_model

    with pytest.warns(UserWarning, match="covers prepared pooled models, not a PyMC model"):
        cs = compile_sampler(build_model(sdm.stats, sdm.logdet, sdm.family),
                             SamplerSpec(nuts_sampler="closed-form"))
    assert cs.name == "nutpie-pyfunc"


def test_closed_form_fit_imports_neither_pymc_nor_pytensor(tmp_path):
    """A pooled fit through the public API in a fresh process: PyMC and PyTensor stay out."""
    import os
    import subprocess
    import sys

    from conftest import ROOT

    code = ("import sys\n"
            "from bayes_sdm.api import prepare, fit\n"
            "from bayes_sdm.datasets import load_dataset\n"
            "from bayes_sdm.spec import SamplerSpec\n"
            "ds = load_dataset('cigar')\n"
            "res = fit(prepare(ds.panel(), ds.weights, 'sdm', 'twoway'),\n"
            "          sampler=SamplerSpec(draws=100, tune=100), progressbar=False)\n"
            "assert res.attrs['nuts_sampler'] == 'closed-form'\n"
            "print(sorted(m for m in ('pymc', 'pytensor') if m in sys.modules))\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_untested_nutpie_release_falls_back(cigar, monkeypatch):
    """The closed form drives nutpie's internal C-callback interface: under a nutpie release it
    was not tested with, ``auto`` samples the PyMC model, and an explicit ``closed-form`` says
    why."""
    from bayes_sdm import sampling

    prep = prepare(*cigar, "sdm", "twoway")
    args = (prep.stats, prep.logdet, prep.family, PriorSpec())
    monkeypatch.setattr(sampling, "_nutpie_version", lambda: "0.99.0")
    assert sampling._closed_form(*args, SamplerSpec(nuts_sampler="auto")) is None
    with pytest.warns(UserWarning, match="nutpie 0.99.0"):
        assert sampling._closed_form(*args, SamplerSpec(nuts_sampler="closed-form")) is None
    monkeypatch.setattr(sampling, "_nutpie_version", lambda: "0.16.11")
    assert isinstance(sampling._closed_form(*args, SamplerSpec(nuts_sampler="auto")),
                      sampling.ClosedFormNUTS)
