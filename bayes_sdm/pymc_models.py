"""PyMC models of the spatial panel family.  Builds graphs; never samples.

:func:`build_model` turns prepared sufficient statistics, a log-determinant and a spec's priors
into a ``pm.Model`` whose likelihood is the Lee-Yu log-likelihood of :mod:`bayes_sdm.likelihood`
added as a ``pm.Potential`` named ``loglik`` (the Gaussian likelihood written once, evaluated
from the Gram matrix in O(K^2) plus the O(N) eigenvalue log-determinant).

Dims and coords (the contract in ARCHITECTURE.md): ``coef`` = regressor names.
Free variables: ``rho`` (``lambda`` for error models), ``beta[coef]``, ``theta[coef]`` (Durbin
models), ``sigma``; deterministic ``sigma2``.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from .errors import InputError
from .likelihood import DURBIN_MODELS, ERROR_MODELS, SufficientStats, loglik
from .logdet import LogDet
from .spec import PriorSpec


def spatial_name(model: str) -> str | None:
    """Name of the spatial parameter: ``rho`` (lag), ``lambda`` (error), None (SLX/OLS)."""
    if model in ("sdm", "sar"):
        return "rho"
    if model in ERROR_MODELS:
        return "lambda"
    return None


def coef_prior(name: str, prior: dict, scale_ref: np.ndarray, dims: str = "coef"):
    """beta / theta prior: Normal(mu, scale * scale_ref) or flat."""
    if prior["dist"] == "flat":
        return pm.Flat(name, dims=dims)
    sd = prior.get("scale", 2.5) * scale_ref
    return pm.Normal(name, mu=prior.get("mu", 0.0), sigma=sd, dims=dims)


def spatial_prior(name: str, prior: dict, interval: tuple[float, float]):
    """rho / lambda prior on the admissible interval: uniform, or a rescaled Beta(a, b)."""
    lo, hi = interval
    if prior["dist"] == "uniform":
        return pm.Uniform(name, lower=lo, upper=hi)
    if prior["dist"] == "beta":
        u = pm.Beta(f"{name}_unit", alpha=prior.get("alpha", 1.01), beta=prior.get("beta", 1.01))
        return pm.Deterministic(name, lo + (hi - lo) * u)
    raise InputError(f"unknown prior for {name}: {prior}")


def sigma_prior(prior: dict, y_sd: float):
    """Returns (sigma, sigma2) for the error scale prior."""
    dist = prior["dist"]
    if dist == "halfnormal":
        sigma = pm.HalfNormal("sigma", sigma=prior.get("scale", 1.0) * y_sd)
    elif dist == "exponential":
        sigma = pm.Exponential("sigma", scale=prior.get("scale", 1.0) * y_sd)
    elif dist == "jeffreys":
        # p(sigma^2) propto 1/sigma^2 is flat in log sigma^2
        log_s2 = pm.Flat("log_sigma2")
        sigma = pm.Deterministic("sigma", pt.exp(0.5 * log_s2))
    elif dist == "flat_sigma2":
        s2 = pm.HalfFlat("sigma2_flat")
        sigma = pm.Deterministic("sigma", pt.sqrt(s2))
    else:
        raise InputError(f"unknown sigma prior {prior}")
    sigma2 = pm.Deterministic("sigma2", sigma**2)
    return sigma, sigma2


def build_model(stats: SufficientStats, logdet: LogDet, model: str = "sdm",
                priors: PriorSpec | None = None) -> pm.Model:
    """The PyMC model of a Gaussian spatial panel (SDM, SAR, SEM, SDEM, SLX) with Lee-Yu FE.

    Parameters
    ----------
    stats : sufficient statistics of the FE-transformed data
    logdet : log-determinant of I - rho W
    model : ``sdm`` | ``sar`` | ``sem`` | ``sdem`` | ``slx``
    priors : a :class:`~bayes_sdm.spec.PriorSpec` (default weakly informative)
    """
    priors = priors or PriorSpec()
    priors.validate()
    coords = {"coef": list(stats.x_names)}
    ysd = max(stats.y_sd, 1e-12)
    with pm.Model(coords=coords) as m:
        sname = spatial_name(model)
        rho = spatial_prior(sname, priors.rho, logdet.interval) if sname else pt.constant(0.0)
        beta = coef_prior("beta", priors.beta, ysd / np.maximum(stats.x_sd, 1e-12))
        theta = None
        if model in DURBIN_MODELS:
            theta = coef_prior("theta", priors.theta, ysd / np.maximum(stats.wx_sd, 1e-12))
        _, sigma2 = sigma_prior(priors.sigma, ysd)
        pm.Potential("loglik", loglik(stats, logdet, model, rho, beta, theta, sigma2, xp=pt))
    return m
