"""Maximum likelihood with unit-specific error variances sigma_i^2 = sigma^2 v_i
(:func:`bayes_sdm.variances.unit_loglik`; ML cannot separate sigma^2 from the v_i, so it
estimates the products sigma_i^2, reported as ``sigma2[<unit>]``).

With the precisions w_i = 1/sigma_i^2, Q = sum_i w_i c'H_i c - [time FE] sum_t (w'Z_t c)^2 / sum w
and T' periods a unit (T - 1 with unit effects), the log-likelihood is

    l = T' [J(s) - n/2 log 2 pi + (sum_i log w_i - [time FE] (log sum w - log N)) / 2] - Q / 2

(n = N - 1 with time effects, else N).  Its derivative in w_i is

    dl/dw_i = T' [1/w_i - [time FE] 1/sum w] / 2
              - [q_i - [time FE] (2 sum_t (w'z_t) z_ti / sum w - sum_t (w'z_t)^2 / (sum w)^2)] / 2

(q_i = c'H_i c, z_t = Z_t c); without time effects its zero is the closed form
sigma_i^2 = q_i / T'.  Estimation: the coefficients (beta, theta) are profiled by generalised
least squares at given (s, w) (the weighted Gram matrix sum_i w_i H_i - [time FE]
sum_t Z_t'w w'Z_t / sum w), then the spatial parameter s and log sigma_i^2 by L-BFGS-B with this
analytic gradient (envelope theorem; a central difference in s), started at the homoskedastic ML.
Standard errors come from the numerical Hessian of the full log-likelihood (1 + p + N
parameters; O((p + N)^2) evaluations of O(T N p) each).

The sigma_i^2 are incidental parameters: each rests on T' observations, so they (and the
standard errors of the others) are reliable for long panels only; for short panels the
Bayesian model with its inverse-chi^2 prior on v_i (:func:`bayes_sdm.variances.build_unit_model`)
pools them.
"""

from __future__ import annotations

import numpy as np

from .likelihood import coef_layout
from .prepared import Prepared
from .variances import (
    PeriodMLResult,
    UnitStats,
    check_variance_model,
    fit_scale_ml,
    unit_loglik,
    unit_stats,
)


def _weighted_gram(us: UnitStats, w: np.ndarray) -> np.ndarray:
    a = np.einsum("i,ipq->pq", w, us.h)
    if us.time_fe:
        zw = np.einsum("tip,i->tp", us.z, w)
        a = a - zw.T @ zw / w.sum()
    return a


def _profile(us: UnitStats, prep: Prepared, s: float, w: np.ndarray) -> np.ndarray:
    u0, u1, m0, m1 = coef_layout(prep.stats.layout, prep.family)
    a = _weighted_gram(us, w)
    base, mb = u0 + s * u1, m0 + s * m1
    return -np.linalg.solve(mb.T @ a @ mb, mb.T @ a @ base)


def _dll_dw(us: UnitStats, c: np.ndarray, w: np.ndarray) -> np.ndarray:
    """dl/dw_i at coefficient vector c (module docstring)."""
    tp = us.n_periods
    q = np.einsum("p,ipq,q->i", c, us.h, c)
    if not us.time_fe:
        return 0.5 * tp / w - 0.5 * q
    zc = us.z @ c  # (T', N)
    sw = w.sum()
    wz = zc @ w  # (T',)
    return (0.5 * tp * (1.0 / w - 1.0 / sw)
            - 0.5 * (q - 2.0 * (wz @ zc) / sw + (wz @ wz) / sw**2))


def fit_unit_ml(prep: Prepared, us: UnitStats | None = None) -> PeriodMLResult:
    """Maximum likelihood with unit variances (module docstring); rows ``sigma2[<unit>]``.

    Raises
    ------
    InputError
        see :func:`bayes_sdm.variances.check_variance_model`.
    NumericalError
        the optimiser fails, ends at the edge of the spatial parameter's interval, or the
        Hessian is singular.
    """
    check_variance_model(prep, "unit")
    us = us or unit_stats(prep)
    n = us.z.shape[1]
    return fit_scale_ml(
        prep, loglik=lambda s, beta, theta, s2: unit_loglik(us, prep, s, beta, theta, 1.0, s2),
        profile=lambda s, w: _profile(us, prep, s, w), dll_dw=lambda c, w: _dll_dw(us, c, w),
        time_fe=us.time_fe, scale_names=[f"sigma2[{u}]" for u in prep.panel.units],
        n_eff=(n - 1 if us.time_fe else n) * us.n_periods, label="unit-variance",
        notes=["unit variances sigma2[i] = sigma^2 v_i (ML estimates the products); standard "
               "errors from the numerical Hessian of the full log-likelihood; each sigma2[i] "
               f"rests on {us.n_periods} periods"])
