"""Unit random effects for the spatial panel families (SAR, SDM, SEM, SDEM): the likelihood
and its maximum.

The model (Elhorst 2003, "Specification and estimation of spatial panel data models", Int.
Regional Sci. Review 26:244-268; Elhorst 2014, "Spatial Econometrics", sec. 3.4; Baltagi, Song
& Koh 2003 for the error model) is, for the period t = 1..T,

    y_t = rho W y_t + c + X_t beta + W X_t theta + mu + u_t,   u_t = lambda W u_t + e_t,

with an intercept c, unit effects mu ~ N(0, sigma_mu^2 I_N) independent of X, and
e_t ~ N(0, sigma^2 I_N).  The weight of the quasi-demeaning transform is

    phi^2 = sigma^2 / (T sigma_mu^2 + sigma^2)        (0 < phi <= 1; phi = 1: no unit effect),

spreg's ``Panel_RE_Lag`` / ``ML_LagRE`` parameter.  splm's phi is sigma_mu^2 / sigma^2
= (1/phi^2 - 1) / T.

Lag families (R = I): with the quasi-demeaned columns z* = z - (1 - phi) zbar_i (intercept
included), the exact log-likelihood is (Elhorst 2014, eq. 3.26)

    l = -(NT/2) log(2 pi sigma^2) + N log phi + T log|I - rho W| - e*'e* / (2 sigma^2).

Since z* = Q z + phi zbar (Q the within projection), the Gram matrix of the transformed
columns is G_within + phi^2 G_between: both are computed once, so an evaluation costs O(K^2)
plus the log-determinant (:mod:`bayes_sdm.logdet`).

Error families (Baltagi, Song & Koh 2003, J. Econometrics 117:123-150; splm's ``semre``): the
covariance sigma^2 [Jbar_T (x) (kappa I + (B'B)^-1) + E_T (x) (B'B)^-1], B = I - lambda W,
kappa = 1/phi^2 - 1 = T sigma_mu^2 / sigma^2, splits into a between and a within part, so

    l = -(NT/2) log(2 pi sigma^2) - (1/2) log|I + kappa B'B| + T log|B|
        - [sum_t |B Q u_t|^2 + T ubar' (I + kappa B'B)^-1 B'B ubar] / (2 sigma^2).

The within part is a quadratic in lambda of one Gram matrix (as for fixed effects); the
between part needs one N x N factorisation of I + kappa B'B per (lambda, phi) (dense Cholesky,
or a sparse LU for a sparse W).  For a row-standardised W the quasi-demeaning of spreg's
``ML_ErrorRE`` (eigenvectors of W treated as orthogonal) is not this likelihood; see
``tests/data/reference/README.md``.

beta, theta and sigma^2 are concentrated out (GLS at given (rho|lambda, phi)); the remaining
two parameters are found by nested bounded Brent searches.  Standard errors come from the exact
expected (Fisher) information of the Gaussian model, built from N x N blocks
(:func:`re_information`).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.linalg as sla
import scipy.optimize as so
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from . import families
from .effects import family_effects
from .errors import InputError, NumericalError
from .families import Family
from .information import _safe_inverse
from .logdet import LogDet, make_logdet
from .ml import MLResult, _split

#: the intercept's name among the regressors of the statistics, and as a parameter (the
#: posterior variable of the Bayesian model, the row of ml.csv)
CONST = "const"
INTERCEPT = "intercept"
#: the prefix of the Mundlak (correlated random effects) coefficients
MUNDLAK = "mundlak"
PHI_MIN = 1e-6
#: the largest N for the dense N x N information matrix (standard errors, Hausman test)
DENSE_MAX = 4000


@dataclass(frozen=True)
class REData:
    """Within and between statistics of the raw columns [y, Wy, R, WR], R = [1, X (, WX)].

    ``gw`` is sum_t (z_t - zbar)'(z_t - zbar); ``zbar`` the unit means (N, m); ``gb`` = T
    zbar'zbar.  ``reg_names`` are the regressor names of R (``const`` first).
    """

    family: Family
    N: int  # noqa: N815
    T: int  # noqa: N815
    x_names: tuple[str, ...]
    reg_names: tuple[str, ...]
    gw: np.ndarray
    gb: np.ndarray
    zbar: np.ndarray
    w: object
    ymean_sst: float
    regs: np.ndarray = field(repr=False, default=None)  # raw R (T, N, p)
    #: correlated random effects: the unit means of X (and WX) among the regressors (last)
    mundlak: bool = False

    @property
    def p(self) -> int:
        return len(self.reg_names)


def mundlak_names(family: Family, x_names) -> list[str]:
    """The names of the Mundlak coefficients (the unit means of X, then of WX for Durbin)."""
    base = list(x_names) + ([f"W{v}" for v in x_names] if family.durbin else [])
    return [f"{MUNDLAK}[{v}]" for v in base]


def re_data(panel, w, family: Family | str, mundlak: bool = False) -> REData:
    """The statistics of the random-effects likelihood (one O(NT K^2) pass); ``mundlak``:
    the unit means of X (and WX) as further regressors (correlated random effects, module
    docstring)."""
    family = families.get(family)
    if len(family.spatial_params) != 1:
        raise InputError(f"random effects are implemented for one spatial parameter (sar, "
                         f"sdm, sem, sdem), not {family.name}")
    if panel.T < 2:
        raise InputError("random effects need a panel with at least 2 periods")
    y = np.asarray(panel.y, float)
    x = np.asarray(panel.X, float)
    t, n, k = x.shape
    regs = [np.ones((t, n, 1)), x]
    names = [CONST, *panel.x_names]
    if family.durbin:
        regs.append(w.lag(x))  # the lag of the constant is the constant (row-standardised W)
        names += [f"W{v}" for v in panel.x_names]
    if mundlak:
        slopes = np.concatenate(regs[1:], axis=2)
        regs.append(np.broadcast_to(slopes.mean(axis=0), slopes.shape))
        names += mundlak_names(family, panel.x_names)
    r = np.concatenate(regs, axis=2)
    z = np.concatenate([y[:, :, None], w.lag(y)[:, :, None], r, w.lag(r)], axis=2)
    zbar = z.mean(axis=0)
    q = (z - zbar[None]).reshape(t * n, -1)
    gw = q.T @ q
    gb = t * zbar.T @ zbar
    yc = y - y.mean()
    return REData(family, n, t, tuple(panel.x_names), tuple(names), gw, gb, zbar, w,
                  float((yc * yc).sum()), r, bool(mundlak))


def _proj(d: REData, s: float) -> np.ndarray:
    """P(s) with [y*, R*] = Z P(s): y - s Wy, and R - s WR for error families."""
    p = d.p
    m = 2 + 2 * p
    out = np.zeros((m, 1 + p))
    out[0, 0] = 1.0
    out[1, 0] = -s
    out[2:2 + p, 1:] = np.eye(p)
    if d.family.error:
        out[2 + p:, 1:] = -s * np.eye(p)
    return out


class _Between:
    """The N x N factor of I + kappa B'B at (lambda, kappa) for the error families."""

    def __init__(self, w, lam: float, kappa: float):
        m = w.matrix
        n = w.n
        if sp.issparse(m):
            b = sp.identity(n, format="csc") - lam * sp.csc_matrix(m)
            btb = (b.T @ b).tocsc()
            k = (sp.identity(n, format="csc") + kappa * btb).tocsc()
            lu = spla.splu(k)
            self.logdet = float(np.log(np.abs(lu.U.diagonal())).sum()
                                + np.log(np.abs(lu.L.diagonal())).sum())
            self._solve = lu.solve
        else:
            b = np.eye(n) - lam * np.asarray(m)
            btb = b.T @ b
            k = np.eye(n) + kappa * btb
            cf = sla.cho_factor(k, lower=True)
            self.logdet = float(2.0 * np.log(np.diag(cf[0])).sum())
            self._solve = lambda v: sla.cho_solve(cf, v)
        self.btb = btb

    def metric(self, v: np.ndarray) -> np.ndarray:
        """(I + kappa B'B)^-1 B'B v."""
        return self._solve(np.asarray(self.btb @ v))


def gram_at(d: REData, s: float, phi: float):
    """(S, J): the Gram matrix S of [y*, R*] (GLS metric) and the log-determinant terms J at
    (rho|lambda = s, phi); the log-likelihood is -(NT/2) log(2 pi sigma^2) + J + logdet term
    - (c' S c) / (2 sigma^2), c = (1, -beta), where J excludes T log|I - s W|."""
    p_s = _proj(d, s)
    sw = p_s.T @ d.gw @ p_s
    if not d.family.error:
        return sw + phi * phi * (p_s.T @ d.gb @ p_s), d.N * math.log(phi)
    kappa = 1.0 / (phi * phi) - 1.0
    bt = _Between(d.w, s, kappa)
    zb = d.zbar @ _proj(d, 0.0)  # unfiltered [ybar, Rbar]
    sb = d.T * zb.T @ bt.metric(zb)
    return sw + 0.5 * (sb + sb.T), -0.5 * bt.logdet


def profile_re(d: REData, s: float, phi: float):
    """(coef, sse, J) with beta (R's coefficients) concentrated out at (s, phi)."""
    g, jac = gram_at(d, s, phi)
    try:
        coef = np.linalg.solve(g[1:, 1:], g[1:, 0])
    except np.linalg.LinAlgError as err:
        raise InputError("singular design: the regressors (with the intercept) are "
                         "collinear") from err
    sse = float(g[0, 0] - g[0, 1:] @ coef)
    return coef, sse, jac


def concentrated_loglik_re(d: REData, logdet: LogDet, s: float, phi: float) -> float:
    """The log-likelihood with beta and sigma^2 = SSE / (NT) concentrated out."""
    _, sse, jac = profile_re(d, s, phi)
    nt = d.N * d.T
    if not sse > 0:
        return -np.inf
    return float(-0.5 * nt * (math.log(2.0 * math.pi * sse / nt) + 1.0) + jac
                 + d.T * float(logdet.value(s)))


def loglik_re(d: REData, logdet: LogDet, s: float, phi: float, coef, sigma2: float) -> float:
    """The full log-likelihood at (s, beta/theta incl. the intercept = coef, phi, sigma^2)."""
    g, jac = gram_at(d, s, phi)
    c = np.r_[1.0, -np.asarray(coef, float)]
    nt = d.N * d.T
    return float(-0.5 * nt * math.log(2.0 * math.pi * sigma2) + jac
                 + d.T * float(logdet.value(s)) - c @ g @ c / (2.0 * sigma2))


def _best_phi(d: REData, logdet: LogDet, s: float, xatol: float) -> tuple[float, float]:
    def f(ph):
        return -concentrated_loglik_re(d, logdet, s, ph)

    grid = np.geomspace(1e-3, 1.0, 13)
    vals = [f(g) for g in grid]
    i = int(np.argmin(vals))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
    if i == 0:
        lo = PHI_MIN
    r = so.minimize_scalar(f, bounds=(lo, hi), method="bounded",
                           options={"xatol": xatol, "maxiter": 500})
    best = (float(r.x), -float(r.fun))
    if vals[i] < r.fun:
        best = (float(grid[i]), -float(vals[i]))
    return best


def maximise_re(d: REData, logdet: LogDet, grid: int = 41, xatol: float = 1e-11):
    """(s, phi, loglik): nested bounded Brent searches (phi inside, s outside) after a grid
    over the admissible interval of s."""
    lo, hi = logdet.interval
    eps = 1e-9 * (hi - lo)
    a, b = lo + eps, hi - eps
    pts = np.linspace(a, b, grid + 2)[1:-1]

    def outer(s):
        return -_best_phi(d, logdet, s, xatol)[1]

    vals = np.array([outer(s) for s in pts])
    i = int(np.nanargmin(vals))
    left = pts[i - 1] if i > 0 else a
    right = pts[i + 1] if i < pts.size - 1 else b
    r = so.minimize_scalar(outer, bounds=(left, right), method="bounded",
                           options={"xatol": xatol, "maxiter": 500})
    s = float(r.x)
    phi, ll = _best_phi(d, logdet, s, xatol)
    return s, phi, ll


# ----------------------------------------------------------------------------- information
def re_information(d: REData, s: float, coef: np.ndarray, phi: float,
                   sigma2: float) -> np.ndarray:
    """The exact expected information of (s, coef, phi, sigma^2) (dense N x N algebra).

    The Gaussian y ~ N(m, V) has I_ij = dm_i' V^-1 dm_j + tr(V^-1 dV_i V^-1 dV_j) / 2 (Magnus &
    Neudecker 1999, "Matrix Differential Calculus", ch. 15).  With V = Jbar_T (x) V_b + E_T (x)
    V_w (Jbar_T = J_T / T, E_T = I_T - Jbar_T) both terms split into a between and a within
    part of N x N blocks, S = (B'B)^-1, B = I - s W:

    lag: V_b = (sigma^2/phi^2) B^-1 B^-T, V_w = sigma^2 B^-1 B^-T, m_t = B^-1 R_t beta;
    error: V_b = sigma^2 (kappa I + S), V_w = sigma^2 S, m_t = R_t beta, kappa = 1/phi^2 - 1.

    O(N^3) once at the estimate (a dense inverse of B).
    """
    n, t, p = d.N, d.T, d.p
    if n > DENSE_MAX:
        raise InputError(f"the exact information of the random-effects model needs dense "
                         f"N x N algebra; not computed for N = {n} > {DENSE_MAX}")
    wm = d.w.matrix
    wm = wm.toarray() if sp.issparse(wm) else np.asarray(wm, float)
    eye = np.eye(n)
    b = eye - s * wm
    btb = b.T @ b
    binv = np.linalg.inv(b)
    kappa = 1.0 / (phi * phi) - 1.0
    i_s, i_phi, i_s2 = 0, 1 + p, 2 + p
    info = np.zeros((3 + p, 3 + p))
    r = d.regs
    # mean part: D = transformed derivatives of the mean [d/ds, d/dcoef]
    if d.family.lag:
        m = np.einsum("tnk,k->tn", r, coef) @ binv.T          # B^-1 R_t beta, per period
        dmean = np.concatenate([(m @ wm.T)[:, :, None], r], axis=2)  # B dm: W m, R
        dbar = dmean.mean(axis=0)
        dq = (dmean - dbar[None]).reshape(n * t, -1)
        mi = dq.T @ dq + phi * phi * t * dbar.T @ dbar
        info[:1 + p, :1 + p] = mi / sigma2
        g = wm @ binv
        smat = binv @ binv.T
        a_s = btb @ (g @ smat + smat @ g.T)
        xb = {i_s: a_s, i_phi: (-2.0 / phi) * eye, i_s2: eye / sigma2}
        xw = {i_s: a_s, i_phi: None, i_s2: eye / sigma2}
    else:
        rbar = r.mean(axis=0)
        rq = (r - rbar[None]).reshape(n * t, -1)
        rqb = np.einsum("ij,tjk->tik", b, rq.reshape(t, n, p)).reshape(n * t, p)  # B (R_t - Rbar), stacked
        vb_inv = np.linalg.solve(eye + kappa * btb, btb)    # (kappa I + S)^-1
        mi = rqb.T @ rqb + t * rbar.T @ vb_inv @ rbar
        info[1:1 + p, 1:1 + p] = mi / sigma2
        smat = np.linalg.inv(btb)
        ds = smat @ (wm.T @ b + b.T @ wm) @ smat           # dS/dlambda
        xb = {i_s: vb_inv @ ds, i_phi: (-2.0 / phi ** 3) * vb_inv, i_s2: eye / sigma2}
        xw = {i_s: btb @ ds, i_phi: None, i_s2: eye / sigma2}
    keys = (i_s, i_phi, i_s2)
    for a_ in keys:
        for c_ in keys:
            v = np.sum(xb[a_] * xb[c_].T)
            if xw[a_] is not None and xw[c_] is not None:
                v += (t - 1) * np.sum(xw[a_] * xw[c_].T)
            info[a_, c_] += 0.5 * v
    return info


# ----------------------------------------------------------------------------- estimator
@dataclass
class REResult(MLResult):
    """A maximum-likelihood random-effects fit (``fe="random"``).

    ``params`` are ordered spatial (``rho`` | ``lambda``), ``intercept``, ``beta[x]``,
    ``theta[x]``, ``phi``, ``sigma2``; ``sigma2_mu`` = sigma^2 (1/phi^2 - 1)/T is derived (its
    SE by the delta method).  Effects as for fixed effects (the intercept has none).
    """

    sigma2_mu: float = float("nan")
    sigma2_mu_se: float = float("nan")
    re_data: REData | None = field(default=None, repr=False, compare=False)

    @property
    def phi(self) -> float:
        return float(self.params["phi"])

    def conditional_cov(self) -> pd.DataFrame:
        """The GLS covariance sigma^2 (R*'R*)^-1 of the intercept and the coefficients given
        (rho|lambda, phi): the inverse of the coefficients' block of the information matrix
        (splm's ``spreml`` standard errors of the coefficients; used by the Hausman test)."""
        d = self.re_data
        p = d.p
        v = self.params.to_numpy(float)
        info = re_information(d, v[0], v[1:1 + p], v[-2], v[-1])
        names = list(self.params.index[1:1 + p])
        return pd.DataFrame(np.linalg.inv(info[1:1 + p, 1:1 + p]), index=names, columns=names)

    def table(self) -> pd.DataFrame:
        """:meth:`MLResult.table` with the derived ``sigma2_mu`` row after ``sigma2``."""
        t = MLResult.table(self)
        i = int(np.nonzero(t["parameter"].to_numpy() == "sigma2")[0][0])
        row = pd.DataFrame({"parameter": ["sigma2_mu"], "estimate": [self.sigma2_mu],
                            "se": [self.sigma2_mu_se], "z": [np.nan], "p": [np.nan]})
        return pd.concat([t.iloc[:i + 1], row, t.iloc[i + 1:]], ignore_index=True)

    def _effect_fn(self):
        k = len(self.x_names)
        family = self.family
        off = len(family.spatial_params) + 1  # spatial, then the intercept

        def f(vec):
            vec = np.asarray(vec, dtype=float)
            rho = vec[..., 0] if family.lag else None
            b, t = _split(family, k, vec[..., off:])
            return family_effects(family, rho, b, t, self.logdet, True, None)

        return f

    def effects(self, method: str = "delta", draws: int = 1000, seed: int | None = None,
                prob: float = 0.94) -> pd.DataFrame:
        """Direct, indirect and total effects (as :meth:`MLResult.effects`; phi dropped)."""
        keep = [n for n in self.params.index if n != "phi"]
        sub = MLResult(self.params[keep], self.se[keep], self.cov.loc[keep, keep], self.loglik,
                       self.aic, self.bic, self.r2, self.n_eff, self.family, self.fe,
                       self.correction, self.lag_convention, self.x_names, self.N, self.T,
                       interval=self.interval, logdet=self.logdet, w=self.w)
        sub._effect_fn = self._effect_fn  # type: ignore[method-assign]
        return sub.effects(method=method, draws=draws, seed=seed, prob=prob)


def observed_information(d: REData, logdet: LogDet, vec: np.ndarray,
                         rel_step: float = 1e-4) -> np.ndarray:
    """Minus the Hessian of the full log-likelihood at ``vec`` = (s, coef, phi, sigma^2), by
    central differences of :func:`loglik_re` (what splm's ``fdHess`` computes on the
    concentrated likelihood; at the maximum the two give the same standard errors)."""
    vec = np.asarray(vec, float)
    n = vec.size
    h = rel_step * np.maximum(np.abs(vec), 1e-2)

    def f(v):
        return loglik_re(d, logdet, v[0], v[-2], v[1:-2], v[-1])

    hess = np.empty((n, n))
    for i in range(n):
        for j in range(i, n):
            ei = np.zeros(n)
            ej = np.zeros(n)
            ei[i], ej[j] = h[i], h[j]
            v = (f(vec + ei + ej) - f(vec + ei - ej) - f(vec - ei + ej)
                 + f(vec - ei - ej)) / (4.0 * h[i] * h[j])
            hess[i, j] = hess[j, i] = v
    return -hess


def fit_re(panel, w, family: Family | str, logdet: LogDet | str = "auto",
           on_boundary: str = "warn", se: str = "expected", mundlak: bool = False) -> REResult:
    """Maximum-likelihood unit random effects of a SAR, SDM, SEM or SDEM panel.

    Parameters
    ----------
    panel : :class:`~bayes_sdm.panel.Panel` (units in W's order; an intercept is added)
    w : a row-standardised :class:`~bayes_sdm.weights.SpatialWeights`
    family : ``sar`` | ``sdm`` | ``sem`` | ``sdem``
    logdet : the log-determinant method or object (:func:`bayes_sdm.logdet.make_logdet`)
    se : ``expected`` (the exact expected information, :func:`re_information`; default) or
        ``observed`` (numerical Hessian of the exact log-likelihood,
        :func:`observed_information`; splm's SEs of the spatial parameter and phi)
    mundlak : correlated random effects (the unit means of X and WX as regressors,
        coefficients ``mundlak[x]`` after theta; module docstring)

    Raises
    ------
    InputError
        a family without exactly one spatial parameter, W not row-standardised, T < 2, a
        constant column among the regressors, a singular design.
    NumericalError
        a degenerate maximum.
    """
    family = families.get(family)
    if se not in ("expected", "observed"):
        raise InputError(f"unknown se method {se!r}; choose from ('expected', 'observed')")
    if len(family.spatial_params) != 1:
        raise InputError(f"random effects are implemented for sar, sdm, sem and sdem, not "
                         f"{family.name}")
    if not w.row_standardized:
        raise InputError("random effects need a row-standardised W (the intercept's spatial "
                         "lag is the intercept)")
    xs = np.asarray(panel.X, float)
    flat = xs.reshape(-1, xs.shape[2])
    const = [panel.x_names[j] for j in range(flat.shape[1]) if np.ptp(flat[:, j]) == 0]
    if const:
        raise InputError(f"the regressor(s) {const} are constant: random-effects models "
                         "estimate their own intercept; drop the column")
    d = re_data(panel, w, family, mundlak)
    ld = logdet if isinstance(logdet, LogDet) else make_logdet(w, logdet)
    s, phi, ll = maximise_re(d, ld)
    coef, sse, _ = profile_re(d, s, phi)
    nt = d.N * d.T
    sigma2 = sse / nt
    if not (np.isfinite(ll) and sigma2 > 0):
        raise NumericalError(f"{family.name} random effects: degenerate fit (sigma2 = "
                             f"{sigma2:.3g}, log-likelihood {ll:.6g})")
    names = [family.spatial, INTERCEPT, *family.coef_names(panel.x_names),
             *(mundlak_names(family, panel.x_names) if mundlak else []), "phi", "sigma2"]
    vec = np.r_[s, coef, phi, sigma2]
    notes = []
    lo, hi = ld.interval
    tol = 1e-6 * (hi - lo)
    at_b = "lower" if s - lo < tol else "upper" if hi - s < tol else None
    if phi > 1 - 1e-7:
        notes.append("phi = 1: the unit random effects have zero variance (pooled model); "
                     "standard errors are at the boundary of the parameter space")
    if at_b:
        msg = (f"{family.spatial}={s:.8g} is at the {at_b} bound of its admissible interval")
        if on_boundary == "raise":
            raise NumericalError(msg)
        warnings.warn(msg, UserWarning, stacklevel=2)
        notes.append(msg)
    try:
        if se == "expected":
            info = re_information(d, s, coef, phi, sigma2)
        else:
            info = observed_information(d, ld, vec)
        cov = _safe_inverse(info, names)
    except InputError as err:
        notes.append(f"standard errors not computed: {err}")
        cov = np.full((len(names), len(names)), np.nan)
    sd = np.sqrt(np.where(np.diag(cov) > 0, np.diag(cov), np.nan))
    s2mu = sigma2 * (1.0 / phi ** 2 - 1.0) / d.T
    grad = np.zeros(len(names))
    grad[-2] = -2.0 * sigma2 / (d.T * phi ** 3)
    grad[-1] = (1.0 / phi ** 2 - 1.0) / d.T
    s2mu_se = float(np.sqrt(max(grad @ cov @ grad, 0.0)))
    kpar = len(names)
    r2 = 1.0 - sse / d.ymean_sst if d.ymean_sst > 0 else float("nan")
    return REResult(
        params=pd.Series(vec, index=names, name="estimate"),
        se=pd.Series(sd, index=names, name="se"),
        cov=pd.DataFrame(cov, index=names, columns=names),
        loglik=float(ll), aic=-2 * ll + 2 * kpar, bic=-2 * ll + kpar * math.log(nt),
        r2=r2, n_eff=nt, family=family, fe="random", correction="none",
        lag_convention="QWy", x_names=tuple(panel.x_names), N=d.N, T=d.T,
        se_method=se, interval=ld.interval, at_boundary=at_b, score=0.0, sse=sse,
        notes=notes, logdet=ld, w=w, sigma2_mu=s2mu, sigma2_mu_se=s2mu_se, re_data=d)
