"""Maximum-likelihood estimation of the spatial panel family, and its comparison with a posterior.

Models: SDM, SAR (spatial lag, parameter ``rho``), SEM, SDEM (spatial error, parameter
``lambda``), SLX and OLS, with fixed effects ``none`` / ``unit`` / ``time`` / ``twoway``.

The estimator is the concentrated likelihood (Anselin 1988, ch. 6 and 12; LeSage & Pace 2009,
sec. 3.1; Elhorst 2014, sec. 3.3): at each value of the spatial parameter, beta, theta and
sigma^2 have closed forms (:func:`~bayes_sdm.likelihood.profile_lag`,
:func:`~bayes_sdm.likelihood.profile_error`), so only a 1-D bounded search over the admissible
interval of the :class:`~bayes_sdm.logdet.LogDet` remains.  The search is a grid over the interval
followed by a bounded Brent search (``xatol`` 1e-12) and a root-finding refinement of the
analytic score (envelope theorem: dSSE/drho = 2 c'G dc/drho at the profiled coefficients), so
the estimate is the zero of the score to about 1e-12.  The likelihood is evaluated with the same
Gram matrix, Jacobian and Gaussian term as the PyMC models (:mod:`bayes_sdm.likelihood`); there is
no second implementation.

Conventions (``correction``), each reproducing a tool:

``transform`` (default)
    Lee & Yu (2010, J. Econometrics 154:165-185) transformation approach: n* = (N-1)(T-1) and
    J = (T-1)[log|I - rho W| - log(1 - rho)] for two-way FE; the same likelihood as the PyMC model.
``none``
    The uncorrected "direct approach": NT observations and T log|I - rho W| whatever the FE
    (splm's default; SDPDmod ``LYtrans=FALSE``; spreg ``ML_LagFE``; Elhorst's routines with
    ``info.bc=0``).
``bias``
    The Lee-Yu bias correction of the direct estimates as in Elhorst's ``sar_panel_FE`` /
    ``sem_panel_FE`` (``info.bc=1``) and SDPDmod ``LYtrans=TRUE``: unit FE sigma^2 T/(T-1); time FE
    sigma^2 N/(N-1); two-way FE theta_hat + [I(theta_hat)/NT]^{-1} (0, ..., 0, 1/(1-rho),
    1/(2 sigma^2))'/N and then sigma^2 T/(T-1) (Lee & Yu 2010, sec. 4); the standard
    errors are re-evaluated at the corrected values.  ``loglik`` is the direct likelihood at its
    maximum (the correction moves the estimates, not the likelihood that was maximised).

``lag_convention``: ``QWy`` (lag, then demean; Lee & Yu, Elhorst) or ``WQy`` (demean, then lag;
splm, SDPDmod, xsmle).  They coincide under unit FE only.

Standard errors come from the analytic information matrix (``se="expected"``, the default; Lee &
Yu 2010, secs. 3-4; Elhorst 2014, ch. 3, as in Elhorst's routines, SDPDmod's
``f_SIG`` and spreg) or from the analytic observed information, minus the Hessian of the full
(not concentrated) log-likelihood (``se="observed"``; what a numerical Hessian approximates).
The two agree asymptotically; they differ in finite samples by terms of order 1/sqrt(NT).  The
traces tr(G), tr(G^2), tr(G'G) of G = W (I - rho W)^{-1} are exact: tr(G) and tr(G^2) from the
eigenvalues, tr(G'G) from one dense inverse at the estimate (O(N^3) once, outside any loop).  Under
the transformation approach with time effects, the traces are those of W* = F_N' W F_N:
tr(G*) = tr(G) - 1/(1-rho), tr(G*^2) = tr(G^2) - 1/(1-rho)^2 and tr(G*'G*) = tr(G'G) -
||G' iota||^2 / N (row-standardised W: F_N' W = W* F_N').  The only approximation: for a
sparse W with N > ``DENSE_MAX`` (6000), tr(G'G) is Hutchinson's stochastic estimate, reported with
its standard error in a warning (it enters the expected information only through I_rho,rho).

``r2`` is 1 - SSE / sum((y - mean(y))^2) over the raw y (Elhorst's and SDPDmod's ``rsqr``).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import scipy.linalg as sla
import scipy.optimize as so
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy import stats as sstats

from .effects import EFFECTS, lag_effects, local_effects, total_sums
from .errors import InputError
from .likelihood import (
    DURBIN_MODELS,
    ERROR_MODELS,
    LAG_MODELS,
    MODELS,
    SufficientStats,
    coef_vector,
    gaussian_loglik,
    jacobian,
    loglik,
    profile_error,
    profile_lag,
    spatial_name,
    sufficient_stats,
    transformed_columns,
)
from .logdet import EigenLogDet, LogDet, make_logdet
from .panel import FE_TYPES, Panel, check_not_absorbed, demean
from .weights import SpatialWeights

ML_CORRECTIONS = ("transform", "none", "bias")
SE_METHODS = ("expected", "observed")
#: largest N for which tr(G'G) uses a dense inverse; above it a sparse W uses a stochastic
#: (Hutchinson) estimate whose standard error is reported in a warning.
DENSE_MAX = 6000
HDI_PROB = 0.94


class BoundaryWarning(UserWarning):
    """The spatial parameter's ML estimate is at the edge of its admissible interval."""


def param_names(model: str, x_names) -> list[str]:
    """Parameter names in the order of the estimates: spatial, beta[x], theta[x], sigma2."""
    names = []
    s = spatial_name(model)
    if s:
        names.append(s)
    names += [f"beta[{x}]" for x in x_names]
    if model in DURBIN_MODELS:
        names += [f"theta[{x}]" for x in x_names]
    names.append("sigma2")
    return names


# ---------------------------------------------------------------------------------------------
# pure numerics on the sufficient statistics
# ---------------------------------------------------------------------------------------------


def _split(model: str, k: int, gamma: np.ndarray):
    gamma = np.asarray(gamma, dtype=float)
    beta = gamma[..., :k]
    theta = gamma[..., k:2 * k] if model in DURBIN_MODELS else None
    return beta, theta


def _profile(stats: SufficientStats, model: str, rho):
    if model in ERROR_MODELS:
        return profile_error(stats, model, rho)
    return profile_lag(stats, model, rho)


def concentrated_loglik(stats: SufficientStats, logdet: LogDet | None, model: str, rho):
    """The log-likelihood with beta, theta and sigma^2 = SSE/n* concentrated out (vectorised).

    Returns (loglik, coef, sse) at each rho.  The value is
    :func:`~bayes_sdm.likelihood.gaussian_loglik` at the profiled parameters, i.e. exactly the
    full log-likelihood :func:`~bayes_sdm.likelihood.loglik` there.
    """
    rho = np.asarray(rho, dtype=float)
    coef, s = _profile(stats, model, rho)
    n = stats.terms.n_eff
    if spatial_name(model) is None:
        jac = np.zeros_like(s)
    else:
        jac = jacobian(stats.terms, logdet.value(rho), rho)
    return gaussian_loglik(stats.terms, s, s / n, jac), coef, s


def coef_derivatives(stats: SufficientStats, model: str, rho: float, gamma: np.ndarray):
    """c and its derivatives, with SSE = c'Gc (:func:`~bayes_sdm.likelihood.coef_vector`).

    c is affine in rho for fixed (beta, theta) and affine in (beta, theta) for fixed rho, so the
    derivatives are exact differences of :func:`coef_vector`.  Returns (c, c_rho, D, c_rho_gamma)
    with D = dc/dgamma (ncol, p) and c_rho_gamma = d^2 c / drho dgamma (ncol, p).
    """
    k = stats.K
    gamma = np.asarray(gamma, dtype=float)
    p = gamma.size

    def cv(r, g):
        b, t = _split(model, k, g)
        return coef_vector(stats, model, r, b, t)

    zero = np.zeros(p)
    c = cv(rho, gamma)
    c_rho = cv(1.0, gamma) - cv(0.0, gamma)
    c0r, c00 = cv(rho, zero), cv(0.0, zero)
    c10 = cv(1.0, zero)
    d = np.empty((c.size, p))
    crg = np.empty((c.size, p))
    for j in range(p):
        e = np.zeros(p)
        e[j] = 1.0
        d[:, j] = cv(rho, e) - c0r
        crg[:, j] = (cv(1.0, e) - c10) - (cv(0.0, e) - c00)
    return c, c_rho, d, crg


def concentrated_score(stats: SufficientStats, logdet: LogDet, model: str, rho: float) -> float:
    """d/drho of the concentrated log-likelihood (envelope theorem).

    -(n*/2) SSE'(rho)/SSE(rho) + a dlog|I - rho W|/drho + b/(1 - rho), with SSE'(rho) = 2 c'G c_rho
    at the profiled coefficients.
    """
    _, coef, s = concentrated_loglik(stats, logdet, model, rho)
    c, c_rho, _, _ = coef_derivatives(stats, model, rho, coef)
    ds = 2.0 * c @ stats.gram @ c_rho
    t = stats.terms
    out = -0.5 * t.n_eff * ds / s + t.a * float(logdet.deriv(rho))
    if t.b:
        out += t.b / (1.0 - rho)
    return float(out)


def _check_design(stats: SufficientStats, model: str) -> None:
    """Refuse a (numerically) singular design, naming the columns involved."""
    cols = stats.columns(model)
    names = [f"beta[{x}]" for x in stats.x_names]
    if model in DURBIN_MODELS:
        names += [f"theta[{x}]" for x in stats.x_names]
    g = stats.gram[np.ix_(cols, cols)]
    d = np.sqrt(np.clip(np.diag(g), 0.0, None))
    zero = [names[i] for i in np.nonzero(d <= 1e-12 * max(d.max(), 1e-300))[0]]
    if zero:
        raise InputError(f"singular design: the regressor column(s) {zero} vanish after the fixed "
                         "effects transform (absorbed by the fixed effects)")
    c = g / np.outer(d, d)
    vals, vecs = np.linalg.eigh(c)
    if vals[0] < 1e-10 * vals[-1]:
        v = np.abs(vecs[:, 0])
        culprits = [names[i] for i in np.argsort(-v) if v[i] > 0.1]
        raise InputError(f"singular design: the (transformed) regressors {culprits} are collinear "
                         f"(smallest/largest eigenvalue of their correlation matrix "
                         f"{vals[0] / vals[-1]:.2e}); drop one of them")


@dataclass
class _Search:
    rho: float
    at_boundary: str | None  # None, "lower" or "upper"
    score: float
    evaluations: int


def maximise_concentrated(stats: SufficientStats, logdet: LogDet, model: str,
                          bounds: tuple[float, float] | None = None, grid: int = 201,
                          xatol: float = 1e-12) -> _Search:
    """Maximise the concentrated log-likelihood over the admissible interval.

    A grid of ``grid`` points (vectorised, O(grid * N) with the eigenvalue log-determinant) finds
    the best cell, a bounded Brent search (``scipy.optimize.minimize_scalar``, ``xatol``) refines
    it, and ``brentq`` on the analytic score polishes it to the score's zero.
    """
    lo, hi = logdet.interval
    if bounds is not None:
        blo, bhi = float(bounds[0]), float(bounds[1])
        if not (lo <= blo < bhi <= hi):
            raise InputError(f"bounds {bounds} must lie inside the admissible interval "
                             f"({lo:.6g}, {hi:.6g}) of the spatial parameter")
        lo, hi = blo, bhi
    eps = 1e-9 * (hi - lo)
    lo, hi = lo + eps, hi - eps
    xs = np.linspace(lo, hi, grid)
    ll, _, _ = concentrated_loglik(stats, logdet, model, xs)
    ll = np.where(np.isfinite(ll), ll, -np.inf)
    i = int(np.argmax(ll))
    a, b = xs[max(i - 1, 0)], xs[min(i + 1, grid - 1)]

    def nll(r):
        return -float(concentrated_loglik(stats, logdet, model, r)[0])

    res = so.minimize_scalar(nll, bounds=(a, b), method="bounded",
                             options={"xatol": xatol, "maxiter": 500})
    x = float(res.x)
    nev = grid + int(res.nfev)
    # polish: the zero of the analytic score in a small bracket around x
    h = max(1e-7, 10 * xatol)
    for _ in range(6):
        la, lb = max(x - h, lo), min(x + h, hi)
        fa, fb = concentrated_score(stats, logdet, model, la), \
            concentrated_score(stats, logdet, model, lb)
        nev += 2
        if fa > 0 > fb:
            x = so.brentq(lambda r: concentrated_score(stats, logdet, model, r), la, lb,
                          xtol=1e-15, rtol=4 * np.finfo(float).eps)
            break
        h *= 10
    score = concentrated_score(stats, logdet, model, x)
    tol = 1e-6 * (hi - lo)
    edge = None
    if x - lo < tol and score < 0:
        edge = "lower"
    elif hi - x < tol and score > 0:
        edge = "upper"
    return _Search(x, edge, score, nev)


# ---------------------------------------------------------------------------------------------
# traces of G = W (I - rho W)^{-1} and the information matrix
# ---------------------------------------------------------------------------------------------


@dataclass
class SpatialTraces:
    """tr(G), tr(G^2), tr(G'G), ||G' iota||^2 of G = W (I - rho W)^{-1}, and u -> G u per period.

    ``approximate`` is True when tr(G'G) is a stochastic estimate (large sparse W); its standard
    error is then ``tr_gtg_se``.
    """

    rho: float
    n: int
    tr_g: float
    tr_g2: float
    tr_gtg: float
    colsum_sq: float
    apply: object = field(repr=False)
    approximate: bool = False
    tr_gtg_se: float = 0.0

    def adjusted(self) -> tuple[float, float, float]:
        """The traces of G* for W* = F_N' W F_N (Lee & Yu 2010, time effects)."""
        g = 1.0 / (1.0 - self.rho)
        return (self.tr_g - g, self.tr_g2 - g * g, self.tr_gtg - self.colsum_sq / self.n)


def spatial_traces(w: SpatialWeights, logdet: LogDet, rho: float, probes: int = 200,
                   seed: int = 0) -> SpatialTraces:
    """Exact traces from one dense inverse of I - rho W (N <= DENSE_MAX or dense W).

    G = ((I - rho W)^{-1} - I) / rho (no extra matrix product) when |rho| > 0.01, else
    W (I - rho W)^{-1}.  tr(G) and tr(G^2) come from the eigenvalues when ``logdet`` has them.
    Above DENSE_MAX with a sparse W, tr(G'G) is Hutchinson's estimate with ``probes`` Rademacher
    vectors (one sparse LU), and ||G' iota||^2 is exact (one transposed solve).
    """
    n = w.n
    rho = float(rho)
    tr_g = float(np.asarray(logdet.traces(rho)[1]))
    lam = logdet.eigenvalues if isinstance(logdet, EigenLogDet) else None
    if w.is_sparse and n > DENSE_MAX:
        a = sp.csc_array(sp.eye_array(n) - rho * w.matrix)
        lu = spla.splu(a)
        wm = w.matrix

        def apply(u):
            u = np.atleast_2d(u)
            return (wm @ lu.solve(np.ascontiguousarray(u.T))).T.reshape(u.shape)

        rng = np.random.default_rng(seed)
        z = rng.choice([-1.0, 1.0], size=(n, probes))
        gz = wm @ lu.solve(z)
        vals = (gz * gz).sum(axis=0)
        tr_gtg = float(vals.mean())
        se = float(vals.std(ddof=1) / np.sqrt(probes))
        gti = lu.solve(np.asarray(wm.T @ np.ones(n)), trans="T")
        colsum_sq = float(gti @ gti)
        if lam is not None:
            tr_g2 = float(np.real(np.sum((lam / (1.0 - rho * lam)) ** 2)))
        else:
            gz2 = wm @ lu.solve(gz)
            tr_g2 = float((z * gz2).sum(axis=0).mean())
        warnings.warn(f"N={n}: tr(G'G) in the information matrix is a stochastic estimate "
                      f"({probes} probes): {tr_gtg:.6g} +/- {se:.2g} (standard error)",
                      stacklevel=3)
        return SpatialTraces(rho, n, tr_g, tr_g2, tr_gtg, colsum_sq, apply, True, se)
    if w.sym_scale is not None:
        return _spatial_traces_symmetric(w, rho, tr_g, lam)
    m = w.matrix.toarray() if w.is_sparse else np.asarray(w.matrix)
    s = np.eye(n) - rho * m
    sinv = sla.inv(s, check_finite=False)
    if abs(rho) > 0.01:
        g = sinv
        g[np.diag_indices(n)] -= 1.0
        g /= rho
    else:
        g = m @ sinv
    tr_gtg = float(np.einsum("ij,ij->", g, g))
    colsum_sq = float(np.sum(g.sum(axis=0) ** 2))
    if lam is not None:
        tr_g2 = float(np.real(np.sum((lam / (1.0 - rho * lam)) ** 2)))
    else:
        tr_g2 = float(np.einsum("ij,ji->", g, g))

    def apply(u):
        return np.asarray(u) @ g.T

    return SpatialTraces(rho, n, tr_g, tr_g2, tr_gtg, colsum_sq, apply)


def _spatial_traces_symmetric(w: SpatialWeights, rho: float, tr_g: float, lam) -> SpatialTraces:
    """The dense traces when W = diag(1/q) S diag(q) with S symmetric (q = sqrt(sym_scale)).

    A = I - rho S is symmetric positive definite inside the admissible interval, so A^{-1} comes
    from a Cholesky factorisation (LAPACK potrf + potri, about half the work of an LU inverse).
    With H = S A^{-1} = (A^{-1} - I)/rho (symmetric), G = diag(1/q) H diag(q), hence
    tr(G'G) = sum_ij H_ij^2 q_j^2 / q_i^2, iota'G = (H (1/q)) * q, tr(G^2) = ||H||_F^2.
    """
    n = w.n
    sym = w.symmetric_form()
    sm = sym.toarray() if sp.issparse(sym) else np.asarray(sym)
    q = np.sqrt(w.sym_scale)
    a = np.asfortranarray(np.eye(n) - rho * sm)
    cf, info = sla.lapack.dpotrf(a, lower=1, overwrite_a=1)
    if info != 0:
        raise InputError(f"I - rho W is not invertible at rho={rho:.6g} (outside the admissible "
                         "interval?)")
    ainv, info = sla.lapack.dpotri(cf, lower=1, overwrite_c=1)
    if info != 0:
        raise InputError(f"I - rho W is not invertible at rho={rho:.6g}")
    ainv = np.tril(ainv)
    ainv = ainv + np.tril(ainv, -1).T
    if abs(rho) > 0.01:
        h = ainv
        h[np.diag_indices(n)] -= 1.0
        h /= rho
    else:
        h = sm @ ainv
        h = 0.5 * (h + h.T)
    r = q * q
    tr_gtg = float(np.einsum("ij,ij,j->", h / r[:, None], h, r))
    colsum_sq = float(np.sum(((1.0 / q) @ h * q) ** 2))
    if lam is not None:
        tr_g2 = float(np.real(np.sum((lam / (1.0 - rho * lam)) ** 2)))
    else:
        tr_g2 = float(np.einsum("ij,ij->", h, h))

    def apply(u):
        u = np.asarray(u)
        return ((u * q) @ h) / q

    return SpatialTraces(rho, n, tr_g, tr_g2, tr_gtg, colsum_sq, apply)


def _logdet_d2(logdet: LogDet, rho: float, tr: SpatialTraces | None) -> float:
    """d^2/drho^2 log|I - rho W| = -tr(G^2)."""
    if tr is not None:
        return -tr.tr_g2
    if isinstance(logdet, EigenLogDet):
        lam = logdet.eigenvalues
        return -float(np.real(np.sum((lam / (1.0 - rho * lam)) ** 2)))
    h = 1e-5
    return float((logdet.deriv(rho + h) - logdet.deriv(rho - h)) / (2 * h))


def information_matrix(stats: SufficientStats, logdet: LogDet | None, model: str, rho: float,
                       gamma: np.ndarray, sigma2: float, z: np.ndarray | None = None,
                       w: SpatialWeights | None = None, kind: str = "expected",
                       traces: SpatialTraces | None = None) -> np.ndarray:
    """The information matrix in the parameter order (spatial, beta, theta, sigma2).

    ``kind="expected"`` (Lee & Yu 2010, secs. 3-4; Elhorst 2014, ch. 3):

    * lag models: I_gg = X'X/s2, I_gr = X'(G X g)~/s2, I_rr = ||(G X g)~||^2/s2 +
      P [tr(G~^2) + tr(G~'G~)], I_rs = P tr(G~)/s2, I_ss = n*/(2 s2^2), where X are the transformed
      regressors, P = the Jacobian multiplier ``a`` (T-1 or T), ~ marks the transformed-W traces
      (time effects under ``transform``) and the re-demeaned G X g (``transform``);
    * error models: I_gg = X_l'X_l/s2 with X_l = (I - lam W) X, I_gl = 0, I_ll = P [tr(H~^2) +
      tr(H~'H~)], I_ls = P tr(H~)/s2, I_ss = n*/(2 s2^2), H = W (I - lam W)^{-1};
    * SLX / OLS: diag(X'X/s2, n*/(2 s2^2)).

    ``kind="observed"``: minus the analytic Hessian of the full log-likelihood
    :func:`~bayes_sdm.likelihood.loglik` (SSE = c'Gc is quadratic in c, c is bilinear in rho and
    gamma, and d^2 log|I - rho W|/drho^2 = -tr(G^2)).

    ``z`` is the array of transformed columns (T, N, ncol) (needed for the expected information
    of lag models) and ``w`` the weights (for the traces).
    """
    if kind not in SE_METHODS:
        raise InputError(f"unknown information kind {kind!r}; choose from {SE_METHODS}")
    t = stats.terms
    g = stats.gram
    gamma = np.asarray(gamma, dtype=float)
    p = gamma.size
    spatial = spatial_name(model) is not None
    off = 1 if spatial else 0
    npar = off + p + 1
    info = np.zeros((npar, npar))
    sg = slice(off, off + p)
    js = npar - 1
    c, c_rho, d, crg = coef_derivatives(stats, model, rho if spatial else 0.0, gamma)
    s = float(c @ g @ c)
    dgd = d.T @ g @ d
    n = t.n_eff
    if spatial and traces is None and kind == "expected":
        if w is None:
            raise InputError("the expected information of a spatial model needs W")
        traces = spatial_traces(w, logdet, rho)
    if kind == "observed":
        info[sg, sg] = dgd / sigma2
        info[js, js] = -(n / (2 * sigma2**2) - s / sigma2**3)
        info[sg, js] = info[js, sg] = -(c @ g @ d) / sigma2**2
        if spatial:
            jpp = t.a * _logdet_d2(logdet, rho, traces)
            if t.b:
                jpp += t.b / (1.0 - rho) ** 2
            info[0, 0] = -(jpp - c_rho @ g @ c_rho / sigma2)
            info[0, sg] = info[sg, 0] = (c_rho @ g @ d + c @ g @ crg) / sigma2
            info[0, js] = info[js, 0] = -(c @ g @ c_rho) / sigma2**2
        return info
    info[sg, sg] = dgd / sigma2
    info[js, js] = n / (2 * sigma2**2)
    if not spatial:
        return info
    if t.b:
        tr_g, tr_g2, tr_gtg = traces.adjusted()
    else:
        tr_g, tr_g2, tr_gtg = traces.tr_g, traces.tr_g2, traces.tr_gtg
    info[0, 0] = t.a * (tr_g2 + tr_gtg)
    info[0, js] = info[js, 0] = t.a * tr_g / sigma2
    if model in LAG_MODELS:
        if z is None:
            raise InputError("the expected information of a lag model needs the transformed data")
        zx = z[..., stats.columns(model)]
        u = zx @ gamma  # (T, N)
        v = traces.apply(u)
        if t.correction == "transform":
            v = demean(v, t.fe)
        info[0, sg] = info[sg, 0] = np.einsum("tnk,tn->k", zx, v) / sigma2
        info[0, 0] += float((v * v).sum()) / sigma2
    return info


def _safe_inverse(info: np.ndarray, names: list[str]) -> np.ndarray:
    try:
        cov = np.linalg.inv(info)
    except np.linalg.LinAlgError:
        warnings.warn("the information matrix is singular; standard errors are NaN",
                      stacklevel=3)
        return np.full_like(info, np.nan)
    bad = np.diag(cov) <= 0
    if bad.any():
        warnings.warn(f"non-positive variances for {[names[i] for i in np.nonzero(bad)[0]]}: "
                      "the information matrix is not positive definite at the estimate",
                      stacklevel=3)
    return cov


# ---------------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------------


def hdi_interval(x: np.ndarray, prob: float = HDI_PROB) -> tuple[float, float]:
    """Shortest interval holding ``prob`` of the draws (ArviZ's HDI for a unimodal sample)."""
    x = np.sort(np.asarray(x, dtype=float).ravel())
    x = x[np.isfinite(x)]
    nn = x.size
    if nn == 0:
        return (np.nan, np.nan)
    k = int(np.floor(prob * nn))
    if k >= nn or k == 0:
        return (float(x[0]), float(x[-1]))
    widths = x[k:] - x[: nn - k]
    i = int(np.argmin(widths))
    return (float(x[i]), float(x[i + k]))


@dataclass
class MLResult:
    """A maximum-likelihood fit.

    Attributes
    ----------
    params, se : pd.Series indexed by parameter name (``rho`` | ``lambda``, ``beta[x]``,
        ``theta[x]``, ``sigma2``)
    cov : pd.DataFrame, the inverse information matrix
    loglik : the maximised log-likelihood (of the ``correction``'s likelihood; for ``bias`` the
        direct likelihood)
    aic, bic : -2 loglik + 2 k and -2 loglik + k log(n_eff), k = number of parameters (sigma2
        included; fixed effects are transformed out, not counted)
    r2 : 1 - SSE / sum((y - mean(y))^2) over the raw y (Elhorst's ``rsqr``, SDPDmod's ``rsqr``)
    n_eff : n* of the likelihood (NT for ``none`` / ``bias``)
    at_boundary : None, or "lower" / "upper" when the spatial estimate is at the interval's edge
    """

    params: pd.Series
    se: pd.Series
    cov: pd.DataFrame
    loglik: float
    aic: float
    bic: float
    r2: float
    n_eff: int
    model: str
    fe: str
    correction: str
    lag_convention: str
    x_names: tuple[str, ...]
    N: int  # noqa: N815
    T: int  # noqa: N815
    se_method: str = "expected"
    interval: tuple[float, float] | None = None
    at_boundary: str | None = None
    score: float = 0.0
    sse: float = float("nan")
    bias_correction: pd.Series | None = None
    notes: list[str] = field(default_factory=list)
    logdet: LogDet | None = field(default=None, repr=False, compare=False)
    w: SpatialWeights | None = field(default=None, repr=False, compare=False)
    _sums: object = field(default=None, repr=False, compare=False)

    @property
    def spatial(self) -> str | None:
        return spatial_name(self.model)

    @property
    def k(self) -> int:
        return len(self.params)

    def table(self) -> pd.DataFrame:
        """The ``ml.csv`` table: parameter, estimate, se, z, p; then rows loglik, aic, bic.

        z and p (two-sided, asymptotic normal) are NaN for sigma2 (a test of sigma2 = 0 is not
        meaningful) and for the summary rows.
        """
        est = self.params.to_numpy(dtype=float)
        se = self.se.to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = est / se
        p = 2.0 * sstats.norm.sf(np.abs(z))
        isig = list(self.params.index).index("sigma2")
        z[isig] = p[isig] = np.nan
        df = pd.DataFrame({"parameter": list(self.params.index), "estimate": est, "se": se,
                           "z": z, "p": p})
        extra = pd.DataFrame({"parameter": ["loglik", "aic", "bic"],
                              "estimate": [self.loglik, self.aic, self.bic],
                              "se": np.nan, "z": np.nan, "p": np.nan})
        return pd.concat([df, extra], ignore_index=True)

    # -- effects ------------------------------------------------------------------------------

    def _effect_fn(self):
        k = len(self.x_names)
        model = self.model
        if model in LAG_MODELS:
            ld = self.logdet
            rs = self.w.row_standardized if self.w is not None else True
            if not rs and self._sums is None:
                self._sums = total_sums(self.w)
            sums = self._sums

            def f(theta_vec):
                theta_vec = np.asarray(theta_vec, dtype=float)
                rho = theta_vec[..., 0]
                b, t = _split(model, k, theta_vec[..., 1:])
                return lag_effects(rho, b, t, ld, rs, sums)

            return f

        def f(theta_vec):
            theta_vec = np.asarray(theta_vec, dtype=float)
            off = 1 if spatial_name(model) else 0
            b, t = _split(model, k, theta_vec[..., off:])
            return local_effects(b, t)

        return f

    def effects(self, method: str = "delta", draws: int = 1000, seed: int | None = None,
                prob: float = HDI_PROB) -> pd.DataFrame:
        """Direct, indirect and total effects with uncertainty (LeSage & Pace 2009, sec. 2.7).

        Parameters
        ----------
        method : ``delta`` (delta method: the gradient of each effect by central differences,
            exact for SEM/SDEM/SLX where effects are linear; interval = normal
            +/- z_{(1+prob)/2} se) or ``simulation`` (``draws`` draws of (rho, beta, theta) from
            the asymptotic normal N(estimate, cov), rho kept inside the admissible interval;
            se = sd of the simulated effects, interval = their shortest ``prob`` interval,
            prob_positive = share of draws > 0; LeSage & Pace 2009, sec. 2.7.1)
        draws, seed : simulation settings

        Returns
        -------
        pd.DataFrame with columns variable, effect, mean, sd, hdi_3%, hdi_97%, prob_positive, se
        (the ``effects.csv`` format plus ``se``); ``mean`` is the point estimate at the ML
        estimates (not the simulation mean) and ``sd`` equals ``se``.
        """
        if method not in ("delta", "simulation"):
            raise InputError(f"unknown effects method {method!r}; use 'delta' or 'simulation'")
        if not (isinstance(draws, int | np.integer) and draws >= 10):
            raise InputError(f"draws must be an integer >= 10, got {draws!r}")
        if not 0 < prob < 1:
            raise InputError(f"prob must be in (0, 1), got {prob!r}")
        names = [n for n in self.params.index if n != "sigma2"]
        est = self.params[names].to_numpy(dtype=float)
        cov = self.cov.loc[names, names].to_numpy(dtype=float)
        f = self._effect_fn()
        point = f(est)  # (3, K)
        k = len(self.x_names)
        if method == "delta":
            m = est.size
            steps = 1e-6 * np.maximum(1.0, np.abs(est))
            pts = np.repeat(est[None, :], 2 * m, axis=0)
            for j in range(m):
                pts[2 * j, j] += steps[j]
                pts[2 * j + 1, j] -= steps[j]
            vals = f(pts)  # (2m, 3, K)
            jac = (vals[0::2] - vals[1::2]) / (2 * steps[:, None, None])  # (m, 3, K)
            jflat = jac.reshape(m, -1)
            var = np.einsum("ia,ij,ja->a", jflat, cov, jflat).reshape(3, k)
            se = np.sqrt(np.clip(var, 0.0, None))
            zq = sstats.norm.ppf(0.5 + prob / 2)
            lo, hi = point - zq * se, point + zq * se
            with np.errstate(divide="ignore", invalid="ignore"):
                pp = np.where(se > 0, sstats.norm.cdf(point / se), (point > 0).astype(float))
        else:
            if not np.all(np.isfinite(cov)):
                raise InputError("the covariance of the estimates is not finite (see the fit's "
                                 "warnings); simulated effects are unavailable")
            rng = np.random.default_rng(seed)
            sims = rng.multivariate_normal(est, cov, size=draws, method="eigh")
            if self.spatial:
                a, b = self.interval
                ok = (sims[:, 0] > a) & (sims[:, 0] < b)
                tries = 0
                while not ok.all() and tries < 20:
                    nbad = int((~ok).sum())
                    sims[~ok] = rng.multivariate_normal(est, cov, size=nbad, method="eigh")
                    ok = (sims[:, 0] > a) & (sims[:, 0] < b)
                    tries += 1
                if not ok.all():
                    raise InputError("the asymptotic normal of the spatial parameter puts most "
                                     "of its mass outside the admissible interval; use "
                                     "method='delta'")
            vals = f(sims)  # (draws, 3, K)
            se = vals.std(axis=0, ddof=1)
            lo = np.empty_like(point)
            hi = np.empty_like(point)
            for i in range(3):
                for j in range(k):
                    lo[i, j], hi[i, j] = hdi_interval(vals[:, i, j], prob)
            pp = (vals > 0).mean(axis=0)
        lab_lo = f"hdi_{100 * (1 - prob) / 2:g}%"
        lab_hi = f"hdi_{100 * (1 + prob) / 2:g}%"
        rows = []
        for i, eff in enumerate(EFFECTS):
            for j, x in enumerate(self.x_names):
                rows.append({"variable": x, "effect": eff, "mean": point[i, j], "sd": se[i, j],
                             lab_lo: lo[i, j], lab_hi: hi[i, j], "prob_positive": pp[i, j],
                             "se": se[i, j]})
        return pd.DataFrame(rows)

    def summary(self) -> str:
        """A short text summary."""
        lines = [f"ML {self.model.upper()} fe={self.fe} correction={self.correction} "
                 f"lag_convention={self.lag_convention} N={self.N} T={self.T} n*={self.n_eff}",
                 self.table().to_string(index=False, float_format=lambda v: f"{v:.6g}")]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# the estimator
# ---------------------------------------------------------------------------------------------


def _select_x(panel: Panel, x_names) -> Panel:
    if x_names is None:
        return panel
    x_names = list(x_names)
    missing = [x for x in x_names if x not in panel.x_names]
    if missing:
        raise InputError(f"x_names {missing} are not regressors of the panel {panel.x_names}")
    if not x_names or len(set(x_names)) != len(x_names):
        raise InputError(f"x_names must be a non-empty list of distinct names, got {x_names}")
    idx = [panel.x_names.index(x) for x in x_names]
    return replace(panel, X=panel.X[:, :, idx], x_names=tuple(x_names))


def _fit_core(stats, logdet, model, bounds, on_boundary):
    """Direct maximisation for one likelihood; returns (theta_vec, loglik, search, sse)."""
    _check_design(stats, model)
    search = None
    if spatial_name(model) is None:
        ll, coef, s = concentrated_loglik(stats, None, model, 0.0)
        rho = 0.0
    else:
        search = maximise_concentrated(stats, logdet, model, bounds=bounds)
        rho = search.rho
        ll, coef, s = concentrated_loglik(stats, logdet, model, rho)
        if search.at_boundary:
            name = spatial_name(model)
            msg = (f"{name}={rho:.8g} is at the {search.at_boundary} bound of its "
                   f"{'search' if bounds else 'admissible'} interval "
                   f"({logdet.interval[0] if not bounds else bounds[0]:.6g}, "
                   f"{logdet.interval[1] if not bounds else bounds[1]:.6g}): the likelihood "
                   f"still increases towards the bound (score {search.score:.3g}); this is "
                   "not an interior maximum, so standard errors and tests are not valid. "
                   "Check W, the model and the fixed effects")
            if on_boundary == "raise":
                raise InputError(msg)
            warnings.warn(msg, BoundaryWarning, stacklevel=3)
    sigma2 = float(s) / stats.terms.n_eff
    vec = np.r_[[rho] if spatial_name(model) else [], np.asarray(coef, float), [sigma2]]
    return vec, float(ll), search, float(s)


def fit_ml(
    panel: Panel,
    w: SpatialWeights,
    model: str = "sdm",
    fe: str = "twoway",
    correction: str = "transform",
    lag_convention: str = "QWy",
    logdet: LogDet | str | None = None,
    x_names=None,
    se: str = "expected",
    bounds: tuple[float, float] | None = None,
    on_boundary: str = "warn",
) -> MLResult:
    """Maximum-likelihood fit of a spatial panel model with fixed effects.

    Parameters
    ----------
    panel, w : the balanced panel and its weights (same units, same order)
    model : ``sdm`` | ``sar`` | ``sem`` | ``sdem`` | ``slx`` | ``ols``
    fe : ``twoway`` | ``unit`` | ``time`` | ``none``
    correction : ``transform`` (Lee-Yu, default) | ``none`` (direct approach) | ``bias``
        (Lee-Yu bias-corrected direct estimates); see the module docstring
    lag_convention : ``QWy`` (default) | ``WQy``
    logdet : a precomputed :class:`~bayes_sdm.logdet.LogDet` (e.g. ``Prepared.logdet``) or a
        method name for :func:`~bayes_sdm.logdet.make_logdet` (default ``auto``)
    x_names : the regressors to use, a subset of ``panel.x_names`` in the wanted order
        (default: all)
    se : ``expected`` (analytic information matrix, default) | ``observed`` (analytic Hessian)
    bounds : optional sub-interval of the admissible interval to search (Elhorst's rmin/rmax)
    on_boundary : ``warn`` (default; :class:`BoundaryWarning` and ``at_boundary`` set) or
        ``raise`` (:class:`InputError`) when the maximum is at the edge of the interval

    Returns
    -------
    MLResult

    Raises
    ------
    InputError
        unknown model / FE / correction / convention, units of W and panel differ, a regressor
        absorbed by the FE or a singular design (naming the columns), time effects with a W
        that is not row-standardised, a spatial estimate at the boundary with
        ``on_boundary="raise"``.
    """
    if model not in MODELS:
        raise InputError(f"unknown model {model!r}; choose from {MODELS}")
    if fe not in FE_TYPES:
        raise InputError(f"unknown fixed effects {fe!r}; choose from {FE_TYPES}")
    if correction not in ML_CORRECTIONS:
        raise InputError(f"unknown correction {correction!r}; choose from {ML_CORRECTIONS}")
    if se not in SE_METHODS:
        raise InputError(f"unknown se method {se!r}; choose from {SE_METHODS}")
    if on_boundary not in ("warn", "raise"):
        raise InputError(f"on_boundary must be 'warn' or 'raise', got {on_boundary!r}")
    if not isinstance(panel, Panel):
        raise InputError(f"panel must be a bayes_sdm Panel, got {type(panel).__name__}")
    if not isinstance(w, SpatialWeights):
        raise InputError(f"w must be a bayes_sdm SpatialWeights, got {type(w).__name__}")
    if tuple(w.ids) != tuple(panel.units):
        if set(w.ids) != set(panel.units) or len(w.ids) != len(panel.units):
            a = [u for u in w.ids if u not in set(panel.units)][:10]
            b = [u for u in panel.units if u not in set(w.ids)][:10]
            raise InputError(f"W/unit mismatch: units in W but not in the data: {a}; units in "
                             f"the data but not in W: {b}")
        panel = panel.subset_units(w.ids)
    panel = _select_x(panel, x_names)
    check_not_absorbed(panel, fe)
    base_corr = "none" if correction == "bias" else correction
    stats = sufficient_stats(panel, w, fe, correction=base_corr, lag_convention=lag_convention)
    z = transformed_columns(panel, w, fe, lag_convention)
    spatial = spatial_name(model) is not None
    ld = None
    if spatial:
        if isinstance(logdet, LogDet):
            if logdet.n != w.n:
                raise InputError(f"logdet is for N={logdet.n} but W has N={w.n}")
            ld = logdet
        else:
            ld = make_logdet(w, logdet or "auto")
    names = param_names(model, panel.x_names)
    vec, ll, search, s = _fit_core(stats, ld, model, bounds, on_boundary)
    notes = []
    if search is not None and search.at_boundary:
        notes.append(f"{spatial_name(model)} is at the {search.at_boundary} bound of its interval: "
                     "not an interior maximum; standard errors and tests are not valid")
    bias = None
    info_kw = dict(z=z, w=w, kind=se)
    if correction == "bias":
        vec0 = vec.copy()
        nt = panel.N * panel.T
        if fe == "unit":
            vec[-1] *= panel.T / (panel.T - 1)
        elif fe == "time":
            vec[-1] *= panel.N / (panel.N - 1)
        elif fe == "twoway":
            rho0 = vec[0] if spatial else 0.0
            info0 = information_matrix(stats, ld, model, rho0, vec[int(spatial):-1], vec[-1],
                                       **info_kw)
            rhs = np.zeros(vec.size)
            if spatial:
                rhs[0] = 1.0 / (1.0 - rho0)
            rhs[-1] = 1.0 / (2.0 * vec[-1])
            vec = vec + np.linalg.solve(info0 / nt, rhs) / panel.N
            vec[-1] *= panel.T / (panel.T - 1)
        bias = pd.Series(vec - vec0, index=names)
        notes.append("correction='bias': estimates are the Lee-Yu bias-corrected direct "
                     "estimates; loglik is the direct likelihood at its maximum")
        if spatial and not (ld.interval[0] < vec[0] < ld.interval[1]):
            raise InputError(f"the bias-corrected {spatial_name(model)}={vec[0]:.6g} is outside "
                             f"the admissible interval {ld.interval}")
    rho = vec[0] if spatial else 0.0
    gamma = vec[int(spatial):-1]
    info = information_matrix(stats, ld, model, rho, gamma, vec[-1], **info_kw)
    cov = _safe_inverse(info, names)
    sd = np.sqrt(np.where(np.diag(cov) > 0, np.diag(cov), np.nan))
    yc = panel.y - panel.y.mean()
    sst = float((yc * yc).sum())
    if correction == "bias":
        s_fit = float(sse_at(stats, model, rho, gamma))
    else:
        s_fit = s
    kpar = len(names)
    n_eff = stats.terms.n_eff
    res = MLResult(
        params=pd.Series(vec, index=names, name="estimate"),
        se=pd.Series(sd, index=names, name="se"),
        cov=pd.DataFrame(cov, index=names, columns=names),
        loglik=ll, aic=-2 * ll + 2 * kpar, bic=-2 * ll + kpar * math.log(n_eff),
        r2=1.0 - s_fit / sst if sst > 0 else float("nan"), n_eff=n_eff, model=model, fe=fe,
        correction=correction, lag_convention=lag_convention, x_names=panel.x_names,
        N=panel.N, T=panel.T, se_method=se, interval=ld.interval if ld is not None else None,
        at_boundary=search.at_boundary if search else None,
        score=search.score if search else 0.0, sse=s_fit, bias_correction=bias, notes=notes,
        logdet=ld, w=w,
    )
    return res


def sse_at(stats: SufficientStats, model: str, rho: float, gamma: np.ndarray) -> float:
    """SSE = c'Gc at given parameters (spatial, beta, theta)."""
    c, _, _, _ = coef_derivatives(stats, model, rho, gamma)
    return float(c @ stats.gram @ c)


def loglik_at(result: MLResult, panel: Panel, w: SpatialWeights, params=None) -> float:
    """The log-likelihood of ``result``'s specification at ``params`` (default: its estimates)
    through :func:`bayes_sdm.likelihood.loglik` (used by the tests and the LR tests)."""
    corr = "none" if result.correction == "bias" else result.correction
    panel = _select_x(panel, result.x_names)
    stats = sufficient_stats(panel, w, result.fe, corr, result.lag_convention)
    vec = result.params.to_numpy(float) if params is None else np.asarray(params, float)
    spatial = result.spatial is not None
    rho = vec[0] if spatial else 0.0
    b, t = _split(result.model, len(result.x_names), vec[int(spatial):-1])
    return float(loglik(stats, result.logdet, result.model, rho, b, t, vec[-1]))


# ---------------------------------------------------------------------------------------------
# ML versus posterior
# ---------------------------------------------------------------------------------------------


def _posterior_dataset(idata):
    post = None
    for getter in (lambda d: d["posterior"], lambda d: d.posterior):
        try:
            post = getter(idata)
            break
        except (KeyError, AttributeError, TypeError):
            continue
    if post is None:
        raise InputError("idata has no posterior group")
    if hasattr(post, "to_dataset"):
        post = post.to_dataset()
    return post


def _draws(post, var: str, **sel):
    if var not in post:
        return None
    da = post[var]
    for dim, val in sel.items():
        if dim not in da.dims:
            return None
        if val not in list(da[dim].values):
            return None
        da = da.sel({dim: val})
    return np.asarray(da.values, dtype=float).ravel()


def comparison_table(ml_result: MLResult, idata, effects_method: str = "delta",
                     prob: float = HDI_PROB, draws: int = 2000, seed: int | None = 0
                     ) -> pd.DataFrame:
    """ML estimate +/- SE next to the posterior mean +/- sd and HDI, for every parameter and
    effect, with the standardised difference (ML - posterior mean) / posterior sd.

    Parameters
    ----------
    ml_result : an :class:`MLResult`
    idata : the posterior (ArviZ DataTree or anything with a ``posterior`` group) with variables
        ``rho`` / ``lambda``, ``beta`` (dim ``coef``), ``theta`` (dim ``coef``), ``sigma2`` and
        ``effects`` (dims ``effect``, ``coef``)
    effects_method : how the ML effects' SEs are computed (see :meth:`MLResult.effects`)

    Returns
    -------
    pd.DataFrame with columns kind (parameter | effect), parameter, variable, effect,
    ml_estimate, ml_se, post_mean, post_sd, hdi_3%, hdi_97%, std_diff.  Rows whose parameter is
    missing from the posterior have NaN posterior columns.
    """
    post = _posterior_dataset(idata)
    lab_lo = f"hdi_{100 * (1 - prob) / 2:g}%"
    lab_hi = f"hdi_{100 * (1 + prob) / 2:g}%"
    rows = []

    def add(kind, pname, var, eff, est, se, x):
        if x is None or x.size == 0:
            m = sdv = lo = hi = np.nan
        else:
            m, sdv = float(x.mean()), float(x.std(ddof=1)) if x.size > 1 else np.nan
            lo, hi = hdi_interval(x, prob)
        with np.errstate(divide="ignore", invalid="ignore"):
            diff = (est - m) / sdv if sdv and np.isfinite(sdv) and sdv > 0 else np.nan
        rows.append({"kind": kind, "parameter": pname, "variable": var, "effect": eff,
                     "ml_estimate": est, "ml_se": se, "post_mean": m, "post_sd": sdv,
                     lab_lo: lo, lab_hi: hi, "std_diff": diff})

    for pname in ml_result.params.index:
        est, se = float(ml_result.params[pname]), float(ml_result.se[pname])
        if "[" in pname:
            var = pname[pname.index("[") + 1:-1]
            base = pname[:pname.index("[")]
            x = _draws(post, base, coef=var)
        else:
            var = ""
            x = _draws(post, pname)
        add("parameter", pname, var, "", est, se, x)
    eff = ml_result.effects(method=effects_method, draws=draws, seed=seed, prob=prob)
    for r in eff.itertuples(index=False):
        x = _draws(post, "effects", effect=r.effect, coef=r.variable)
        add("effect", f"{r.effect}[{r.variable}]", r.variable, r.effect, float(r.mean),
            float(r.se), x)
    return pd.DataFrame(rows)


_HYPOTHESIS = ("lr_test", "wald_theta_zero", "wald_common_factor", "fe_lr_tests", "all_tests")


def __getattr__(name):
    """The tests of hypotheses live in :mod:`bayes_sdm.hypothesis`; re-exported here."""
    if name in _HYPOTHESIS:
        from . import hypothesis

        return getattr(hypothesis, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
