"""Simulating spatial panels from the model family (data-generating processes).

One place for drawing y given parameters, used by the synthetic dataset, the tests, parameter
recovery, SBC and posterior predictive checks:

    y_t = (I - rho W)^{-1} (X_t beta + W X_t theta + mu + alpha_t iota + (I - lam W)^{-1} eps_t)

(rho = 0 without a lag, lam = 0 without an error term, theta = 0 without Durbin terms:
:mod:`bayes_sdm.families`)
with eps_t ~ N(0, sigma^2 I_N).  The solve uses one LU factorisation of I - rho W (dense or
sparse) for all periods.  ``beta`` and ``theta`` may be given per unit (shape (N, K)) for regional
heterogeneity.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from . import families
from .errors import InputError
from .families import Family
from .weights import SpatialWeights


def solve_spatial(w: SpatialWeights, rho: float, b: np.ndarray) -> np.ndarray:
    """Solve (I - rho W) y_t = b_t for every row t of ``b`` (shape (T, N) or (N,))."""
    b = np.asarray(b, dtype=float)
    n = w.n
    if w.is_sparse:
        a = sp.csc_array(sp.eye_array(n) - rho * w.matrix)
        lu = spla.splu(a)
        sol = lu.solve(np.atleast_2d(b).T).T
    else:
        a = np.eye(n) - rho * w.matrix
        sol = sla.lu_solve(sla.lu_factor(a), np.atleast_2d(b).T).T
    return sol.reshape(b.shape)


def mean_part(w: SpatialWeights, X: np.ndarray, beta, theta=None) -> np.ndarray:  # noqa: N803
    """X_t beta + W X_t theta for X of shape (T, N, K); beta/theta of shape (K,) or (N, K)."""
    X = np.asarray(X, dtype=float)  # noqa: N806
    beta = np.asarray(beta, dtype=float)
    out = np.einsum("tnk,nk->tn", X, np.broadcast_to(beta, X.shape[1:]))
    if theta is not None:
        wx = w.lag(X)
        out = out + np.einsum("tnk,nk->tn", wx, np.broadcast_to(np.asarray(theta, float),
                                                                   X.shape[1:]))
    return out


def simulate_y(
    w: SpatialWeights,
    X: np.ndarray,  # noqa: N803
    model: Family | str = "sdm",
    rho=0.0,
    beta=None,
    theta=None,
    sigma: float = 1.0,
    mu: np.ndarray | None = None,
    alpha: np.ndarray | None = None,
    rng: np.random.Generator | int | None = None,
    eps: np.ndarray | None = None,
) -> np.ndarray:
    """Draw y (T, N) from a spatial panel model.

    Parameters
    ----------
    w : weights
    X : regressors (T, N, K)
    model : a :class:`~bayes_sdm.families.Family` or its name
    rho : the spatial parameter (rho for lag families, lambda for error families; the pair
        (rho, lambda) for a family with both)
    beta, theta : (K,) or (N, K); theta used only by Durbin families
    sigma : error standard deviation
    mu, alpha : unit effects (N,) and time effects (T,); zero when None
    rng : a Generator or seed; ``eps`` overrides the drawn errors (T, N)
    """
    family = families.get(model)
    X = np.asarray(X, dtype=float)  # noqa: N806
    t, n, k = X.shape
    if w.n != n:
        raise InputError(f"W has {w.n} units but X has {n}")
    beta = np.zeros(k) if beta is None else beta
    th = theta if family.durbin else None
    rng = np.random.default_rng(rng)
    if eps is None:
        eps = sigma * rng.standard_normal((t, n))
    fx = mean_part(w, X, beta, th)
    if mu is not None:
        fx = fx + np.asarray(mu)[None, :]
    if alpha is not None:
        fx = fx + np.asarray(alpha)[:, None]
    r, lam = family.spatial_values(rho)
    u = solve_spatial(w, lam, eps) if lam is not None else eps
    if r is not None:
        return solve_spatial(w, r, fx + u)
    return fx + u
