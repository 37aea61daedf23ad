"""Dynamic spatial panels: the likelihood, maximum likelihood with the Yu, de Jong & Lee (2008)
bias correction, and short- and long-run effects.

The model (Yu, de Jong & Lee 2008, J. Econometrics 146:118-134; Elhorst 2014, ch. 4;
Debarsy, Ertur & LeSage 2012, Empirical Economics 42:...)::

    y_t = tau y_{t-1} + rho W y_t + eta W y_{t-1} + X_t beta + W X_t theta + mu + alpha_t + eps_t

for t = 1, ..., T-1, conditional on the first period y_0 (a panel of T periods gives T' = T - 1
periods of the likelihood).  Families (:mod:`bayes_sdm.families`): SAR (no theta) and SDM;
forms ``unrestricted`` (tau, rho, eta free) and ``restricted`` (eta = -tau rho, so that the
model is a spatially filtered AR(1), Elhorst 2014 sec. 4.3).  The dynamic SEM / SDEM are in
:mod:`bayes_sdm.dynamic_error` (ML); SLX and SAC are refused (not implemented yet).

Fixed effects (the transforms of the columns [y, Wy, y_{-1}, W y_{-1}, X, WX] of periods
1..T-1):

``unit``    within (time-demeaning over the T' periods): n = N rows a period, the direct
            approach of YDL (2008); the O(1/T) incidental-parameter (Nickell) bias this leaves
            is removed by the bias correction;
``twoway``  within, then F_N' (the orthonormal complement of the unit vector; Lee & Yu 2010,
            Econometric Theory 26:564-597): n = N - 1 rows a period and W* = F_N' W F_N, whose
            log-determinant is log|I - rho W| - log(1 - rho) for a row-standardised W;
``time``    F_N' alone; ``none``: no transform.

The log-likelihood (YDL 2008, eq. 2.3, with n rows and T' periods) is

    l = -(n T'/2) log(2 pi sigma^2) + T' log|I - rho W*| - SSE / (2 sigma^2)

with SSE = c'Gc, G the Gram matrix of the transformed columns and c = (1, -rho, -tau, -eta,
-beta, -theta).  :func:`fit_dynamic_ml` concentrates out (tau, eta, beta, theta, sigma^2) and
searches rho on the admissible interval (a 1-D search also for the restricted form: there the
regressor y_{-1} - rho W y_{-1} depends on rho), then polishes the zero of the concentrated score.

Bias correction (``correction="bias"``, the default, as SDPDmod's ``LYtrans=TRUE``): YDL
(2008, Theorem 3 and eq. 4.1) theta^1 = theta_hat - B_hat / T' with
B = -Sigma^{-1} b, where, with S = I - rho W*, G = W* S^{-1}, A = S^{-1}(tau I + eta W*) and
Q = (I - A)^{-1} S^{-1},

    b_tau = tr(Q)/n,   b_eta = tr(W* Q)/n,   b_beta = b_theta = 0,
    b_rho = [tau tr(G Q) + eta tr(G W* Q) + tr(G)]/n,   b_sigma2 = 1 / (2 sigma^2)

and Sigma the information matrix per observation.  The correction covers the stable case (the
spectral radius of A below one); an unstable estimate raises :class:`NumericalError`.  The
restricted form maps b and Sigma through the Jacobian of (tau, rho) -> (tau, eta = -tau rho, rho).
``correction="none"`` keeps the QML estimates.  Without unit effects there is no incidental
parameter and the correction is the identity.

Standard errors (YDL 2008, Theorem 2): the sandwich Sigma^{-1} (Sigma + Omega) Sigma^{-1} with the
fourth-moment term Omega of the residuals (``se="ydl"``, default), or Sigma^{-1} (``se="expected"``).
The information matrix treats y_{-1}, W y_{-1} as regressors (the expectation over eps_t given
the past, as in YDL and SDPDmod).

Effects (Debarsy, Ertur & LeSage 2012; Elhorst 2014, sec. 4.5): short run
S_k = (I - rho W)^{-1}(beta_k I + theta_k W); long run
S_k = ((1 - tau) I - (rho + eta) W)^{-1}(beta_k I + theta_k W), which is the static lag formula at
rho_L = (rho + eta)/(1 - tau), beta_L = beta/(1 - tau), theta_L = theta/(1 - tau) -- so both
use :func:`bayes_sdm.effects.family_effects` with the exact traces of the log-determinant.

Cost: the Gram matrix is one O(T N (N + K^2)) pass; the search costs O(K^3) per step plus the
log-determinant; the information matrix, the bias correction and the standard errors use dense
n x n inverses (O(N^3), once), as SDPDmod does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.optimize as so

from . import families

# the ML result and effects (bayes_sdm.dynamic_result), imported by their users from here too
from .dynamic_result import (  # noqa: F401
    DYNAMIC_CORRECTIONS,
    DYNAMIC_SE,
    DynamicMLResult,
    check_ml_options,
    dynamic_effects,
    ml_result,
)
from .errors import InputError, NumericalError
from .families import Family
from .logdet import LogDet, make_logdet
from .panel import Panel
from .spec import DYNAMIC_FORMS
from .weights import SpatialWeights

DYNAMIC_FE = ("none", "unit", "time", "twoway")
#: the columns of the dynamic Gram matrix (then X and WX)
_IY, _IWY, _IY1, _IWY1, _IX = 0, 1, 2, 3, 4


class DynamicShape:
    """What the transformed dynamic data of the lag (:class:`DynamicData`) and error
    (:class:`bayes_sdm.dynamic_error.DynamicErrorData`) models share: T, N, ``wd``, ``x_names``
    and ``fe`` give the sizes of the likelihood."""

    @property
    def t(self) -> int:
        """Periods of the likelihood, T' = T - 1."""
        return self.T - 1

    @property
    def n(self) -> int:
        """Rows a period after the transform (N, or N - 1 with time effects)."""
        return self.wd.shape[0]

    @property
    def K(self) -> int:  # noqa: N802
        return len(self.x_names)

    @property
    def time_fe(self) -> bool:
        return self.fe in ("time", "twoway")


@dataclass(frozen=True)
class DynamicData(DynamicShape):
    """The transformed columns of a dynamic panel and what the likelihood needs.

    ``z`` (T', n, 4 + 2K): [y, Wy, y_{-1}, W y_{-1}, X, WX] after the FE transform; ``gram``
    its Gram matrix; ``wd`` the dense n x n W of the transformed cross-section (W, or
    F_N' W F_N with time effects); ``logdet`` of the original W.
    """

    z: np.ndarray
    gram: np.ndarray
    wd: np.ndarray
    w: SpatialWeights
    logdet: LogDet
    family: Family
    form: str
    fe: str
    x_names: tuple[str, ...]
    y_name: str
    N: int  # noqa: N815
    T: int  # noqa: N815 (periods of the panel, initial one included)
    y_sd: float = 1.0
    x_sd: np.ndarray = field(default=None, repr=False)
    wx_sd: np.ndarray = field(default=None, repr=False)
    #: unit FE only: the between columns [time means of z's columns, y_0, W y_0 (, 1 without
    #: time effects)] after the cross-section transform (correlated random effects,
    #: :mod:`bayes_sdm.dynamic_bayes`), and their Gram matrix
    zb: np.ndarray | None = field(default=None, repr=False)
    gram_b: np.ndarray | None = field(default=None, repr=False)

    @property
    def restricted(self) -> bool:
        return self.form == "restricted"

    def param_names(self) -> list[str]:
        """rho, tau, eta (unrestricted), beta[x], theta[x] (SDM), sigma2."""
        return ["rho", "tau", *([] if self.restricted else ["eta"]),
                *self.family.coef_names(self.x_names), "sigma2"]

    def reg_cols(self) -> np.ndarray:
        """Columns of z of the full regressor set [y_{-1}, W y_{-1}, X, (WX)]."""
        k = self.K
        cols = [_IY1, _IWY1, *range(_IX, _IX + k)]
        if self.family.durbin:
            cols += list(range(_IX + k, _IX + 2 * k))
        return np.asarray(cols)

    def jacobian(self, rho):
        """T' log|I - rho W*| (vectorised)."""
        rho = np.asarray(rho, dtype=float)
        v = self.logdet.value(rho)
        if self.time_fe:
            v = v - np.log1p(-rho)
        return self.t * v

    def jacobian_deriv(self, rho: float) -> float:
        d = float(self.logdet.deriv(rho))
        if self.time_fe:
            d += 1.0 / (1.0 - rho)
        return self.t * d

    @property
    def interval(self) -> tuple[float, float]:
        lo, hi = self.logdet.interval
        return (lo, min(hi, 1.0) if self.time_fe else hi)


def _dense(w: SpatialWeights) -> np.ndarray:
    m = w.matrix
    return m.toarray() if w.is_sparse else np.asarray(m, dtype=float)


def complement_basis(n: int) -> np.ndarray:
    """F_N (n x (n-1)): an orthonormal basis of the complement of the unit vector."""
    a = np.eye(n)
    a[:, 0] = 1.0
    q, _ = np.linalg.qr(a)
    return q[:, 1:]


def check_dynamic(family: Family | str, form: str, fe: str, panel: Panel | None = None):
    """Validate the dynamic model's choices (returns the family).

    Raises
    ------
    InputError
        a family without a spatial lag (dynamic SEM / SDEM / SLX are not implemented yet), an
        unknown form or FE type, fewer than 3 periods.
    """
    family = families.get(family)
    if not family.lag or family.error:
        raise InputError(f"not implemented yet: the dynamic {family.name.upper()} model "
                         "(dynamic panels cover SAR and SDM, and SEM and SDEM by ML)")
    if form not in DYNAMIC_FORMS:
        raise InputError(f"unknown dynamic form {form!r}; choose from {DYNAMIC_FORMS}")
    if fe not in DYNAMIC_FE:
        raise InputError(f"unknown fixed effects {fe!r}; choose from {DYNAMIC_FE}")
    if panel is not None and panel.T < 3:
        raise InputError(f"a dynamic panel needs at least 3 periods (one initial, two in the "
                         f"likelihood); the panel has T={panel.T}")
    return family


def fe_transform(raw: np.ndarray, wm: np.ndarray, fe: str, between: list[np.ndarray]):
    """The fixed-effects transform of the dynamic likelihood's columns (Yu, de Jong & Lee 2008).

    ``raw`` (T', N, C) holds the columns of periods 1..T-1 built from the raw data (lags first).
    Unit effects: each column's time means are removed, and they become, with ``between`` (the
    initial-period columns y_0, W y_0, ...) and a constant without time effects, the between
    columns ``zb`` (N, .) of the correlated random effects (Wooldridge 2005).  Time effects: the
    rows of every period and of ``zb`` are multiplied by F_{N,N-1}' (orthonormal complement of
    the constant; Lee & Yu 2010), and W becomes F' W F.

    Returns
    -------
    (raw, wd, zb): the transformed columns, the transformed W, the between columns or None.
    """
    n = raw.shape[1]
    zb = None
    if fe in ("unit", "twoway"):
        means = raw.mean(axis=0)
        zb = np.column_stack([means, *between] + ([] if fe == "twoway" else [np.ones(n)]))
        raw = raw - means[None]
    wd = wm
    if fe in ("time", "twoway"):
        f = complement_basis(n)
        raw = np.einsum("nm,tmc->tnc", f.T, raw)
        wd = f.T @ wm @ f
        if zb is not None:
            zb = f.T @ zb
    return raw, wd, zb


def prepare_dynamic(panel: Panel, w: SpatialWeights, family: Family | str = "sdm",
                    fe: str = "twoway", form: str = "unrestricted",
                    logdet: str | LogDet = "auto") -> DynamicData:
    """Transform a panel (units in W's order) for the dynamic likelihood.

    Raises
    ------
    InputError
        see :func:`check_dynamic`; time effects with a W that is not row-standardised; a
        singular regressor set (naming the columns).
    """
    family = check_dynamic(family, form, fe, panel)
    if fe in ("time", "twoway") and not w.row_standardized:
        raise InputError("dynamic panels with time effects need a row-standardised W")
    if tuple(w.ids) != tuple(panel.units):
        raise InputError("the panel's units are not in W's order")
    wm = _dense(w)
    y = np.asarray(panel.y, dtype=float)
    x = np.asarray(panel.X, dtype=float)
    wy = y @ wm.T
    wx = np.einsum("ij,tjk->tik", wm, x)
    raw = np.concatenate([y[1:, :, None], wy[1:, :, None], y[:-1, :, None], wy[:-1, :, None],
                          x[1:], wx[1:]], axis=2)
    raw, wd, zb = fe_transform(raw, wm, fe, [y[0], wy[0]])
    zf = raw.reshape(-1, raw.shape[2])
    gram = zf.T @ zf
    sd = zf.std(axis=0)
    k = panel.K
    ld = logdet if isinstance(logdet, LogDet) else make_logdet(w, logdet)
    dd = DynamicData(raw, gram, wd, w, ld, family, form, fe, tuple(panel.x_names),
                     panel.y_name, panel.N, panel.T, float(sd[_IY]), sd[_IX:_IX + k],
                     sd[_IX + k:_IX + 2 * k], zb, None if zb is None else zb.T @ zb)
    _check_rank(dd)
    return dd


def _col_names(dd: DynamicData) -> list[str]:
    return ["y", "Wy", "y(t-1)", "W*y(t-1)", *dd.x_names, *[f"W*{x}" for x in dd.x_names]]


def _check_rank(dd: DynamicData) -> None:
    cols = dd.reg_cols()
    g = dd.gram[np.ix_(cols, cols)]
    d = np.sqrt(np.clip(np.diag(g), 0, None))
    names = [_col_names(dd)[c] for c in cols]
    if np.any(d <= 1e-12 * max(1.0, d.max())):
        bad = [nm for nm, v in zip(names, d, strict=True) if v <= 1e-12 * max(1.0, d.max())]
        raise InputError(f"dynamic panel: the fixed effects leave {bad} constant")
    c = g / np.outer(d, d)
    ev = np.linalg.eigvalsh(c)
    if ev.min() < 1e-10 * ev.max():
        raise InputError(f"dynamic panel: the regressors {names} are collinear after the "
                         "fixed-effects transform")


# ---------------------------------------------------------------------------------------------
# the likelihood from the Gram matrix
# ---------------------------------------------------------------------------------------------


def residual_coef(dd: DynamicData, rho, tau, eta, beta, theta=None) -> np.ndarray:
    """c with residual z c and SSE = c'Gc (eta ignored, = -tau rho, for the restricted form)."""
    if dd.restricted:
        eta = -tau * rho
    k = dd.K
    th = np.zeros(k) if theta is None or not dd.family.durbin else np.asarray(theta, float)
    return np.r_[1.0, -rho, -tau, -eta, -np.asarray(beta, float), -th]


def loglik(dd: DynamicData, rho, tau, eta, beta, theta, sigma2) -> float:
    """The dynamic log-likelihood (module docstring) at given parameters."""
    c = residual_coef(dd, rho, tau, eta, beta, theta)
    sse = float(c @ dd.gram @ c)
    nt = dd.n * dd.t
    return float(-0.5 * nt * math.log(2 * math.pi * sigma2) + dd.jacobian(rho)
                 - sse / (2 * sigma2))


def _design(dd: DynamicData, rho: float):
    """(a, L): the target a(rho) and the regressors L(rho) as combinations of z's columns."""
    p = dd.gram.shape[0]
    a = np.zeros(p)
    a[_IY], a[_IWY] = 1.0, -rho
    e = np.eye(p)
    cols = [e[_IY1], e[_IWY1]] if not dd.restricted else [e[_IY1] - rho * e[_IWY1]]
    rest = [c for c in dd.reg_cols() if c >= _IX]
    cols += [e[c] for c in rest]
    return a, np.column_stack(cols)


def profile(dd: DynamicData, rho: float):
    """(delta, sse): delta = (tau, eta, beta, theta) minimising SSE at rho (eta = -tau rho for
    the restricted form)."""
    a, lm = _design(dd, rho)
    g = dd.gram
    coef = np.linalg.solve(lm.T @ g @ lm, lm.T @ g @ a)
    c = a - lm @ coef
    sse = float(c @ g @ c)
    if dd.restricted:
        coef = np.r_[coef[0], -coef[0] * rho, coef[1:]]
    return coef, sse


def concentrated(dd: DynamicData, rho: float) -> float:
    _, sse = profile(dd, rho)
    nt = dd.n * dd.t
    return float(-0.5 * nt * (math.log(2 * math.pi * sse / nt) + 1.0) + dd.jacobian(rho))


def concentrated_score(dd: DynamicData, rho: float) -> float:
    """d/drho of the concentrated log-likelihood (envelope theorem)."""
    delta, sse = profile(dd, rho)
    tau, eta = delta[0], delta[1]
    c = residual_coef(dd, rho, tau, eta, delta[2:2 + dd.K], delta[2 + dd.K:])
    dc = np.zeros_like(c)
    dc[_IWY] = -1.0
    if dd.restricted:
        dc[_IWY1] = tau  # d(-eta)/drho = tau
    ds = 2.0 * c @ dd.gram @ dc
    return float(-0.5 * dd.n * dd.t * ds / sse + dd.jacobian_deriv(rho))


def _maximise(dd: DynamicData) -> float:
    lo, hi = dd.interval
    eps = 1e-9 * (hi - lo)
    lo, hi = lo + eps, hi - eps
    xs = np.linspace(lo, hi, 201)
    ll = np.array([concentrated(dd, r) for r in xs])
    ll = np.where(np.isfinite(ll), ll, -np.inf)
    i = int(np.argmax(ll))
    a, b = xs[max(i - 1, 0)], xs[min(i + 1, xs.size - 1)]
    res = so.minimize_scalar(lambda r: -concentrated(dd, r), bounds=(a, b), method="bounded",
                             options={"xatol": 1e-12, "maxiter": 500})
    x = float(res.x)
    h = 1e-7
    for _ in range(6):
        la, lb = max(x - h, lo), min(x + h, hi)
        fa, fb = concentrated_score(dd, la), concentrated_score(dd, lb)
        if fa > 0 > fb:
            return float(so.brentq(lambda r: concentrated_score(dd, r), la, lb, xtol=1e-15,
                                   rtol=4 * np.finfo(float).eps))
        h *= 10
    if x - lo < 1e-6 * (hi - lo) or hi - x < 1e-6 * (hi - lo):
        raise NumericalError(f"dynamic ML: rho={x:.6g} is at the edge of its interval "
                             f"({lo:.6g}, {hi:.6g}); not an interior maximum")
    return x


# ---------------------------------------------------------------------------------------------
# information, fourth-moment term, bias (all in the full order delta, rho, sigma2)
# ---------------------------------------------------------------------------------------------


def _full_delta(dd: DynamicData, delta: np.ndarray) -> np.ndarray:
    """(tau, eta, beta, theta) with theta dropped for SAR: the coefficients of reg_cols."""
    p = len(dd.reg_cols())
    return np.asarray(delta[:p], dtype=float)


def _info_parts(dd: DynamicData, rho: float, delta: np.ndarray, sigma2: float):
    """Sigma (totals, YDL 2008 eq. 3.3 summed over n T'), G and the residuals."""
    n, t = dd.n, dd.t
    s = np.eye(n) - rho * dd.wd
    sinv = np.linalg.inv(s)
    g = dd.wd @ sinv
    r = dd.z[:, :, dd.reg_cols()]  # (t, n, p)
    rd = r @ delta
    grd = rd @ g.T
    p = r.shape[2]
    rf = r.reshape(-1, p)
    m = p + 2
    info = np.zeros((m, m))
    info[:p, :p] = rf.T @ rf / sigma2
    info[:p, p] = info[p, :p] = rf.T @ grd.ravel() / sigma2
    info[p, p] = float(grd.ravel() @ grd.ravel()) / sigma2 + t * (np.trace(g @ g)
                                                                   + float((g * g).sum()))
    info[p, p + 1] = info[p + 1, p] = t * np.trace(g) / sigma2
    info[p + 1, p + 1] = n * t / (2 * sigma2**2)
    eps = dd.z[:, :, _IY] - rho * dd.z[:, :, _IWY] - rd
    return info, g, sinv, eps


def _omega(dd: DynamicData, g: np.ndarray, eps: np.ndarray, sigma2: float, m: int):
    """The fourth-moment term Omega (totals; YDL 2008, Theorem 2)."""
    n, t = dd.n, dd.t
    mu4 = float(np.mean(eps**4))
    kappa = mu4 - 3 * sigma2**2
    om = np.zeros((m, m))
    p = m - 2
    om[p, p] = kappa / sigma2**2 * t * float(np.diag(g) @ np.diag(g))
    om[p, p + 1] = om[p + 1, p] = kappa / (2 * sigma2**3) * t * np.trace(g)
    om[p + 1, p + 1] = kappa / (4 * sigma2**4) * n * t
    return om


def _bias_vector(dd: DynamicData, rho, delta, sigma2, g, sinv) -> np.ndarray:
    """b of YDL (2008) (per observation), full order (tau, eta, beta, theta, rho, sigma2)."""
    n = dd.n
    tau, eta = delta[0], delta[1]
    wd = dd.wd
    a = sinv @ (tau * np.eye(n) + eta * wd)
    radius = float(np.max(np.abs(np.linalg.eigvals(a))))
    if radius >= 1.0:
        raise NumericalError(f"the estimated dynamic process is not stable (spectral radius of "
                             f"S^-1 (tau I + eta W) = {radius:.4g} >= 1): the Yu-de Jong-Lee "
                             "(2008) correction covers the stable case; use correction='none'")
    q = np.linalg.solve(np.eye(n) - a, sinv)
    b = np.zeros(len(delta) + 2)
    b[0] = np.trace(q) / n
    b[1] = np.trace(wd @ q) / n
    b[len(delta)] = (tau * np.trace(g @ q) + eta * np.trace(g @ wd @ q) + np.trace(g)) / n
    b[-1] = 1.0 / (2 * sigma2)
    return b


def _jac(dd: DynamicData, rho: float, tau: float) -> np.ndarray:
    """d(full: tau, eta, beta, theta, rho, sigma2)/d(free: ...): identity, or for the
    restricted form with eta = -tau rho the free order (tau, beta, theta, rho, sigma2)."""
    m = len(dd.reg_cols()) + 2
    if not dd.restricted:
        return np.eye(m)
    j = np.zeros((m, m - 1))
    j[0, 0] = 1.0
    j[1, 0] = -rho
    j[1, m - 3] = -tau  # column of rho in the free order
    j[2:, 1:] = np.eye(m - 2)
    return j


def _to_public(dd: DynamicData, full: np.ndarray) -> np.ndarray:
    """Full order (tau, eta, beta, theta, rho, sigma2) -> public (rho, tau, [eta], ..., sigma2)."""
    p = len(dd.reg_cols())
    tau, eta, rest, rho, s2 = full[0], full[1], full[2:p], full[p], full[p + 1]
    return np.r_[rho, tau, [] if dd.restricted else [eta], rest, s2]


def _free_order(dd: DynamicData) -> list[int]:
    """Positions of the public parameters in the free order (tau, [eta], ..., rho, sigma2)."""
    m = len(dd.reg_cols()) + 2 - int(dd.restricted)
    return [m - 2, *range(m - 2), m - 1]


# ---------------------------------------------------------------------------------------------
# the estimator and its result
# ---------------------------------------------------------------------------------------------


def fit_dynamic_ml(dd: DynamicData, correction: str = "bias", se: str = "ydl") -> DynamicMLResult:
    """Maximum likelihood of a dynamic spatial panel (module docstring).

    Parameters
    ----------
    dd : from :func:`prepare_dynamic`
    correction : ``bias`` (Yu, de Jong & Lee 2008 bias-corrected; default) or ``none``
    se : ``ydl`` (sandwich with the fourth-moment term; default) or ``expected``

    Raises
    ------
    InputError
        an unknown correction or se method.
    NumericalError
        a maximum at the edge of the interval; an unstable estimate with ``bias``.
    """
    if not isinstance(dd, DynamicData):
        raise InputError(f"fit_dynamic_ml takes prepare_dynamic(...)'s data, got "
                         f"{type(dd).__name__}")
    check_ml_options(correction, se)
    n, t = dd.n, dd.t
    rho = _maximise(dd)
    delta, sse = profile(dd, rho)
    delta = _full_delta(dd, delta)
    sigma2 = sse / (n * t)
    ll = loglik(dd, rho, delta[0], delta[1], delta[2:2 + dd.K], delta[2 + dd.K:], sigma2)
    full = np.r_[delta, rho, sigma2]
    names = dd.param_names()
    notes = []
    uncorr = pd.Series(_to_public(dd, full), index=names)
    if correction == "bias" and dd.fe in ("unit", "twoway"):
        info, g, sinv, _ = _info_parts(dd, rho, delta, sigma2)
        b = _bias_vector(dd, rho, delta, sigma2, g, sinv)
        j = _jac(dd, rho, delta[0])
        step = n * np.linalg.solve(j.T @ info @ j, j.T @ b)  # (Sigma/(nT'))^{-1} b / T'
        free = _free(dd, full) + step
        full = _unfree(dd, free)
        delta, rho, sigma2 = full[:-2], full[-2], full[-1]
        lo, hi = dd.interval
        if not lo < rho < hi:
            raise NumericalError(f"the bias-corrected rho={rho:.6g} leaves the admissible "
                                 f"interval ({lo:.6g}, {hi:.6g})")
        notes.append("correction='bias': Yu, de Jong & Lee (2008) bias-corrected estimates; "
                     "loglik is the likelihood at its (uncorrected) maximum")
    elif correction == "bias":
        notes.append("no unit effects: no incidental-parameter bias to correct")
    info, g, sinv, eps = _info_parts(dd, rho, delta, sigma2)
    j = _jac(dd, rho, delta[0])
    info_f = j.T @ info @ j
    inv = np.linalg.inv(info_f)
    if se == "ydl":
        om = j.T @ _omega(dd, g, eps, sigma2, info.shape[0]) @ j
        cov_f = inv + inv @ om @ inv
    else:
        cov_f = inv
    order = _free_order(dd)
    c = residual_coef(dd, rho, delta[0], delta[1], delta[2:2 + dd.K], delta[2 + dd.K:])
    return ml_result(dd, names, _to_public(dd, full), cov_f[np.ix_(order, order)], ll, c,
                     correction, se, notes, uncorr)


def _free(dd: DynamicData, full: np.ndarray) -> np.ndarray:
    """Full order -> free order (drops eta for the restricted form)."""
    return np.delete(full, 1) if dd.restricted else full.copy()


def _unfree(dd: DynamicData, free: np.ndarray) -> np.ndarray:
    if not dd.restricted:
        return free
    rho = free[-2]
    return np.r_[free[0], -free[0] * rho, free[1:]]


def simulate_dynamic(w: SpatialWeights, T: int, tau: float, rho: float, eta: float,  # noqa: N803
                     beta, theta=None, sigma: float = 1.0, seed: int | None = None,
                     burn: int = 50, unit_sd: float = 1.0, time_sd: float = 1.0,
                     x_unit_corr: float = 0.5) -> Panel:
    """A panel from the dynamic model (module docstring) with unit and time effects.

    The process starts ``burn`` periods before the T observed ones (from zero), so the first
    observed period is drawn from (close to) the stationary distribution given the effects.
    X_t ~ N(x_unit_corr * mu, I) per regressor (correlated with the unit effects mu).
    """
    rng = np.random.default_rng(seed)
    wm = _dense(w)
    n = wm.shape[0]
    beta = np.atleast_1d(np.asarray(beta, dtype=float))
    k = beta.size
    theta = np.zeros(k) if theta is None else np.atleast_1d(np.asarray(theta, dtype=float))
    s_inv = np.linalg.inv(np.eye(n) - rho * wm)
    mu = unit_sd * rng.standard_normal(n)
    total = T + burn
    y = np.zeros((total, n))
    x = rng.standard_normal((total, n, k)) + x_unit_corr * mu[None, :, None]
    prev = np.zeros(n)
    for t in range(total):
        alpha = time_sd * rng.standard_normal()
        xb = x[t] @ beta + wm @ (x[t] @ theta)
        e = sigma * rng.standard_normal(n)
        y[t] = s_inv @ (tau * prev + eta * (wm @ prev) + xb + mu + alpha + e)
        prev = y[t]
    return Panel(y[burn:], x[burn:], tuple(w.ids), tuple(range(T)), "y",
                 tuple(f"x{j + 1}" for j in range(k)))
