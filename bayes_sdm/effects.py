"""Direct, indirect and total effects (LeSage & Pace 2009, "Introduction to Spatial
Econometrics", ch. 2.7 and 4.5).

For the SAR/SDM family, S_k(W) = (I - rho W)^{-1} (beta_k I + theta_k W) and

    direct_k   = tr(S_k) / N = [beta_k tr((I - rho W)^{-1}) + theta_k tr((I - rho W)^{-1} W)] / N
    total_k    = iota' S_k iota / N  (= (beta_k + theta_k) / (1 - rho) for row-standardised W)
    indirect_k = total_k - direct_k

The traces come from the log-determinant object (exact sums over the eigenvalues for
:class:`~bayes_sdm.logdet.EigenLogDet`), vectorised over posterior draws.  No approximation is
made with the eigenvalue method.

For SEM: direct = beta, indirect = 0; for SLX and SDEM: direct = beta, indirect = theta.
:func:`family_effects` picks the formula from the family's declaration
(:attr:`~bayes_sdm.families.Family.effects_kind`).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .errors import InputError

EFFECTS = ("direct", "indirect", "total")


def lag_effects(rho, beta, theta, logdet, row_standardized: bool = True,
                total_sums=None) -> np.ndarray:
    """Effects of a lag model, vectorised over draws.

    Parameters
    ----------
    rho : array (...,)
    beta, theta : arrays (..., K); theta may be None (SAR)
    logdet : a :class:`~bayes_sdm.logdet.LogDet` giving ``traces(rho)`` and ``n``
    row_standardized : when False, ``total_sums(rho)`` must give
        (iota'(I-rho W)^{-1} iota / N, iota'(I-rho W)^{-1} W iota / N)

    Returns
    -------
    ndarray (..., 3, K): direct, indirect, total
    """
    rho = np.asarray(rho, dtype=float)
    beta = np.asarray(beta, dtype=float)
    theta = np.zeros_like(beta) if theta is None else np.asarray(theta, dtype=float)
    n = logdet.n
    tr_inv, tr_inv_w = logdet.traces(rho)
    direct = (beta * tr_inv[..., None] + theta * tr_inv_w[..., None]) / n
    if row_standardized:
        total = (beta + theta) / (1.0 - rho[..., None])
    else:
        if total_sums is None:
            raise InputError("effects for a non-row-standardised W need the total sums")
        s0, s1 = total_sums(rho)
        total = beta * s0[..., None] + theta * s1[..., None]
    return np.stack([direct, total - direct, total], axis=-2)


def total_sums(w):
    """A function rho -> (iota'(I - rho W)^{-1} iota / N, iota'(I - rho W)^{-1} W iota / N), vectorised,
    from one eigendecomposition (symmetric solver on the similar symmetric form when there is
    one), for effects with a W that is not row-standardised."""
    m = w.matrix.toarray() if w.is_sparse else np.asarray(w.matrix)
    n = w.n
    ones = np.ones(n)
    sym = w.symmetric_form()
    if sym is not None:
        s = sym.toarray() if sp.issparse(sym) else sym
        lam, v = np.linalg.eigh(s)
        sq = np.sqrt(w.sym_scale)
        a = (v.T @ (ones / sq)) * (v.T @ (ones * sq))
    else:
        lam, v = np.linalg.eig(m)
        a = (ones @ v) * np.linalg.solve(v, ones)

    def sums(rho):
        dd = 1.0 - np.asarray(rho, dtype=float)[..., None] * lam
        return (np.real((a / dd).sum(-1)) / n, np.real((a * lam / dd).sum(-1)) / n)

    return sums


def local_effects(beta, theta=None) -> np.ndarray:
    """Effects of SLX / SDEM (direct = beta, indirect = theta) and SEM (indirect = 0)."""
    beta = np.asarray(beta, dtype=float)
    theta = np.zeros_like(beta) if theta is None else np.asarray(theta, dtype=float)
    return np.stack([beta, theta, beta + theta], axis=-2)


def family_effects(family, rho, beta, theta, logdet=None, row_standardized: bool = True,
                   total_sums=None) -> np.ndarray:
    """Effects of any family, vectorised over draws: :func:`lag_effects` with rho when the
    family has a spatial lag, :func:`local_effects` otherwise (rho is ignored; an error term's
    lambda does not enter the effects).  theta is ignored for non-Durbin families.

    Returns
    -------
    ndarray (..., 3, K): direct, indirect, total
    """
    theta = theta if family.durbin else None
    if family.effects_kind == "lag":
        return lag_effects(rho, beta, theta, logdet, row_standardized, total_sums)
    return local_effects(beta, theta)


def dense_effects(rho: float, beta: np.ndarray, theta: np.ndarray | None, w: np.ndarray):
    """Brute-force effects from a dense inverse (reference for tests; O(N^3))."""
    n = w.shape[0]
    beta = np.atleast_1d(beta)
    theta = np.zeros_like(beta) if theta is None else np.atleast_1d(theta)
    inv = np.linalg.inv(np.eye(n) - rho * w)
    out = np.empty((3, beta.size))
    for k in range(beta.size):
        s = inv @ (beta[k] * np.eye(n) + theta[k] * w)
        d = np.trace(s) / n
        t = s.sum() / n
        out[:, k] = (d, t - d, t)
    return out
