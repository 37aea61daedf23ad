"""The SAC / SARAR family's likelihood piece: two spatial parameters, rho on W y and lambda on
the error (W_1 = W_2 = W).

    y = rho W y + X beta + u,     u = lambda W u + eps,     eps ~ N(0, sigma^2 I)

(Anselin 1988, "Spatial Econometrics", ch. 6, the "general spatial model"; Kelejian & Prucha
1998; LeSage & Pace 2009, sec. 2.4; panels with fixed effects: Lee & Yu 2010, sec. 5, the
transformation approach, as Stata's ``xsmle, model(sac)`` and R splm's ``spml(lag=TRUE,
spatial.error="b")``).  The residual eps = (I - lambda W)[(I - rho W) y - X beta] is
:func:`bayes_sdm.likelihood.coef_vector` with both parameters, so the SSE is the same quadratic
form c'Gc of the Gram matrix of [y, Wy, X, WX, W^2 y] as every other family, and the
log-likelihood is

    l = -(n*/2) log(2 pi sigma^2) + J(rho) + J(lambda) - SSE / (2 sigma^2),

J(s) = a log|I - s W| - b log(1 - s) the Lee-Yu Jacobian of each filter
(:func:`bayes_sdm.likelihood.family_jacobian`): two evaluations of the one-parameter
:class:`~bayes_sdm.logdet.LogDet` (log|I - rho W| + log|I - lambda W|), never an O(N^3)
determinant.  The admissible region is the square (interval of the LogDet)^2: both filters must
be invertible, and the likelihood is symmetric in neither parameter, so (rho, lambda) is
identified on it except at the rare points where the two roles can be swapped (the SAC
likelihood can be bimodal: the search starts from a grid over the whole square).

Maximum likelihood (:func:`maximise`): at fixed (rho, lambda) beta is the least squares
solution of the filtered regression and sigma^2 = SSE/n*, so the concentrated likelihood is a
function on the square; a 41 x 41 grid finds the best cell, L-BFGS-B with the analytic
(envelope-theorem) gradient refines it, and Newton steps on the analytic gradient polish it to
its zero.  Standard errors: the analytic expected information (:func:`information`), the
reduced-form Gaussian formula I_ij = mu_i' Sigma^-1 mu_j + tr(Sigma^-1 Sigma_i Sigma^-1
Sigma_j)/2 with A = I - rho W, B = I - lambda W, G = W A^-1, H = W B^-1, Gt = B G B^-1:

    I_bb = (BX)'(BX)/s2,  I_br = (BX)'(B G X b)/s2,  I_bl = 0,
    I_rr = ||B G X b||^2/s2 + P [tr(G^2) + tr(Gt'Gt)],  I_ll = P [tr(H^2) + tr(H'H)],
    I_rl = P [tr(H Gt) + tr(H'Gt)],  I_rs = P tr(G)/s2,  I_ls = P tr(H)/s2,  I_ss = n*/(2 s2^2)

(P the Jacobian multiplier ``a``; under the transformation approach with time effects every
matrix M is replaced by its projection on the complement of iota, as for one parameter in
:mod:`bayes_sdm.information`).  This is the information spatialreg's ``sacsarlm`` inverts.

Bayesian model (:func:`bayes_sdm.pymc_models.build_model`): NUTS on (rho, lambda) with beta
and sigma **sampled**, not integrated out.  Integrating them analytically, as the exact sampler
does for one spatial parameter, would put log|Z_lambda'Z_lambda| and a profiled SSE inside the
graph at every (rho, lambda) -- a K x K solve and its derivative per gradient for no gain in
exactness, since NUTS still has to explore (rho, lambda) jointly; sampling keeps the one
likelihood formula of every family (O(K^2) per gradient after the sufficient statistics), the
same priors as the other families, and draws of beta and sigma for the effects.  Estimators that
need one spatial parameter (the exact sampler, the marginal likelihoods, the collapsed
hierarchy) refuse this family.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import scipy.optimize as so

from . import families
from .design import Layout, demean
from .errors import InputError
from .families import Family
from .likelihood import (
    SufficientStats,
    coef_vector,
    concentrated_ls,
    gaussian_loglik,
    jacobian,
)
from .logdet import LogDet

#: largest N for the dense traces of the information matrix
DENSE_MAX = 6000


def _check(family: Family) -> Family:
    family = families.get(family)
    if not (family.lag and family.error):
        raise InputError(f"{family.name} is not a lag + error (SAC) family")
    return family


@cache
def _bilinear(layout: Layout, family: Family):
    """c(rho, lam, b) = U(rho, lam) + M(rho, lam) b with U, M bilinear: returns the arrays
    (u00, ur, ul, url) and (m00, mr, ml, mrl) (ncol, p)."""
    k = layout.k
    p = family.n_coef(k)

    def c(r, lam, b):
        th = b[k:] if family.durbin else None
        return np.asarray(coef_vector(layout, family, (r, lam), b[:k], th), dtype=float)

    z = np.zeros(p)
    c00, c10, c01, c11 = c(0, 0, z), c(1, 0, z), c(0, 1, z), c(1, 1, z)
    u = (c00, c10 - c00, c01 - c00, c11 - c10 - c01 + c00)
    ms = [np.empty((c00.size, p)) for _ in range(4)]
    for j in range(p):
        e = np.zeros(p)
        e[j] = 1.0
        d00, d10 = c(0, 0, e) - c00, c(1, 0, e) - c10
        d01, d11 = c(0, 1, e) - c01, c(1, 1, e) - c11
        ms[0][:, j], ms[1][:, j], ms[2][:, j] = d00, d10 - d00, d01 - d00
        ms[3][:, j] = d11 - d10 - d01 + d00
    e = np.linspace(0.3, 1.1, p)
    r, lam = 0.37, -0.21
    want = u[0] + r * u[1] + lam * u[2] + r * lam * u[3] + (
        ms[0] + r * ms[1] + lam * ms[2] + r * lam * ms[3]) @ e
    if not np.allclose(c(r, lam, e), want, atol=1e-12):  # pragma: no cover - a wrong family
        raise RuntimeError(f"coef_vector of {family.name} is not bilinear in (rho, lambda)")
    return u, tuple(ms)


def coef_parts(stats: SufficientStats, family: Family, rho, lam):
    """(u, M) with c = u + M b at (rho, lam) (arrays broadcast over rho/lam's shape)."""
    (u0, ur, ul, url), (m0, mr, ml, mrl) = _bilinear(stats.layout, family)
    r = np.asarray(rho, dtype=float)[..., None]
    lm = np.asarray(lam, dtype=float)[..., None]
    u = u0 + r * ur + lm * ul + r * lm * url
    r2, l2 = r[..., None], lm[..., None]
    m = m0 + r2 * mr + l2 * ml + r2 * l2 * mrl
    return u, m


def profile(stats: SufficientStats, family: Family | str, rho, lam):
    """beta and SSE concentrated out at each (rho, lam) (vectorised; broadcast shapes).

    Returns (coef (..., p), sse (...)): the least squares fit of the filtered regression
    (I - lam W)(I - rho W) y on (I - lam W) X, from the Gram matrix.
    """
    family = _check(family)
    rho, lam = np.broadcast_arrays(np.asarray(rho, float), np.asarray(lam, float))
    u, m = coef_parts(stats, family, rho, lam)
    coef, s, _ = concentrated_ls(stats.gram, u, m, "filtered")
    return coef, s


def concentrated_loglik(stats: SufficientStats, logdet: LogDet, family: Family | str, rho,
                        lam):
    """(loglik, coef, sse) with beta and sigma^2 = SSE/n* concentrated out (vectorised)."""
    family = _check(family)
    coef, s = profile(stats, family, rho, lam)
    rho, lam = np.broadcast_arrays(np.asarray(rho, float), np.asarray(lam, float))
    jac = jacobian(stats.terms, logdet.value(rho.ravel()).reshape(rho.shape), rho) + \
        jacobian(stats.terms, logdet.value(lam.ravel()).reshape(lam.shape), lam)
    n = stats.terms.n_eff
    return gaussian_loglik(stats.terms, s, s / n, jac), coef, s


def score(stats: SufficientStats, logdet: LogDet, family: Family, rho: float,
          lam: float) -> np.ndarray:
    """The gradient of the concentrated log-likelihood in (rho, lam) (envelope theorem):
    -(n*/2) SSE_s / SSE + a dlog|I - sW|/ds + b/(1 - s), SSE_s = 2 c'G dc/ds."""
    family = _check(family)
    coef, s = profile(stats, family, rho, lam)
    (u0, ur, ul, url), (m0, mr, ml, mrl) = _bilinear(stats.layout, family)
    u, m = coef_parts(stats, family, rho, lam)
    c = u + m @ coef
    dc_r = ur + lam * url + (mr + lam * mrl) @ coef
    dc_l = ul + rho * url + (ml + rho * mrl) @ coef
    gc = stats.gram @ c
    t = stats.terms
    out = np.empty(2)
    for i, (v, dc) in enumerate(((rho, dc_r), (lam, dc_l))):
        out[i] = -0.5 * t.n_eff * 2.0 * (gc @ dc) / s + t.a * float(logdet.deriv(v))
        if t.b:
            out[i] += t.b / (1.0 - v)
    return out


@dataclass
class Search:
    """The maximiser of the concentrated likelihood over the admissible square."""

    rho: float
    lam: float
    loglik: float
    score: np.ndarray
    at_boundary: str | None
    evaluations: int


def maximise(stats: SufficientStats, logdet: LogDet, family: Family | str, grid: int = 41,
             bounds: tuple[float, float] | None = None) -> Search:
    """Maximise the concentrated log-likelihood over the square (module docstring)."""
    family = _check(family)
    lo, hi = logdet.interval if bounds is None else (float(bounds[0]), float(bounds[1]))
    ilo, ihi = logdet.interval
    if not (ilo <= lo < hi <= ihi):
        raise InputError(f"bounds {bounds} must lie inside the admissible interval "
                         f"({ilo:.6g}, {ihi:.6g})")
    eps = 1e-6 * (hi - lo)
    lo, hi = lo + eps, hi - eps
    xs = np.linspace(lo, hi, grid)
    r, lm = np.meshgrid(xs, xs, indexing="ij")
    ll, _, _ = concentrated_loglik(stats, logdet, family, r, lm)
    ll = np.where(np.isfinite(ll), ll, -np.inf)
    i, j = np.unravel_index(int(np.argmax(ll)), ll.shape)
    x0 = np.array([xs[i], xs[j]])

    def f(x):
        v = float(concentrated_loglik(stats, logdet, family, x[0], x[1])[0])
        return -v if np.isfinite(v) else 1e300

    def g(x):
        return -score(stats, logdet, family, x[0], x[1])

    res = so.minimize(f, x0, jac=g, method="L-BFGS-B", bounds=[(lo, hi), (lo, hi)],
                      options={"ftol": 1e-16, "gtol": 1e-11, "maxiter": 2000})
    x = np.clip(res.x, lo, hi)
    nev = grid * grid + int(res.nfev)
    # Newton polish on the analytic gradient (Hessian by central differences of it)
    for _ in range(8):
        sc = score(stats, logdet, family, x[0], x[1])
        h = 1e-6
        hess = np.empty((2, 2))
        for k in range(2):
            e = np.zeros(2)
            e[k] = h
            hess[:, k] = (score(stats, logdet, family, *(x + e))
                          - score(stats, logdet, family, *(x - e))) / (2 * h)
        nev += 5
        try:
            step = np.linalg.solve(hess, sc)
        except np.linalg.LinAlgError:
            break
        if not np.all(np.linalg.eigvalsh(0.5 * (hess + hess.T)) < 0):
            break
        xn = x - step
        if not (np.all(xn > lo) and np.all(xn < hi)) or f(xn) > f(x) + 1e-9:
            break
        x = xn
        if np.abs(step).max() < 1e-13:
            break
    sc = score(stats, logdet, family, x[0], x[1])
    tol = 1e-5 * (hi - lo)
    edge = None
    for v, d, name in ((x[0], sc[0], "rho"), (x[1], sc[1], "lambda")):
        if v - lo < tol and d < 0:
            edge = f"{name} lower"
        elif hi - v < tol and d > 0:
            edge = f"{name} upper"
    return Search(float(x[0]), float(x[1]), -f(x), sc, edge, nev)


def _dense(w) -> np.ndarray:
    if w.n > DENSE_MAX:
        raise InputError(f"not implemented yet: SAC standard errors for N = {w.n} > "
                         f"{DENSE_MAX} (dense traces)")
    return w.matrix.toarray() if w.is_sparse else np.asarray(w.matrix, dtype=float)


def information(stats: SufficientStats, family: Family | str, rho: float, lam: float,
                gamma: np.ndarray, sigma2: float, z: np.ndarray, w) -> np.ndarray:
    """The expected information in the order (rho, lambda, beta (, theta), sigma2) (module
    docstring).  ``z``: the transformed columns (T, N, ncol); ``w``: the weights."""
    family = _check(family)
    t = stats.terms
    wm = _dense(w)
    n = wm.shape[0]
    eye = np.eye(n)
    a_inv = np.linalg.inv(eye - rho * wm)
    b_mat = eye - lam * wm
    b_inv = np.linalg.inv(b_mat)
    g = wm @ a_inv
    h = wm @ b_inv
    gt = b_mat @ g @ b_inv
    if t.b:  # Lee-Yu with time effects: the matrices on the complement of iota
        p = eye - 1.0 / n
        g, h, gt = p @ g @ p, p @ h @ p, p @ gt @ p
    gamma = np.asarray(gamma, dtype=float)
    npar = 2 + gamma.size + 1
    info = np.zeros((npar, npar))
    sg = slice(2, 2 + gamma.size)
    a = t.a
    info[0, 0] = a * (np.einsum("ij,ji->", g, g) + np.einsum("ij,ij->", gt, gt))
    info[1, 1] = a * (np.einsum("ij,ji->", h, h) + np.einsum("ij,ij->", h, h))
    info[0, 1] = info[1, 0] = a * (np.einsum("ij,ji->", h, gt) + np.einsum("ij,ij->", h, gt))
    info[0, -1] = info[-1, 0] = a * np.trace(g) / sigma2
    info[1, -1] = info[-1, 1] = a * np.trace(h) / sigma2
    info[-1, -1] = t.n_eff / (2 * sigma2**2)
    # the mean part: B X and B G X b per period, from the transformed columns
    lay = stats.layout
    zx = z[..., stats.columns(family)]
    zwx = z[..., lay.slice("WX")]
    bx = zx - lam * zwx
    u = zx @ gamma  # (T, N)
    wmat = np.asarray(wm)
    gfull = wmat @ a_inv
    v = (u @ gfull.T) @ b_mat.T  # B G u per period
    if t.correction == "transform" or t.fe == "intercept":
        v = demean(v, t.fe)
    info[sg, sg] = np.einsum("tnk,tnl->kl", bx, bx) / sigma2
    info[0, sg] = info[sg, 0] = np.einsum("tnk,tn->k", bx, v) / sigma2
    info[0, 0] += float((v * v).sum()) / sigma2
    return info


def intercept_zdc_rho(stats: SufficientStats, family: Family, rho: float, lam: float,
                      alpha: float, mu: np.ndarray, w) -> float:
    """E[zbar'dc/drho] = -mean((I - lam W) G (alpha iota + mu)) for the intercept's standard
    error (:mod:`bayes_sdm.intercept`); ``mu`` (T, N) the raw X beta."""
    wm = _dense(w)
    n = wm.shape[0]
    g = wm @ np.linalg.inv(np.eye(n) - rho * wm)
    v = ((alpha + mu) @ g.T) @ (np.eye(n) - lam * wm).T
    return -float(v.mean())


# ----------------------------------------------------------------------------- marginal
def log_integrand(stats: SufficientStats, logdet: LogDet, family: Family | str, rho,
                  lam) -> np.ndarray:
    """log p(y | rho, lambda, M) with beta (flat prior) and sigma^2 (Jeffreys) integrated out,
    the two-parameter analogue of :func:`bayes_sdm.marginal.log_integrand`:

        gammaln(a) - a log(pi) - (1/2) log|Z_l'Z_l| + J(rho) + J(lambda) - a log S(rho, lambda),

    a = (n* - p)/2, Z_l = (I - lambda W) X (with the intercept's column when there is one).
    At lambda = 0 it is the SAR integrand, at rho = 0 the SEM one.
    """
    family = _check(family)
    rho, lam = np.broadcast_arrays(np.asarray(rho, float), np.asarray(lam, float))
    u, m = coef_parts(stats, family, rho, lam)
    _, s, ldx = concentrated_ls(stats.gram, u, m)
    p = family.n_coef(stats.K) + (stats.means is not None)
    a = 0.5 * (stats.terms.n_eff - p)
    if a <= 0:
        raise InputError(f"too few observations (n*={stats.terms.n_eff}) for {p} coefficients")
    if stats.means is not None:  # the intercept's filtered column (bayes_sdm.intercept)
        ldx = ldx + np.log(stats.N * stats.T) + 2.0 * np.log1p(-lam)
    jac = jacobian(stats.terms, logdet.value(rho.ravel()).reshape(rho.shape), rho) + \
        jacobian(stats.terms, logdet.value(lam.ravel()).reshape(lam.shape), lam)
    from scipy.special import gammaln

    return gammaln(a) - a * np.log(np.pi) - 0.5 * ldx + jac - a * np.log(s)


def log_marginal(stats: SufficientStats, logdet: LogDet, family: Family | str,
                 n_grid: int = 121, n_panels: int = 12, window: float = 60.0) -> dict:
    """log p(y | M) of SAC with (rho, lambda) uniform on the admissible square, integrated
    numerically: a ``n_grid``^2 grid locates the region within ``window`` nats of the maximum,
    a tensor Gauss-Legendre rule (``n_panels`` x 20 nodes per axis) integrates over its
    bounding box; ``quad_error`` is the difference to half the panels.  Same keys as
    :func:`bayes_sdm.marginal.log_marginal_exact`."""
    family = _check(family)
    lo, hi = logdet.interval
    h = (hi - lo) / n_grid
    xs = lo + h * (np.arange(n_grid) + 0.5)
    r, lm = np.meshgrid(xs, xs, indexing="ij")
    lg = log_integrand(stats, logdet, family, r, lm)
    lg = np.where(np.isfinite(lg), lg, -np.inf)
    i, j = np.unravel_index(int(np.argmax(lg)), lg.shape)
    keep = lg >= lg[i, j] - window
    ri, li = np.nonzero(keep.any(axis=1))[0], np.nonzero(keep.any(axis=0))[0]
    box = [(max(lo, xs[ri[0]] - h), min(hi, xs[ri[-1]] + h)),
           (max(lo, xs[li[0]] - h), min(hi, xs[li[-1]] + h))]
    nodes, weights = np.polynomial.legendre.leggauss(20)

    def rule(a, b, panels):
        e = np.linspace(a, b, panels + 1)
        half, mid = 0.5 * np.diff(e), 0.5 * (e[1:] + e[:-1])
        return ((mid[:, None] + half[:, None] * nodes).ravel(),
                (half[:, None] * weights).ravel())

    def integral(panels):
        (x1, w1), (x2, w2) = rule(*box[0], panels), rule(*box[1], panels)
        f = log_integrand(stats, logdet, family, x1[:, None], x2[None, :])
        mx = f.max()
        return float(mx + np.log(np.sum(w1[:, None] * w2[None, :] * np.exp(f - mx))))

    fine, coarse = integral(n_panels), integral(max(n_panels // 2, 1))
    return {"log_marginal": fine - 2.0 * np.log(hi - lo), "quad_error": abs(fine - coarse),
            "mode": float(xs[i]), "mode_lambda": float(xs[j]), "lower": box[0][0],
            "upper": box[0][1]}
