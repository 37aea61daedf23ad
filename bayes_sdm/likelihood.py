"""The Gaussian spatial-panel log-likelihood, written once from sufficient statistics.

Lee & Yu (2010, J. Econometrics 154:165-185), transformation approach.  With the data
premultiplied by the orthonormal transforms F_{T,T-1} (time demeaning) and F_{N,N-1} (cross-section
demeaning), the exact log-likelihood of the transformed SAR/SDM panel is

    l = -(n*/2) log(2 pi sigma^2) + J(rho) - SSE(rho, beta, theta) / (2 sigma^2)

with, for a row-standardised W (so that F_N' W F_N has the eigenvalues of W without the unit one):

=========  ==============  ===============================================
FE         n*              J(rho)
=========  ==============  ===============================================
two-way    (N-1)(T-1)      (T-1) [log|I - rho W| - log(1 - rho)]
unit       N(T-1)          (T-1) log|I - rho W|
time       (N-1)T          T [log|I - rho W| - log(1 - rho)]
none       NT              T log|I - rho W|
=========  ==============  ===============================================

``correction="none"`` is the uncorrected "direct approach" (n* = NT, J = T log|I - rho W| for any
FE; splm's default, SDPDmod ``LYtrans=FALSE``), kept only to reproduce other tools.

SSE is a quadratic form c' G c in a coefficient vector c of the Gram matrix G = Z'Z of the
transformed columns Z = [y, Wy, X, WX, W^2 X] (Wy and WX formed from the raw data, then
demeaned).  G is computed once, so one evaluation costs O(K^2) plus the log-determinant.
The same Gram matrix serves the lag models (SAR, SDM: c = (1, -rho, -beta, -theta)) and the
error models (SEM, SDEM: residual (I - lambda W)(y - X beta - WX theta)).

All functions take an array namespace ``xp`` (numpy or ``pytensor.tensor``) so the same formula
is used by the ML estimator and the PyMC models.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import InputError
from .panel import FE_TYPES, Panel, demean
from .weights import SpatialWeights

CORRECTIONS = ("transform", "none")
LAG_CONVENTIONS = ("QWy", "WQy")
MODELS = ("sdm", "sar", "sem", "sdem", "slx", "ols")
LAG_MODELS = ("sdm", "sar")
ERROR_MODELS = ("sem", "sdem")
DURBIN_MODELS = ("sdm", "sdem", "slx")


def spatial_name(model: str) -> str | None:
    """Name of the spatial parameter: ``rho`` (lag models), ``lambda`` (error models), None
    (SLX / OLS)."""
    if model in LAG_MODELS:
        return "rho"
    if model in ERROR_MODELS:
        return "lambda"
    return None


@dataclass(frozen=True)
class FETerms:
    """Effective sample size and Jacobian multipliers of one FE / correction choice.

    The Jacobian is ``a * log|I - rho W| - b * log(1 - rho)``.
    """

    fe: str
    correction: str
    n_eff: int
    a: int
    b: int


def fe_terms(fe: str, N: int, T: int, correction: str = "transform") -> FETerms:  # noqa: N803
    """n* and the Jacobian multipliers for a fixed-effect type (Lee & Yu 2010, sec. 3-4)."""
    if fe not in FE_TYPES:
        raise InputError(f"unknown fixed effects {fe!r}; choose from {FE_TYPES}")
    if correction not in CORRECTIONS:
        raise InputError(f"unknown correction {correction!r}; choose from {CORRECTIONS}")
    if correction == "none":
        return FETerms(fe, correction, N * T, T, 0)
    table = {
        "twoway": ((N - 1) * (T - 1), T - 1, T - 1),
        "unit": (N * (T - 1), T - 1, 0),
        "time": ((N - 1) * T, T, T),
        "none": (N * T, T, 0),
    }
    n, a, b = table[fe]
    return FETerms(fe, correction, n, a, b)


@dataclass(frozen=True)
class SufficientStats:
    """Gram matrix of the FE-transformed columns [y, Wy, X, WX, W^2 X] and their metadata."""

    gram: np.ndarray
    x_names: tuple[str, ...]
    N: int  # noqa: N815
    T: int  # noqa: N815
    terms: FETerms
    lag_convention: str
    y_sd: float
    x_sd: np.ndarray
    wx_sd: np.ndarray

    @property
    def K(self) -> int:  # noqa: N802
        return len(self.x_names)

    # column positions in the Gram matrix
    @property
    def iy(self) -> int:
        return 0

    @property
    def iwy(self) -> int:
        return 1

    @property
    def ix(self) -> slice:
        return slice(2, 2 + self.K)

    @property
    def iwx(self) -> slice:
        return slice(2 + self.K, 2 + 2 * self.K)

    @property
    def iwwx(self) -> slice:
        return slice(2 + 2 * self.K, 2 + 3 * self.K)

    def columns(self, model: str) -> np.ndarray:
        """Gram-matrix column indices of the regressors of ``model`` (X, then WX if Durbin)."""
        k = self.K
        cols = list(range(2, 2 + k))
        if model in DURBIN_MODELS:
            cols += list(range(2 + k, 2 + 2 * k))
        return np.array(cols)


def transformed_columns(panel: Panel, w: SpatialWeights, fe: str,
                        lag_convention: str = "QWy") -> np.ndarray:
    """The FE-transformed columns [y, Wy, X, WX, W^2 X] as an array (T, N, 2 + 3K).

    ``QWy`` (default, Lee & Yu 2010): lags from the raw data, then demean.
    ``WQy``: demean, then lag (splm, SDPDmod, xsmle); identical to QWy under unit FE.
    """
    if lag_convention not in LAG_CONVENTIONS:
        raise InputError(f"unknown lag convention {lag_convention!r}; choose from "
                         f"{LAG_CONVENTIONS}")
    if fe in ("time", "twoway") and not w.row_standardized:
        raise InputError(
            f"fixed effects {fe!r} include time effects, which need a row-standardised W "
            "(the Lee-Yu Jacobian uses W's unit eigenvalue); row-standardise W or use fe='unit'"
        )
    if w.n != panel.N or tuple(w.ids) != tuple(panel.units):
        raise InputError("W and the panel list different units (or in a different order)")
    raw = np.concatenate([panel.y[:, :, None], panel.X], axis=2)  # (T, N, 1+K)
    if lag_convention == "QWy":
        lag1 = w.lag(raw)
        lag2 = w.lag(lag1[:, :, 1:])
        cols = np.concatenate([raw[:, :, :1], lag1[:, :, :1], raw[:, :, 1:], lag1[:, :, 1:],
                               lag2], axis=2)
        return demean(cols, fe)
    q = demean(raw, fe)
    lag1 = w.lag(q)
    lag2 = w.lag(lag1[:, :, 1:])
    return np.concatenate([q[:, :, :1], lag1[:, :, :1], q[:, :, 1:], lag1[:, :, 1:], lag2],
                          axis=2)


def sufficient_stats(panel: Panel, w: SpatialWeights, fe: str = "twoway",
                     correction: str = "transform", lag_convention: str = "QWy") -> SufficientStats:
    """Precompute the Gram matrix G = Z'Z of the transformed columns (one O(NT K^2) pass)."""
    z = transformed_columns(panel, w, fe, lag_convention)
    zf = z.reshape(-1, z.shape[2])
    gram = zf.T @ zf
    k = panel.K
    sd = zf.std(axis=0)
    return SufficientStats(
        gram=gram, x_names=panel.x_names, N=panel.N, T=panel.T,
        terms=fe_terms(fe, panel.N, panel.T, correction), lag_convention=lag_convention,
        y_sd=float(sd[0]), x_sd=sd[2:2 + k], wx_sd=sd[2 + k:2 + 2 * k],
    )


def coef_vector(stats: SufficientStats, model: str, rho, beta, theta=None, xp=np):
    """The vector c with SSE = c' G c, for parameters in ``xp`` arrays.

    Lag models (SAR, SDM):   e = y - rho Wy - X beta - WX theta
    Error models (SEM, SDEM): e = (I - lam W)(y - X beta - WX theta)
    SLX / OLS: rho is ignored (pass 0).
    """
    k = stats.K
    zeros = xp.zeros(k) if xp is np else xp.zeros((k,))
    one = xp.ones(1) if xp is np else xp.ones((1,))
    if theta is None:
        theta = zeros
    beta = -beta
    theta = -theta
    if model in ("sdm", "sar"):
        th = theta if model == "sdm" else zeros
        return xp.concatenate([one, -rho * one, beta, th, zeros])
    if model in ("sem", "sdem"):
        th = theta if model == "sdem" else zeros
        return xp.concatenate([one, -rho * one, beta, th - rho * beta, -rho * th])
    if model in ("slx", "ols"):
        th = theta if model == "slx" else zeros
        return xp.concatenate([one, 0.0 * one, beta, th, zeros])
    raise InputError(f"unknown model {model!r}; choose from {MODELS}")


def n_coef(stats: SufficientStats, model: str) -> int:
    """Number of regression coefficients: K, or 2K (beta and theta) for Durbin models."""
    return 2 * stats.K if model in DURBIN_MODELS else stats.K


def coef_layout(stats: SufficientStats, model: str):
    """u0, u1, M0, M1 with c(rho, b) = u0 + rho u1 + (M0 + rho M1) b, b = (beta, theta): the
    affine structure of :func:`coef_vector`, read off it (so SSE is a quadratic in b for fixed
    rho; used by the marginal likelihoods and the exact sampler)."""
    k = stats.K
    p = n_coef(stats, model)

    def c(rho, b):
        beta = b[:k]
        theta = b[k:] if model in DURBIN_MODELS else None
        return np.asarray(coef_vector(stats, model, rho, beta, theta), dtype=float)

    zero = np.zeros(p)
    c00, c10 = c(0.0, zero), c(1.0, zero)
    u0, u1 = c00, c10 - c00
    m0 = np.empty((c00.size, p))
    m1 = np.empty((c00.size, p))
    for j in range(p):
        e = np.zeros(p)
        e[j] = 1.0
        m0[:, j] = c(0.0, e) - c00
        m1[:, j] = c(1.0, e) - c10 - m0[:, j]
    # coef_vector must be linear in rho: check at rho = 0.5
    e = np.linspace(0.3, 1.1, p)
    if not np.allclose(c(0.5, e), u0 + 0.5 * u1 + (m0 + 0.5 * m1) @ e, atol=1e-12):
        raise RuntimeError("coef_vector is not linear in the spatial parameter")
    return u0, u1, m0, m1


def sse(stats: SufficientStats, c, xp=np):
    """SSE = c' G c."""
    g = stats.gram if xp is np else xp.as_tensor_variable(stats.gram)
    return xp.dot(c, xp.dot(g, c))


def jacobian(terms: FETerms, logdet_value, rho, xp=np):
    """a log|I - rho W| - b log(1 - rho) (Lee & Yu 2010)."""
    out = terms.a * logdet_value
    if terms.b:
        out = out - terms.b * xp.log1p(-rho)
    return out


def gaussian_loglik(terms: FETerms, sse_value, sigma2, jac, xp=np):
    """-(n*/2) log(2 pi sigma^2) + J - SSE / (2 sigma^2)."""
    return -0.5 * terms.n_eff * xp.log(2.0 * np.pi * sigma2) + jac - sse_value / (2.0 * sigma2)


def loglik(stats: SufficientStats, logdet, model: str, rho, beta, theta, sigma2, xp=np):
    """The full log-likelihood of a lag or error model (numpy or PyTensor).

    For SLX and OLS, pass ``rho=0``; the Jacobian then vanishes.
    """
    c = coef_vector(stats, model, rho, beta, theta, xp=xp)
    s = sse(stats, c, xp=xp)
    if model in ("slx", "ols"):
        jac = 0.0
    else:
        ld = logdet.value(rho) if xp is np else logdet.symbolic(rho)
        jac = jacobian(stats.terms, ld, rho, xp=xp)
    return gaussian_loglik(stats.terms, s, sigma2, jac, xp=xp)


def profile_lag(stats: SufficientStats, model: str, rho):
    """Concentrate beta (and theta) and SSE out of a lag model at each rho (vectorised).

    Returns (coef, sse): coef has shape rho.shape + (p,), the OLS of (y - rho Wy) on the model's
    regressors; sse = e0'e0 - 2 rho e0'ed + rho^2 ed'ed (Anselin 1988; LeSage & Pace 2009, 3.1).
    """
    if model not in ("sdm", "sar", "slx", "ols"):
        raise InputError(f"profile_lag is for lag models, not {model!r}")
    g = stats.gram
    cols = stats.columns(model)
    gxx = g[np.ix_(cols, cols)]
    gxy = g[cols, stats.iy]
    gxw = g[cols, stats.iwy]
    try:
        cho = np.linalg.cholesky(gxx)
    except np.linalg.LinAlgError as err:
        raise InputError("singular design: the (transformed) regressors are collinear") from err
    b0 = np.linalg.solve(gxx, gxy)
    bd = np.linalg.solve(gxx, gxw)
    del cho
    e00 = g[0, 0] - gxy @ b0
    e0d = g[0, 1] - gxy @ bd
    edd = g[1, 1] - gxw @ bd
    rho = np.asarray(rho, dtype=float)
    s = e00 - 2.0 * rho * e0d + rho * rho * edd
    coef = b0 - rho[..., None] * bd
    return coef, s


def _error_maps(stats: SufficientStats, model: str) -> tuple[np.ndarray, np.ndarray]:
    """Selection matrices (B, L) with [y*, X*] = Z (B - lam L) for an error model.

    Column 0 is y* = y - lam Wy; then X* = X - lam WX and, for SDEM, (WX)* = WX - lam W^2 X.
    """
    k = stats.K
    p = k if model == "sem" else 2 * k
    ncol = stats.gram.shape[0]
    base = np.zeros((ncol, 1 + p))
    lagm = np.zeros((ncol, 1 + p))
    base[stats.iy, 0] = 1.0
    lagm[stats.iwy, 0] = 1.0
    for j in range(k):
        base[2 + j, 1 + j] = 1.0
        lagm[2 + k + j, 1 + j] = 1.0
        if model == "sdem":
            base[2 + k + j, 1 + k + j] = 1.0
            lagm[2 + 2 * k + j, 1 + k + j] = 1.0
    return base, lagm


def profile_error(stats: SufficientStats, model: str, lam):
    """Concentrate beta (and theta) and SSE out of an error model at each lambda (vectorised).

    The error models (SEM: y = X beta + u; SDEM: y = X beta + WX theta + u; u = lam W u + eps)
    are, at a given lambda, the regression of the spatially filtered y - lam Wy on the filtered
    regressors X - lam WX (and WX - lam W^2 X), i.e. feasible GLS (Anselin 1988, "Spatial
    Econometrics", ch. 12; Elhorst 2014, "Spatial Econometrics", sec. 3.3).  The Gram matrix of
    the filtered columns is B'GB - lam (B'GL + L'GB) + lam^2 L'GL, so one evaluation is O(K^3).

    Returns (coef, sse): coef has shape lam.shape + (p,), sse has shape lam.shape.  SSE is the
    same quadratic form as :func:`sse` with :func:`coef_vector` at the profiled coefficients.
    """
    if model not in ERROR_MODELS:
        raise InputError(f"profile_error is for error models {ERROR_MODELS}, not {model!r}")
    base, lagm = _error_maps(stats, model)
    g = stats.gram
    g0 = base.T @ g @ base
    g1 = base.T @ g @ lagm
    g1 = g1 + g1.T
    g2 = lagm.T @ g @ lagm
    lam = np.asarray(lam, dtype=float)
    lam_ = lam[..., None, None]
    gs = g0 - lam_ * g1 + lam_ * lam_ * g2
    gxx = gs[..., 1:, 1:]
    gxy = gs[..., 1:, 0]
    try:
        coef = np.linalg.solve(gxx, gxy[..., None])[..., 0]
    except np.linalg.LinAlgError as err:
        raise InputError("singular design: the (transformed) regressors are collinear") from err
    s = gs[..., 0, 0] - (gxy * coef).sum(axis=-1)
    return coef, s
