"""Dynamic spatial error panels (SEM, SDEM): maximum likelihood with the Yu, de Jong & Lee (2008)
type bias correction, and short- and long-run effects.

The model (Elhorst 2014, "Spatial Econometrics", sec. 4.2, the dynamic general nesting model with
delta = 0)::

    y_t = tau y_{t-1} + eta W y_{t-1} + X_t beta + W X_t theta + mu + alpha_t + u_t,
    u_t = lam W u_t + eps_t,   eps_t ~ N(0, sigma^2 I),   t = 1, ..., T' = T - 1,

conditional on y_0; theta = 0 for the SEM.  Only the unrestricted form (tau, eta free): the
restricted form eta = -tau rho of :mod:`bayes_sdm.dynamic` is defined for the lag families.  The
fixed effects are removed as in :mod:`bayes_sdm.dynamic` (time demeaning over the T' periods,
then F_N' with time effects: F_N' W = W* F_N' for a row-standardised W, so the transformed
errors are u*_t = (I - lam W*)^{-1} eps*_t on n = N - 1 rows and the Jacobian is
T' [log|I - lam W| - log(1 - lam)]).  With B = I - lam W* and the transformed columns
u = [y, y_{-1}, W y_{-1}, X, (WX)] and their W-lags Wu, the log-likelihood is

    l = -(n T'/2) log(2 pi sigma^2) + T' log|B| - SSE / (2 sigma^2),
    SSE = sum_t || B (y_t - tau y_{t-1} - eta W y_{t-1} - X_t beta - W X_t theta) ||^2 = c'Gc,

G the Gram matrix of [u, Wu] and c = [a, -lam a], a = (1, -tau, -eta, -beta, -theta).  Given
lam the model is linear (target B y, regressors B [y_{-1}, W y_{-1}, X, WX]), so ML profiles
(tau, eta, beta, theta, sigma^2) out and searches lam on its interval.

Bias correction (``correction="bias"``, default with unit effects).  As in Yu, de Jong & Lee
(2008, Theorem 3), theta^1 = theta_hat - B_hat / T' with B = -Sigma^{-1} b, b the leading term
of -T' E[score] / (n T').  With A = tau I + eta W* (the lag polynomial; A, B and W* commute),
y_{t-1} = sum_h A^h B^{-1} eps_{t-1-h} + ..., and the time-demeaned score
sum_t y~_{t-1}' B' eps~_t has mean -T' E[ybar' B' epsbar] = -sigma^2 tr((I - A)^{-1}) + O(1/T'),
so (per observation, derived here along YDL's lines for the spatial-error likelihood)

    b_tau = tr((I - A)^{-1}) / n,   b_eta = tr(W* (I - A)^{-1}) / n,   b_beta = b_theta = 0,
    b_lam = tr(H) / n  (H = W* B^{-1}: sum_t E[u~_t' W*' B u~_t] = sigma^2 (T' - 1) tr(H)),
    b_sigma2 = 1 / (2 sigma^2),

and Sigma the per-observation information matrix: (B R)'(B R) / sigma^2 for the coefficients
(R = [y~_{-1}, W y~_{-1}, X~, W X~]), T' [tr(H'H) + tr(H^2)] for lam, T' tr(H) / sigma^2 for
(lam, sigma^2), n T' / (2 sigma^4) for sigma^2 (the static SEM information, Anselin 1988;
Lee & Yu 2010) and no coefficient-lam block (its expectation is zero at the leading order).
The correction covers the stable case (spectral radius of A below one).  Its Monte Carlo
check is in the tests (slow tier).  Standard errors: YDL's sandwich with the fourth-moment term
(``se="ydl"``) or the inverse information (``expected``).

Effects: short run as the static error families (direct beta, indirect W theta's share:
:func:`bayes_sdm.effects.family_effects`); long run ((1 - tau) I - eta W)^{-1}(beta I + theta W),
the lag formula at rho_L = eta / (1 - tau) (:func:`bayes_sdm.dynamic.dynamic_effects`).

Cost: the Gram matrix is one O(T N (N + K^2)) pass; a search step O(K^3) plus the
log-determinant; information, bias and standard errors dense O(N^3) once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.optimize as so

from . import families
from .dynamic import DYNAMIC_FE, DynamicShape, fe_transform
from .dynamic_result import DynamicMLResult, check_ml_options, ml_result
from .errors import InputError, NumericalError
from .families import Family
from .logdet import LogDet, make_logdet
from .panel import Panel
from .weights import SpatialWeights


@dataclass(frozen=True)
class DynamicErrorData(DynamicShape):
    """Transformed columns [u, W u] (T', n, 2p) of a dynamic error panel, u = [y, y_{-1},
    W y_{-1}, X, (WX)], their Gram matrix, W* (n x n) and the log-determinant of W."""

    z: np.ndarray
    gram: np.ndarray
    wd: np.ndarray
    w: SpatialWeights
    logdet: LogDet
    family: Family
    fe: str
    x_names: tuple[str, ...]
    y_name: str
    N: int  # noqa: N815
    T: int  # noqa: N815
    form: str = "unrestricted"
    #: prior scales: sd of the transformed y, X and WX columns
    y_sd: float = 1.0
    x_sd: np.ndarray = field(default=None, repr=False)
    wx_sd: np.ndarray = field(default=None, repr=False)
    #: unit FE only: the between columns [time means of [u, W u], y_0, W y_0, xbar, W xbar
    #: (, 1 without time effects)] after the cross-section transform and their Gram matrix
    #: (correlated random effects, :mod:`bayes_sdm.dynamic_error_bayes`)
    zb: np.ndarray | None = field(default=None, repr=False)
    gram_b: np.ndarray | None = field(default=None, repr=False)

    @property
    def p(self) -> int:
        """Columns of u."""
        return self.z.shape[2] // 2

    @property
    def restricted(self) -> bool:
        return False

    @property
    def interval(self) -> tuple[float, float]:
        lo, hi = self.logdet.interval
        return (lo, min(hi, 1.0) if self.time_fe else hi)

    def param_names(self) -> list[str]:
        return ["lambda", "tau", "eta", *self.family.coef_names(self.x_names), "sigma2"]

    def jacobian(self, lam) -> float:
        v = float(self.logdet.value(lam))
        if self.time_fe:
            v -= math.log1p(-lam)
        return self.t * v


def prepare_dynamic_error(panel: Panel, w: SpatialWeights, family: Family | str = "sdem",
                          fe: str = "twoway", form: str = "unrestricted",
                          logdet: str | LogDet = "auto") -> DynamicErrorData:
    """Transform a panel (units in W's order) for the dynamic error likelihood.

    Raises
    ------
    InputError
        a family other than SEM / SDEM; the restricted form; an unknown FE type; fewer than 3
        periods; time effects with a W that is not row-standardised; units not in W's order;
        collinear regressors.
    """
    family = families.get(family)
    if not family.error or family.lag:
        raise InputError(f"the dynamic error model covers SEM and SDEM, not "
                         f"{family.name.upper()}")
    if form != "unrestricted":
        raise InputError("the restricted dynamic form (eta = -tau rho) is defined for the lag "
                         "families; the dynamic SEM / SDEM take form 'unrestricted'")
    if fe not in DYNAMIC_FE:
        raise InputError(f"unknown fixed effects {fe!r}; choose from {DYNAMIC_FE}")
    if panel.T < 3:
        raise InputError(f"a dynamic panel needs at least 3 periods; the panel has T={panel.T}")
    if fe in ("time", "twoway") and not w.row_standardized:
        raise InputError("dynamic panels with time effects need a row-standardised W")
    if tuple(w.ids) != tuple(panel.units):
        raise InputError("the panel's units are not in W's order")
    wm = w.matrix.toarray() if w.is_sparse else np.asarray(w.matrix, dtype=float)
    y = np.asarray(panel.y, dtype=float)
    x = np.asarray(panel.X, dtype=float)
    wy = y @ wm.T
    cols = [y[1:, :, None], y[:-1, :, None], wy[:-1, :, None], x[1:]]
    if family.durbin:
        cols.append(np.einsum("ij,tjk->tik", wm, x[1:]))
    u = np.concatenate(cols, axis=2)
    raw = np.concatenate([u, np.einsum("ij,tjc->tic", wm, u)], axis=2)
    xm = x[1:].mean(axis=0)
    raw, wd, zb = fe_transform(raw, wm, fe, [y[0], wy[0], xm, wm @ xm])
    zf = raw.reshape(-1, raw.shape[2])
    ld = logdet if isinstance(logdet, LogDet) else make_logdet(w, logdet)
    sd = zf.std(axis=0)
    k = panel.K
    data = DynamicErrorData(raw, zf.T @ zf, wd, w, ld, family, fe, tuple(panel.x_names),
                            panel.y_name, panel.N, panel.T, "unrestricted", float(sd[0]),
                            sd[3:3 + k], sd[3 + k:3 + 2 * k] if family.durbin else np.ones(k),
                            zb, None if zb is None else zb.T @ zb)
    g = data.gram[1:data.p, 1:data.p]
    d = np.sqrt(np.clip(np.diag(g), 0, None))
    if np.any(d <= 1e-12 * max(1.0, d.max())) or \
            np.linalg.eigvalsh(g / np.outer(d, d)).min() < 1e-10:
        raise InputError("dynamic error panel: the regressors [y(t-1), W*y(t-1), X(, WX)] are "
                         "constant or collinear after the fixed-effects transform")
    return data


def residual_coef(dd: DynamicErrorData, lam, tau, eta, beta, theta=None) -> np.ndarray:
    """c = [a, -lam a] with SSE = c'Gc (module docstring)."""
    th = [] if not dd.family.durbin else list(np.asarray(theta, dtype=float))
    a = np.r_[1.0, -tau, -eta, -np.asarray(beta, dtype=float), -np.asarray(th, dtype=float)]
    return np.r_[a, -lam * a]


def loglik(dd: DynamicErrorData, lam, tau, eta, beta, theta, sigma2) -> float:
    """The dynamic error log-likelihood (module docstring) at given parameters."""
    c = residual_coef(dd, lam, tau, eta, beta, theta)
    nt = dd.n * dd.t
    return float(-0.5 * nt * math.log(2 * math.pi * sigma2) + dd.jacobian(lam)
                 - float(c @ dd.gram @ c) / (2 * sigma2))


def profile(dd: DynamicErrorData, lam: float):
    """(delta, sse): delta = (tau, eta, beta, theta) minimising SSE at lam."""
    p = dd.p
    e = np.eye(2 * p)
    target = e[0] - lam * e[p]
    lm = np.column_stack([e[j] - lam * e[p + j] for j in range(1, p)])
    g = dd.gram
    coef = np.linalg.solve(lm.T @ g @ lm, lm.T @ g @ target)
    c = target - lm @ coef
    return coef, float(c @ g @ c)


def concentrated(dd: DynamicErrorData, lam: float) -> float:
    _, sse = profile(dd, lam)
    nt = dd.n * dd.t
    return float(-0.5 * nt * (math.log(2 * math.pi * sse / nt) + 1.0) + dd.jacobian(lam))


def _maximise(dd: DynamicErrorData) -> float:
    lo, hi = dd.interval
    eps = 1e-9 * (hi - lo)
    lo, hi = lo + eps, hi - eps
    xs = np.linspace(lo, hi, 201)
    ll = np.array([concentrated(dd, r) for r in xs])
    i = int(np.argmax(np.where(np.isfinite(ll), ll, -np.inf)))
    a, b = xs[max(i - 1, 0)], xs[min(i + 1, xs.size - 1)]
    res = so.minimize_scalar(lambda r: -concentrated(dd, r), bounds=(a, b), method="bounded",
                             options={"xatol": 1e-13, "maxiter": 500})
    x = float(res.x)
    if x - lo < 1e-6 * (hi - lo) or hi - x < 1e-6 * (hi - lo):
        raise NumericalError(f"dynamic error ML: lambda={x:.6g} is at the edge of its interval "
                             f"({lo:.6g}, {hi:.6g}); not an interior maximum")
    return x


def _parts(dd: DynamicErrorData, lam: float, delta: np.ndarray, sigma2: float):
    """Information (totals; order delta, lam, sigma2), H = W* B^{-1}, A's coefficients, eps."""
    n, t, p = dd.n, dd.t, dd.p
    bmat = np.eye(n) - lam * dd.wd
    h = dd.wd @ np.linalg.inv(bmat)
    r = dd.z[:, :, 1:p] - lam * dd.z[:, :, p + 1:2 * p]  # B R, (t, n, p - 1)
    rf = r.reshape(-1, p - 1)
    m = p + 1
    info = np.zeros((m, m))
    info[:p - 1, :p - 1] = rf.T @ rf / sigma2
    info[p - 1, p - 1] = t * (float((h * h).sum()) + np.trace(h @ h))
    info[p - 1, p] = info[p, p - 1] = t * np.trace(h) / sigma2
    info[p, p] = n * t / (2 * sigma2**2)
    c = residual_coef(dd, lam, delta[0], delta[1], delta[2:2 + dd.K], delta[2 + dd.K:])
    eps = dd.z @ c
    return info, h, eps


def _bias(dd: DynamicErrorData, lam, delta, sigma2, h) -> np.ndarray:
    n = dd.n
    a = delta[0] * np.eye(n) + delta[1] * dd.wd
    radius = float(np.max(np.abs(np.linalg.eigvals(a))))
    if radius >= 1.0:
        raise NumericalError(f"the estimated dynamic process is not stable (spectral radius of "
                             f"tau I + eta W = {radius:.4g} >= 1): the bias correction covers "
                             "the stable case; use correction='none'")
    q = np.linalg.inv(np.eye(n) - a)
    b = np.zeros(len(delta) + 2)
    b[0] = np.trace(q) / n
    b[1] = np.trace(dd.wd @ q) / n
    b[len(delta)] = np.trace(h) / n
    b[-1] = 1.0 / (2 * sigma2)
    return b


def fit_dynamic_error_ml(dd: DynamicErrorData, correction: str = "bias",
                         se: str = "ydl") -> DynamicMLResult:
    """Maximum likelihood of a dynamic SEM / SDEM (module docstring).

    Raises
    ------
    InputError
        not prepared by :func:`prepare_dynamic_error`; an unknown correction or se method.
    NumericalError
        a maximum at the edge of lambda's interval; an unstable estimate with ``bias``.
    """
    from .dynamic import _omega

    if not isinstance(dd, DynamicErrorData):
        raise InputError(f"fit_dynamic_error_ml takes prepare_dynamic_error(...)'s data, got "
                         f"{type(dd).__name__}")
    check_ml_options(correction, se)
    n, t, k = dd.n, dd.t, dd.K
    lam = _maximise(dd)
    delta, sse = profile(dd, lam)
    sigma2 = sse / (n * t)
    ll = loglik(dd, lam, delta[0], delta[1], delta[2:2 + k], delta[2 + k:], sigma2)
    names = dd.param_names()

    def public(d, lm, s2):
        return np.r_[lm, d, s2]

    uncorr = pd.Series(public(delta, lam, sigma2), index=names)
    notes = []
    if correction == "bias" and dd.fe in ("unit", "twoway"):
        info, h, _ = _parts(dd, lam, delta, sigma2)
        step = n * np.linalg.solve(info, _bias(dd, lam, delta, sigma2, h))
        full = np.r_[delta, lam, sigma2] + step
        delta, lam, sigma2 = full[:-2], full[-2], full[-1]
        lo, hi = dd.interval
        if not lo < lam < hi:
            raise NumericalError(f"the bias-corrected lambda={lam:.6g} leaves the admissible "
                                 f"interval ({lo:.6g}, {hi:.6g})")
        notes.append("correction='bias': bias-corrected estimates (the Yu, de Jong & Lee 2008 "
                     "correction derived for the spatial-error likelihood, bayes_sdm."
                     "dynamic_error); loglik is the likelihood at its (uncorrected) maximum")
    elif correction == "bias":
        notes.append("no unit effects: no incidental-parameter bias to correct")
    info, h, eps = _parts(dd, lam, delta, sigma2)
    inv = np.linalg.inv(info)
    cov_f = inv + inv @ _omega(dd, h, eps, sigma2, info.shape[0]) @ inv if se == "ydl" \
        else inv
    m = info.shape[0]
    order = [m - 2, *range(m - 2), m - 1]  # (lam, delta..., sigma2)
    c = residual_coef(dd, lam, delta[0], delta[1], delta[2:2 + k], delta[2 + k:])
    return ml_result(dd, names, public(delta, lam, sigma2), cov_f[np.ix_(order, order)], ll, c,
                     correction, se, notes, uncorr)


def simulate_dynamic_error(w: SpatialWeights, T: int, tau: float, lam: float,  # noqa: N803
                           eta: float, beta, theta=None, sigma: float = 1.0,
                           seed: int | None = None, burn: int = 50) -> Panel:
    """A panel from the dynamic SEM / SDEM with unit and time effects (X correlated with the
    unit effects), started ``burn`` periods before the observed ones."""
    rng = np.random.default_rng(seed)
    wm = w.matrix.toarray() if w.is_sparse else np.asarray(w.matrix, dtype=float)
    n = wm.shape[0]
    beta = np.atleast_1d(np.asarray(beta, dtype=float))
    k = beta.size
    theta = np.zeros(k) if theta is None else np.atleast_1d(np.asarray(theta, dtype=float))
    b_inv = np.linalg.inv(np.eye(n) - lam * wm)
    mu = rng.standard_normal(n)
    total = T + burn
    x = rng.standard_normal((total, n, k)) + 0.5 * mu[None, :, None]
    y = np.zeros((total, n))
    prev = np.zeros(n)
    for t in range(total):
        y[t] = (tau * prev + eta * wm @ prev + x[t] @ beta + wm @ (x[t] @ theta) + mu
                + rng.standard_normal() + b_inv @ (sigma * rng.standard_normal(n)))
        prev = y[t]
    return Panel(y[burn:], x[burn:], tuple(w.ids), tuple(range(T)), "y",
                 tuple(f"x{j + 1}" for j in range(k)))
