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
transformed columns Z = [y, Wy, X, WX, W^2 X] (:mod:`bayes_sdm.design`; Wy and WX formed from
the raw data, then demeaned).  G is computed once, so one evaluation costs O(K^2) plus the
log-determinant.  The same Gram matrix serves every family (:mod:`bayes_sdm.families`): the lag
models (SAR, SDM: c = (1, -rho, -beta, -theta)) and the error models (SEM, SDEM: residual
(I - lambda W)(y - X beta - WX theta)); :func:`coef_vector` writes c once for all of them.

All functions take an array namespace ``xp`` (numpy or ``pytensor.tensor``) so the same formula
is used by the ML estimator and the PyMC models.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache

import numpy as np

from . import families
from .design import Layout, check_fe, raw_columns, transformed_columns
from .errors import InputError
from .families import Family

CORRECTIONS = ("transform", "none")


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
    check_fe(fe)
    if correction not in CORRECTIONS:
        raise InputError(f"unknown correction {correction!r}; choose from {CORRECTIONS}")
    if correction == "none" or fe == "intercept":
        # an intercept is one regression coefficient, not an incidental parameter: the exact
        # likelihood with it concentrated out (spatialreg's lagsarlm / errorsarlm)
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
    """Gram matrix of the FE-transformed columns of ``layout`` and their metadata."""

    gram: np.ndarray
    x_names: tuple[str, ...]
    N: int  # noqa: N815
    T: int  # noqa: N815
    terms: FETerms
    lag_convention: str
    y_sd: float
    x_sd: np.ndarray
    wx_sd: np.ndarray
    layout: Layout | None = None
    #: with an intercept (``terms.fe == "intercept"``): the means of the raw columns over all
    #: NT cells, zbar, so that alpha enters the SSE as NT (zbar'c - (1 - lambda) alpha)^2
    #: (:func:`bayes_sdm.design.demean`); None otherwise
    means: np.ndarray | None = None

    def __post_init__(self):
        if self.layout is None:
            object.__setattr__(self, "layout", Layout(len(self.x_names)))

    @property
    def K(self) -> int:  # noqa: N802
        return len(self.x_names)

    # column positions in the Gram matrix
    @property
    def iy(self) -> int:
        return self.layout.index("y")

    @property
    def iwy(self) -> int:
        return self.layout.index("Wy")

    @property
    def ix(self) -> slice:
        return self.layout.slice("X")

    @property
    def iwx(self) -> slice:
        return self.layout.slice("WX")

    def columns(self, family: Family | str) -> np.ndarray:
        """Gram-matrix column indices of the family's regressors (X, then WX if Durbin)."""
        return self.layout.regressors(families.get(family))

    def with_terms(self, correction: str) -> SufficientStats:
        """The same Gram matrix under another correction's n* and Jacobian multipliers."""
        return replace(self, terms=fe_terms(self.terms.fe, self.N, self.T, correction))


def prior_scale_refs(stats) -> tuple[float, np.ndarray, np.ndarray]:
    """The reference scales of the weakly informative priors, from the transformed data of
    ``stats`` (anything with ``y_sd``, ``x_sd``, ``wx_sd``): (sd(y), sd(y)/sd(x_k),
    sd(y)/sd(Wx_k)), each floored at 1e-12 -- the prior sd of beta_k / theta_k is the prior's
    ``scale`` times its reference (autoscaling as Gelman et al. 2008, Ann. Appl. Stat. 2)."""
    ysd = max(stats.y_sd, 1e-12)
    return ysd, ysd / np.maximum(stats.x_sd, 1e-12), ysd / np.maximum(stats.wx_sd, 1e-12)


def intercept_prior_sd(stats: SufficientStats, scale: float) -> float:
    """The intercept's prior sd: scale (|ybar| + sd(y)) (1 + sum_k |xbar_k| / sd(x_k)), wide
    enough for |alpha| <= |ybar| + sum_k |beta_k xbar_k| with each beta_k on the scale of its
    prior (:mod:`bayes_sdm.intercept`)."""
    lay = stats.layout
    ybar = abs(float(stats.means[lay.index("y")]))
    xbar = np.abs(stats.means[lay.slice("X")])
    return scale * (ybar + stats.y_sd) * (1.0 + float(np.sum(xbar / np.maximum(stats.x_sd,
                                                                               1e-12))))


def sufficient_stats(panel, w, fe: str = "twoway", correction: str = "transform",
                     lag_convention: str = "QWy", layout: Layout | None = None
                     ) -> SufficientStats:
    """Precompute the Gram matrix G = Z'Z of the transformed columns (one O(NT K^2) pass).

    ``layout`` (default: the standard blocks [y, Wy, X, WX, W^2 X]) says which columns Z has
    (:class:`~bayes_sdm.design.Layout`, :meth:`Layout.for_families`).
    """
    layout = layout or Layout(panel.K)
    z = transformed_columns(panel, w, fe, lag_convention, layout)
    zf = z.reshape(-1, z.shape[2])
    gram = zf.T @ zf
    sd = zf.std(axis=0)
    means = None
    if fe == "intercept":
        means = raw_columns(panel, w, layout).mean(axis=(0, 1))
        means.setflags(write=False)
    return SufficientStats(
        means=means,
        gram=gram, x_names=tuple(panel.x_names), N=panel.N, T=panel.T,
        terms=fe_terms(fe, panel.N, panel.T, correction), lag_convention=lag_convention,
        y_sd=float(sd[layout.index("y")]), x_sd=sd[layout.slice("X")],
        wx_sd=sd[layout.slice("WX")], layout=layout,
    )


def coef_vector(layout: Layout | SufficientStats, family: Family | str, spatial, beta, theta=None,
                xp=np):
    """The vector c with residual Z c and SSE = c'Gc, for parameters in ``xp`` arrays.

    The residual of every family is one polynomial in W (:mod:`bayes_sdm.families`):

        eps = (I - lambda W) [(I - rho W) y - X beta - W X theta]

    so c has 1, -(rho + lambda), rho lambda on [y, Wy, W^2 y] and -beta, lambda beta - theta,
    lambda theta on [X, WX, W^2 X] (rho = 0 without a lag, lambda = 0 without an error term,
    theta = 0 for non-Durbin families).  ``spatial`` as in
    :meth:`~bayes_sdm.families.Family.spatial_values`; ``layout`` may be given as the
    sufficient statistics that hold it.
    """
    layout = getattr(layout, "layout", layout)
    family = families.get(family)
    layout.check(family)
    k = layout.k
    zeros = xp.zeros(k) if xp is np else xp.zeros((k,))
    one = xp.ones(1) if xp is np else xp.ones((1,))
    rho, lam = family.spatial_values(spatial)
    nb = -beta
    nt = -theta if (family.durbin and theta is not None) else zeros
    if rho is not None and lam is not None:
        wy = -(rho + lam) * one
    elif rho is not None:
        wy = -rho * one
    elif lam is not None:
        wy = -lam * one
    else:
        wy = 0.0 * one
    parts = {"y": one, "Wy": wy, "X": nb}
    parts["WX"] = nt - lam * nb if lam is not None else nt
    parts["WWX"] = -lam * nt if lam is not None else zeros
    parts["WWy"] = rho * lam * one if (rho is not None and lam is not None) else 0.0 * one
    return xp.concatenate([parts[b] for b in layout.blocks])


def coef_layout(layout: Layout | SufficientStats, family: Family | str):
    """u0, u1, M0, M1 with c(s, b) = u0 + s u1 + (M0 + s M1) b for a one-parameter family, b =
    (beta, theta): the affine structure of :func:`coef_vector` in its spatial parameter s and
    its coefficients b (so SSE is a quadratic in b for fixed s; used by ML, the marginal
    likelihoods, the exact sampler and the regional models).  Computed once per (layout,
    family)."""
    return _coef_layout(getattr(layout, "layout", layout), families.get(family))


@cache
def _coef_layout(layout: Layout, family: Family):
    k = layout.k
    p = family.n_coef(k)

    def c(s, b):
        beta = b[:k]
        theta = b[k:] if family.durbin else None
        return np.asarray(coef_vector(layout, family, s, beta, theta), dtype=float)

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
    # coef_vector must be affine in the spatial parameter: check at s = 0.5
    e = np.linspace(0.3, 1.1, p)
    if not np.allclose(c(0.5, e), u0 + 0.5 * u1 + (m0 + 0.5 * m1) @ e, atol=1e-12):
        raise RuntimeError(f"coef_vector of {family.name} is not affine in its spatial "
                           "parameter")
    for a in (u0, u1, m0, m1):
        a.setflags(write=False)
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


def family_jacobian(stats: SufficientStats, logdet, family: Family, spatial, xp=np):
    """The Jacobian of the family: sum over its spatial parameters of
    a log|I - s W| - b log(1 - s) (0 for SLX / OLS)."""
    if not family.has_jacobian:
        return 0.0
    vals = spatial if len(family.spatial_params) == 2 else (spatial,)
    out = 0.0
    for v in vals:
        ld = logdet.value(v) if xp is np else logdet.symbolic(v)
        out = out + jacobian(stats.terms, ld, v, xp=xp)
    return out


def intercept_sse(stats: SufficientStats, family: Family, spatial, c, alpha, xp=np):
    """NT (zbar'c - (1 - lambda) alpha)^2: the intercept's part of the SSE (numpy or
    PyTensor; :mod:`bayes_sdm.intercept`)."""
    if stats.means is None:
        raise InputError("the sufficient statistics carry no intercept (prepare the model "
                         "with fe='none' and an intercept)")
    _, lam = family.spatial_values(spatial)
    m = stats.means if xp is np else xp.as_tensor_variable(stats.means)
    d = xp.dot(m, c) - (alpha if lam is None else (1.0 - lam) * alpha)
    return (stats.N * stats.T) * d * d


def loglik(stats: SufficientStats, logdet, family: Family | str, spatial, beta, theta, sigma2,
           xp=np, alpha=None):
    """The full log-likelihood of a family (numpy or PyTensor).

    For SLX and OLS ``spatial`` is ignored (pass 0); the Jacobian then vanishes.  With an
    intercept (``stats.means``), ``alpha`` None is the likelihood with the intercept
    concentrated out, else at the intercept ``alpha``.
    """
    family = families.get(family)
    c = coef_vector(stats.layout, family, spatial, beta, theta, xp=xp)
    s = sse(stats, c, xp=xp)
    if alpha is not None:
        s = s + intercept_sse(stats, family, spatial, c, alpha, xp=xp)
    jac = family_jacobian(stats, logdet, family, spatial, xp=xp)
    return gaussian_loglik(stats.terms, s, sigma2, jac, xp=xp)


def concentrated_ls(gram: np.ndarray, u: np.ndarray, m: np.ndarray, what: str = "transformed"):
    """The coefficients concentrated out of SSE(b) = (u + m b)' G (u + m b), vectorised over
    the leading dimensions of ``u`` (..., C) and ``m`` (..., C, p) (one row per value of the
    spatial parameter(s); :func:`coef_layout` gives u and m as affine functions of them).

    Returns (b (..., p), S = min_b SSE (...), log|m'Gm| (...)).

    Raises
    ------
    InputError
        m'Gm singular (the ``what`` regressors are collinear).
    """
    gm = np.einsum("ij,...jp->...ip", gram, m)
    mgm = np.einsum("...ip,...iq->...pq", m, gm)
    mgu = np.einsum("...ip,...i->...p", gm, u)
    sign, logdet_mgm = np.linalg.slogdet(mgm)
    if np.any(sign <= 0):
        raise InputError(f"singular design: the ({what}) regressors are collinear")
    try:
        b = -np.linalg.solve(mgm, mgu[..., None])[..., 0]
    except np.linalg.LinAlgError as err:
        raise InputError(f"singular design: the ({what}) regressors are collinear") from err
    ugu = np.einsum("...i,ij,...j->...", u, gram, u)
    return b, ugu + (mgu * b).sum(axis=-1), logdet_mgm


def _singular(err):
    return InputError("singular design: the (transformed) regressors are collinear")


def profile_lag(stats: SufficientStats, family: Family | str, rho):
    """Concentrate beta (and theta) and SSE out of a lag family at each rho (vectorised).

    Returns (coef, sse): coef has shape rho.shape + (p,), the OLS of (y - rho Wy) on the family's
    regressors; sse = e0'e0 - 2 rho e0'ed + rho^2 ed'ed (Anselin 1988; LeSage & Pace 2009, 3.1).
    SLX and OLS are the case rho = 0.
    """
    family = families.get(family)
    if family.error:
        raise InputError(f"profile_lag is for families without an error term, not {family.name}")
    g = stats.gram
    cols = stats.columns(family)
    iy, iwy = stats.iy, stats.iwy
    gxx = g[np.ix_(cols, cols)]
    gxy = g[cols, iy]
    gxw = g[cols, iwy]
    try:
        b0 = np.linalg.solve(gxx, gxy)
        bd = np.linalg.solve(gxx, gxw)
    except np.linalg.LinAlgError as err:
        raise _singular(err) from err
    e00 = g[iy, iy] - gxy @ b0
    e0d = g[iy, iwy] - gxy @ bd
    edd = g[iwy, iwy] - gxw @ bd
    rho = np.asarray(rho, dtype=float)
    s = e00 - 2.0 * rho * e0d + rho * rho * edd
    coef = b0 - rho[..., None] * bd
    return coef, s


def _error_maps(stats: SufficientStats, family: Family) -> tuple[np.ndarray, np.ndarray]:
    """Selection matrices (B, L) with [y*, X*] = Z (B - lam L) for an error family.

    Column 0 is y* = y - lam Wy; then X* = X - lam WX and, for SDEM, (WX)* = WX - lam W^2 X.
    """
    lay = stats.layout
    k = stats.K
    p = family.n_coef(k)
    ncol = stats.gram.shape[0]
    base = np.zeros((ncol, 1 + p))
    lagm = np.zeros((ncol, 1 + p))
    base[stats.iy, 0] = 1.0
    lagm[stats.iwy, 0] = 1.0
    x0, wx0 = lay.slice("X").start, lay.slice("WX").start
    for j in range(k):
        base[x0 + j, 1 + j] = 1.0
        lagm[wx0 + j, 1 + j] = 1.0
        if family.durbin:
            base[wx0 + j, 1 + k + j] = 1.0
            lagm[lay.slice("WWX").start + j, 1 + k + j] = 1.0
    return base, lagm


def profile_error(stats: SufficientStats, family: Family | str, lam):
    """Concentrate beta (and theta) and SSE out of an error family at each lambda (vectorised).

    The error models (SEM: y = X beta + u; SDEM: y = X beta + WX theta + u; u = lam W u + eps)
    are, at a given lambda, the regression of the spatially filtered y - lam Wy on the filtered
    regressors X - lam WX (and WX - lam W^2 X), i.e. feasible GLS (Anselin 1988, "Spatial
    Econometrics", ch. 12; Elhorst 2014, "Spatial Econometrics", sec. 3.3).  The Gram matrix of
    the filtered columns is B'GB - lam (B'GL + L'GB) + lam^2 L'GL, so one evaluation is O(K^3).

    Returns (coef, sse): coef has shape lam.shape + (p,), sse has shape lam.shape.  SSE is the
    same quadratic form as :func:`sse` with :func:`coef_vector` at the profiled coefficients.
    """
    family = families.get(family)
    if not family.error or family.lag:
        raise InputError(f"profile_error is for error families without a lag, not "
                         f"{family.name}")
    base, lagm = _error_maps(stats, family)
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
        raise _singular(err) from err
    s = gs[..., 0, 0] - (gxy * coef).sum(axis=-1)
    return coef, s


def profile(stats: SufficientStats, family: Family | str, spatial):
    """(coef, sse) with the coefficients concentrated out at each value of the family's one
    spatial parameter (:func:`profile_lag` or :func:`profile_error`)."""
    family = families.get(family)
    if family.error:
        return profile_error(stats, family, spatial)
    return profile_lag(stats, family, spatial)


def coef_vectors(layout: Layout | SufficientStats, family: Family | str, spatial, beta,
                 theta=None) -> np.ndarray:
    """:func:`coef_vector` for S draws: ``spatial`` (S,) (or a pair of (S,) for two
    parameters), ``beta``/``theta`` (S, K) -> (S, ncol)."""
    layout = getattr(layout, "layout", layout)
    family = families.get(family)
    beta = np.atleast_2d(np.asarray(beta, dtype=float))
    s = beta.shape[0]
    if len(family.spatial_params) == 2:
        sp_ = np.asarray(spatial, dtype=float).reshape(2, s).T
    elif family.spatial_params:
        sp_ = np.atleast_1d(np.asarray(spatial, dtype=float)).reshape(s)
    else:
        sp_ = np.zeros(s)
    th = None if theta is None or not family.durbin else np.atleast_2d(
        np.asarray(theta, dtype=float))
    return np.stack([coef_vector(layout, family, sp_[i], beta[i],
                                 None if th is None else th[i]) for i in range(s)])


def check_finite_and_varying(stats: SufficientStats, panel=None) -> None:
    """Refuse statistics that overflowed (a column on an extreme scale) and a y that the
    fixed-effects transform leaves constant (nothing to explain).

    Raises
    ------
    InputError
        naming the column and its scale.
    """
    g = stats.gram
    lay = stats.layout
    names = []
    for b in lay.blocks:
        if b in ("y", "Wy", "WWy"):
            names.append(b)
        else:
            names += [f"{b.replace('X', '')}{x}" for x in stats.x_names]
    bad = [names[i] for i in range(len(names)) if not np.all(np.isfinite(g[i]))]
    if bad:
        scale = ""
        if panel is not None:
            cols = {"y": panel.y, **{x: panel.X[:, :, k] for k, x in enumerate(panel.x_names)}}
            first = next((c for c in bad if c in cols), None)
            if first is not None:
                scale = f" (max |{first}| = {np.abs(cols[first]).max():.3g})"
        raise InputError(f"the sufficient statistics of {bad} are not finite{scale}: the "
                         "values overflow in double precision; rescale the column(s)")
    iy = stats.iy
    ss = g[iy, iy]
    raw = 0.0 if panel is None else float(np.abs(np.asarray(panel.y, float)).max())
    n = stats.N * stats.T
    if not ss > (1e-12 * max(raw, 1e-300)) ** 2 * n:
        raise InputError(f"the dependent variable {getattr(panel, 'y_name', 'y')!r} is "
                         f"constant after the {stats.terms.fe} fixed-effects transform: there is "
                         "no variation to explain")


def check_design(stats: SufficientStats, family: Family | str) -> None:
    """Refuse a (numerically) singular transformed design, naming the columns involved.

    The family's regressors (X, and WX for Durbin families) after the FE transform: a column
    that vanishes (absorbed by the fixed effects), or a set of columns whose correlation matrix
    has a smallest/largest eigenvalue ratio below 1e-10 (collinear: the coefficients are not
    identified).  One check for every estimator (NUTS, exact, ML, regional).

    Raises
    ------
    InputError
        naming the vanishing or collinear columns.
    """
    family = families.get(family)
    cols = stats.columns(family)
    names = family.coef_names(stats.x_names)
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
