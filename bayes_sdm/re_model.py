"""The Bayesian unit random-effects model (SAR, SDM, SEM, SDEM).  Builds graphs; never samples.

The unit effects mu_i ~ N(0, sigma_mu^2) are integrated out analytically: the likelihood is
the exact marginal likelihood of :mod:`bayes_sdm.random_effects` (Elhorst 2014, sec. 3.4;
Baltagi, Song & Koh 2003 for the error term), written once more in PyTensor from the same
statistics:

* lag families: SSE = c' (G_within + phi^2 G_between) c, c = (1, -rho, -intercept, -beta,
  -theta); the two Gram matrices are computed once, so the log-density and its gradient cost
  O(K^2) plus the log-determinant (:meth:`~bayes_sdm.logdet.LogDet.symbolic`);
* error families: the within part is the same quadratic form (filtered by lambda); the
  between part needs the N x N factor of I + kappa B'B (kappa = 1/phi^2 - 1): O(N^3) per
  evaluation (dense Cholesky), stated here because it does not scale like the lag case.

Free variables: ``rho`` | ``lambda`` (the spec's ``priors.rho`` on the admissible interval),
``intercept_centred`` (flat; the intercept at the regressors' means, deterministic
``intercept``), ``beta`` / ``theta`` (the spec's priors, dims ``coef``), ``phi`` (the
quasi-demeaning weight phi^2 = sigma^2 / (T sigma_mu^2 + sigma^2), Uniform(0, 1)), ``sigma``
(the spec's prior); deterministic ``sigma2`` and ``sigma2_mu`` = sigma^2 (1/phi^2 - 1) / T.
Correlated random effects (``d.mundlak``, spec ``mundlak: true``; Mundlak 1978): the
coefficients ``mundlak`` (dims ``mundlak_coef``, the unit means of X and WX) with the beta
prior, scaled like beta; the rest is unchanged.
With flat priors (``flat_sigma2`` for sigma) the posterior mode is the ML estimate
(:func:`bayes_sdm.random_effects.fit_re`).
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from .errors import InputError
from .logdet import LogDet
from .pymc_models import coef_prior, sigma_prior, spatial_prior
from .random_effects import REData
from .spec import PriorSpec


def _column_sd(d: REData) -> np.ndarray:
    """Standard deviations of the raw columns [y, Wy, R, WR] from the statistics."""
    nt = d.N * d.T
    mean = d.zbar.mean(axis=0)
    ss = np.diag(d.gw) + np.diag(d.gb) - nt * mean * mean
    return np.sqrt(np.clip(ss / nt, 0.0, None))


def re_loglik_symbolic(d: REData, logdet: LogDet, s, intercept, beta, theta, phi, sigma2,
                       mundlak=None):
    """The RE log-likelihood in PyTensor (module docstring); ``mundlak``: the coefficients of
    the unit means (``d.mundlak``, correlated random effects)."""
    coef = pt.concatenate([pt.reshape(intercept, (1,)), beta]
                          + ([theta] if d.family.durbin else [])
                          + ([mundlak] if d.mundlak else []))
    one = pt.ones((1,))
    zeros = pt.zeros((d.p,))
    nt = d.N * d.T
    ll = -0.5 * nt * pt.log(2.0 * np.pi * sigma2) + d.T * logdet.symbolic(s)
    gw = pt.as_tensor_variable(d.gw)
    if not d.family.error:
        c = pt.concatenate([one, pt.reshape(-s, (1,)), -coef, zeros])
        sse = pt.dot(c, pt.dot(gw, c)) + phi ** 2 * pt.dot(c, pt.dot(pt.as_tensor_variable(d.gb),
                                                                         c))
        return ll + d.N * pt.log(phi) - sse / (2.0 * sigma2)
    c = pt.concatenate([one, pt.reshape(-s, (1,)), -coef, s * coef])
    sse_w = pt.dot(c, pt.dot(gw, c))
    wm = d.w.matrix
    wm = wm.toarray() if hasattr(wm, "toarray") else np.asarray(wm, float)
    n = d.N
    b = pt.eye(n) - s * pt.as_tensor_variable(wm)
    btb = pt.dot(b.T, b)
    kappa = 1.0 / phi ** 2 - 1.0
    k = pt.eye(n) + kappa * btb
    chol = pt.linalg.cholesky(k)
    c0 = pt.concatenate([one, pt.zeros((1,)), -coef, zeros])
    ubar = pt.dot(pt.as_tensor_variable(d.zbar), c0)  # (N,)
    v = pt.dot(btb, ubar)
    # ubar' K^-1 B'B ubar = (L^-1 ubar)'(L^-1 B'B ubar) with K = L L'
    a = pt.linalg.solve_triangular(chol, v, lower=True)
    bq = pt.linalg.solve_triangular(chol, ubar, lower=True)
    sse_b = d.T * pt.dot(bq, a)
    logdet_k = 2.0 * pt.sum(pt.log(pt.diag(chol)))
    return ll - 0.5 * logdet_k - (sse_w + sse_b) / (2.0 * sigma2)


def build_re_model(d: REData, logdet: LogDet, priors: PriorSpec | None = None) -> pm.Model:
    """The PyMC model of a unit random-effects panel (module docstring).

    Raises
    ------
    InputError
        a family without exactly one spatial parameter.
    """
    fam = d.family
    if len(fam.spatial_params) != 1:
        raise InputError(f"random effects cover sar, sdm, sem and sdem, not {fam.name}")
    priors = priors or PriorSpec()
    priors.validate()
    sd = _column_sd(d)
    k = len(d.x_names)
    ysd = max(sd[0], 1e-12)
    x_sd = sd[3:3 + k]
    wx_sd = sd[3 + k:3 + 2 * k] if fam.durbin else None
    r_mean = d.zbar.mean(axis=0)[3:2 + d.p]  # means of X (and WX), the constant excluded
    mund_names = list(d.reg_names[1 + fam.n_coef(k):]) if d.mundlak else []
    coords = {"coef": list(d.x_names)}
    if mund_names:
        coords["mundlak_coef"] = mund_names
    with pm.Model(coords=coords) as m:
        s = spatial_prior(fam.spatial, priors.rho, logdet.interval)
        beta = coef_prior("beta", priors.beta, ysd / np.maximum(x_sd, 1e-12))
        theta = None
        if fam.durbin:
            theta = coef_prior("theta", priors.theta, ysd / np.maximum(wx_sd, 1e-12))
        # the intercept at the regressors' means (flat): c + R b = (c + Rbar b) + (R - Rbar) b
        # decorrelates it from the slopes (an exact linear change of variables, Jacobian 1)
        mund = None
        if mund_names:  # scaled by the sd of the unit means (the between variation)
            m_sd = sd[3 + fam.n_coef(k):2 + d.p]
            mund = coef_prior("mundlak", priors.beta, ysd / np.maximum(m_sd, 1e-12),
                              dims="mundlak_coef")
        slopes = pt.concatenate([beta] + ([theta] if fam.durbin else [])
                                + ([mund] if mund is not None else []))
        centred = pm.Flat("intercept_centred")
        intercept = pm.Deterministic("intercept", centred - pt.dot(r_mean, slopes))
        phi = pm.Uniform("phi", lower=0.0, upper=1.0)
        _, sigma2 = sigma_prior(priors.sigma, ysd)
        pm.Deterministic("sigma2_mu", sigma2 * (1.0 / phi ** 2 - 1.0) / d.T)
        pm.Potential("loglik", re_loglik_symbolic(d, logdet, s, intercept, beta, theta, phi,
                                                  sigma2, mund))
    return m
