"""Heteroskedasticity-robust (sandwich) standard errors of the static ML estimates.

cov = H^{-1} B H^{-1}, H the expected information (:func:`bayes_sdm.information.
information_matrix`), B the variance of the score under independent errors of unknown,
observation-specific variances sigma_i^2 (White 1980 for the linear part; for the quadratic
part of a spatial lag model's score, the variance of a linear-quadratic form as in Kelejian &
Prucha 2010, J. Econometrics 157:53-67, and Lin & Lee 2010, J. Econometrics 157:34-52).

With e the Lee-Yu residuals (demeaned coordinates, T x N) and G = W (I - rho W)^{-1} (with time
effects M_N G M_N, M_N the cross-section demeaning), the score of a lag model is

    s_gamma = X'e / s2,    s_rho = [(G X gamma)'e + sum_t e_t' G e_t - s2 (T') tr G~] / s2,
    s_s2 = (e'e - n* s2) / (2 s2^2),

a linear-quadratic form in e.  B = sum_i u_i u_i' + V_off: u_i collects each observation's
linear and diagonal terms (x_i e_i / s2, [(G X gamma)_i e_i + G_ii (e_i^2 - s2)] / s2,
(e_i^2 - s2)/(2 s2^2)), and V_off = sum_t sum_{i != j} (G_ij^2 + G_ij G_ji) e_i^2 e_j^2 / s2^2 is
the variance of the off-diagonal quadratic part (rho only), sigma_i^2 estimated by e_i^2.  The
residuals are scaled by sqrt(NT/n*) (the demeaned residuals are shrunk by the fixed-effects
transform; Stock & Watson 2008 discuss the within-estimator case).  Under homoskedastic normal
errors B estimates H and the sandwich is close to the classical standard errors (a test checks).

Caveat (Lin & Lee 2010): with heteroskedastic errors the ML estimate of rho itself is consistent
only when the diagonal of G is (nearly) constant -- true for many row-standardised W, not all;
the sandwich corrects the standard errors, not the estimate.  Error families (SEM, SDEM) are not
covered (not implemented yet).  Cost: dense N x N G, O(N^3) once plus O(T N^2).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .design import transformed_columns
from .errors import InputError
from .information import information_matrix
from .ml import MLResult
from .prepared import Prepared


def sandwich(prep: Prepared, res: MLResult) -> MLResult:
    """``res`` with heteroskedasticity-robust ``se`` and ``cov`` (``se_method="sandwich"``).

    Raises
    ------
    InputError
        an error family; a result of another model or correction than ``transform``/``none``.
    """
    fam = prep.family
    if fam.error:
        raise InputError(f"not implemented yet: sandwich standard errors for {fam.name}")
    if res.correction not in ("transform", "none") or res.family != fam:
        raise InputError("sandwich: pass the ML result of this prepared model (correction "
                         "'transform' or 'none')")
    stats = prep.stats.with_terms(res.correction)
    names = list(res.params.index)
    vec = res.params.to_numpy(dtype=float)
    spatial = fam.has_jacobian
    rho = vec[0] if spatial else 0.0
    gamma = vec[int(spatial):-1]
    s2 = float(vec[-1])
    z = transformed_columns(prep.panel, prep.w, prep.fe, prep.lag_convention, stats.layout)
    tt, n, _ = z.shape
    cols = stats.columns(fam)
    x = z[:, :, cols]  # (T, N, p)
    from .likelihood import coef_vector

    k = prep.panel.K
    c = coef_vector(stats.layout, fam, rho if spatial else 0.0, gamma[:k],
                    gamma[k:] if fam.durbin else None)
    e = np.einsum("tnc,c->tn", z, c)
    n_eff = stats.terms.n_eff
    e = e * np.sqrt(tt * n / n_eff)
    xf = x.reshape(-1, x.shape[2])
    ef = e.ravel()
    blocks = [xf * (ef / s2)[:, None]]
    off = 0.0
    if spatial:
        wm = prep.w.matrix
        wm = wm.toarray() if prep.w.is_sparse else np.asarray(wm, dtype=float)
        g = wm @ np.linalg.inv(np.eye(n) - rho * wm)
        if prep.fe in ("time", "twoway") and res.correction == "transform":
            m = np.eye(n) - 1.0 / n
            g = m @ g @ m
        gxg = np.einsum("ij,tj->ti", g, x @ gamma)  # (T, N)
        dg = np.diag(g)
        u_rho = (gxg * e + dg[None, :] * (e * e - s2)) / s2
        blocks.insert(0, u_rho.reshape(-1, 1))
        v = e * e  # (T, N)
        a = g * g + g * g.T
        np.fill_diagonal(a, 0.0)
        off = float(np.einsum("ti,ij,tj->", v, a, v)) / s2**2
    blocks.append(((ef * ef - s2) / (2 * s2**2))[:, None])
    u = np.hstack(blocks)
    b = u.T @ u
    if spatial:
        b[0, 0] += off
    z_info = transformed_columns(prep.panel, prep.w, prep.fe, prep.lag_convention,
                                 stats.layout) if fam.lag else None
    h = information_matrix(stats, prep.logdet, fam, rho, gamma, s2, z=z_info, w=prep.w)
    hi = np.linalg.inv(h)
    cov = hi @ b @ hi
    sd = np.sqrt(np.where(np.diag(cov) > 0, np.diag(cov), np.nan))
    out = MLResult(**{f: getattr(res, f) for f in res.__dataclass_fields__})
    out.se = pd.Series(sd, index=names, name="se")
    out.cov = pd.DataFrame(cov, index=names, columns=names)
    out.se_method = "sandwich"
    out.notes = [*res.notes, "heteroskedasticity-robust (sandwich) standard errors"]
    return out
