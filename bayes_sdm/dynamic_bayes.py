"""Bayesian dynamic spatial panels (SAR / SDM, the model of :mod:`bayes_sdm.dynamic`).  Builds
PyMC models and turns their draws into short- and long-run effects; never samples.

Stationarity.  The prior is restricted to the stationary region: with a row-standardised W whose
eigenvalues omega are real in [omega_min, 1], the process is stable when every eigenvalue
(tau + eta omega)/(1 - rho omega) of A = (I - rho W)^{-1}(tau I + eta W) lies in (-1, 1)
(Elhorst 2014, sec. 4.2; Debarsy, Ertur & LeSage 2012).  Both sides being linear in omega, the
condition is |tau + eta omega| < 1 - rho omega at omega = omega_min and omega = 1, four linear
inequalities It is weaker than |tau| + |rho| + |eta| < 1 (the cigar estimates,
tau + |rho| + |eta| = 1.1, satisfy it).  The prior: rho on its admissible interval (the spec's
``priors.rho``) and (tau, eta) given rho uniform on the stationary region, sampled without a hard
wall through the coordinates u1 = tau + eta in +-(1 - rho) and u2 = tau + eta omega_min in
+-(1 - rho omega_min) (each a scaled Uniform(0, 1), variable ``stationary_unit``), with the
region's area cancelled by a Potential so that p(rho, tau, eta) = p(rho) x const on the region.
The restricted form (eta = -tau rho) has A = tau I: tau ~ Uniform(-1, 1).

The unit effects (``mu=``):

``cre`` (default): correlated random effects, Chamberlain (1982) / Mundlak (1978) in the form of
    Wooldridge (2005, J. Applied Econometrics 20:39-54) for dynamic panels: conditional on the
    first period, mu_i = psi_0 + psi_y0 y_i0 + psi_wy0 (W y_0)_i + xbar_i' psi_x +
    (W xbar)_i' psi_wx + a_i with a_i ~ N(0, sigma_mu^2) (the spatial lags of y_0 and xbar enter
    because the initial value of a spatial process depends on its neighbours' effects).  a is
    integrated out exactly: with an orthonormal transform over the T' periods the likelihood splits
    into the within part (the unit-FE Gram matrix, variance sigma^2, n(T'-1) terms) and the
    between part (the time means, variance sigma^2 + T' sigma_mu^2, n terms)::

        l = T' log|I - rho W*| - n(T'-1)/2 log(2 pi sigma^2) - SSE_w / (2 sigma^2)
            - n/2 log(2 pi (sigma^2 + T' sigma_mu^2)) - T' SSE_b / (2 (sigma^2 + T' sigma_mu^2))

    (W* and n as in :mod:`bayes_sdm.dynamic`; time effects are removed by F_N').  This uses the
    between variation that the within transform discards and conditions on the initial period
    instead of differencing it away, so it has no O(1/T) incidental-parameter (Nickell) bias:
    the fixed-T consistency argument of Wooldridge (2005).  Both Gram matrices are computed
    once; an evaluation is O(K^2) plus the O(N) log-determinant.
``fixed``: the within (fixed-effects) likelihood of :mod:`bayes_sdm.dynamic` (the Yu-de Jong-Lee
    QML likelihood; its flat-prior posterior mode is the uncorrected QML).  It inherits the
    Nickell bias -- kept as the reference a calibration check must reject.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from .dynamic import DynamicData, dynamic_effects
from .effects import EFFECTS
from .errors import InputError
from .likelihood import prior_scale_refs
from .pymc_models import coef_prior, sigma_prior, spatial_prior
from .spec import PriorSpec

MU_MODELS = ("cre", "fixed")


def cre_terms(dd: DynamicData) -> list[str]:
    """Names of the correlated-random-effects coefficients psi."""
    out = ["y0", "W*y0", *[f"mean({x})" for x in dd.x_names],
           *[f"mean(W*{x})" for x in dd.x_names]]
    if not dd.time_fe:
        out.append("const")
    return out


def dynamic_loglik(dd: DynamicData, rho, tau, eta, beta, theta, sigma2, psi=None,
                   sigma_mu=None, xp=np):
    """The log-likelihood of the Bayesian dynamic model in numpy or PyTensor (``xp``): the
    within (fixed-effects) likelihood without ``psi``, else the correlated-random-effects one
    (module docstring).  ``theta`` is ignored for SAR; ``eta`` for the restricted form."""
    k = dd.K
    n, t = dd.n, dd.t
    if dd.restricted:
        eta = -tau * rho
    if theta is None or not dd.family.durbin:
        theta = np.zeros(k) if xp is np else pt.zeros((k,))
    one = np.ones(1) if xp is np else pt.ones((1,))
    c = xp.concatenate([one, -rho * one, -tau * one, -eta * one, -beta, -theta])
    sse_w = c @ dd.gram @ c if xp is np else pt.dot(c, pt.dot(pt.as_tensor(dd.gram), c))
    ld = dd.logdet.value(rho) if xp is np else dd.logdet.symbolic(rho)
    if dd.time_fe:
        ld = ld - xp.log1p(-rho)
    jac = t * ld
    if psi is None:
        return -0.5 * n * t * xp.log(2 * np.pi * sigma2) + jac - sse_w / (2 * sigma2)
    p = 4 + 2 * k
    cb = xp.concatenate([c[:4], c[4:p] - psi[2:2 + 2 * k], -psi[:2], -psi[2 + 2 * k:]])
    sse_b = cb @ dd.gram_b @ cb if xp is np else pt.dot(cb, pt.dot(pt.as_tensor(dd.gram_b),
                                                                   cb))
    vb = sigma2 + t * sigma_mu**2
    return (jac - 0.5 * n * (t - 1) * xp.log(2 * np.pi * sigma2) - sse_w / (2 * sigma2)
            - 0.5 * n * xp.log(2 * np.pi * vb) - t * sse_b / (2 * vb))


def stationary(tau, rho, eta, omega_min: float, xp=np):
    """The stationarity condition (module docstring), vectorised."""
    ok = None
    for om in (omega_min, 1.0):
        lhs = tau + eta * om
        rhs = 1.0 - rho * om
        cond = (lhs < rhs) & (-lhs < rhs) if xp is np else pt.and_(pt.lt(lhs, rhs),
                                                                    pt.lt(-lhs, rhs))
        ok = cond if ok is None else ((ok & cond) if xp is np else pt.and_(ok, cond))
    return ok


def build_dynamic_model(dd: DynamicData, priors: PriorSpec | None = None,
                        mu: str = "cre", mutable: bool = False) -> pm.Model:
    """The PyMC model of a dynamic SAR / SDM panel (module docstring).

    Free variables: ``rho``, ``tau``, ``eta`` (unrestricted form; else a deterministic
    -tau rho), ``beta[coef]``, ``theta[coef]`` (SDM), ``sigma``; with ``mu="cre"`` also
    ``psi[cre_term]`` and ``sigma_mu``.  The likelihood is the ``pm.Potential`` ``loglik``.
    With ``mutable`` the Gram matrices are the ``pm.Data`` ``gram`` and ``gram_b``, so that a
    model compiled once fits other panels of the same shape (simulation-based calibration,
    :mod:`bayes_sdm.sbc.dynamic`); the prior scales stay those of ``dd``.

    Raises
    ------
    InputError
        an unknown ``mu``; ``cre`` without unit effects.
    """
    if mu not in MU_MODELS:
        raise InputError(f"unknown unit-effects model {mu!r}; choose from {MU_MODELS}")
    if mu == "cre" and dd.zb is None:
        raise InputError("correlated random effects replace unit effects: use fe 'unit' or "
                         "'twoway'")
    priors = priors or PriorSpec()
    priors.validate()
    k = dd.K
    ysd, bref, tref = prior_scale_refs(dd)
    coords = {"coef": list(dd.x_names)}
    if mu == "cre":
        coords["cre_term"] = cre_terms(dd)
    omega_min = 1.0 / dd.logdet.interval[0]
    with pm.Model(coords=coords) as m:
        if mutable:
            dd = dataclasses.replace(dd, gram=pm.Data("gram", dd.gram), gram_b=None if
                                     dd.gram_b is None else pm.Data("gram_b", dd.gram_b))
        rho = spatial_prior("rho", priors.rho, dd.interval)
        if dd.restricted:
            # eta = -tau rho: the eigenvalues of A are tau, stationary iff |tau| < 1
            tau = pm.Uniform("tau", -1.0, 1.0)
            eta = pm.Deterministic("eta", -tau * rho)
        else:
            # (tau, eta) | rho uniform on the stationary region, without a hard wall: the two
            # eigenvalue bounds as coordinates u1 = tau + eta, u2 = tau + eta omega_min
            b = pm.Uniform("stationary_unit", 0.0, 1.0, shape=2)
            u1 = (1.0 - rho) * (2.0 * b[0] - 1.0)
            u2 = (1.0 - rho * omega_min) * (2.0 * b[1] - 1.0)
            eta = pm.Deterministic("eta", (u1 - u2) / (1.0 - omega_min))
            tau = pm.Deterministic("tau", u1 - eta)
            # the region's area 4 (1 - rho)(1 - rho omega_min) cancels: p(rho, tau, eta) is
            # the rho prior times a constant on the stationary region
            pm.Potential("stationary_region", pt.log1p(-rho) + pt.log1p(-rho * omega_min))
        beta = coef_prior("beta", priors.beta, bref)
        theta = pt.zeros((k,))
        if dd.family.durbin:
            theta = coef_prior("theta", priors.theta, tref)
        sigma, sigma2 = sigma_prior(priors.sigma, ysd)
        if mu == "fixed":
            ll = dynamic_loglik(dd, rho, tau, eta, beta, theta, sigma2, xp=pt)
        else:
            zsd = np.maximum(dd.zb.std(axis=0), 1e-12)
            p = 4 + 2 * k
            scale = np.r_[zsd[p:p + 2], zsd[4:p], zsd[p + 2:]]
            bsd = max(float(zsd[0]), 1e-12)
            psi = pm.Normal("psi", 0.0, 2.5 * bsd / scale, dims="cre_term")
            sigma_mu = pm.HalfNormal("sigma_mu", sigma=2.5 * bsd)
            ll = dynamic_loglik(dd, rho, tau, eta, beta, theta, sigma2, psi, sigma_mu, xp=pt)
        pm.Potential("loglik", ll)
    return m


def effects_draws(dd: DynamicData, post):
    """Short- and long-run effects of every draw: a DataArray (chain, draw, horizon, effect,
    coef) from a posterior Dataset with rho (lambda for the error families of
    :mod:`bayes_sdm.dynamic_error_bayes`), tau, eta, beta (and theta)."""
    import xarray as xr

    rho = post["rho" if "rho" in post else "lambda"].values  # an error family: unused
    tau = post["tau"].values
    eta = post["eta"].values
    beta = post["beta"].values
    theta = post["theta"].values if dd.family.durbin else None
    rs = dd.w.row_standardized
    sums = None
    if not rs:
        from .effects import total_sums

        sums = total_sums(dd.w)
    out = np.stack([dynamic_effects(dd.family, rho, tau, eta, beta, theta, dd.logdet, h, rs,
                                    sums) for h in ("short", "long")], axis=2)
    return xr.DataArray(out, dims=("chain", "draw", "horizon", "effect", "coef"),
                        coords={"chain": post["chain"].values, "draw": post["draw"].values,
                                "horizon": ["short", "long"], "effect": list(EFFECTS),
                                "coef": list(dd.x_names)})
