"""The intercept of a pooled panel or a cross-section (``fe="none"`` with an intercept).

With one constant alpha the residual of every family (:mod:`bayes_sdm.families`) is

    eps = (I - lambda W) [(I - rho W) y - alpha iota - X beta - W X theta] = Z c - (1 - lambda)
    alpha iota

for a row-standardised W (W iota = iota; without an error term any W), Z the raw columns and c
:func:`~bayes_sdm.likelihood.coef_vector`.  Writing Z c = Q Z c + iota zbar'c with Q the
grand-mean projection and zbar the column means over the NT cells,

    SSE(c, alpha) = ||Q Z c||^2 + NT (zbar'c - (1 - lambda) alpha)^2,

so alpha is concentrated out by the Gram matrix of the demeaned columns (the transform
``intercept`` of :func:`bayes_sdm.design.demean`; n* = NT and the Jacobian T log|I - rho W|
are unchanged), its estimate is alpha = zbar'c / (1 - lambda), and the Bayesian models add the
second term with alpha sampled
(:func:`bayes_sdm.likelihood.intercept_sse`).  This is the model of spatialreg's
``lagsarlm`` / ``errorsarlm`` / ``sacsarlm`` with an intercept (Anselin 1988, "Spatial
Econometrics", ch. 6 and 12); a Durbin model lags every regressor but the constant (W iota is
collinear with iota).

Standard errors.  Partition the information as (alpha, phi), phi the other parameters.  The
information of the demeaned model is the Schur complement I_phi,phi - I_phi,a I_a,a^-1
I_a,phi, whose inverse is Cov(phi) (what :func:`bayes_sdm.information.information_matrix`
returns for the demeaned columns), and by the block inverse

    Var(alpha) = 1 / I_a,a + g' Cov(phi) g,     Cov(alpha, phi) = g' Cov(phi),

with I_a,a = NT (1 - lambda)^2 / sigma^2 and g = -I_phi,a / I_a,a.  For the observed
information g = d alpha(phi) / d phi = (zbar' dc/dphi + alpha d lambda/dphi) / (1 - lambda);
for the expected information the same with E[W y] = G (alpha iota + X beta + W X theta)
(G = W (I - rho W)^-1) in place of W y in the rho derivative, and g_lambda = 0 (error models:
I_alpha,lambda = 0).
"""

from __future__ import annotations

import numpy as np

from .errors import InputError
from .likelihood import SufficientStats


def _check(stats: SufficientStats) -> np.ndarray:
    if stats.means is None:
        raise InputError("the sufficient statistics carry no intercept (prepare the model "
                         "with fe='none' and an intercept)")
    return stats.means


def estimate(stats: SufficientStats, c: np.ndarray, lam: float | None) -> float:
    """alpha = zbar'c / (1 - lambda) at the coefficient vector c (module docstring)."""
    m = _check(stats)
    return float(m @ c) / (1.0 - (lam or 0.0))


def covariance(cov: np.ndarray, grad: np.ndarray, sigma2: float, n_cells: int,
               lam: float | None) -> tuple[np.ndarray, np.ndarray]:
    """(cov_full, order): the covariance with alpha inserted before sigma^2.

    ``cov`` is Cov(phi) over (spatial..., coefficients..., sigma2) and ``grad`` is g over the
    same parameters (module docstring).  Returns the covariance over (spatial...,
    coefficients..., alpha, sigma2).
    """
    p = cov.shape[0]
    one_m_l = 1.0 - (lam or 0.0)
    var_a = sigma2 / (n_cells * one_m_l**2) + float(grad @ cov @ grad)
    cross = grad @ cov  # Cov(alpha, phi)
    out = np.empty((p + 1, p + 1))
    idx = [*range(p - 1), p]  # phi's positions in the new order (alpha at p - 1)
    out[np.ix_(idx, idx)] = cov
    out[p - 1, idx] = out[idx, p - 1] = cross
    out[p - 1, p - 1] = var_a
    return out


def gradient(stats: SufficientStats, c: np.ndarray, dc: np.ndarray, alpha: float,
             lam: float | None, lam_index: int | None, rho_index: int | None = None,
             zdc_rho: float | None = None, expected: bool = True) -> np.ndarray:
    """g = d alpha / d phi over (spatial..., coefficients..., sigma2) (module docstring).

    ``dc`` (ncol, n_phi) holds dc/dphi in that order (zero column for sigma2); ``lam_index``
    / ``rho_index`` the positions of lambda / rho in phi; ``zdc_rho`` the expectation of
    zbar'dc/drho (the mean of -E[W y], filtered by I - lambda W with an error term), which
    the expected information uses for rho.
    """
    m = _check(stats)
    one_m_l = 1.0 - (lam or 0.0)
    g = (m @ dc) / one_m_l
    if lam_index is not None:
        g[lam_index] = 0.0 if expected else (m @ dc[:, lam_index] + alpha) / one_m_l
    if rho_index is not None and expected:
        if zdc_rho is None:
            raise InputError("the expected information of the intercept needs E[Wy]")
        g[rho_index] = zdc_rho / one_m_l
    return g
