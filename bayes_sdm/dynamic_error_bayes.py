"""The Bayesian dynamic spatial error panel (SEM / SDEM, the model of
:mod:`bayes_sdm.dynamic_error`) with correlated random effects.  Builds the PyMC model; never
samples.

Unit effects.  As for the lag families (:mod:`bayes_sdm.dynamic_bayes`), the unit effects are
correlated random effects conditional on the first period (Wooldridge 2005; Chamberlain 1982 /
Mundlak 1978), here inside the spatial filter -- the effects and the errors share it,
u_t = (I - lam W)^{-1}(mu + alpha_t + eps_t), the Kapoor, Kelejian & Prucha (2007) placement,
which for fixed effects is only a relabelling mu -> (I - lam W) mu --
with mu_i = psi'h_i + a_i, h_i = (y_i0, (W y_0)_i, xbar_i, (W xbar)_i [, 1 without time
effects]), a_i ~ N(0, sigma_mu^2).  With B = I - lam W* the filtered residual
r_t = B (y_t - tau y_{t-1} - eta W y_{t-1} - X_t beta - W X_t theta) - psi'h = a + eps_t
(time effects removed by F_N'), so integrating a out exactly splits the likelihood into a
within part (variance sigma^2, n (T' - 1) terms) and a between part (the time means,
variance sigma^2 + T' sigma_mu^2, n terms)::

    l = T' log|B| - n(T'-1)/2 log(2 pi sigma^2) - SSE_w / (2 sigma^2)
        - n/2 log(2 pi (sigma^2 + T' sigma_mu^2)) - T' SSE_b / (2 (sigma^2 + T' sigma_mu^2))

with SSE_w = c'G c (c = [a, -lam a] of :func:`bayes_sdm.dynamic_error.residual_coef`) and
SSE_b = cb'G_b cb, cb = [c, -psi] on the between columns (``DynamicErrorData.zb``); both Gram
matrices are computed once, an evaluation costs O(K^2) plus the O(N) log-determinant.

Stationarity: the autoregressive polynomial is A = tau I + eta W (no rho), whose eigenvalues
tau + eta omega lie in (-1, 1) for every eigenvalue omega of W in [omega_min, 1] iff
|tau + eta| < 1 and |tau + eta omega_min| < 1: (tau, eta) uniform on that parallelogram, sampled
through u1 = tau + eta and u2 = tau + eta omega_min, each a scaled Uniform(0, 1)
(``stationary_unit``; the area is constant, so no correction term).  lambda has the spec's rho
prior on its admissible interval.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from .dynamic_error import DynamicErrorData, residual_coef
from .errors import InputError
from .likelihood import prior_scale_refs
from .pymc_models import coef_prior, sigma_prior, spatial_prior
from .spec import PriorSpec


def error_cre_terms(dd: DynamicErrorData) -> list[str]:
    """Names of the correlated-random-effects coefficients psi."""
    out = ["y0", "W*y0", *[f"mean({x})" for x in dd.x_names],
           *[f"mean(W*{x})" for x in dd.x_names]]
    if not dd.time_fe:
        out.append("const")
    return out


def error_cre_loglik(dd: DynamicErrorData, lam, tau, eta, beta, theta, sigma2, psi, sigma_mu,
                     xp=np):
    """The log-likelihood of the module docstring, numpy or PyTensor (``xp``)."""
    if xp is np:
        c = residual_coef(dd, lam, tau, eta, beta, theta if dd.family.durbin else None)
        sse_w = c @ dd.gram @ c
        ld = dd.logdet.value(lam)
    else:
        one = pt.ones((1,))
        a = pt.concatenate([one, -tau * one, -eta * one, -beta,
                            *([-theta] if dd.family.durbin else [])])
        c = pt.concatenate([a, -lam * a])
        sse_w = pt.dot(c, pt.dot(pt.as_tensor(dd.gram), c))
        ld = dd.logdet.symbolic(lam)
    if dd.time_fe:
        ld = ld - xp.log1p(-lam)
    n, t = dd.n, dd.t
    cb = xp.concatenate([c, -psi])
    sse_b = cb @ dd.gram_b @ cb if xp is np else pt.dot(cb, pt.dot(pt.as_tensor(dd.gram_b), cb))
    vb = sigma2 + t * sigma_mu**2
    return (t * ld - 0.5 * n * (t - 1) * xp.log(2 * np.pi * sigma2) - sse_w / (2 * sigma2)
            - 0.5 * n * xp.log(2 * np.pi * vb) - t * sse_b / (2 * vb))


def build_dynamic_error_model(dd: DynamicErrorData, priors: PriorSpec | None = None,
                              mutable: bool = False) -> pm.Model:
    """The PyMC model (module docstring).  Free variables ``lambda``, ``stationary_unit``
    (deterministic ``tau``, ``eta``), ``beta[coef]``, ``theta[coef]`` (SDEM), ``sigma``,
    ``psi[cre_term]``, ``sigma_mu``; the likelihood is the ``pm.Potential`` ``loglik``.
    ``mutable``: the Gram matrices as ``pm.Data`` ``gram`` and ``gram_b`` (compiled once for
    simulation-based calibration, :mod:`bayes_sdm.sbc.dynamic`).

    Raises
    ------
    InputError
        data without unit effects (the correlated random effects replace them).
    """
    if dd.zb is None:
        raise InputError("correlated random effects replace unit effects: use fe 'unit' or "
                         "'twoway'")
    priors = priors or PriorSpec()
    priors.validate()
    ysd, bref, tref = prior_scale_refs(dd)
    coords = {"coef": list(dd.x_names), "cre_term": error_cre_terms(dd)}
    omega_min = 1.0 / dd.logdet.interval[0]
    p2 = 2 * dd.p
    hsd = np.maximum(dd.zb[:, p2:].std(axis=0), 1e-12)
    if not dd.time_fe:
        hsd[-1] = 1.0
    bsd = max(float(dd.zb[:, 0].std()), 1e-12)
    with pm.Model(coords=coords) as m:
        if mutable:
            dd = dataclasses.replace(dd, gram=pm.Data("gram", dd.gram),
                                     gram_b=pm.Data("gram_b", dd.gram_b))
        lam = spatial_prior("lambda", priors.rho, dd.interval)
        b = pm.Uniform("stationary_unit", 0.0, 1.0, shape=2)
        u1, u2 = 2.0 * b[0] - 1.0, 2.0 * b[1] - 1.0
        eta = pm.Deterministic("eta", (u1 - u2) / (1.0 - omega_min))
        tau = pm.Deterministic("tau", u1 - eta)
        beta = coef_prior("beta", priors.beta, bref)
        theta = None
        if dd.family.durbin:
            theta = coef_prior("theta", priors.theta, tref)
        _, sigma2 = sigma_prior(priors.sigma, ysd)
        psi = pm.Normal("psi", 0.0, 2.5 * bsd / hsd, dims="cre_term")
        sigma_mu = pm.HalfNormal("sigma_mu", sigma=2.5 * bsd)
        pm.Potential("loglik", error_cre_loglik(dd, lam, tau, eta, beta, theta, sigma2, psi,
                                                sigma_mu, xp=pt))
    return m
