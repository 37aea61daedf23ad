"""PyMC models of the spatial panel family.  Builds graphs; never samples.

:func:`build_model` turns prepared sufficient statistics, a log-determinant and a spec's priors
into a ``pm.Model`` whose likelihood is the Lee-Yu log-likelihood of :mod:`bayes_sdm.likelihood`
(the Gaussian likelihood written once, evaluated from the Gram matrix in O(K^2) plus the O(N)
eigenvalue log-determinant), in one of two forms:

* given the panel and W (``panel=``, ``w=``): an observed ``pm.CustomDist`` named ``y`` with dims
  ``("time", "unit")``, whose ``logp`` is that log-likelihood with the Gram matrix written
  symbolically from the observed value (PyTensor folds it to a constant when y is a constant, so
  sampling costs the same as the Potential) and whose ``random`` draws replicated panels from
  the model (:mod:`bayes_sdm.predictive`: the fixed effects at their estimates given each draw).
  ``pm.sample_prior_predictive`` / ``pm.sample_posterior_predictive`` work on this form;
* from the sufficient statistics alone: a ``pm.Potential`` named ``loglik`` (no predictive).

Dims and coords (the contract in ARCHITECTURE.md): ``coef`` = regressor names.
Free variables: ``rho`` (``lambda`` for error models), ``beta[coef]``, ``theta[coef]`` (Durbin
models), ``intercept`` (``fe="none"`` with an intercept: its SSE term,
:func:`bayes_sdm.likelihood.intercept_sse`), ``sigma``; deterministic ``sigma2``.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from . import families
from .errors import InputError
from .families import Family
from .likelihood import SufficientStats, intercept_prior_sd, loglik, prior_scale_refs
from .logdet import LogDet
from .spec import PriorSpec


def coef_prior(name: str, prior: dict, scale_ref: np.ndarray, dims: str = "coef"):
    """beta / theta prior: Normal(mu, scale * scale_ref) or flat."""
    if prior["dist"] == "flat":
        return pm.Flat(name, dims=dims)
    sd = prior.get("scale", 2.5) * scale_ref
    return pm.Normal(name, mu=prior.get("mu", 0.0), sigma=sd, dims=dims)


def intercept_prior(stats: SufficientStats, prior: dict):
    """The intercept ``intercept`` of a model with ``fe="none"`` (:mod:`bayes_sdm.intercept`):
    flat with a flat beta prior, else Normal(0, :func:`~bayes_sdm.likelihood.intercept_prior_sd`)."""
    if prior["dist"] == "flat":
        return pm.Flat("intercept")
    return pm.Normal("intercept", mu=0.0, sigma=intercept_prior_sd(stats, prior.get("scale", 2.5)))


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


def spatial_priors(family: Family, priors: PriorSpec, logdet: LogDet | None):
    """The family's spatial parameter(s) in the model in context: one variable (rho or
    lambda), a pair (rho, lambda), or the constant 0 without one.  Both use ``priors.rho``
    on the admissible interval."""
    names = family.spatial_params
    if not names:
        return pt.constant(0.0)
    out = tuple(spatial_prior(n, priors.rho, logdet.interval) for n in names)
    return out if len(out) > 1 else out[0]


def build_model(stats: SufficientStats, logdet: LogDet, model: Family | str = "sdm",
                priors: PriorSpec | None = None, *, panel=None, w=None,
                mutable_y: bool = False) -> pm.Model:
    """The PyMC model of a Gaussian spatial panel (SDM, SAR, SEM, SDEM, SLX) with Lee-Yu FE.

    Parameters
    ----------
    stats : sufficient statistics of the FE-transformed data
    logdet : log-determinant of I - rho W
    model : a :class:`~bayes_sdm.families.Family` with a Bayesian model, or its name
    priors : a :class:`~bayes_sdm.spec.PriorSpec` (default weakly informative)
    panel, w : the :class:`~bayes_sdm.panel.Panel` and weights behind ``stats``.  When given, the
        likelihood is the observed ``y`` (a ``pm.CustomDist``, dims ``("time", "unit")``) and the
        model supports prior and posterior predictive sampling; otherwise it is the
        ``pm.Potential`` ``loglik``.  Both evaluate :func:`bayes_sdm.likelihood.loglik`.
    mutable_y : with ``panel``: hold y in ``pm.Data("y_obs")`` so that it can be swapped
        (``pm.set_data``; simulation studies).  The Gram matrix is then recomputed at every
        evaluation (O(NT(N + K^2))) instead of being folded to a constant.

    Raises
    ------
    InputError
        ``panel``/``w`` that do not produce ``stats`` (a different panel, W, FE or convention).
    """
    family = families.get(model)
    if not family.bayesian:
        raise InputError(f"no Bayesian {family.name!r} model; use maximum likelihood")
    priors = priors or PriorSpec()
    priors.validate()
    if (panel is None) != (w is None):
        raise InputError("build_model: pass both panel= and w= (or neither)")
    data = None
    coords = {"coef": list(stats.x_names)}
    if panel is not None:
        data = _predictive_data_for(stats, panel, w)
        coords.update({"time": list(data.times), "unit": list(data.units)})
    ysd, bref, tref = prior_scale_refs(stats)
    with pm.Model(coords=coords) as m:
        rho = spatial_priors(family, priors, logdet)
        beta = coef_prior("beta", priors.beta, bref)
        theta = None
        if family.durbin:
            theta = coef_prior("theta", priors.theta, tref)
        sigma, sigma2 = sigma_prior(priors.sigma, ysd)
        alpha = intercept_prior(stats, priors.beta) if stats.means is not None else None
        if data is None:
            pm.Potential("loglik", loglik(stats, logdet, family, rho, beta, theta, sigma2,
                                          xp=pt, alpha=alpha))
        else:
            observed_y(stats, logdet, family, data, rho, beta, theta, sigma,
                       mutable_y=mutable_y, alpha=alpha)
    return m


def _predictive_data_for(stats: SufficientStats, panel, w):
    """PredictiveData for ``panel``/``w``, checked against ``stats`` (same Gram matrix)."""
    from .likelihood import sufficient_stats
    from .predictive import predictive_data

    if (panel.N, panel.T, tuple(panel.x_names)) != (stats.N, stats.T, tuple(stats.x_names)):
        raise InputError(f"build_model: the panel (N={panel.N}, T={panel.T}, x={panel.x_names}) "
                         f"is not the one of the sufficient statistics (N={stats.N}, "
                         f"T={stats.T}, x={stats.x_names})")
    data = predictive_data(panel, w, stats.terms.fe, stats.lag_convention, stats.layout)
    g = sufficient_stats(panel, w, stats.terms.fe, stats.terms.correction,
                         stats.lag_convention, stats.layout).gram
    if not np.allclose(g, stats.gram, rtol=1e-9, atol=1e-12 * max(1.0, np.abs(g).max())):
        raise InputError("build_model: panel= and w= do not reproduce the sufficient statistics "
                         "(a different panel, W, fixed effects or lag convention)")
    return data


def observed_y(stats: SufficientStats, logdet: LogDet | None, family: Family, data, rho, beta,
               theta, sigma, mutable_y: bool = False, name: str = "y", alpha=None):
    """Add the observed ``y`` (dims time, unit) to the model in context (see module docstring).

    ``logp(value) = loglik(stats with the Gram matrix of value, ...)``;
    ``random`` = :func:`bayes_sdm.predictive.draw_y` (simulate_y with the fixed effects at
    their estimates given the draw).
    """
    import dataclasses

    from .predictive import draw_y, observed_gram, observed_means

    k = stats.K
    two = len(family.spatial_params) == 2  # (rho, lambda) travel as one vector
    has_alpha = stats.means is not None
    if has_alpha and alpha is None:
        raise InputError("a model with an intercept needs its intercept variable (alpha=)")
    if two:
        rho_t = pt.stack(list(rho))
    else:
        rho_t = rho if rho is not None else pt.constant(0.0)
    theta_t = theta if theta is not None else pt.zeros((k,))
    template = pt.zeros((data.T, data.N))

    def logp(value, rho_, beta_, theta_, sigma_, *rest):
        st = dataclasses.replace(stats, gram=observed_gram(data, value))
        if has_alpha:
            st = dataclasses.replace(st, means=observed_means(data, value))
        th = theta_ if family.durbin else None
        sp = (rho_[0], rho_[1]) if two else rho_
        return loglik(st, logdet, family, sp, beta_, th, sigma_**2, xp=pt,
                      alpha=rest[0] if has_alpha else None)

    def random(rho_, beta_, theta_, sigma_, *rest, rng=None, size=None):
        # with an intercept the replicated panels carry it at its estimate given the draw
        # (the fixed-effects convention of bayes_sdm.predictive)
        batch = tuple(size) if size is not None else ()
        r_ = np.asarray(rho_, float)
        params = [r_ if two else r_[..., None], np.asarray(beta_, float),
                  np.asarray(theta_, float), np.asarray(sigma_, float)[..., None]]
        bshape = batch or np.broadcast_shapes(*(a.shape[:-1] for a in params))
        out = np.empty(bshape + (data.T, data.N))
        p = [np.broadcast_to(a, bshape + a.shape[-1:]) for a in params]
        for idx in np.ndindex(*bshape):
            sp = tuple(p[0][idx]) if two else p[0][idx][0]
            out[idx] = draw_y(data, family, sp, p[1][idx], p[2][idx], p[3][idx][0], rng)
        return out

    observed = pm.Data(f"{name}_obs", data.y, dims=("time", "unit")) if mutable_y else data.y
    extra = (alpha,) if has_alpha else ()
    sig = ("(s)" if two else "()") + ",(k),(k),()" + (",()" if has_alpha else "") + \
        ",(t,n)->(t,n)"
    return pm.CustomDist(name, rho_t, beta, theta_t, sigma, *extra, template, logp=logp,
                         random=random, signature=sig, observed=observed,
                         dims=("time", "unit"))
