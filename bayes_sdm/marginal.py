"""Bayesian comparison of OLS, SLX, SAR, SDM, SEM and SDEM panels by log marginal likelihoods.

LeSage & Parent (2007, Geogr. Anal. 39:241-267), LeSage (2014, Spatial Statistics 9:122-145;
2015, "Software for Bayesian cross section and panel spatial model comparison", J. Geogr. Syst.
17:297-310).  Priors: beta flat (p(beta) = 1), p(sigma^2) propto 1/sigma^2, the spatial
parameter (rho or lambda) uniform on the admissible interval (1/w_min, 1/w_max) of length D.

On the fixed-effect-transformed data (Lee & Yu 2010; n* observations, Jacobian J(rho) of
:func:`bayes_sdm.likelihood.jacobian`), with Z the model's regressors (X, or [X, WX] for Durbin
models), p = dim(Z), a = (n* - p)/2 and S(rho) = min_beta SSE(rho, beta), integrating beta and
then sigma^2 analytically gives

    p(y | rho, M) = Gamma(a) pi^{-a} |Z_rho' Z_rho|^{-1/2} exp(J(rho)) S(rho)^{-a}

(the Gaussian integral over beta gives (2 pi sigma^2)^{p/2} |Z'Z|^{-1/2}; the inverse-gamma
integral over sigma^2 gives Gamma(a) (S/2)^{-a}).  For lag models Z_rho = Z; for error models
Z_lambda = (I - lambda W) Z (feasible GLS at each lambda), so |Z'Z| varies with lambda.
Then log p(y | M) = -log D + log int p(y | rho, M) d rho, the one-dimensional integral done
numerically; OLS and SLX need no integral (and no 1/D).

Every quantity comes from the Gram matrix G of :func:`bayes_sdm.likelihood.sufficient_stats`
and the coefficient layout of :func:`bayes_sdm.likelihood.coef_vector`: the residual is
Z_all c with c = u(rho) + M(rho) b linear in the coefficients b and in rho, so
S(rho) = u'Gu - (M'Gu)'(M'GM)^{-1}(M'Gu) and |Z_rho'Z_rho| = |M'GM|, vectorised over a grid.

Quadrature (``convention="exact"``): the log integrand is evaluated on a uniform grid of
``n_grid`` interior points of the admissible interval to locate the region where it is within
``window`` (60) nats of its maximum; that region (padded by one grid step) is integrated by
composite Gauss-Legendre (``n_panels`` x 20 nodes), in log space.  The reported
``quad_error`` is the difference from the same rule with half the panels.

``convention="sdpdmod"`` reproduces R SDPDmod's ``blmpSDPD`` (v0.0.6; LeSage's
``log_marginal_panelprob.m``) digit for digit, for comparison only.  Its conventions:

* the direct approach: demean-then-lag (``WQy``), Jacobian T log|I - rho W| (no Lee-Yu
  correction), but the degrees of freedom n = NT - (N | T | N+T-1) for unit | time | two-way
  effects, i.e. a = (NT - dofadj - p)/2;
* the constant Gamma(a) (2 pi)^{-a} (instead of pi^{-a}: a factor 2^a dropped, which shifts
  models with different p by (Delta p / 2) log 2);
* rho on the grid 1/w_min + 0.001, ..., 1/w_max - 0.001 (step 0.001), and the "integral"
  sum_i (rho_i + rho_{i-1})/2 (f_i - f_{i-1}) of f = exp(logm - max logm) *added* to the log
  marginal (log m = max + log C + that sum) rather than the log of int f d rho.  That sum is
  a Stieltjes integral int rho df ~ 0, so SDPDmod's value is essentially the log of the peak
  height of the integrand plus the constants: the width of the posterior of rho (log int f,
  typically -3 to -4) is omitted.  Differences between models of that width term are what
  separates the two conventions.

Units.  With a flat prior on beta the marginal likelihood is not invariant to the units of the
data: replacing y by c y multiplies p(y | M) by c^{-(n* - p)}, so the Bayes factor of two models
whose numbers of coefficients differ by Delta p changes by c^{Delta p} (and rescaling a regressor
by d changes it by d^{-1} per coefficient on that regressor, twice for Durbin models).  This is
the usual arbitrariness of improper priors in model choice (Lindley 1957; Bartlett 1957), shared
by LeSage's and SDPDmod's implementations.  ``standardize=True`` makes the comparison unit-free:
y (with Wy) and each regressor (with its lags) are scaled by the standard deviation of their
transformed column before integrating, i.e. the flat prior is placed on coefficients in
standard-deviation units.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pandas as pd
from scipy.special import gammaln

from . import families
from .design import FE_TYPES, Layout
from .errors import InputError
from .families import Family
from .likelihood import (
    SufficientStats,
    coef_layout,
    concentrated_ls,
    jacobian,
    sufficient_stats,
)
from .logdet import LogDet, make_logdet
from .panel import Panel, check_not_absorbed
from .weights import SpatialWeights

#: the families compared, in table order (one spatial parameter at most)
ALL_MODELS = ("ols", "slx", "sar", "sdm", "sem", "sdem")
#: every family with a marginal likelihood (SAC is offered, not compared by default)
MARGINAL_MODELS = (*ALL_MODELS, "sac")
MARGINAL_CONVENTIONS = ("exact", "sdpdmod")
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(20)


# ----------------------------------------------------------------------------- numerics
def profile_terms(stats: SufficientStats, model: Family | str,
                  rho) -> tuple[np.ndarray, np.ndarray]:
    """S(rho) = min_b SSE and log|Z_rho'Z_rho| on an array of rho (beta concentrated out).

    Lag models and OLS/SLX: Z fixed; error models: Z_lambda = (I - lambda W) Z (GLS).
    """
    model = families.get(model)
    g = stats.gram
    rho = np.asarray(rho, dtype=float)
    r = rho.reshape(-1)
    u0, u1, m0, m1 = coef_layout(stats.layout, model)
    if not model.has_jacobian:
        r = np.zeros_like(r)
    u = u0[None, :] + r[:, None] * u1[None, :]  # (R, C)
    m = m0[None] + r[:, None, None] * m1[None]  # (R, C, p)
    _, s, logdet_xx = concentrated_ls(g, u, m)
    return s.reshape(rho.shape), logdet_xx.reshape(rho.shape)


def log_integrand(stats: SufficientStats, logdet: LogDet, model: Family | str,
                  rho) -> np.ndarray:
    """log p(y | rho, M) without the 1/D prior density (see the module docstring)."""
    model = families.get(model)
    p = n_coef_with_intercept(stats, model)
    a = 0.5 * (stats.terms.n_eff - p)
    if a <= 0:
        raise InputError(f"too few observations (n*={stats.terms.n_eff}) for {p} coefficients")
    s, ldx = profile_terms(stats, model, rho)
    rho = np.asarray(rho, dtype=float)
    if model.has_jacobian:
        jac = jacobian(stats.terms, logdet.value(rho), rho)
    else:
        jac = 0.0
    if stats.means is not None:
        # the intercept is one more coefficient: the demeaned columns' |Z'Z| times
        # NT (1 - lambda)^2, the constant's filtered square (bayes_sdm.intercept)
        ldx = ldx + np.log(stats.N * stats.T)
        if model.error:
            ldx = ldx + 2.0 * np.log1p(-rho)
    return gammaln(a) - a * np.log(np.pi) - 0.5 * ldx + jac - a * np.log(s)


def n_coef_with_intercept(stats: SufficientStats, model: Family) -> int:
    """The number of regression coefficients, the intercept (if any) included."""
    return model.n_coef(stats.K) + (stats.means is not None)


def _chunked(stats: SufficientStats, logdet: LogDet, model: Family, x: np.ndarray,
             chunk: int = 512) -> np.ndarray:
    """:func:`log_integrand` over a long array in chunks (the eigenvalue log-determinant
    allocates len(x) x N)."""
    return np.concatenate([log_integrand(stats, logdet, model, x[i:i + chunk])
                           for i in range(0, x.size, chunk)])


def _gauss_legendre(f, lo: float, hi: float, n_panels: int) -> float:
    """log of int_lo^hi exp(f) by composite Gauss-Legendre (20 nodes per panel), in log space."""
    edges = np.linspace(lo, hi, n_panels + 1)
    half = 0.5 * np.diff(edges)
    mid = 0.5 * (edges[1:] + edges[:-1])
    x = (mid[:, None] + half[:, None] * _GL_NODES[None, :]).ravel()
    wts = (half[:, None] * _GL_WEIGHTS[None, :]).ravel()
    lf = f(x)
    mx = np.max(lf)
    return float(mx + np.log(np.sum(wts * np.exp(lf - mx))))


def log_marginal_exact(stats: SufficientStats, logdet: LogDet, model: Family | str,
                       n_grid: int = 4001, n_panels: int = 64, window: float = 60.0) -> dict:
    """log p(y | M) with the spatial parameter integrated numerically (module docstring).

    Returns a dict: log_marginal, quad_error, mode (grid maximiser of the integrand; NaN for
    OLS/SLX), lower, upper (integration range).
    """
    model = families.get(model)
    if len(model.spatial_params) > 1:  # SAC: (rho, lambda) on the square (bayes_sdm.sac)
        from .sac import log_marginal

        return log_marginal(stats, logdet, model)
    if not model.has_jacobian:
        val = float(log_integrand(stats, logdet, model, np.zeros(1))[0])
        return {"log_marginal": val, "quad_error": 0.0, "mode": np.nan, "lower": np.nan,
                "upper": np.nan}
    lo, hi = logdet.interval
    h = (hi - lo) / n_grid
    grid = lo + h * (np.arange(n_grid) + 0.5)
    lg = _chunked(stats, logdet, model, grid)
    if not np.isfinite(lg).any():
        raise InputError(f"{model.name}: the marginal integrand is not finite anywhere on the grid")
    lg = np.where(np.isfinite(lg), lg, -np.inf)
    imax = int(np.argmax(lg))
    keep = np.nonzero(lg >= lg[imax] - window)[0]
    a = max(lo, grid[keep[0]] - h)
    b = min(hi, grid[keep[-1]] + h)

    def f(x):
        return _chunked(stats, logdet, model, x)

    fine = _gauss_legendre(f, a, b, n_panels)
    coarse = _gauss_legendre(f, a, b, max(n_panels // 2, 1))
    d = hi - lo
    return {"log_marginal": fine - np.log(d), "quad_error": abs(fine - coarse),
            "mode": float(grid[imax]), "lower": float(a), "upper": float(b)}


def _r_seq(start: float, stop: float, by: float) -> np.ndarray:
    """R's seq(start, stop, by)."""
    n = int(np.floor((stop - start) / by + 1e-10)) + 1
    return start + by * np.arange(n)


def log_marginal_sdpdmod(stats: SufficientStats, logdet: LogDet, model: Family | str,
                         dofadj: int, incr: float = 0.001) -> float:
    """SDPDmod ``blmpSDPD`` (v0.0.6) log marginal, emulated (module docstring).

    ``stats`` must be built with ``correction="none"`` (n = NT, Jacobian T log|I - rho W|)
    and ``lag_convention="WQy"``; ``dofadj`` is N, T or N+T-1 for unit, time, two-way FE.
    """
    model = families.get(model)
    p = model.n_coef(stats.K)
    nt = stats.N * stats.T
    dof = 0.5 * (nt - p - dofadj)
    lo, hi = logdet.interval
    d = hi - lo
    s0, ldx0 = profile_terms(stats, model, np.zeros(1))
    if not model.has_jacobian:
        return float(gammaln(dof) - dof * np.log(2 * np.pi) - 0.5 * ldx0[0]
                     - dof * np.log(s0[0]))
    grid = _r_seq(lo + incr, hi - incr, incr)
    s, ldx = profile_terms(stats, model, grid)
    logm = -dof * np.log(s) + stats.T * logdet.value(grid)
    logc = -np.log(d) + gammaln(dof) - dof * np.log(2 * np.pi)
    if model.error:
        logm = logm - 0.5 * ldx
    else:
        logc = logc - 0.5 * ldx0[0]
    adj = logm.max()
    fint = np.exp(logm - adj)
    isum = np.sum((grid[1:] + grid[:-1]) * (fint[1:] - fint[:-1]) / 2.0)
    return float(isum + adj + logc)


def standardized_stats(stats: SufficientStats) -> SufficientStats:
    """The statistics of the data with y, Wy scaled by 1/sd(y~) and X_k, WX_k, W^2X_k by
    1/sd(x~_k) (sd of the transformed columns), so that the marginals are unit-free."""
    k = stats.K
    xs = np.where(stats.x_sd > 0, stats.x_sd, 1.0)
    ys = stats.y_sd if stats.y_sd > 0 else 1.0
    lay = stats.layout
    d = np.concatenate([np.full(lay.width(b), 1.0 / ys) if b in lay.y_block_names()
                        else 1.0 / xs for b in lay.blocks])
    means = None if stats.means is None else stats.means * d
    return replace(stats, gram=stats.gram * d[:, None] * d[None, :], y_sd=1.0,
                   x_sd=np.ones(k), wx_sd=stats.wx_sd / xs, means=means)


def probabilities(log_marginal: Sequence[float]) -> np.ndarray:
    """Posterior model probabilities under equal prior model probabilities."""
    lm = np.asarray(log_marginal, dtype=float)
    e = np.exp(lm - lm.max())
    return e / e.sum()


# ----------------------------------------------------------------------------- user layer
def log_marginals(panel: Panel, w: SpatialWeights, fe: str | Sequence[str] = "twoway",
                  models: Sequence[str] = ALL_MODELS, correction: str = "transform",
                  lag_convention: str = "QWy", convention: str = "exact",
                  logdet: LogDet | None = None, standardize: bool = False,
                  n_grid: int = 4001, n_panels: int = 64) -> pd.DataFrame:
    """Log marginal likelihoods and posterior model probabilities (equal model priors).

    Parameters
    ----------
    panel, w : data and weights
    fe : one fixed-effects type or several; probabilities are normalised within each FE type
        (different FE transforms are different data, so their marginals are not comparable);
        ``none`` has an intercept (flat prior, integrated out), as the fits
    models : subset of ``ols, slx, sar, sdm, sem, sdem``
    correction, lag_convention : as in :func:`bayes_sdm.likelihood.sufficient_stats`
        (defaults: Lee-Yu transformation, lag-then-demean)
    convention : ``"exact"`` (default) or ``"sdpdmod"`` (reproduce R SDPDmod ``blmpSDPD``;
        overrides ``correction`` and ``lag_convention`` with SDPDmod's direct approach)
    logdet : a log-determinant of W (built with :func:`make_logdet` when None)
    standardize : scale y and each regressor to unit sd first (unit-free comparison; see
        "Units" in the module docstring).  Default False, as LeSage and SDPDmod.
    n_grid, n_panels : quadrature settings of the exact convention

    Returns
    -------
    DataFrame with columns model, fe, log_marginal, probability (plus quad_error and the
    posterior mode of the spatial parameter on the grid, for the exact convention).
    """
    fes = [fe] if isinstance(fe, str) else list(fe)
    for f in fes:
        if f not in FE_TYPES:
            raise InputError(f"unknown fixed effects {f!r}; choose from {FE_TYPES}")
    models = list(models)
    if not models:
        raise InputError("no models to compare")
    bad = [m for m in models if m not in MARGINAL_MODELS]
    if bad:
        raise InputError(f"unknown model(s) {bad}; choose from {MARGINAL_MODELS}")
    fams = [families.get(m) for m in models]
    if len(set(models)) != len(models):
        raise InputError(f"duplicate models in {models}")
    if convention not in MARGINAL_CONVENTIONS:
        raise InputError(f"unknown marginal-likelihood convention {convention!r}; choose from "
                         f"{MARGINAL_CONVENTIONS}")
    ld = logdet if logdet is not None else make_logdet(w)
    rows = []
    for f in fes:
        check_not_absorbed(panel, f)
        if convention == "sdpdmod":
            if any(len(m.spatial_params) > 1 for m in fams):
                raise InputError("the SDPDmod emulation covers families with one spatial "
                                 "parameter (not sac)")
            if f == "none":
                raise InputError("the SDPDmod emulation covers unit, time and two-way effects "
                                 "(SDPDmod adds an intercept without effects)")
            st = sufficient_stats(panel, w, f, correction="none", lag_convention="WQy")
            dofadj = {"unit": panel.N, "time": panel.T, "twoway": panel.N + panel.T - 1}[f]
            if standardize:
                st = standardized_stats(st)
            vals = [{"log_marginal": log_marginal_sdpdmod(st, ld, m, dofadj)} for m in fams]
        else:
            # fe none: with an intercept, as the fits (bayes_sdm.intercept)
            st = sufficient_stats(panel, w, "intercept" if f == "none" else f,
                                  correction=correction, lag_convention=lag_convention,
                                  layout=Layout.for_families(panel.K, *fams))
            if standardize:
                st = standardized_stats(st)
            vals = [log_marginal_exact(st, ld, m, n_grid=n_grid, n_panels=n_panels)
                    for m in fams]
        pr = probabilities([v["log_marginal"] for v in vals])
        for m, v, pm in zip(models, vals, pr):
            row = {"model": m, "fe": f, "log_marginal": v["log_marginal"],
                   "probability": float(pm)}
            if convention == "exact":
                row["quad_error"] = v["quad_error"]
                row["mode"] = v["mode"]
            rows.append(row)
    return pd.DataFrame(rows)
