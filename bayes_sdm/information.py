"""The information matrix of the ML estimates, and the traces of G = W (I - rho W)^{-1} it needs.

Expected information (Lee & Yu 2010, J. Econometrics 154:165-185, secs. 3-4; Elhorst 2014,
"Spatial Econometrics", ch. 3; as in Elhorst's routines, SDPDmod's ``f_SIG`` and spreg) and the
analytic observed information (minus the Hessian of the full log-likelihood).  The traces
tr(G), tr(G^2), tr(G'G) are exact: tr(G) and tr(G^2) from the eigenvalues, tr(G'G) from one
dense inverse at the estimate (O(N^3) once, outside any loop).  Under the transformation
approach with time effects, the traces are those of W* = F_N' W F_N: tr(G*) = tr(G) - 1/(1-rho),
tr(G*^2) = tr(G^2) - 1/(1-rho)^2 and tr(G*'G*) = tr(G'G) - ||G' iota||^2 / N (row-standardised
W: F_N' W = W* F_N').  The only approximation: for a sparse W with N > ``DENSE_MAX`` (6000),
tr(G'G) is Hutchinson's stochastic estimate, reported with its standard error in a warning (it
enters the expected information only through I_rho,rho).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from . import families
from .design import demean
from .errors import InputError
from .families import Family
from .likelihood import SufficientStats, coef_layout
from .logdet import LogDet
from .weights import SpatialWeights

SE_METHODS = ("expected", "observed")
#: largest N for which tr(G'G) uses a dense inverse; above it a sparse W uses a stochastic
#: (Hutchinson) estimate whose standard error is reported in a warning.
DENSE_MAX = 6000


def coef_derivatives(stats: SufficientStats, family: Family | str, rho: float,
                     gamma: np.ndarray):
    """c and its derivatives, with SSE = c'Gc (:func:`~bayes_sdm.likelihood.coef_vector`).

    c = u0 + rho u1 + (M0 + rho M1) gamma is affine in rho for fixed gamma = (beta, theta) and
    affine in gamma for fixed rho (:func:`~bayes_sdm.likelihood.coef_layout`), so the
    derivatives are exact.  Returns (c, c_rho, D, c_rho_gamma) with D = dc/dgamma (ncol, p) and
    c_rho_gamma = d^2 c / drho dgamma (ncol, p).
    """
    u0, u1, m0, m1 = coef_layout(stats.layout, family)
    gamma = np.asarray(gamma, dtype=float)
    d = m0 + rho * m1
    c = u0 + rho * u1 + d @ gamma
    c_rho = u1 + m1 @ gamma
    return c, c_rho, d, m1


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
    lam = logdet.eigenvalues
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
    lam = logdet.eigenvalues
    if lam is not None:
        return -float(np.real(np.sum((lam / (1.0 - rho * lam)) ** 2)))
    h = 1e-5
    return float((logdet.deriv(rho + h) - logdet.deriv(rho - h)) / (2 * h))


def information_matrix(stats: SufficientStats, logdet: LogDet | None, family: Family | str,
                       rho: float,
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
    family = families.get(family)
    if kind not in SE_METHODS:
        raise InputError(f"unknown information kind {kind!r}; choose from {SE_METHODS}")
    t = stats.terms
    g = stats.gram
    gamma = np.asarray(gamma, dtype=float)
    p = gamma.size
    spatial = family.has_jacobian
    off = 1 if spatial else 0
    npar = off + p + 1
    info = np.zeros((npar, npar))
    sg = slice(off, off + p)
    js = npar - 1
    c, c_rho, d, crg = coef_derivatives(stats, family, rho if spatial else 0.0, gamma)
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
    if family.lag:
        if z is None:
            raise InputError("the expected information of a lag model needs the transformed data")
        zx = z[..., stats.columns(family)]
        u = zx @ gamma  # (T, N)
        v = traces.apply(u)
        if t.correction == "transform" or t.fe == "intercept":
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
